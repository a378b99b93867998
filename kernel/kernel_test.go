package kernel

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestCacheDir(t *testing.T) {
	t.Setenv("INITKIT_CACHE", "/somewhere")
	if d, _ := CacheDir(); d != "/somewhere" {
		t.Errorf("CacheDir = %s", d)
	}
	t.Setenv("INITKIT_CACHE", "")
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	if d, _ := CacheDir(); d != "/xdg/initkit" {
		t.Errorf("CacheDir = %s", d)
	}
}

// TestFetchUsesCache fetches the real kernel (from the shared cache, as make
// test primes it) and checks that a second fetch reuses it.
func TestFetchUsesCache(t *testing.T) {
	dir, err := CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	k, err := Fetch(ctx, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(k.Image); err != nil || st.Size() < 1<<20 {
		t.Fatalf("kernel image %s: %v", k.Image, err)
	}
	if _, err := os.Stat(filepath.Join(k.ModulesDir, "kernel")); err != nil {
		t.Fatalf("modules tree: %v", err)
	}
	before, _ := os.Stat(k.Dir)
	start := time.Now()
	again, err := Fetch(ctx, dir, "")
	if err != nil || again.Dir != k.Dir {
		t.Fatalf("second fetch: %v, %+v", err, again)
	}
	after, _ := os.Stat(k.Dir)
	if !after.ModTime().Equal(before.ModTime()) || time.Since(start) > 5*time.Second {
		t.Errorf("second fetch did not reuse the cache (took %v)", time.Since(start))
	}
}

func TestFetchUnknownFlavour(t *testing.T) {
	_, err := Fetch(context.Background(), t.TempDir(), "linux-image-no-such-flavour")
	if err == nil {
		t.Fatal("no error for an unknown meta-package")
	}
}
