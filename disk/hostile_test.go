package disk

import (
	"bytes"
	"context"
	"crypto/sha256"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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

// A hostile ext image copied out: a name that is a link to a host
// directory and, twice in the same directory, a directory with a file in
// it (the file must not land where the link points); a directory that
// holds itself; and a sparse file that claims far more than the
// partition holds. Each is refused, and nothing is written outside DIR.
func TestCopyOutHostile(t *testing.T) {
	victim := t.TempDir()
	ctx := context.Background()
	for _, c := range []struct {
		img, name, want string
	}{
		{duplicateName(t, victim), "/", `"a" twice in one directory`},
		{hostileExt(t, map[string]string{"d/f": "data\n"}, "link /d /d/loop\n"), "/d", "a loop in the filesystem"},
		{hostileExt(t, map[string]string{"d/f": "data\n"}, ""), "/huge", "more than the partition holds"},
		// A name with a newline, in one of two directories listed at once.
		{hostileExt(t, map[string]string{"A/x\ndebugfs: ls -p \"/B\"\nz": "1", "B/f": "2"}, ""), "/", "control character"},
	} {
		out := filepath.Join(t.TempDir(), "out")
		err := CopyOut(ctx, c.img, "", []string{c.name}, out)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
		if left, _ := filepath.Glob(filepath.Join(out, ".initkit-*")); len(left) > 0 {
			t.Errorf("%s: left behind: %v", c.name, left)
		}
	}
	// A link already in DIR is not written through either.
	out := t.TempDir()
	if err := os.Symlink(victim, filepath.Join(out, "d")); err != nil {
		t.Fatal(err)
	}
	if err := CopyOut(ctx, hostileExt(t, map[string]string{"d/f": "x"}, ""), "", []string{"/d"}, out); err == nil || !strings.Contains(err.Error(), "escapes") {
		t.Errorf("into a link in DIR: %v", err)
	}
	if left, _ := os.ReadDir(victim); len(left) > 0 {
		t.Errorf("written through a link: %v", left)
	}
}

// hostileExt makes an ext4 image of files and a sparse file of 1 GiB,
// "huge", then runs a debugfs script on it: debugfs's link adds an entry
// whatever it points at.
func hostileExt(t *testing.T, files map[string]string, script string) string {
	t.Helper()
	src := tree(t, files)
	if err := os.Truncate(filepath.Join(src, "huge"), 0); err == nil {
		t.Fatal("huge is there")
	}
	if f, err := os.Create(filepath.Join(src, "huge")); err != nil {
		t.Fatal(err)
	} else {
		f.Truncate(1 << 30)
		f.Close()
	}
	img := filepath.Join(t.TempDir(), "h.img")
	if out, err := exec.Command("mke2fs", "-q", "-t", "ext4", "-d", src, img, "16M").CombinedOutput(); err != nil {
		t.Fatalf("mke2fs: %v: %s", err, out)
	}
	cmd := exec.Command("debugfs", "-w", "-f", "-", img)
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("debugfs: %v: %s", err, out)
	}
	return img
}

// duplicateName makes an ext4 image whose root holds "a" twice: a link
// to victim, and a directory with a file in it. No tool makes one: the
// directory "b" is renamed in the root's directory block (no checksums).
func duplicateName(t *testing.T, victim string) string {
	t.Helper()
	src := tree(t, map[string]string{"b/f": "data\n"})
	if err := os.Symlink(victim, filepath.Join(src, "a")); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "dup.img")
	if out, err := exec.Command("mke2fs", "-q", "-b", "4096", "-O", "^metadata_csum,^dir_index", "-t", "ext4", "-d", src, img, "16M").CombinedOutput(); err != nil {
		t.Fatalf("mke2fs: %v: %s", err, out)
	}
	out, err := exec.Command("debugfs", "-R", "blocks /", img).Output()
	if err != nil {
		t.Fatal(err)
	}
	block, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		t.Fatalf("blocks /: %q", out)
	}
	data, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	dir := data[block*4096 : (block+1)*4096]
	i := bytes.Index(dir, []byte{1, 2, 'b'}) // name_len 1, a directory, "b"
	if i < 0 {
		t.Fatal("no entry b in the root's block")
	}
	dir[i+2] = 'a'
	if err := os.WriteFile(img, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return img
}
