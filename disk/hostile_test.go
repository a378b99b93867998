package disk

import (
	"bytes"
	"context"
	"crypto/sha256"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func sum(t *testing.T, p string) [32]byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// Names from a tree cross into debugfs's command language and mtools'
// names: a newline would be a command of its own ("write /etc/shadow
// /x" copies a host file in, "dump /f PATH" writes any host path), a
// symlink in a FAT-bound tree would copy whatever it points at. Each is
// refused naming the entry, and the image is left as it was; names with
// blanks and quotes are copied as they are.
func TestCopyHostileNames(t *testing.T) {
	dir := t.TempDir()
	// "@@" in the image's own name must not steer mtools elsewhere.
	out := filepath.Join(dir, "a@@1024.img")
	s := &Spec{Output: out, Size: "96M", Partitions: []Partition{
		{Name: "esp", Size: "32M", Fill: Fill{FS: "vfat"}},
		{Name: "root", Fill: Fill{FS: "ext4"}},
	}}
	if err := create(t, s); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	before := sum(t, out)
	for _, c := range []struct {
		part string
		tree map[string]string
		link [2]string // name, target
		want string
	}{
		{"root", map[string]string{"evil\nwrite /etc/hostname /stolen": "x"}, [2]string{}, "control character"},
		{"root", map[string]string{"ok": "x"}, [2]string{"l", "t\ndump / " + filepath.Join(dir, "written")}, "control character"},
		{"esp", map[string]string{"ok": "x"}, [2]string{"etc", "/etc"}, "a symbolic link (to /etc): vfat has none"},
		{"esp", map[string]string{"evil\nname": "x"}, [2]string{}, "control character"},
	} {
		src := tree(t, c.tree)
		if c.link[0] != "" {
			os.Symlink(c.link[1], filepath.Join(src, c.link[0]))
		}
		err := Copy(ctx, out, c.part, []string{src}, "/in")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %v: %v, want %q", c.part, c.tree, err, c.want)
		}
	}
	for _, dst := range []string{"/a\nb", "/x*"} {
		if err := Copy(ctx, out, "esp", []string{tree(t, map[string]string{"f": "x"})}, dst); err == nil {
			t.Errorf("vfat destination %q accepted", dst)
		}
	}
	if sum(t, out) != before {
		t.Error("a refused copy changed the image")
	}
	if _, err := os.Stat(filepath.Join(dir, "written")); err == nil {
		t.Error("debugfs wrote a host file")
	}
	// Blanks, quotes and backslashes are names like any other in ext4;
	// blanks and semicolons in vfat, which has no quotes and backslashes.
	for part, odd := range map[string]string{"root": `a "quoted" name\with`, "esp": "a name; with blanks"} {
		src := tree(t, map[string]string{odd: "odd\n"})
		if err := Copy(ctx, out, part, []string{filepath.Join(src, odd)}, "/"+odd); err != nil {
			t.Fatalf("%s: %v", part, err)
		}
		var b bytes.Buffer
		if err := Cat(ctx, out, part, "/"+odd, &b); err != nil || b.String() != "odd\n" {
			t.Errorf("%s: %q, %v", part, b.String(), err)
		}
	}
}

// Values that reach sfdisk's script and the VM's shell script are
// checked: a quote in a partition name would add fields (type=, uuid=),
// a UUID that is not one, a volume group name with a ';'.
func TestHostileSpecValues(t *testing.T) {
	out := filepath.Join(t.TempDir(), "d.img")
	for _, c := range []struct {
		s    *Spec
		want string
	}{
		{&Spec{Output: out, Size: "64M", Partitions: []Partition{{Name: `root", type="C12A7328-F81F-11D2-BA4B-00A0C93EC93B`}}}, "no quotes or backslashes"},
		{&Spec{Output: out, Size: "64M", Partitions: []Partition{{Name: "x", PartUUID: "0,type=EF"}}}, `partuuid "0,type=EF" is not a UUID`},
		{&Spec{Output: out, Size: "64M", Partitions: []Partition{{Name: "x", Type: "aaaaaaaa-aaaa-aaaa-aaaa-aaaa,type=ef"}}}, "unknown type"},
		{&Spec{Output: out, Size: "64M", Partitions: []Partition{{Name: "pv", Type: "lvm"}}, LVM: []VG{{VG: "vg;reboot", PVs: []string{out + ":pv"}}}}, `vg "vg;reboot"`},
		{&Spec{Output: out, Size: "64M", Partitions: []Partition{{Name: "pv", Type: "lvm"}}, LVM: []VG{{VG: "vg", PVs: []string{out + ":pv"}, LVs: []LV{{Name: "$(id)"}}}}}, `lv "$(id)"`},
	} {
		if err := create(t, c.s); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.s.Partitions, err, c.want)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a refused spec left an image")
	}
}

// mkfs.xfs's prototype file splits on blanks: a symlink target that
// would read as another entry ("x leak ---644 0 0 /etc/shadow" is a file
// holding the host's shadow file) is refused, naming the entry.
func TestXFSPrototypeRefusesBlanks(t *testing.T) {
	src := tree(t, map[string]string{"ok": "x"})
	os.Symlink("x leak ---644 0 0 /etc/shadow", filepath.Join(src, "leak"))
	out := filepath.Join(t.TempDir(), "d.img")
	err := create(t, &Spec{Output: out, Size: "320M", Partitions: []Partition{{Name: "root", Fill: Fill{FS: "xfs", Tree: src}}}})
	if err == nil || !strings.Contains(err.Error(), "leak: its target") || !strings.Contains(err.Error(), "prototype file") {
		t.Errorf("%v", err)
	}
}

// TestDebianRefuses: a suite, a package or a mirror that mmdebstrap
// would read as something else (an option that runs a shell, two
// packages in one) is refused before anything is made.
func TestDebianRefuses(t *testing.T) {
	out := filepath.Join(t.TempDir(), "d.img")
	for _, c := range []struct {
		o    DebianOptions
		want string
	}{
		{DebianOptions{Suite: "--customize-hook=touch /tmp/x"}, `--suite "--customize-hook=touch /tmp/x": not a Debian suite`},
		{DebianOptions{Suite: "Bookworm"}, "not a Debian suite"},
		{DebianOptions{Packages: []string{"vim,evil"}}, `--packages "vim,evil": not a Debian package name`},
		{DebianOptions{Packages: []string{"-oAPT::x"}}, "not a Debian package name"},
		{DebianOptions{Mirror: "--variant=extract"}, "want an http, https or file URL"},
		{DebianOptions{Mirror: "http://deb.debian.org/debian bookworm main"}, "want an http, https or file URL"},
	} {
		c.o.Output = out
		if err := Debian(context.Background(), c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.o, err, c.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%+v: %s was made", c.o, out)
		}
	}
	for _, o := range []DebianOptions{{Suite: "trixie", Packages: []string{"vim", "libc6:amd64", "gcc=4:12.2.0-3"}, Mirror: "http://deb.debian.org/debian"}, {Mirror: "file:///srv/mirror"}} {
		if err := o.check(); err != nil {
			t.Errorf("%+v: %v", o, err)
		}
	}
}

// A disk from someone else may hold any name and any link target: a
// newline in a name splits debugfs's ls lines, and a link's target that
// reads as debugfs's own output must not steer the next entry's. Each
// entry is listed as it is, and printed escaped.
func TestReadDirHostileNames(t *testing.T) {
	src := t.TempDir()
	spoof := "x\ndebugfs: stat \"/c\"\nFast link dest: \"/etc/shadow"
	for name, target := range map[string]string{"b": spoof, "c": "target"} {
		if err := os.Symlink(target, filepath.Join(src, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(src, "a\nb"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "h.img")
	if out, err := exec.Command("mke2fs", "-q", "-t", "ext4", "-d", src, img, "8M").CombinedOutput(); err != nil {
		t.Fatalf("mke2fs: %v: %s", err, out)
	}
	files, err := ReadDir(context.Background(), img, "", "/")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range files {
		got[f.Name] = f.Type + " " + f.Link
	}
	want := map[string]string{"a\nb": "file ", "b": "link " + spoof, "c": "link target", "lost+found": "dir "}
	if !maps.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	var b bytes.Buffer
	if err := WriteFiles(&b, files); err != nil || strings.Count(b.String(), "\n") != len(want) || !strings.Contains(b.String(), `a\x0ab`) {
		t.Errorf("printed %q, %v: want one line an entry, the newline escaped", b.String(), err)
	}
}
