package kernel

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func touch(t *testing.T, p string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// fakeCache makes a cache holding one unpacked kernel package, as Fetch
// leaves it, and points $INITKIT_CACHE at it.
func fakeCache(t *testing.T) string {
	dir := t.TempDir()
	t.Setenv("INITKIT_CACHE", dir)
	pkg := filepath.Join(dir, "kernels", "linux-image-9.9-test_1")
	touch(t, filepath.Join(pkg, "boot/vmlinuz-9.9-test"))
	touch(t, filepath.Join(pkg, "lib/modules/9.9-test/modules.builtin"))
	return pkg
}

func TestChooseOrder(t *testing.T) {
	pkg := fakeCache(t)
	t.Chdir(t.TempDir())
	flag := touch(t, "flag/vmlinuz-1.0")
	env := touch(t, "env/vmlinuz-2.0")
	table := touch(t, "table/vmlinuz-3.0")
	fromTable := SpecKernel{Kernel: mustAbs(table), Vmlinux: "/t/vmlinux", From: "initkit.toml [boot] kernel"}
	ctx := context.Background()
	check := func(req Request, want, from string) {
		t.Helper()
		c, err := Choose(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if abs, _ := filepath.Abs(c.Image); abs != mustAbs(want) || !strings.Contains(c.From, from) {
			t.Errorf("Choose(%+v) = %s from %s, want %s from %s", req, c.Image, c.From, want, from)
		}
	}
	t.Setenv("INITKIT_KERNEL", env)
	check(Request{Kernel: flag}, flag, "--kernel")
	check(Request{}, env, "$INITKIT_KERNEL")
	t.Setenv("INITKIT_KERNEL", "")
	check(Request{Spec: fromTable}, table, "initkit.toml [boot] kernel")
	check(Request{}, filepath.Join(pkg, "boot/vmlinuz-9.9-test"), "the fetched kernel 9.9-test")
	// The table's vmlinux goes with the table's kernel, and only with it;
	// a flag's wins.
	if c, _ := Choose(ctx, Request{Spec: fromTable}); c.Vmlinux != "/t/vmlinux" {
		t.Errorf("vmlinux %q, want the table's", c.Vmlinux)
	}
	if c, _ := Choose(ctx, Request{Spec: fromTable, Vmlinux: "/f/vmlinux"}); c.Vmlinux != "/f/vmlinux" {
		t.Errorf("vmlinux %q, want the flag's", c.Vmlinux)
	}
	if c, _ := Choose(ctx, Request{Spec: fromTable, Kernel: flag}); c.Vmlinux == "/t/vmlinux" {
		t.Errorf("the table's vmlinux went with --kernel's image")
	}
}

func mustAbs(p string) string { a, _ := filepath.Abs(p); return a }

// A [boot] kernel that is gone is an error naming the table, not a
// silent fall back to the fetched kernel.
func TestChooseMissingTableKernel(t *testing.T) {
	fakeCache(t)
	t.Setenv("INITKIT_KERNEL", "")
	_, err := Choose(context.Background(), Request{Spec: SpecKernel{Kernel: "/x/gone/bzImage", From: "initkit.toml [boot] kernel"}})
	if err == nil || !strings.Contains(err.Error(), "initkit.toml [boot] kernel") || !strings.Contains(err.Error(), "gone/bzImage") {
		t.Fatalf("got %v, want an error naming initkit.toml's [boot] kernel", err)
	}
}

// The fetched kernel without its -dbg vmlinux: NeedVmlinux says how to
// fetch it (DebugVmlinux used to return a path that did not exist, so
// the hint never showed).
func TestNeedVmlinuxHint(t *testing.T) {
	pkg := fakeCache(t)
	t.Setenv("INITKIT_KERNEL", "")
	c, err := Choose(context.Background(), Request{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Fetched.DebugVmlinux() != "" {
		t.Errorf("DebugVmlinux = %q for a kernel without one", c.Fetched.DebugVmlinux())
	}
	if _, err := c.NeedVmlinux(); err == nil || !strings.Contains(err.Error(), "initkit kernel fetch --debug-info") {
		t.Errorf("NeedVmlinux: %v, want the fetch hint", err)
	}
	if m, err := c.NeedModules(); err != nil || m != filepath.Join(pkg, "lib/modules/9.9-test") {
		t.Errorf("NeedModules = %s, %v", m, err)
	}
	v := touch(t, filepath.Join(pkg, "usr/lib/debug/boot/vmlinux-9.9-test"))
	c, _ = Choose(context.Background(), Request{})
	if c.Vmlinux != v {
		t.Errorf("Vmlinux = %q, want %s", c.Vmlinux, v)
	}
}

// What belongs to a given image: a distribution's layout and a build tree.
func TestChooseBesideImage(t *testing.T) {
	root := t.TempDir()
	img := touch(t, filepath.Join(root, "boot/vmlinuz-5.5-x"))
	dbg := touch(t, filepath.Join(root, "usr/lib/debug/boot/vmlinux-5.5-x"))
	mods := touch(t, filepath.Join(root, "lib/modules/5.5-x/modules.dep"))
	c, err := Choose(context.Background(), Request{Kernel: img})
	if err != nil {
		t.Fatal(err)
	}
	if c.Vmlinux != dbg || c.ModulesDir != filepath.Dir(mods) || c.Release != "5.5-x" {
		t.Errorf("distribution layout: %+v", c)
	}
	tree := t.TempDir()
	bz := touch(t, filepath.Join(tree, "arch/x86/boot/bzImage"))
	vm := touch(t, filepath.Join(tree, "vmlinux"))
	c, err = Choose(context.Background(), Request{Kernel: bz, Vmlinux: "", ModulesDir: "/given"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Vmlinux != vm || c.ModulesDir != "/given" {
		t.Errorf("build tree: %+v", c)
	}
	if _, err := c.NeedVmlinux(); err != nil {
		t.Error(err)
	}
	os.Remove(vm)
	c, _ = Choose(context.Background(), Request{Kernel: bz})
	if _, err := c.NeedVmlinux(); err == nil || !strings.Contains(err.Error(), "give --vmlinux") {
		t.Errorf("NeedVmlinux without one: %v", err)
	}
}

// The release read from the real kernel's bzImage header matches the
// package's, whatever the file is called.
func TestImageRelease(t *testing.T) {
	k := realKernel(t)
	data, err := os.ReadFile(k.Image)
	if err != nil {
		t.Fatal(err)
	}
	bz := filepath.Join(t.TempDir(), "bzImage")
	os.WriteFile(bz, data, 0o644)
	if got := imageRelease(bz); got != k.Release {
		t.Errorf("imageRelease = %q, want %q", got, k.Release)
	}
	if got := imageRelease(touch(t, filepath.Join(t.TempDir(), "notakernel"))); got != "" {
		t.Errorf("imageRelease of a non-kernel = %q", got)
	}
	// A release is untrusted: one that would climb out of /lib/modules,
	// in the header or in the file's name, is none.
	off := int(data[0x20e]) | int(data[0x20f])<<8 + 0x200
	copy(data[off:], "../../../../home/user\x00")
	os.WriteFile(bz, data, 0o644)
	if got := imageRelease(bz); got != "" {
		t.Errorf("imageRelease of a header naming ../../../../home/user = %q", got)
	}
	if got := imageRelease(touch(t, filepath.Join(t.TempDir(), "vmlinuz-.."))); got != "" {
		t.Errorf("imageRelease of vmlinuz-.. = %q", got)
	}
}

// realKernel is the real kernel, from the cache make test primes.
func realKernel(t *testing.T) *Kernel {
	t.Helper()
	dir, err := CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	k, err := Fetch(context.Background(), dir, "", "")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// A build directory is a kernel: what initkit kernel build's manifest
// names, or the image make leaves in arch/*/boot, with vmlinux at the top.
func TestChooseBuildDir(t *testing.T) {
	obj := t.TempDir()
	img := touch(t, filepath.Join(obj, "arch/x86/boot/bzImage"))
	vm := touch(t, filepath.Join(obj, "vmlinux"))
	cfg := touch(t, filepath.Join(obj, ".config"))
	c, err := Choose(context.Background(), Request{Kernel: obj})
	if err != nil {
		t.Fatal(err)
	}
	if c.Image != img || c.Vmlinux != vm || c.Config != cfg {
		t.Errorf("without a manifest: %+v", c)
	}
	sum := sha256.Sum256([]byte("x")) // touch's content, the .config's
	m := &Manifest{Image: img, Vmlinux: vm, ModulesDir: filepath.Join(obj, "initkit-modules/lib/modules/6.1.0"), Release: "6.1.0", Source: "/src/linux",
		ConfigHash: hex.EncodeToString(sum[:])}
	if err := m.write(filepath.Join(obj, ManifestName)); err != nil {
		t.Fatal(err)
	}
	c, err = Choose(context.Background(), Request{Kernel: obj})
	if err != nil {
		t.Fatal(err)
	}
	if c.Image != img || c.ModulesDir != m.ModulesDir || c.Release != "6.1.0" || c.Source != "/src/linux" || c.Config != filepath.Join(obj, ".config") {
		t.Errorf("with a manifest: %+v", c)
	}
	if _, err := Choose(context.Background(), Request{Kernel: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "no built kernel") {
		t.Errorf("an empty directory: %v", err)
	}
	// The config changed after the build (a build cut short, say): the
	// manifest is stale, and the image beside it too.
	os.WriteFile(cfg, []byte("CONFIG_NEW=y\n"), 0o644)
	if _, err := Choose(context.Background(), Request{Kernel: obj}); err == nil || !strings.Contains(err.Error(), "the build is stale") {
		t.Errorf("a stale manifest: %v", err)
	}
}

// A kernel tree the user stands in, built, is the kernel when nothing
// names another: decode there means that tree's vmlinux, not the fetched
// one's.
func TestChooseTreeHere(t *testing.T) {
	pkg := fakeCache(t)
	t.Setenv("INITKIT_KERNEL", "")
	tree := t.TempDir()
	t.Chdir(tree)
	if c, err := Choose(context.Background(), Request{}); err != nil || c.Image != filepath.Join(pkg, "boot/vmlinuz-9.9-test") {
		t.Fatalf("an empty directory: %+v, %v", c, err)
	}
	img := touch(t, filepath.Join(tree, "arch/x86/boot/bzImage"))
	vm := touch(t, filepath.Join(tree, "vmlinux"))
	c, err := Choose(context.Background(), Request{})
	if err != nil || c.Image != img || c.Vmlinux != vm || !strings.Contains(c.From, "working directory") {
		t.Errorf("in a built tree: %+v, %v", c, err)
	}
	if c, _ := Choose(context.Background(), Request{Kernel: filepath.Join(pkg, "boot/vmlinuz-9.9-test")}); c.Image == img {
		t.Error("the tree won over --kernel")
	}
}

// TestForRelease: a dump or a log of another release than the fetched
// kernel a command takes by default is read with the fetched kernel of
// its own release, with that package's vmlinux; one the cache lacks
// keeps the default and says so; a kernel the user named is kept.
func TestForRelease(t *testing.T) {
	pkg := fakeCache(t)
	other := filepath.Join(filepath.Dir(pkg), "linux-image-8.8-arm_1")
	touch(t, filepath.Join(other, "boot/vmlinuz-8.8-arm"))
	vmlinux := touch(t, filepath.Join(other, "usr/lib/debug/boot/vmlinux-8.8-arm"))
	old := time.Now().Add(-time.Hour) // the default is the newest: 9.9-test
	if err := os.Chtimes(other, old, old); err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	c, err := Choose(context.Background(), Request{NoFetch: true})
	if err != nil || c.Release != "9.9-test" {
		t.Fatalf("the default: %+v, %v", c, err)
	}
	if got, ok := c.ForRelease("8.8-arm"); !ok || got.Release != "8.8-arm" || got.Vmlinux != vmlinux {
		t.Errorf("8.8-arm: %+v, %v", got, ok)
	}
	if got, ok := c.ForRelease("7.7-none"); ok || got != c {
		t.Errorf("a release not cached: %+v, %v", got, ok)
	}
	if got, ok := c.ForRelease(""); !ok || got != c {
		t.Errorf("no release: %+v, %v", got, ok)
	}
	named := &Choice{Image: "/k/vmlinuz-1.0", Release: "1.0", From: "--kernel"}
	if got, ok := named.ForRelease("8.8-arm"); !ok || got != named {
		t.Errorf("a named kernel: %+v, %v", got, ok)
	}
}
