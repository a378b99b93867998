package kernel

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/initkit/initkit/kconfig"
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
	k, err := Fetch(ctx, dir, "", "")
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
	again, err := Fetch(ctx, dir, "", "")
	if err != nil || again.Dir != k.Dir {
		t.Fatalf("second fetch: %v, %+v", err, again)
	}
	after, _ := os.Stat(k.Dir)
	if !after.ModTime().Equal(before.ModTime()) || time.Since(start) > 5*time.Second {
		t.Errorf("second fetch did not reuse the cache (took %v)", time.Since(start))
	}
}

// TestFetchUnknownFlavour: a flavour apt does not know, or that names no
// kernel, says what a flavour is; one that is no package name never
// reaches apt-cache's argv, where "-o..." would configure apt.
func TestFetchUnknownFlavour(t *testing.T) {
	for flavour, want := range map[string]string{
		"linux-image-no-such-flavour": "flavour linux-image-no-such-flavour: apt knows no such package",
		"bash":                        "flavour bash depends on no linux-image- package",
		"-oDir::Etc=/tmp/x":           `flavour "-oDir::Etc=/tmp/x" is no Debian package name`,
		"Linux":                       `flavour "Linux" is no Debian package name`,
	} {
		_, err := Fetch(context.Background(), t.TempDir(), flavour, "")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", flavour, err, want)
		}
		if err != nil && !strings.HasPrefix(flavour, "-") && !strings.HasPrefix(flavour, "L") && !strings.Contains(err.Error(), "apt-cache search") {
			t.Errorf("%s: %v does not say where flavours are listed", flavour, err)
		}
	}
}

// TestFetchDebugInfo: the -dbg package gives a vmlinux with DWARF for the
// fetched kernel, and no dpkg-deb is left running after the early stop.
func TestFetchDebugInfo(t *testing.T) {
	k := realKernel(t)
	v, err := FetchDebugInfo(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(v)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 || f.Type != elf.ET_EXEC {
		t.Errorf("%s: %v %v", v, f.Machine, f.Type)
	}
	for _, s := range []string{".debug_info", ".debug_line", ".text"} {
		if f.Section(s) == nil {
			t.Errorf("%s has no %s", v, s)
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), "--fsys-tarfile") {
			t.Errorf("a dpkg-deb is still running: %s", p)
		}
	}
}

// Kbuild pastes O= and the source path into shell commands unquoted: a
// blank would build elsewhere, a backtick run a command. Such a path is
// refused before make runs.
func TestKbuildPaths(t *testing.T) {
	dir := t.TempDir()
	mark := filepath.Join(dir, "ran")
	for _, obj := range []string{filepath.Join(dir, "a b"), filepath.Join(dir, "x`touch "+mark+"`"), filepath.Join(dir, "$(id)")} {
		_, err := Configure(context.Background(), Tree{Src: dir, Obj: obj}, "tinyconfig", nil)
		if err == nil || !strings.Contains(err.Error(), "Kbuild takes paths of") {
			t.Errorf("-O %q: %v", obj, err)
		}
		if _, err := os.Stat(obj); err == nil {
			t.Errorf("-O %q was made", obj)
		}
	}
	if _, err := os.Stat(mark); err == nil {
		t.Error("a backtick in -O ran a command")
	}
}

// TestNotASourceTree: a directory that is no kernel tree, or is not
// there, is named as such before make runs.
func TestNotASourceTree(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Makefile"), []byte("all:\n"), 0o644)
	for _, src := range []string{dir, filepath.Join(dir, "missing")} {
		_, err := Configure(context.Background(), Tree{Src: src}, "tinyconfig", nil)
		if want := src + ": not a kernel source tree (no Kconfig at its top)"; err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %q", src, err, want)
		}
	}
}

// TestArchRefused: an architecture that is not x86_64 or arm64 is
// refused before make sees it as ARCH=, which Kbuild pastes into shell
// commands ("mips" configured a MIPS kernel, silently); aarch64 is arm64.
func TestArchRefused(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Makefile"), []byte("all:\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "Kconfig"), nil, 0o644)
	for _, arch := range []string{"mips", "x86_64;touch /tmp/x", "x86"} {
		tree := Tree{Src: dir, Obj: t.TempDir(), Arch: arch}
		_, err := Configure(context.Background(), tree, "tinyconfig", nil)
		if want := fmt.Sprintf("architecture %q: want x86_64 or arm64", arch); err == nil || err.Error() != want {
			t.Errorf("config %s: %v, want %q", arch, err, want)
		}
		if _, err := Build(context.Background(), tree, 1); err == nil || !strings.Contains(err.Error(), "want x86_64 or arm64") {
			t.Errorf("build %s: %v", arch, err)
		}
		if _, err := check(kconfig.Config{}, nil, arch, nil); err == nil {
			t.Errorf("check %s: no error", arch)
		}
	}
	if _, err := Build(context.Background(), Tree{Src: dir, Obj: t.TempDir()}, -3); err == nil || !strings.Contains(err.Error(), "jobs -3") {
		t.Errorf("make -j -3: %v", err)
	}
	if got := (Tree{Arch: "aarch64"}).arch(); got != "arm64" {
		t.Errorf("aarch64: %s", got)
	}
}

// TestCCache: with INITKIT_CCACHE=DIR builds run the compiler under
// ccache in DIR, its base directory what the tree and the build
// directory have in common, so that a worktree and build laid out alike
// hit the same entries; unset or off, the compiler runs as it is.
func TestCCache(t *testing.T) {
	tree := Tree{Src: "/w/bug-1/linux", Obj: "/w/bug-1/obj"}
	for _, v := range []string{"", "off"} {
		t.Setenv(CCacheEnv, v)
		if vars, env := tree.ccache(""); vars != nil || env != nil {
			t.Errorf("INITKIT_CCACHE=%q: %q %q", v, vars, env)
		}
	}
	t.Setenv(CCacheEnv, "/c/ccache")
	vars, env := tree.ccache("")
	want := []string{"CCACHE_DIR=/c/ccache", "CCACHE_NOHASHDIR=true", "CCACHE_BASEDIR=/w/bug-1"}
	if strings.Join(vars, " ") != "CC=ccache gcc" || strings.Join(env, " ") != strings.Join(want, " ") {
		t.Errorf("ccache: %q %q", vars, env)
	}
	if vars, _ := tree.ccache("aarch64-linux-gnu-"); vars[0] != "CC=ccache aarch64-linux-gnu-gcc" {
		t.Errorf("cross: %q", vars)
	}
	if _, env := (Tree{Src: "/a/linux", Obj: "/b/obj"}).ccache(""); strings.Join(env, " ") != "CCACHE_DIR=/c/ccache CCACHE_NOHASHDIR=true" {
		t.Errorf("nothing in common but /: %q", env)
	}
	for _, c := range [][3]string{{"/a/b/linux", "/a/b/obj", "/a/b"}, {"/a/linux", "/a/linux/obj", "/a/linux"}, {"/a/bc", "/a/b", "/a"}, {"/x", "/y", "/"}} {
		if got := commonDir(c[0], c[1]); got != c[2] {
			t.Errorf("commonDir(%s, %s) = %s, want %s", c[0], c[1], got, c[2])
		}
	}
}

// TestConfigureBadBase: a --base file that is no config is refused,
// naming it, before the build directory's .config is replaced (it was
// copied there first, and the error named that copy).
func TestConfigureBadBase(t *testing.T) {
	src, obj := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(src, "Makefile"), []byte("all:\n"), 0o644)
	os.WriteFile(filepath.Join(src, "Kconfig"), nil, 0o644)
	old := []byte("CONFIG_64BIT=y\n")
	os.WriteFile(filepath.Join(obj, ".config"), old, 0o644)
	for name, data := range map[string]string{"notes": "hello\n", "empty": "# nothing\n"} {
		base := filepath.Join(t.TempDir(), name)
		os.WriteFile(base, []byte(data), 0o644)
		_, err := Configure(context.Background(), Tree{Src: src, Obj: obj}, base, nil)
		if err == nil || !strings.HasPrefix(err.Error(), "base config "+base+": ") {
			t.Errorf("%s: %v", name, err)
		}
		if got, _ := os.ReadFile(filepath.Join(obj, ".config")); !bytes.Equal(got, old) {
			t.Errorf("%s: the build directory's .config became %q", name, got)
		}
	}
}

// TestFetchForeignArch: Debian's arm64 kernel on an amd64 host, with no
// root and no dpkg --add-architecture: its package lists are the cache's
// own (apt-get update as this user), its package unpacks with its
// modules, and a second fetch takes it from the cache. The newest cached
// kernel of the host's architecture stays the one a command takes when
// none is named. (make kernel fetches it first, outside go test's
// timeout.)
func TestFetchForeignArch(t *testing.T) {
	if HostArch() != "x86_64" {
		t.Fatalf("this test fetches arm64 as the foreign architecture; the host is %s", HostArch())
	}
	dir, err := CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	k, err := Fetch(ctx, dir, "", "arm64")
	if err != nil {
		t.Fatal(err)
	}
	if k.Arch != "aarch64" || !strings.HasSuffix(k.Package, "-cloud-arm64") || ImageArch(k.Image) != "aarch64" {
		t.Fatalf("fetched %+v", k)
	}
	if _, err := os.Stat(filepath.Join(k.ModulesDir, "kernel", "drivers", "block", "virtio_blk.ko")); err != nil {
		t.Errorf("modules: %v", err)
	}
	if lists, _ := filepath.Glob(filepath.Join(dir, "apt", "arm64", "lists", "*_binary-arm64_Packages*")); len(lists) == 0 {
		t.Errorf("no arm64 package lists under %s", filepath.Join(dir, "apt", "arm64"))
	}
	// The flavour's name says the architecture as well.
	again, err := Fetch(ctx, dir, "linux-image-cloud-arm64", "")
	if err != nil || again.Dir != k.Dir {
		t.Fatalf("by flavour: %v, %+v", err, again)
	}
	host, err := fetched(ctx, true, "")
	if err != nil || host.Arch != HostArch() {
		t.Errorf("the host's kernel with an arm64 one cached: %+v, %v", host, err)
	}
	if got, err := fetched(ctx, true, "aarch64"); err != nil || got.Dir != k.Dir {
		t.Errorf("the cached arm64 kernel: %+v, %v", got, err)
	}
	if _, err := Fetch(ctx, dir, "", "riscv64"); err == nil || !strings.Contains(err.Error(), `architecture "riscv64"`) {
		t.Errorf("riscv64: %v", err)
	}
}
