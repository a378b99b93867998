package initramfs

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/initkit/initkit/image"
	"github.com/initkit/initkit/internal/testenv"
)

// TestResolutionCache: a rebuild recalls the module and closure
// resolutions while every file they read is unchanged - the same
// identity, or a new one and the same bytes - and resolves again when
// one changed - a program replaced by one needing another
// library, a modules.dep giving a module a new dependency - making the
// image a build without the cache makes.
func TestResolutionCache(t *testing.T) {
	t.Setenv("INITKIT_CACHE", t.TempDir())
	dir := t.TempDir()
	prog := filepath.Join(dir, "prog")
	mods := filepath.Join(dir, "modules", "6.1-test")
	src := testenv.Kernel(t).ModulesDir
	for _, m := range []string{"kernel/drivers/block/virtio_blk.ko", "kernel/lib/crc7.ko"} {
		copyFile(t, filepath.Join(src, m), filepath.Join(mods, m))
	}
	dep := filepath.Join(mods, "modules.dep")
	write := func(p, data string) {
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(dep, "kernel/drivers/block/virtio_blk.ko:\nkernel/lib/crc7.ko:\n")
	copyFile(t, "/bin/true", prog)
	// The cache trusts no identity younger than two seconds (a file
	// changed twice within a clock tick keeps its times).
	time.Sleep(2100 * time.Millisecond)

	build := func(noCache bool) (img []byte, cache string) {
		t.Helper()
		s := &Spec{Init: "none", Output: filepath.Join(dir, "out.img"), Files: []string{prog + ":/bin/prog"},
			Modules: Modules{Dir: mods, Names: []string{"virtio_blk"}}, NoCache: noCache}
		res, err := s.Build("", 0)
		if err != nil {
			t.Fatal(err)
		}
		img, err = os.ReadFile(s.Output)
		if err != nil {
			t.Fatal(err)
		}
		return img, strings.Join(res.Cache, "\n")
	}
	check := func(step string, wantRecalled bool, wantFiles ...string) {
		t.Helper()
		img, explain := build(false)
		for _, what := range []string{"closure", "modules"} {
			if recalled := strings.Contains(explain, what+": recalled"); recalled != wantRecalled {
				t.Errorf("%s: %s recalled %v, want %v:\n%s", step, what, recalled, wantRecalled, explain)
			}
		}
		clean, _ := build(true)
		if !bytes.Equal(img, clean) {
			t.Errorf("%s: the image differs from one built without the cache", step)
		}
		tree, _, err := image.Tree(bytes.NewReader(img))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range wantFiles {
			if tree[f] == nil {
				t.Errorf("%s: no %s in the image", step, f)
			}
		}
	}
	check("first build", false, "/usr/lib/modules/6.1-test/kernel/drivers/block/virtio_blk.ko")
	check("rebuild", true, "/usr/lib/modules/6.1-test/kernel/drivers/block/virtio_blk.ko")

	// Touched, or copied back the same: new identities, the same bytes.
	old := time.Now().Add(-time.Hour)
	ko := filepath.Join(mods, "kernel/drivers/block/virtio_blk.ko")
	if err := os.Chtimes(ko, old, old); err != nil {
		t.Fatal(err)
	}
	copyFile(t, prog, prog)
	check("touched and copied back", true, "/usr/lib/modules/6.1-test/kernel/drivers/block/virtio_blk.ko")

	copyFile(t, "/bin/ls", prog) // needs libselinux too
	write(dep, "kernel/drivers/block/virtio_blk.ko: kernel/lib/crc7.ko\nkernel/lib/crc7.ko:\n")
	check("program and modules.dep changed", false, "/usr/lib/modules/6.1-test/kernel/lib/crc7.ko", "/usr/lib/x86_64-linux-gnu/libselinux.so.1")
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err == nil {
		err = os.MkdirAll(filepath.Dir(to), 0o755)
	}
	if err == nil {
		err = os.WriteFile(to+".new", data, 0o755)
	}
	if err == nil {
		err = os.Rename(to+".new", to)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestAppletsCache: busybox's applet list is recalled while busybox is
// unchanged, and read again when it changed: a dynamic program put in
// its place is refused, not shipped with the old list.
func TestAppletsCache(t *testing.T) {
	t.Setenv("INITKIT_CACHE", t.TempDir())
	dir := t.TempDir()
	bb := filepath.Join(dir, "busybox")
	copyFile(t, "/bin/busybox", bb)
	time.Sleep(2100 * time.Millisecond) // the cache trusts no younger identity
	build := func() (string, error) {
		s := &Spec{Init: "none", Output: filepath.Join(dir, "out.img"), Busybox: bb}
		res, err := s.Build("", 0)
		if err != nil {
			return "", err
		}
		return strings.Join(res.Cache, "\n"), nil
	}
	for i, want := range []string{"busybox applets: resolved, kept", "busybox applets: recalled"} {
		explain, err := build()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(explain, want) {
			t.Errorf("build %d: want %q in:\n%s", i+1, want, explain)
		}
	}
	copyFile(t, "/bin/true", bb)
	if _, err := build(); err == nil || !strings.Contains(err.Error(), "dynamically linked") {
		t.Errorf("busybox replaced by a dynamic program: got %v, want it refused", err)
	}
}
