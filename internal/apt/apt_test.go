package apt

import (
	"context"
	"debug/elf"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/initkit/initkit/internal/cache"
)

// TestForeignPackage: a package of another architecture than the host's
// (arm64 here), downloaded and unpacked as the user from that
// architecture's lists under the cache; the second call finds it there.
func TestForeignPackage(t *testing.T) {
	ctx := context.Background()
	dir, a := arm64(t)
	if st, err := os.Stat(filepath.Join(dir, "apt", "arm64", "updated")); err != nil || st.Mode().Perm()&0o022 != 0 {
		t.Errorf("the lists' stamp: %v", err)
	}
	unpacked, err := a.Unpacked(ctx, dir, "busybox-static")
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(filepath.Join(unpacked, "bin", "busybox"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != elf.EM_AARCH64 || !strings.HasSuffix(unpacked, "_arm64") {
		t.Errorf("%s: %s", unpacked, f.Machine)
	}
	if again, err := a.Unpacked(ctx, dir, "busybox-static"); err != nil || again != unpacked {
		t.Errorf("again: %s, %v", again, err)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, "debs", ".fetch-*")); len(leftovers) != 0 {
		t.Errorf("left behind: %v", leftovers)
	}
}

// arm64 returns the cache directory and the Apt of arm64 in it.
func arm64(t *testing.T) (string, Apt) {
	t.Helper()
	dir, err := cache.Dir()
	if err != nil {
		t.Fatal(err)
	}
	a, err := For(context.Background(), dir, "arm64")
	if err != nil {
		t.Fatal(err)
	}
	return dir, a
}

// TestRefused: what reaches apt's argv is a package or architecture name,
// never an option.
func TestRefused(t *testing.T) {
	ctx := context.Background()
	if _, err := For(ctx, t.TempDir(), "-oDir::Etc=/tmp"); err == nil || !strings.Contains(err.Error(), "no Debian architecture") {
		t.Errorf("an option as the architecture: %v", err)
	}
	host, err := For(ctx, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := host.Unpacked(ctx, t.TempDir(), "-oAPT::x=1"); err == nil || !strings.Contains(err.Error(), "no Debian package name") {
		t.Errorf("an option as the package: %v", err)
	}
}

// TestValidVersion: what apt answers becomes a path of the cache; a
// version that is no Debian version (a path, a blank) is refused.
func TestValidVersion(t *testing.T) {
	for v, want := range map[string]bool{
		"6.1.192-3": true, "1:1.35.0-4+deb12u1+b1": true, "2.0~rc1": true,
		"../../etc": false, "1.0/x": false, "": false, "1.0 x": false,
	} {
		if got := ValidVersion(v); got != want {
			t.Errorf("ValidVersion(%q) = %v", v, got)
		}
	}
}

// TestUnpackedRemembered: which version is current is asked of apt at
// most every ListsMaxAge: a second Unpacked runs no apt-cache (exec asks
// at every run, and apt-cache show took 0.8 s each time).
func TestUnpackedRemembered(t *testing.T) {
	ctx := context.Background()
	dir, a := arm64(t)
	first, err := a.Unpacked(ctx, dir, "busybox-static")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", t.TempDir()) // no apt-cache to run
	again, err := a.Unpacked(ctx, dir, "busybox-static")
	if err != nil || again != first {
		t.Errorf("again, without apt: %s, %v", again, err)
	}
	old := time.Now().Add(-ListsMaxAge - time.Minute)
	os.Chtimes(filepath.Join(dir, "debs", "busybox-static_arm64.current"), old, old)
	if _, err := a.Unpacked(ctx, dir, "busybox-static"); err == nil {
		t.Errorf("a stale answer was used without asking apt")
	}
}
