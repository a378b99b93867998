package spec

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/initkit/initkit/disk"
	"github.com/initkit/initkit/kernel"
)

func write(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Every table is read strictly: a typo anywhere is an error at its line
// and column, whichever table it is in.
func TestStrict(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ text, want string }{
		{"[boot]\nkernal = \"x\"\n", ":2:1: unknown key boot.kernal"},
		{"[image]\noutput = \"x\"\n  compres = \"zstd\"\n", ":3:3: unknown key image.compres"},
		{"[modules]\nnmaes = [\"a\"]\n", ":2:1: unknown key modules.nmaes"},
		{"[disk]\nsize = \"1G\"\n[[disk.partition]]\nnmae = \"root\"\n", ":4:1: unknown key disk.partition.nmae"},
		{"[bot]\nkernel = \"x\"\n", ":1:2: unknown table [bot]"},
		{"[image]\noutput = \n", ":2:"},
		{"[boot]\nsmp = \"two\"\n", ":2:7: boot.smp: a whole number, not a string"},
		// A value of the wrong type is said in the file's words, not Go's.
		{"[image]\nnetwork = \"yes\"\n", ":2:11: image.network: true or false, not a string"},
		{"[image]\nfiles = \"/bin/sh\"\n", ":2:9: image.files: a list of strings, not a string"},
		{"[image]\nepoch = 1.5\n", ":2:9: image.epoch: a whole number, not a fraction"},
		{"[boot]\nmem = 2\n", ":2:7: boot.mem: a string, not a number"},
		{"[image]\nbusybox = true\n", `:2:11: image.busybox: a string, not a boolean (the path of a static busybox: busybox = "/bin/busybox")`},
		{"[boot]\ntimeout = \"5 minutes\"\n", ":2:11:"},
		{"[boot]\ntimeout = \"-5s\"\n", ":2:11: toml: negative duration"},
	} {
		p := write(t, dir, "initkit.toml", c.text)
		_, err := Load(p)
		if err == nil || !strings.Contains(err.Error(), p+c.want) {
			t.Errorf("%q: error %v, want %q", c.text, err, p+c.want)
		}
	}
}

// One file holds every table; paths in it are relative to it.
func TestLoad(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "k/spec.toml", `[image]
output = "i.img"
[modules]
names = ["virtio_blk"]
[boot]
kernel = "obj"
vmlinux = "obj/vmlinux"
mem = "2G"
smp = 2
timeout = "90s"
kdump = true
panic_on = ["oops"]
[disk]
output = "d.img"
size = "1G"
[[disk.partition]]
name = "root"
tree = "rootfs"
`)
	f, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	k := filepath.Join(dir, "k")
	if f.Image == nil || f.Image.Output != filepath.Join(k, "i.img") || f.Image.Modules.Names[0] != "virtio_blk" {
		t.Errorf("image %+v", f.Image)
	}
	b := f.Boot
	if b.Kernel != filepath.Join(k, "obj") || b.Vmlinux != filepath.Join(k, "obj/vmlinux") || b.Memory != "2G" || b.SMP != 2 ||
		time.Duration(b.Timeout) != 90*time.Second || !b.Kdump || b.PanicOn[0] != "oops" {
		t.Errorf("boot %+v", b)
	}
	if f.Disk == nil || f.Disk.Output != "d.img" || len(f.Disk.Partitions) != 1 {
		t.Errorf("disk %+v", f.Disk)
	}
	// The kernel request: the table's, unless a flag names one.
	r := f.Kernel(kernel.Request{})
	if r.Spec.Kernel != b.Kernel || r.Spec.From != p+" [boot] kernel" || r.Kernel != "" {
		t.Errorf("request %+v", r)
	}
	if r := f.Kernel(kernel.Request{Kernel: "/flag"}); r.Kernel != "/flag" {
		t.Errorf("request with --kernel %+v", r)
	}
}

// No -c and no ./initkit.toml: every default. A file named that is not
// there is an error.
func TestDefaultFile(t *testing.T) {
	t.Chdir(t.TempDir())
	f, err := Load("")
	if err != nil || f.Path != "" || f.Image != nil || f.Disk != nil || f.Boot.Kernel != "" {
		t.Errorf("no file: %+v, %v", f, err)
	}
	if _, err := Load("gone.toml"); err == nil || !strings.Contains(err.Error(), "gone.toml") {
		t.Errorf("a missing file: %v", err)
	}
	// A FIFO found there, not named, would hang every command run here.
	if err := syscall.Mkfifo(DefaultFile, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(""); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a FIFO: %v", err)
	}
	os.Remove(DefaultFile)
	write(t, ".", DefaultFile, "[boot]\nkernel = \"bzImage\"\n")
	f, err = Load("")
	if err != nil || f.Path != DefaultFile || !filepath.IsAbs(f.Boot.Kernel) {
		t.Errorf("./initkit.toml: %+v, %v", f, err)
	}
}

// A [disk] volume filled from an image spec file has that file's [image]
// read with it, strictly, relative to the spec file's directory.
func TestDiskFills(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "early/spec.toml", "[image]\ninit = \"initkit\"\nfiles = [\"hook.sh:/init.d/00-hook\"]\n")
	p := write(t, dir, "initkit.toml", "[disk]\nsize = \"1G\"\n[[disk.partition]]\nname = \"early\"\nspec = \"early/spec.toml\"\n")
	f, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	img := f.Disk.Partitions[0].Image
	if img == nil || img.Files[0] != filepath.Join(dir, "early/hook.sh")+":/init.d/00-hook" {
		t.Errorf("fill image %+v", img)
	}
	write(t, dir, "early/spec.toml", "[image]\nfiels = []\n")
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "spec.toml:2:1: unknown key image.fiels") {
		t.Errorf("a typo in the fill's spec: %v", err)
	}
	write(t, dir, "early/spec.toml", "[boot]\nkernel = \"x\"\n")
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "no [image] table") {
		t.Errorf("a fill spec without [image]: %v", err)
	}
}

// DiskFor: --part alone makes a disk from the flags; a spec file's [disk]
// takes the flags' size and table over its own, and --part after its
// partitions; no [disk] and no --part is an error naming the file.
func TestDiskFor(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "initkit.toml", "[disk]\nsize = \"64M\"\ntable = \"mbr\"\n[[disk.partition]]\nname = \"root\"\nfs = \"ext4\"\n")
	f, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	s, err := f.DiskFor(disk.Spec{Size: "128M"}, []string{"data:8M:vfat"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if s.Size != "128M" || s.Table != "mbr" || len(s.Partitions) != 2 || s.Partitions[1].Name != "data" || s.Partitions[1].FS != "vfat" {
		t.Errorf("[disk] with flags: %+v", s)
	}
	s, err = (&File{}).DiskFor(disk.Spec{Size: "32M"}, []string{"root:rest:ext4"}, false)
	if err != nil || s.Size != "32M" || len(s.Partitions) != 1 {
		t.Errorf("flags alone: %+v, %v", s, err)
	}
	if _, err := (&File{}).DiskFor(disk.Spec{}, nil, false); err == nil || !strings.Contains(err.Error(), "initkit.toml: no [disk] table") {
		t.Errorf("no [disk], no --part: %v", err)
	}
	if _, err := (&File{}).DiskFor(disk.Spec{}, []string{"root"}, false); err == nil || !strings.Contains(err.Error(), "--part root: want NAME:SIZE:FS") {
		t.Errorf("a bad --part: %v", err)
	}
}

// TestLoadBounded: a spec file that never ends, or is far too large, is
// refused by name after MaxSpec bytes, not read into memory whole.
func TestLoadBounded(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big.toml")
	os.WriteFile(big, []byte("# "+strings.Repeat("x", MaxSpec)+"\n"), 0o644)
	for _, path := range []string{"/dev/zero", big} {
		if _, err := Load(path); err == nil || !strings.Contains(err.Error(), path+": more than 1048576 bytes") {
			t.Errorf("%s: %v", path, err)
		}
	}
}

// FuzzLoad: whatever initkit.toml holds, Load returns a File or an error
// that names the file, and never panics.
func FuzzLoad(f *testing.F) {
	f.Add([]byte("[image]\nfiles = [\"a:b\"]\n[boot]\nkernel = \"k\"\nmem = \"2G\"\n"))
	f.Add([]byte("[disk]\nsize = \"1G\"\n[[disk.partition]]\nname = \"root\"\nsize = \"rest\"\nfs = \"ext4\"\nspec = \"other.toml\"\n"))
	f.Add([]byte("[image]\nnetwork = \"yes\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "initkit.toml")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(path); err != nil && !strings.Contains(err.Error(), "initkit.toml") {
			t.Errorf("error without the file's name: %v", err)
		}
	})
}

// In a bug workspace (bug.toml), with no spec file named, the kernel is
// the workspace's: its image and vmlinux, or its build once built; a
// [boot] kernel of ./initkit.toml comes first, and -c FILE names a file
// that does not stand for the working directory. (boot and decode took
// the fetched kernel there; only repro and bisect took the bug's.)
func TestWorkspaceKernel(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	write(t, dir, "bug.toml", "[files.kernel]\nname = \"bzImage\"\nurl = \"\"\nsha256 = \"\"\nsize = 0\n"+
		"[files.vmlinux]\nname = \"vmlinux\"\nurl = \"\"\nsha256 = \"\"\nsize = 0\n")
	f, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	r := f.Kernel(kernel.Request{})
	if r.Spec.Kernel != filepath.Join(dir, "bzImage") || r.Spec.Vmlinux != filepath.Join(dir, "vmlinux") || !strings.Contains(r.Spec.From, "bug workspace") {
		t.Errorf("fetched files: %+v", r.Spec)
	}
	write(t, dir, "bug.toml", "[tree]\nrepo = \"r\"\ncommit = \"c\"\nbuilt = true\n")
	if f, err = Load(""); err != nil || f.Kernel(kernel.Request{}).Spec.Kernel != filepath.Join(dir, "obj") || f.Kernel(kernel.Request{}).Spec.Vmlinux != "" {
		t.Errorf("built: %+v %v", f.Kernel(kernel.Request{}).Spec, err)
	}
	// Deep in the bug's kernel worktree, where its code is edited.
	os.MkdirAll(filepath.Join(dir, "linux/mm"), 0o755)
	t.Chdir(filepath.Join(dir, "linux/mm"))
	if f, err = Load(""); err != nil || f.Kernel(kernel.Request{}).Spec.Kernel != filepath.Join(dir, "obj") {
		t.Errorf("in linux/mm: %+v %v", f.Kernel(kernel.Request{}).Spec, err)
	}
	t.Chdir(dir)
	other := write(t, t.TempDir(), "other.toml", "[boot]\nmem = \"2G\"\n")
	if f, err = Load(other); err != nil || f.Kernel(kernel.Request{}).Spec.Kernel != "" {
		t.Errorf("-c FILE: %+v %v", f.Kernel(kernel.Request{}).Spec, err)
	}
	write(t, dir, DefaultFile, "[boot]\nkernel = \"mine\"\n")
	if f, err = Load(""); err != nil || f.Kernel(kernel.Request{}).Spec.Kernel != filepath.Join(dir, "mine") {
		t.Errorf("./initkit.toml's kernel: %+v %v", f.Kernel(kernel.Request{}).Spec, err)
	}
	write(t, dir, "bug.toml", "[tree\n")
	if _, err = Load(""); err != nil {
		t.Errorf("a kernel named by ./initkit.toml needs no bug.toml: %v", err)
	}
	os.Remove(DefaultFile)
	if _, err = Load(""); err == nil || !strings.Contains(err.Error(), "bug.toml") {
		t.Errorf("a broken bug.toml: %v", err)
	}
}
