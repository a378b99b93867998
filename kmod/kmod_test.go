package kmod

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/initkit/initkit/internal/testenv"
)

// cloudModules returns the modules directory of the Debian cloud kernel
// the VM tests boot, through their shared helper.
func cloudModules(t *testing.T) string { return testenv.Kernel(t).ModulesDir }

// names returns the sorted module names; loadable checks the order.
func names(mods []*Module) string {
	var s []string
	for _, m := range mods {
		s = append(s, m.Name)
	}
	sort.Strings(s)
	return strings.Join(s, " ")
}

// loadable fails t unless every module comes after its dependencies.
func loadable(t *testing.T, res *Resolution) {
	t.Helper()
	at := map[string]int{}
	for i, m := range res.Modules {
		at[m.Name] = i
	}
	for i, m := range res.Modules {
		for _, d := range m.Depends {
			if j, ok := at[d]; ok && j > i {
				t.Errorf("%s loads before its dependency %s", m.Name, d)
			}
		}
	}
}

func TestResolveCloudKernel(t *testing.T) {
	ix, err := Open(cloudModules(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ask  []string
		want string
	}{
		{[]string{"dm-crypt"}, "dm_crypt dm_mod ecb xts"},
		{[]string{"virtio_blk"}, "virtio virtio_blk virtio_ring"},
		{[]string{"virtio_pci"}, "virtio virtio_pci virtio_pci_legacy_dev virtio_pci_modern_dev virtio_ring"},
		{[]string{"pci:v00001AF4d00001001*"}, "virtio virtio_pci virtio_pci_legacy_dev virtio_pci_modern_dev virtio_ring"},
		{[]string{"virtio:d00000002v00001AF4"}, "virtio virtio_blk virtio_ring"},
	} {
		res, err := ix.Resolve(c.ask...)
		if err != nil {
			t.Fatalf("%v: %v", c.ask, err)
		}
		if got := names(res.Modules); got != c.want {
			t.Errorf("%v: %s, want %s", c.ask, got, c.want)
		}
		loadable(t, res)
		if last := res.Modules[len(res.Modules)-1].Name; c.ask[0] == "virtio_blk" && last != "virtio_blk" {
			t.Errorf("virtio_blk is not loaded last: %s", last)
		}
	}
	res, err := ix.Resolve("ext4", "jbd2")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Modules) != 0 || strings.Join(res.Builtin, " ") != "ext4 jbd2" {
		t.Errorf("ext4: modules %s, builtin %v; want ext4 built in", names(res.Modules), res.Builtin)
	}
}

// TestMatchesDepmod: where depmod's modules.dep exists, the dependencies
// read from .modinfo are the same.
func TestMatchesDepmod(t *testing.T) {
	src := cloudModules(t)
	release := filepath.Base(src)
	base := t.TempDir()
	dst := filepath.Join(base, "lib", "modules", release)
	if _, err := exec.Command("cp", "-a", src, filepath.Dir(dst)+"/").CombinedOutput(); err != nil {
		os.MkdirAll(filepath.Dir(dst), 0o755)
		if out, err := exec.Command("cp", "-a", src, filepath.Dir(dst)).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, out)
		}
	}
	if out, err := exec.Command("depmod", "-b", base, release).CombinedOutput(); err != nil {
		t.Fatalf("depmod: %v %s", err, out)
	}
	fromInfo, err := Open(src)
	if err != nil {
		t.Fatal(err)
	}
	fromDep, err := Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	if !fromDep.fromDep {
		t.Fatal("modules.dep not read")
	}
	// modules.dep alone (no walk of kernel/) knows every module.
	if a, b := fromInfo.Names(), fromDep.Names(); !slices.Equal(a, b) {
		t.Errorf("modules: %d walked, %d from modules.dep", len(a), len(b))
	}
	for _, n := range []string{"dm_crypt", "virtio_blk", "virtio_net", "raid1", "overlay", "squashfs", "virtiofs"} {
		a, err1 := fromInfo.Resolve(n)
		b, err2 := fromDep.Resolve(n)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: %v %v", n, err1, err2)
		}
		if names(a.Modules) != names(b.Modules) {
			t.Errorf("%s: from .modinfo %s, from modules.dep %s", n, names(a.Modules), names(b.Modules))
		}
	}
	if m, _ := fromDep.MatchAlias("virtio:d00000001v*"); strings.Join(m, " ") != "virtio_net" {
		t.Errorf("alias from modules.alias: %v", m)
	}
}

// TestHostileDep: a modules.dep naming a file outside the directory is
// refused with its line, never opened.
func TestHostileDep(t *testing.T) {
	dir := t.TempDir()
	dep := "kernel/a.ko:\n../../../etc/shadow.ko: kernel/a.ko\n"
	if err := os.WriteFile(filepath.Join(dir, "modules.dep"), []byte(dep), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir)
	if err == nil || !strings.Contains(err.Error(), "modules.dep:2:") {
		t.Fatalf("Open: %v, want an error at modules.dep:2", err)
	}
}

func TestUnknownModule(t *testing.T) {
	ix, err := Open(cloudModules(t))
	if err != nil {
		t.Fatal(err)
	}
	_, err = ix.Resolve("virtio_blok")
	if err == nil || !strings.Contains(err.Error(), `"virtio_blok"`) || !strings.Contains(err.Error(), "virtio_blk") {
		t.Fatalf("error %v, want one naming virtio_blk as nearest", err)
	}
	if _, err := ix.Resolve("usb:v9999p9999*"); err == nil {
		t.Fatal("an alias nothing matches resolved")
	}
}

// TestCompressedModules: .ko.xz/.ko.zst/.ko.gz are read decompressed.
func TestCompressedModules(t *testing.T) {
	src := cloudModules(t)
	dir := t.TempDir()
	for _, c := range []struct{ mod, tool, ext string }{
		{"kernel/drivers/md/dm-mod.ko", "xz", ".xz"},
		{"kernel/drivers/md/dm-crypt.ko", "zstd", ".zst"},
		{"kernel/crypto/xts.ko", "gzip", ".gz"},
	} {
		data, err := os.ReadFile(filepath.Join(src, c.mod))
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(c.tool, "-c")
		cmd.Stdin = bytes.NewReader(data)
		z, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, c.mod+c.ext)
		os.MkdirAll(filepath.Dir(out), 0o755)
		os.WriteFile(out, z, 0o644)
		got, err := ReadFile(out)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: %v", out, err)
		}
	}
	// A module that decompresses past the bound is an error naming it,
	// not all of it in memory.
	defer func(n int) { MaxModule = n }(MaxModule)
	MaxModule = 100 << 10 // dm-mod is some 400 KB
	if _, err := ReadFile(filepath.Join(dir, "kernel/drivers/md/dm-mod.ko.xz")); err == nil || !strings.Contains(err.Error(), "dm-mod.ko.xz: decompresses to more than 102400 bytes") {
		t.Errorf("a module past the bound: %v", err)
	}
	MaxModule = 1 << 30
	ix, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	res, err := ix.Resolve("dm_crypt")
	if err != nil {
		t.Fatal(err)
	}
	if got := names(res.Modules); got != "dm_crypt dm_mod xts" {
		t.Errorf("got %s", got)
	}
}

func TestGlobsIntersect(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"pci:v00001AF4d*sv*sd*bc*sc*i*", "pci:v00001AF4d00001001*", true},
		{"pci:v00001AF4d*sv*sd*bc*sc*i*", "pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00", true},
		{"pci:v00001AF4d*sv*sd*bc*sc*i*", "pci:v00008086d*", false},
		{"virtio:d00000002v*", "virtio:d00000002v00001AF4", true},
		{"virtio:d00000002v*", "virtio:d00000001v*", false},
		{"a?c", "abc", true},
		{"*", "", true},
		{"abc", "ab", false},
	} {
		if got := globsIntersect(c.a, c.b); got != c.want {
			t.Errorf("globsIntersect(%q, %q) = %v", c.a, c.b, got)
		}
		if got := globsIntersect(c.b, c.a); got != c.want {
			t.Errorf("globsIntersect(%q, %q) = %v (swapped)", c.b, c.a, got)
		}
	}
}

// intersectRef is the plain recursion globsIntersect computes row by
// row: the reference its fuzz target holds it to.
func intersectRef(a, b string) bool {
	switch {
	case a == "" && b == "":
		return true
	case a != "" && a[0] == '*':
		return intersectRef(a[1:], b) || (b != "" && intersectRef(a, b[1:]))
	case b != "" && b[0] == '*':
		return intersectRef(a, b[1:]) || (a != "" && intersectRef(a[1:], b))
	case a == "" || b == "":
		return false
	}
	return (a[0] == b[0] || a[0] == '?' || b[0] == '?') && intersectRef(a[1:], b[1:])
}

func FuzzGlobsIntersect(f *testing.F) {
	f.Add("pci:v*d*sv*sd*bc01sc01i*", "pci:v00008086d*")
	f.Add("a*?b", "*ab?")
	f.Fuzz(func(t *testing.T, a, b string) {
		if len(a) > 12 || len(b) > 12 {
			return // the reference is exponential
		}
		if got, want := globsIntersect(a, b), intersectRef(a, b); got != want {
			t.Fatalf("globsIntersect(%q, %q) = %v, want %v", a, b, got, want)
		}
		if globsIntersect(a, b) != globsIntersect(b, a) {
			t.Fatalf("globsIntersect(%q, %q) is not symmetric", a, b)
		}
	})
}

// TestGlobsIntersectLong: a modules.alias line of a MB costs one pass
// over it, not a recursion as deep as the line or a map of its cells.
func TestGlobsIntersectLong(t *testing.T) {
	long, stars := strings.Repeat("*a", 1<<19), strings.Repeat("*", 1<<20)
	alias := "pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00"
	allocs := testing.AllocsPerRun(1, func() {
		if globsIntersect(long, alias) {
			t.Error("a pattern of only a's matched a PCI alias")
		}
		if !globsIntersect(stars, alias) {
			t.Error("a MB of * did not match a PCI alias")
		}
	})
	if allocs > 4 {
		t.Errorf("%v allocations, want two rows a call", allocs)
	}
}
