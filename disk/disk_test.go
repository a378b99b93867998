package disk

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/initkit/initkit/initramfs"
	"github.com/initkit/initkit/probe"
)

// tree writes files (path -> content) under a new directory.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func create(t *testing.T, s *Spec) error {
	t.Helper()
	e := int64(1700000000)
	return Create(context.Background(), s, Options{Epoch: &e})
}

func twoTrees(t *testing.T, out string) *Spec {
	return &Spec{Output: out, Size: "256M", Partitions: []Partition{
		{Name: "boot", Size: "64M", Fill: Fill{Tree: tree(t, map[string]string{"hello": "boot\n"}), Label: "Boot"}},
		{Name: "root", Fill: Fill{FS: "ext4", Tree: tree(t, map[string]string{"etc/msg": "root\n", "bin/x": "x"})}},
	}}
}

// TestCreateMatchesSfdiskAndBlkid: the table and filesystems Create
// writes are what sfdisk and blkid read, List agrees with both, e2fsck
// finds the filesystems clean (the inode checksums fixInodes rewrote
// among them), and a second run gives the same bytes.
func TestCreateMatchesSfdiskAndBlkid(t *testing.T) {
	out := filepath.Join(t.TempDir(), "disk.img")
	if err := create(t, twoTrees(t, out)); err != nil {
		t.Fatal(err)
	}
	l, err := probe.List(out)
	if err != nil {
		t.Fatal(err)
	}
	js, err := exec.Command("sfdisk", "--json", out).Output()
	if err != nil {
		t.Fatal(err)
	}
	var sf struct {
		PartitionTable struct {
			Label, ID  string
			Partitions []struct {
				Start, Size int64
				UUID, Name  string
			}
		}
	}
	if err := json.Unmarshal(js, &sf); err != nil {
		t.Fatal(err)
	}
	pt := sf.PartitionTable
	if pt.Label != l.Table || !strings.EqualFold(pt.ID, l.UUID) || len(pt.Partitions) != len(l.Partitions) {
		t.Fatalf("sfdisk: %s %s %d partitions; List: %s %s %d", pt.Label, pt.ID, len(pt.Partitions), l.Table, l.UUID, len(l.Partitions))
	}
	for i, p := range pt.Partitions {
		e := l.Partitions[i]
		if p.Start*512 != e.Start || p.Size*512 != e.Size || !strings.EqualFold(p.UUID, e.PartUUID) || p.Name != e.PartLabel {
			t.Errorf("partition %d: sfdisk %+v, List %+v", i+1, p, e)
		}
		got := blkid(t, out, e.Start)
		if got["TYPE"] != e.Type || got["UUID"] != e.UUID || got["LABEL"] != e.Label || e.Type != "ext4" {
			t.Errorf("partition %d: blkid %v, List %+v", i+1, got, e)
		}
		fsck(t, out, e.Start)
	}
	if l.Partitions[0].Label != "Boot" || l.Partitions[0].Start != 1<<20 || l.Partitions[1].Size != 256<<20-65<<20-1<<20 {
		t.Errorf("layout: %+v", l.Partitions)
	}
	again := filepath.Join(t.TempDir(), "disk.img")
	if err := create(t, twoTrees(t, again)); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(out)
	b, _ := os.ReadFile(again)
	if !bytes.Equal(a, b) {
		t.Error("the same spec gave different bytes")
	}
}

// blkid is what blkid -p reads at off, as KEY=VALUE pairs.
func blkid(t *testing.T, file string, off int64) map[string]string {
	t.Helper()
	out, err := exec.Command("blkid", "-p", "-o", "export", "-O", strconv.FormatInt(off, 10), file).Output()
	if err != nil {
		t.Fatalf("blkid -O %d %s: %v", off, file, err)
	}
	m := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}

func fsck(t *testing.T, file string, off int64) {
	t.Helper()
	if out, err := exec.Command("e2fsck", "-fn", file+"?offset="+strconv.FormatInt(off, 10)).CombinedOutput(); err != nil {
		t.Errorf("e2fsck at %d: %v\n%s", off, err, out)
	}
}

// TestFilesystems makes one partition of each filesystem and checks
// that blkid sees what List sees, with the label and the UUID asked for.
func TestFilesystems(t *testing.T) {
	content := tree(t, map[string]string{"a/b.txt": "b\n", "c": "c\n"})
	out := filepath.Join(t.TempDir(), "all.img")
	s := &Spec{Output: out, Size: "1G", Table: "mbr", Partitions: []Partition{
		{Name: "fat", Size: "64M", Type: "esp", Fill: Fill{FS: "vfat", Label: "ESP", Tree: content}},
		{Name: "sq", Size: "16M", Fill: Fill{FS: "squashfs", Tree: content}},
		{Name: "xfs", Size: "320M", Fill: Fill{FS: "xfs", Label: "X", UUID: "11111111-2222-4333-8444-555555555555", Tree: content}},
		{Name: "rest", Fill: Fill{FS: "btrfs", Label: "B", Tree: content}},
	}}
	if err := create(t, s); err != nil {
		t.Fatal(err)
	}
	l, err := probe.List(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"vfat", "squashfs", "xfs", "btrfs"}
	for i, e := range l.Partitions {
		got := blkid(t, out, e.Start)
		if e.Type != want[i] || got["TYPE"] != e.Type || got["UUID"] != e.UUID || got["LABEL"] != e.Label {
			t.Errorf("partition %d: want %s; blkid %v, List %+v", i+1, want[i], got, e)
		}
	}
	if l.Partitions[2].UUID != "11111111-2222-4333-8444-555555555555" {
		t.Errorf("xfs UUID %s, not the one asked for", l.Partitions[2].UUID)
	}
	var b bytes.Buffer
	if err := Cat(context.Background(), out, "1", "/a/b.txt", &b); err != nil || b.String() != "b\n" {
		t.Errorf("cat from the vfat: %q, %v", b.String(), err)
	}
	sw := filepath.Join(t.TempDir(), "swap.img")
	if err := create(t, &Spec{Output: sw, Size: "64M", Table: "none", Partitions: []Partition{{Fill: Fill{FS: "swap", Label: "sw"}}}}); err != nil {
		t.Fatal(err)
	}
	if got := blkid(t, sw, 0); got["TYPE"] != "swap" || got["LABEL"] != "sw" {
		t.Errorf("swap: blkid %v", got)
	}
}

// TestLUKS: a LUKS2 container made on a file, with the derived UUID.
func TestLUKS(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	os.WriteFile(key, []byte("secret"), 0o600)
	out := filepath.Join(dir, "luks.img")
	s := &Spec{Output: out, Size: "128M", Partitions: []Partition{{Name: "root", LUKS: &LUKS{Keyfile: key},
		Fill: Fill{Tree: tree(t, map[string]string{"etc/msg": "inside\n"})}}}}
	if err := create(t, s); err != nil {
		t.Fatal(err)
	}
	l, err := probe.List(out)
	if err != nil {
		t.Fatal(err)
	}
	e := l.Partitions[0]
	if e.Type != "crypto_LUKS" || e.Version != "2" || e.UUID != s.uuid("partition/root", "luks") {
		t.Errorf("List %+v", e)
	}
	if got := blkid(t, out, e.Start); got["TYPE"] != "crypto_LUKS" || got["UUID"] != e.UUID {
		t.Errorf("blkid %v", got)
	}
}

// TestBadInput: errors name the partition, and nothing is left behind.
func TestBadInput(t *testing.T) {
	big := tree(t, map[string]string{})
	os.WriteFile(filepath.Join(big, "big"), bytes.Repeat([]byte{1}, 5<<20), 0o644)
	for _, c := range []struct {
		name string
		spec Spec
		want string
	}{
		{"too big", Spec{Size: "64M", Partitions: []Partition{{Name: "a", Size: "32M"}, {Name: "b", Size: "40M"}}},
			"partition 2 (b): 40M at offset 33M does not fit in the 64M disk"},
		{"tree too big", Spec{Size: "64M", Partitions: []Partition{{Name: "small", Size: "4M", Fill: Fill{FS: "ext4", Tree: big}}}},
			"partition 1 (small): its content does not fit in 4M"},
		{"unknown fs", Spec{Size: "64M", Partitions: []Partition{{Name: "z", Fill: Fill{FS: "zfs"}}}},
			`partition 1 (z): unknown filesystem "zfs"`},
		{"rest not last", Spec{Size: "64M", Partitions: []Partition{{Name: "a"}, {Name: "b", Size: "1M"}}},
			"partition 1 (a): only the last partition can take the rest"},
		{"size 0", Spec{Size: "64M", Partitions: []Partition{{Name: "a", Size: "0"}}},
			`partition 1 (a): size 0 (give a size, or "rest" for what is left)`},
		{"mbr type", Spec{Size: "64M", Table: "mbr", Partitions: []Partition{{Name: "a", Type: "zz"}}},
			`partition 1 (a): unknown type "zz"`},
		// The tool's own error, not the usage text it prints after it.
		{"xfs too small", Spec{Size: "64M", Partitions: []Partition{{Name: "x", Fill: Fill{FS: "xfs"}}}},
			"partition 1 (x): mkfs.xfs: Filesystem must be larger than 300MB."},
		{"vfat wildcard", Spec{Size: "64M", Partitions: []Partition{{Name: "e", Fill: Fill{FS: "vfat", Tree: tree(t, map[string]string{"a[1].txt": "x"})}}}},
			`a[1].txt" holds a character vfat cannot hold or mtools reads as a wildcard`},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			c.spec.Output = filepath.Join(dir, "out.img")
			err := create(t, &c.spec)
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %v; want one line with %q", err, c.want)
			}
			if err != nil && strings.Count(err.Error(), "partition 1 (") > 1 {
				t.Errorf("error %v names the partition twice", err)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}

// TestCopyAndCat: files and a directory copied into ext4 and vfat read
// back, the filesystem stays clean, and a missing file is an error.
func TestCopyAndCat(t *testing.T) {
	out := filepath.Join(t.TempDir(), "d.img")
	s := &Spec{Output: out, Size: "128M", Partitions: []Partition{
		{Name: "esp", Size: "32M", Fill: Fill{FS: "vfat"}},
		{Name: "root", Fill: Fill{Tree: tree(t, map[string]string{"etc/keep": "kept\n"})}},
	}}
	if err := create(t, s); err != nil {
		t.Fatal(err)
	}
	src := tree(t, map[string]string{"file": "one\n", "dir/sub/two": "two\n"})
	ctx := context.Background()
	for _, part := range []string{"root", "esp"} {
		if err := Copy(ctx, out, part, []string{filepath.Join(src, "file"), filepath.Join(src, "dir")}, "/"); err != nil {
			t.Fatalf("%s: %v", part, err)
		}
		for name, want := range map[string]string{"/file": "one\n", "/dir/sub/two": "two\n"} {
			var b bytes.Buffer
			if err := Cat(ctx, out, part, name, &b); err != nil || b.String() != want {
				t.Errorf("%s %s: %q, %v", part, name, b.String(), err)
			}
		}
		if err := Cat(ctx, out, part, "/nope", &bytes.Buffer{}); err == nil {
			t.Errorf("%s: no error for a missing file", part)
		}
	}
	// The directories on the way are made, as mkdir -p would, in both;
	// a file in the way is an error.
	for _, part := range []string{"root", "esp"} {
		if err := Copy(ctx, out, part, []string{filepath.Join(src, "file")}, "/new/deep/"); err != nil {
			t.Fatalf("%s: %v", part, err)
		}
		var b bytes.Buffer
		if err := Cat(ctx, out, part, "/new/deep/file", &b); err != nil || b.String() != "one\n" {
			t.Errorf("%s: into new directories: %q, %v", part, b.String(), err)
		}
		if err := Copy(ctx, out, part, []string{filepath.Join(src, "file")}, "/file/x"); err == nil {
			t.Errorf("%s: a copy under a file: no error", part)
		}
	}
	var b bytes.Buffer
	if err := Cat(ctx, out, "2", "/etc/keep", &b); err != nil || b.String() != "kept\n" {
		t.Errorf("the tree's file after the copies: %q, %v", b.String(), err)
	}
	l, _ := probe.List(out)
	fsck(t, out, l.Partitions[1].Start)
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".*")); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

// TestCatFollowsLinks: cat reads a file through links, fast (in the
// inode) and slow (in a block), relative and absolute, taken in the
// partition; a directory, a loop of links and a missing file are errors
// that say so, where debugfs printed a link's or a directory's raw bytes.
func TestCatFollowsLinks(t *testing.T) {
	src := tree(t, map[string]string{"usr/lib/os-release": "real\n", "etc/x": ""})
	long := strings.Repeat("x/../", 30) + "../usr/lib/os-release" // past 60 bytes: a slow link
	for name, target := range map[string]string{
		"etc/rel": "../usr/lib/os-release", "etc/abs": "/usr/lib/os-release", "etc/long": long,
		"etc/up": "../../../../usr/lib/os-release", "etc/chain": "rel", "lib": "usr/lib",
		"etc/loop1": "loop2", "etc/loop2": "loop1", "etc/dangling": "/nope", "etc/dir": "/usr",
	} {
		if err := os.Symlink(target, filepath.Join(src, name)); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "d.img")
	s := &Spec{Output: out, Size: "64M", Partitions: []Partition{
		{Name: "esp", Size: "16M", Fill: Fill{FS: "vfat", Tree: tree(t, map[string]string{"one/x": "1\n"})}},
		{Name: "root", Fill: Fill{FS: "ext4", Tree: src}},
	}}
	if err := create(t, s); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, name := range []string{"/etc/rel", "/etc/abs", "/etc/long", "/etc/up", "/etc/chain", "/lib/os-release", "/usr/lib/os-release"} {
		var b bytes.Buffer
		if err := Cat(ctx, out, "root", name, &b); err != nil || b.String() != "real\n" {
			t.Errorf("%s: %q, %v", name, b.String(), err)
		}
	}
	for part, errs := range map[string]map[string]string{
		"root": {"/etc": "is a directory", "/etc/dir": "is a directory", "/etc/loop1": "too many levels of symbolic links",
			"/etc/dangling": "no such file or directory", "/nope": "no such file or directory"},
		"esp": {"/": "is a directory", "/one": "is a directory"}, // one entry: mdir -b prints one line
	} {
		for name, want := range errs {
			var b bytes.Buffer
			err := Cat(ctx, out, part, name, &b)
			if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), name) || b.Len() > 0 {
				t.Errorf("%s %s: %q, %v; want an error with %q and nothing written", part, name, b.String(), err, want)
			}
		}
	}
}

// TestReadDir lists directories of an ext4 and a vfat partition made
// from a tree, and every entry matches the tree's own: name, type, size,
// the permissions (ext4) and where a link points.
func TestReadDir(t *testing.T) {
	src := tree(t, map[string]string{"usr/lib/os-release": "real\n", "usr/lib/empty": "", "etc/motd": "hello\n"})
	if err := os.Chmod(filepath.Join(src, "usr/lib/empty"), 0o750|fs.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"lib": "usr/lib", "etc/os-release": "../usr/lib/os-release", "etc/long": strings.Repeat("y", 100)} {
		if err := os.Symlink(target, filepath.Join(src, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(src, "etc/fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	fat := tree(t, map[string]string{"EFI/BOOT/BOOTX64.EFI": "efi", "a long name.txt": "long\n", "loader/x": "1"})
	out := filepath.Join(t.TempDir(), "d.img")
	s := &Spec{Output: out, Size: "64M", Partitions: []Partition{
		{Name: "esp", Size: "16M", Fill: Fill{FS: "vfat", Tree: fat}},
		{Name: "root", Fill: Fill{FS: "ext4", Tree: src}},
	}}
	if err := create(t, s); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range []struct{ part, dir, host, want string }{
		{"root", "/etc", "etc", "fifo long motd os-release"},
		{"root", "/lib", "usr/lib", "empty os-release"}, // through the link
		{"root", "/lib/", "usr/lib", "empty os-release"},
		{"root", "/etc/os-release", "etc", "os-release"}, // the link itself, as ls -l
		{"root", "/", "", "etc lib lost+found usr"},
		{"root", "/lost+found", "", ""}, // its blocks' room is no entry
		{"esp", "/", "", "EFI a long name.txt loader"},
		{"esp", "/loader", "loader", "x"},
		{"esp", "/a long name.txt", "", "a long name.txt"},
	} {
		files, err := ReadDir(ctx, out, c.part, c.dir)
		var names []string
		for _, f := range files {
			names = append(names, f.Name)
		}
		if err != nil || strings.Join(names, " ") != c.want {
			t.Errorf("%s %s: %q, %v; want %q", c.part, c.dir, names, err, c.want)
			continue
		}
		host := src
		if c.part == "esp" {
			host = fat
		}
		for _, f := range files {
			if f.Name != "lost+found" { // mke2fs's own
				checkEntry(t, c.part, filepath.Join(host, c.host, f.Name), f)
			}
		}
	}
	for part, missing := range map[string]string{"root": "/nope", "esp": "/nope"} {
		if _, err := ReadDir(ctx, out, part, missing); err == nil || !strings.Contains(err.Error(), "no such file or directory") {
			t.Errorf("%s %s: %v, want no such file", part, missing, err)
		}
	}
	// A partition given as the path (disk ls IMG 1) is named as one.
	one := filepath.Join(t.TempDir(), "one.img")
	if err := create(t, &Spec{Output: one, Size: "16M", Partitions: []Partition{{Name: "root", Fill: Fill{FS: "ext4", Tree: src}}}}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"1", "root"} {
		if _, err := ReadDir(ctx, one, "", p); err == nil || !strings.Contains(err.Error(), "partition "+p+" is "+one+":"+p) {
			t.Errorf("partition %s as the path: %v", p, err)
		}
	}
	if _, err := ReadDir(ctx, one, "", "etc"); err != nil {
		t.Errorf("a relative path of the partition: %v", err)
	}
}

// checkEntry compares a listed entry with the host file it was made of.
func checkEntry(t *testing.T, part, host string, f File) {
	t.Helper()
	st, err := os.Lstat(host)
	if err != nil {
		t.Fatal(err)
	}
	want := map[fs.FileMode]string{0: "file", fs.ModeDir: "dir", fs.ModeSymlink: "link", fs.ModeNamedPipe: "fifo"}[st.Mode().Type()]
	if f.Type != want {
		t.Errorf("%s %s: type %s, want %s", part, f.Name, f.Type, want)
	}
	if want == "file" && f.Size != st.Size() {
		t.Errorf("%s %s: size %d, want %d", part, f.Name, f.Size, st.Size())
	}
	if part == "esp" {
		return // FAT keeps no permissions, owners or links
	}
	perm := uint32(st.Sys().(*syscall.Stat_t).Mode & 0o7777)
	if f.Mode != perm || f.UID != 0 || f.GID != 0 {
		t.Errorf("%s %s: mode %o %d:%d, want %o 0:0", part, f.Name, f.Mode, f.UID, f.GID, perm)
	}
	if target, _ := os.Readlink(host); f.Link != target {
		t.Errorf("%s %s: link %q, want %q", part, f.Name, f.Link, target)
	}
}

func TestParsePart(t *testing.T) {
	p, err := ParsePart("root:rest:ext4:/srv/tree")
	if err != nil || p.Name != "root" || p.Size != "rest" || p.FS != "ext4" || p.Tree != "/srv/tree" {
		t.Errorf("%+v, %v", p, err)
	}
	if _, err := ParsePart("root:1G"); err == nil {
		t.Error("no error for NAME:SIZE")
	}
}

func TestSuperBackups(t *testing.T) {
	var got []int64
	for g := int64(0); g < 30; g++ {
		if hasSuperBackup(g, 0, 1, nil) {
			got = append(got, g)
		}
	}
	if want := []int64{0, 1, 3, 5, 7, 9, 25, 27}; !slices.Equal(got, want) {
		t.Errorf("sparse_super groups %v, want %v", got, want)
	}
}

// TestSpecNodes: the device nodes of an image spec that fills an ext4
// volume are made in it (debugfs mknod), with their mode, though a tree
// made without root cannot hold them.
func TestSpecNodes(t *testing.T) {
	dir := t.TempDir()
	// The [image] of early.toml, as package spec reads it.
	img := &initramfs.Spec{Init: "none", Nodes: []string{"/dev/null c 1 3 0666", "/dev/vdz b 254 0 0600"}}
	out := filepath.Join(dir, "d.img")
	if err := create(t, &Spec{Output: out, Size: "64M", Partitions: []Partition{{Name: "early", Fill: Fill{Spec: "early.toml", Image: img}}}}); err != nil {
		t.Fatal(err)
	}
	l, _ := probe.List(out)
	dev := out + "?offset=" + strconv.FormatInt(l.Partitions[0].Start, 10)
	for name, want := range map[string][]string{"/dev/null": {"Type: character special", "Mode:  0666", "major/minor number: 01:03"},
		"/dev/vdz": {"Type: block special", "Mode:  0600", "major/minor number: 254:00"}} {
		st, err := exec.Command("debugfs", "-R", "stat "+name, dev).CombinedOutput()
		for _, w := range want {
			if err != nil || !strings.Contains(string(st), w) {
				t.Errorf("%s: want %q in\n%s", name, w, st)
			}
		}
	}
	fsck(t, out, l.Partitions[0].Start)
}

// TestCopyOut copies directories and files out of an ext4 and a vfat
// partition made from trees, and the host gets the trees back: the same
// content, permissions (without setuid) and links.
func TestCopyOut(t *testing.T) {
	src := tree(t, map[string]string{"etc/motd": "hello\n", "etc/ssh/sshd_config": "Port 22\n", "usr/lib/os-release": "ID=x\n", "usr/bin/tool": "#!/bin/sh\n"})
	if err := os.Chmod(filepath.Join(src, "usr/bin/tool"), 0o755|fs.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(src, "etc/ssh"), 0o700)
	for name, target := range map[string]string{"etc/os-release": "../usr/lib/os-release", "lib": "usr/lib"} {
		if err := os.Symlink(target, filepath.Join(src, name)); err != nil {
			t.Fatal(err)
		}
	}
	fat := tree(t, map[string]string{"EFI/BOOT/BOOTX64.EFI": "efi", "loader/entries/a long name.conf": "title x\n"})
	img := filepath.Join(t.TempDir(), "d.img")
	s := &Spec{Output: img, Size: "64M", Partitions: []Partition{
		{Name: "esp", Size: "16M", Fill: Fill{FS: "vfat", Tree: fat}},
		{Name: "root", Fill: Fill{FS: "ext4", Tree: src}},
	}}
	if err := create(t, s); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	out := filepath.Join(t.TempDir(), "out")
	if err := CopyOut(ctx, img, "root", []string{"/etc", "/lib/os-release", "/usr/bin"}, out); err != nil {
		t.Fatal(err)
	}
	sameTree(t, filepath.Join(src, "etc"), filepath.Join(out, "etc"))
	sameTree(t, filepath.Join(src, "usr/bin"), filepath.Join(out, "bin"))
	if b, err := os.ReadFile(filepath.Join(out, "os-release")); err != nil || string(b) != "ID=x\n" {
		t.Errorf("a link named: %q, %v; want the file it leads to", b, err)
	}
	if st, err := os.Stat(filepath.Join(out, "bin/tool")); err != nil || st.Mode() != 0o755 {
		t.Errorf("bin/tool: %v, %v; want -rwxr-xr-x, no setuid", st.Mode(), err)
	}
	// Again over what is there: replaced, not written through.
	if err := CopyOut(ctx, img, "root", []string{"/etc"}, out); err != nil {
		t.Fatal(err)
	}
	sameTree(t, filepath.Join(src, "etc"), filepath.Join(out, "etc"))
	esp := filepath.Join(t.TempDir(), "esp")
	if err := CopyOut(ctx, img, "esp", []string{"/"}, esp); err != nil {
		t.Fatal(err)
	}
	sameTree(t, fat, esp)
	if err := CopyOut(ctx, img, "root", []string{"/nope"}, out); err == nil || !strings.Contains(err.Error(), "/nope: no such file or directory") {
		t.Errorf("a missing path: %v", err)
	}
	for _, d := range []string{out, esp} {
		if left, _ := filepath.Glob(filepath.Join(d, ".initkit-*")); len(left) > 0 {
			t.Errorf("left behind: %v", left)
		}
	}
}

// sameTree fails unless the trees at a and b hold the same names, types,
// contents, permissions (setuid aside) and link targets.
func sameTree(t *testing.T, a, b string) {
	t.Helper()
	list := func(root string) map[string]string {
		m := map[string]string{}
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				t.Error(err)
				return err
			}
			rel, _ := filepath.Rel(root, p)
			st, _ := d.Info()
			v := st.Mode().Perm().String()
			switch {
			case d.Type()&fs.ModeSymlink != 0:
				l, _ := os.Readlink(p)
				v = "link " + l
			case d.IsDir():
				v = "dir " + v
			default:
				data, _ := os.ReadFile(p)
				v += " " + string(data)
			}
			m[rel] = v
			return nil
		})
		return m
	}
	if got, want := list(b), list(a); !maps.Equal(got, want) {
		t.Errorf("%s: %q\nwant (from %s) %q", b, got, a, want)
	}
}
