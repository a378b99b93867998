package initramfs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/initkit/initkit/cpio"
	"github.com/initkit/initkit/image"
	"github.com/initkit/initkit/internal/machine"
	"github.com/initkit/initkit/internal/testenv"
	"github.com/pelletier/go-toml/v2"
)

// Load reads the [image] and [modules] tables of a spec file, as package
// spec does (which this package's tests cannot import).
func Load(name string) (*Spec, error) {
	raw, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Image   Spec    `toml:"image"`
		Modules Modules `toml:"modules"`
	}
	if err := toml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	doc.Image.Modules = doc.Modules
	doc.Image.From(name, raw)
	return &doc.Image, nil
}

func writeSpec(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "initkit.toml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestMain gives the tests the initkit init that images use by default.
func TestMain(m *testing.M) {
	p, err := testenv.BuildInitOnce()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("INITKIT_INIT", p)
	os.Exit(testenv.Run(m))
}

func TestSpecErrorsHavePositions(t *testing.T) {
	for _, c := range []struct {
		text, want string
	}{
		{"[image]\noutput = \"x\"\nnodes = [\"/dev/console c 5\"]\n", ":3:11: nodes:"},
		{"[image]\noutput = \"x\"\nsymlinks = [\"/bin/sh\"]\n", ":3:14: symlinks:"},
		{"[image]\noutput = \"x\"\ninit_binary = \"/nonexistent/initkit-init\"\n", ":3:16:"},
		{"[image]\noutput = \"x\"\nbusybox = \"/nonexistent/busybox\"\n", ":3:12: busybox:"},
	} {
		p := writeSpec(t, c.text)
		s, err := Load(p)
		if err == nil {
			_, err = s.Assemble()
		}
		if err == nil || !strings.Contains(err.Error(), p+c.want) {
			t.Errorf("spec %q: error %v, want %q", c.text, err, p+c.want)
		}
	}
}

func TestConflictNamesBothSources(t *testing.T) {
	tr := NewTree()
	if err := tr.Data("/etc/a", []byte("one"), 0o644, "first reason"); err != nil {
		t.Fatal(err)
	}
	if err := tr.Data("/etc/a", []byte("one"), 0o644, "same content again"); err != nil {
		t.Fatalf("identical content is no conflict: %v", err)
	}
	err := tr.Data("/etc/a", []byte("two"), 0o644, "second reason")
	var ce *ConflictError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "first reason") || !strings.Contains(err.Error(), "second reason") {
		t.Fatalf("error %v, want a ConflictError naming both", err)
	}
	if err := tr.Data("/etc/a/b", nil, 0o644, "under a file"); err == nil {
		t.Fatal("a file under a regular file was accepted")
	}
	tr.Replace("/etc/a")
	if err := tr.Data("/etc/a", []byte("three"), 0o644, "the spec says this wins"); err != nil {
		t.Fatalf("replace: %v", err)
	}
	if got := string(tr.nodes["/etc/a"].file.Data); got != "three" {
		t.Fatalf("content %q after replace", got)
	}
}

// TestSpecReplace: a tree overriding a file that busybox also provides is
// an error, unless replace names the path.
func TestSpecReplace(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "over", "bin"), 0o755)
	os.WriteFile(filepath.Join(dir, "over", "bin", "sh"), []byte("#!/bin/busybox ash\n"), 0o755)
	spec := "[image]\noutput = \"x.img\"\nbusybox = \"/bin/busybox\"\ntree = [\"over\"]\n"
	p := filepath.Join(dir, "initkit.toml")
	os.WriteFile(p, []byte(spec), 0o644)
	s, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Assemble(); err == nil || !strings.Contains(err.Error(), "/bin/sh") {
		t.Fatalf("error %v, want a conflict on /bin/sh", err)
	}
	os.WriteFile(p, []byte(spec+"replace = [\"/bin/sh\"]\n"), 0o644)
	if s, err = Load(p); err != nil {
		t.Fatal(err)
	}
	tr, err := s.Assemble()
	if err != nil {
		t.Fatal(err)
	}
	if n := tr.nodes["/bin/sh"]; n.file.Type() != cpio.TypeReg {
		t.Fatalf("/bin/sh is a %s, want the tree's file", image.TypeName(n.file.Mode))
	}
}

// TestApplets: applets limits busybox's links to those named, plus what
// the shell init runs; an applet the binary lacks is an error naming it.
func TestApplets(t *testing.T) {
	assemble := func(init string, applets ...string) (*Tree, error) {
		s := &Spec{Output: filepath.Join(t.TempDir(), "x.img"), Busybox: "/bin/busybox", Init: init, Applets: applets}
		return s.Assemble()
	}
	links := func(tr *Tree) (n []string) {
		for _, p := range tr.paths() {
			if nd := tr.nodes[p]; nd.file.Type() == cpio.TypeLink && nd.file.Linkname == "busybox" {
				n = append(n, path.Base(p))
			}
		}
		return n
	}
	all, err := assemble("none")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(links(all)); n < 100 {
		t.Fatalf("%d applet links by default, want every applet", n)
	}
	few, err := assemble("none", "sh", "ls", "sh")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(links(few), " "); got != "ls sh" {
		t.Fatalf("links %q, want \"ls sh\"", got)
	}
	sh, err := assemble("shell", "true")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range append([]string{"true"}, shellInitApplets...) {
		if n := sh.nodes["/bin/"+a]; n == nil {
			t.Errorf("the shell init's image has no /bin/%s", a)
		}
	}
	if _, err := assemble("none", "sh", "no-such-applet"); err == nil || !strings.Contains(err.Error(), "no applet no-such-applet") {
		t.Fatalf("error %v, want one naming no-such-applet", err)
	}
}

// TestPlacementFollowsSymlinks: once /lib is a symlink to usr/lib, a path
// under /lib lands under /usr/lib, as the kernel would unpack it.
func TestPlacementFollowsSymlinks(t *testing.T) {
	tr := NewTree()
	tr.Symlink("/lib", "usr/lib", "usrmerge")
	if err := tr.Data("/lib/modules/x", []byte("m"), 0o644, "module"); err != nil {
		t.Fatal(err)
	}
	if tr.nodes["/usr/lib/modules/x"] == nil {
		t.Fatalf("entries: %v", tr.paths())
	}
}

func TestGenInitCpioImport(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "hello")
	os.WriteFile(src, []byte("hi\n"), 0o644)
	list := filepath.Join(dir, "list")
	os.WriteFile(list, []byte(`# a CONFIG_INITRAMFS_SOURCE list
dir /dev 0755 0 0
nod /dev/console 0600 0 0 c 5 1
nod /dev/loop0 0660 0 6 b 7 0
dir /root 0700 0 0
file /bin/hello `+src+` 0755 0 0 /bin/hello2
slink /bin/hi /bin/hello 0777 0 0
pipe /run/fifo 0644 0 0
sock /run/sock 0755 0 0
`), 0o644)
	tr := NewTree()
	if err := tr.ImportGenInitCpio(list); err != nil {
		t.Fatal(err)
	}
	check := func(p string, mode uint32, maj, min uint32) {
		t.Helper()
		n := tr.nodes[p]
		if n == nil {
			t.Fatalf("%s missing", p)
		}
		if n.file.Mode != mode || n.file.RDevMajor != maj || n.file.RDevMinor != min {
			t.Errorf("%s: mode %o dev %d:%d", p, n.file.Mode, n.file.RDevMajor, n.file.RDevMinor)
		}
	}
	check("/dev/console", cpio.TypeChar|0o600, 5, 1)
	check("/dev/loop0", cpio.TypeBlock|0o660, 7, 0)
	check("/root", cpio.TypeDir|0o700, 0, 0)
	check("/bin/hello", cpio.TypeReg|0o755, 0, 0)
	check("/bin/hello2", cpio.TypeReg|0o644, 0, 0)
	check("/run/fifo", cpio.TypeFIFO|0o644, 0, 0)
	check("/run/sock", cpio.TypeSocket|0o755, 0, 0)
	if tr.nodes["/dev/loop0"].file.GID != 6 {
		t.Error("gid lost")
	}

	os.WriteFile(list, []byte("dir /a 0755 0 0\n  nod /dev/x 0600 0 0 q 1 1\n"), 0o644)
	err := NewTree().ImportGenInitCpio(list)
	if err == nil || !strings.Contains(err.Error(), list+":2:3:") {
		t.Fatalf("error %v, want one at %s:2:3", err, list)
	}
}

// specFor writes a spec building the fixture programs of package elfdeps.
func fixtureSpec(t *testing.T, out string) *Spec {
	t.Helper()
	root, _ := filepath.Abs("../elfdeps/testdata/sysroot")
	p := writeSpec(t, `[image]
output = "`+out+`"
init = "none"
sysroot = "`+root+`"
files = ["/usr/bin/app", "/opt/app/bin/app-origin:/bin/origin"]
dirs = ["/run 0755", "/var/empty 0700"]
symlinks = ["/usr/bin/sh -> app"]
nodes = ["/dev/console c 5 1 0600", "/dev/null c 1 3 0666"]
epoch = 1700000000
`)
	s, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func buildTo(t *testing.T, s *Spec) []byte {
	t.Helper()
	tr, err := s.Assemble()
	if err != nil {
		t.Fatal(err)
	}
	o, err := s.OutputOf()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Write(o, tr.Files()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(o.Path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReproducible(t *testing.T) {
	dir := t.TempDir()
	a := buildTo(t, fixtureSpec(t, filepath.Join(dir, "a.img")))
	time.Sleep(1100 * time.Millisecond) // a later clock must not matter
	b := buildTo(t, fixtureSpec(t, filepath.Join(dir, "b.img")))
	if !bytes.Equal(a, b) {
		t.Fatal("two builds of the same spec differ")
	}
	tree, _, err := image.Tree(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/usr/bin/app", "/bin/origin", "/opt/app/lib/libbar.so.1", "/usr/lib/libfoo.so.1.0", "/lib", "/dev/null", "/var/empty"} {
		if tree[p] == nil {
			t.Errorf("%s missing from the image", p)
		}
	}
	if tree["/opt/app/bin/app-origin"] != nil {
		t.Error("a program placed under another name is also in the image under its own")
	}
	if n := tree["/usr/bin/app"]; n.ModTime != 1700000000 {
		t.Errorf("mtime %d, want the epoch", n.ModTime)
	}
}

// TestAtomicOutput kills a build while it writes a large image: the
// previous image at the output path is left intact.
func TestAtomicOutput(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	f, _ := os.Create(big)
	f.Truncate(1 << 30) // a sparse 1 GiB file: slow to compress with xz
	f.Close()
	out := filepath.Join(dir, "out.img")
	os.WriteFile(out, []byte("previous image"), 0o644)
	bin := filepath.Join(dir, "initkit")
	if b, err := exec.Command("go", "build", "-o", bin, "../cmd/initkit").CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	temps := func() []string { m, _ := filepath.Glob(filepath.Join(dir, ".out.img.tmp-*")); return m }
	cacheDir := t.TempDir()
	// Each signal in turn, while the temporary file grows. SIGKILL leaves
	// it (nothing can remove it then), and the next run removes it.
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		cmd := exec.Command(bin, "build", "--init", "none", "-o", out, "--compress", "xz", "--add", big+":/big")
		// A cache of its own: with the piece cached by another build, the
		// image would be written at once, never caught growing.
		cmd.Env = append(os.Environ(), "INITKIT_CACHE="+cacheDir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		mine := filepath.Join(dir, ".out.img.tmp-"+strconv.Itoa(cmd.Process.Pid)+"-*")
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if m, _ := filepath.Glob(mine); len(m) == 1 {
				if st, err := os.Stat(m[0]); err == nil && st.Size() > 0 {
					break
				}
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("%v: no temporary output appeared (left: %v)", sig, temps())
			}
		}
		cmd.Process.Signal(sig)
		err := cmd.Wait()
		if b, _ := os.ReadFile(out); string(b) != "previous image" {
			t.Fatalf("%v: the output was replaced by a partial image (%d bytes)", sig, len(b))
		}
		if sig == syscall.SIGKILL {
			continue
		}
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 128+int(sig) {
			t.Errorf("%v: %v, want exit %d", sig, err, 128+int(sig))
		}
		if m := temps(); len(m) != 0 {
			t.Errorf("%v left %v", sig, m)
		}
	}
}

// TestModuleFirmware: firmware a module names in .modinfo is copied from
// the firmware directory when it is there, and its absence is no error.
func TestModuleFirmware(t *testing.T) {
	mods := testenv.Kernel(t).ModulesDir
	fw := t.TempDir()
	os.MkdirAll(filepath.Join(fw, "comedi"), 0o755)
	os.WriteFile(filepath.Join(fw, "comedi", "jr3pci.idm"), []byte("firmware blob"), 0o644)
	for _, c := range []struct {
		dir  string
		want bool
	}{{fw, true}, {t.TempDir(), false}} {
		s := &Spec{Init: "none", Modules: Modules{Dir: mods, Names: []string{"jr3_pci"}, Firmware: c.dir}}
		tr, err := s.Assemble()
		if err != nil {
			t.Fatal(err)
		}
		n := tr.nodes["/lib/firmware/comedi/jr3pci.idm"]
		if (n != nil) != c.want {
			t.Errorf("firmware dir %s: firmware in the image: %v, want %v", c.dir, n != nil, c.want)
		}
		if n != nil && !strings.Contains(n.why, "jr3_pci") {
			t.Errorf("reason %q does not name the module", n.why)
		}
	}
}

func TestOverrideAndAddFiles(t *testing.T) {
	s := &Spec{Output: "a.img", Compress: "xz", Applets: []string{"sh"}, Files: []string{"/bin/true"}}
	s.Override(&Spec{Compress: "zstd", Level: 19, Applets: []string{"ls"}, Modules: Modules{Names: []string{"dm-crypt"}}})
	if s.Output != "a.img" || s.Compress != "zstd" || s.Level != 19 || len(s.Applets) != 1 || s.Applets[0] != "ls" || len(s.Modules.Names) != 1 {
		t.Errorf("Override: %+v", s)
	}
	wd, _ := os.Getwd()
	s.AddFiles("rel/prog:/bin/prog", "/abs/x")
	if got := s.Files[1:]; got[0] != filepath.Join(wd, "rel/prog")+":/bin/prog" || got[1] != "/abs/x" {
		t.Errorf("AddFiles: %q", got)
	}
	r := &Spec{Sysroot: "/sr"}
	r.AddFiles("usr/bin/x")
	if r.Files[0] != "usr/bin/x" {
		t.Errorf("AddFiles with a sysroot changed the path: %q", r.Files[0])
	}
}

// A program the spec adds wins over busybox's applet of the same name in
// any PATH directory: busybox's limited mke2fs must not shadow e2fsprogs'
// in /usr/sbin, which PATH lists after /usr/bin and /bin.
func TestAddedProgramsWinOverApplets(t *testing.T) {
	s := &Spec{Init: "none", Busybox: testenv.Busybox(t), Files: []string{"/usr/sbin/mke2fs"}}
	tree, err := s.Assemble()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range tree.Files() {
		names["/"+f.Name] = true
	}
	if !names["/usr/sbin/mke2fs"] || !names["/bin/ls"] {
		t.Fatalf("the tree lacks mke2fs or busybox's ls: %v", names)
	}
	for _, d := range []string{"/bin", "/usr/bin", "/sbin"} {
		if names[d+"/mke2fs"] {
			t.Errorf("busybox's mke2fs link at %s shadows the added program", d)
		}
	}
}

// A file placed below a directory that a merged /usr's symlink later
// claims (bin -> usr/bin, from a #! interpreter's closure) goes through
// the link, as the kernel would put it; a symlink target with ".." walks
// up, as the kernel's path walk does.
func TestPlacementThroughSymlinks(t *testing.T) {
	tr := NewTree()
	if err := tr.Data("/bin/tool", []byte("x"), 0o755, "first"); err != nil {
		t.Fatal(err)
	}
	if err := tr.Symlink("/bin", "usr/bin", "merged /usr"); err != nil {
		t.Fatalf("the link over the implied /bin: %v", err)
	}
	if err := tr.Symlink("/up", "..", "spec"); err != nil {
		t.Fatal(err)
	}
	if err := tr.Node("/up/console", cpio.TypeChar, 5, 1, 0o600, 0, 0, "spec"); err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, f := range tr.Files() {
		names[f.Name] = f.Linkname
	}
	for _, want := range []string{"usr/bin/tool", "bin", "console"} {
		if _, ok := names[want]; !ok {
			t.Errorf("no %s in %v", want, names)
		}
	}
	if _, ok := names[""]; ok {
		t.Error("an entry with an empty name")
	}
	// Two different files for one final path still conflict.
	if err := tr.Data("/usr/bin/tool", []byte("y"), 0o755, "second"); err == nil {
		t.Error("no conflict for two contents of /usr/bin/tool")
	}
	// An explicit directory is not an implied one: a link there conflicts.
	if err := tr.Dir("/lib", 0o755, "explicit"); err != nil {
		t.Fatal(err)
	}
	if err := tr.Symlink("/lib", "usr/lib", "link"); err == nil {
		t.Error("a symlink replaced an explicit directory")
	}
}

// The gen_init_cpio list of a tree reads back into the same tree: the
// format CONFIG_INITRAMFS_SOURCE and the gen_init_cpio key share.
func TestWriteListRoundTrip(t *testing.T) {
	tr := NewTree()
	tr.Dir("/etc", 0o750, "t")
	tr.Data("/etc/hostname", []byte("guest\n"), 0o644, "t")
	tr.Symlink("/sbin", "bin", "t")
	tr.Node("/dev/console", cpio.TypeChar, 5, 1, 0o600, 0, 0, "t")
	tr.HostFile("/bin/sh", testenv.Busybox(t), "t")
	dir := t.TempDir()
	list := filepath.Join(dir, "initramfs.list")
	f, _ := os.Create(list)
	if err := tr.WriteList(f, filepath.Join(dir, "data")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	back := NewTree()
	if err := back.ImportGenInitCpio(list); err != nil {
		t.Fatal(err)
	}
	a, b := tr.Files(), back.Files()
	if len(a) != len(b) {
		t.Fatalf("%d entries, read back %d", len(a), len(b))
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].Mode != b[i].Mode || a[i].Linkname != b[i].Linkname || a[i].RDevMajor != b[i].RDevMajor {
			t.Errorf("%q: %+v, read back %+v", a[i].Name, a[i].Header, b[i].Header)
		}
	}
}

// TestSameContent: two host files for one path are the same when their
// bytes are, over more than one read and to the last byte.
func TestSameContent(t *testing.T) {
	dir := t.TempDir()
	big := bytes.Repeat([]byte("0123456789abcdef"), 40000) // 640 KB: three reads
	other := bytes.Clone(big)
	other[len(other)-1] ^= 1
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o644)
		return p
	}
	a, b, c, d := write("a", big), write("b", big), write("c", other), write("d", big[:len(big)-1])
	e, f := write("e", nil), write("f", nil)
	for _, x := range []struct {
		x, y string
		want bool
	}{{a, b, true}, {a, c, false}, {a, d, false}, {e, f, true}, {a, dir, false}, {a, filepath.Join(dir, "none"), false}} {
		if got := sameContent(x.x, x.y); got != x.want {
			t.Errorf("sameContent(%s, %s) = %v", filepath.Base(x.x), filepath.Base(x.y), got)
		}
	}
}

// TestBuildRefusesNegativeJobs: -j -1 is no count of threads, refused
// before anything is resolved.
func TestBuildRefusesNegativeJobs(t *testing.T) {
	s := &Spec{Output: filepath.Join(t.TempDir(), "i.img"), Init: "none"}
	if _, err := s.Build("", -1); err == nil || !strings.Contains(err.Error(), "jobs -1") {
		t.Errorf("-j -1: %v", err)
	}
}

// AddPaths takes what --add names: a file goes to Files, a directory to
// Trees at its own path or DST, inside the sysroot when there is one; a
// missing one is an error that names the --add.
func TestAddPaths(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "etc/app"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc/app.conf"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var s Spec
	if err := s.AddPaths(filepath.Join(dir, "etc/app.conf"), filepath.Join(dir, "etc/app"), filepath.Join(dir, "etc")+":/opt"); err != nil {
		t.Fatal(err)
	}
	wantTrees := []string{filepath.Join(dir, "etc/app") + ":" + filepath.Join(dir, "etc/app"), filepath.Join(dir, "etc") + ":/opt"}
	if len(s.Files) != 1 || !slices.Equal(s.Trees, wantTrees) {
		t.Errorf("AddPaths: files %q, trees %q; want trees %q", s.Files, s.Trees, wantTrees)
	}
	r := Spec{Sysroot: dir}
	if err := r.AddPaths("etc/app", "etc/app.conf"); err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "etc/app") + ":/etc/app"; !slices.Equal(r.Trees, []string{want}) || !slices.Equal(r.Files, []string{"etc/app.conf"}) {
		t.Errorf("AddPaths in a sysroot: files %q, trees %q; want tree %q", r.Files, r.Trees, want)
	}
	err := r.AddPaths("nonexistent:/x")
	if err == nil || !strings.HasPrefix(err.Error(), "--add nonexistent:/x: ") {
		t.Errorf("AddPaths of a missing file: %v", err)
	}
}

// An image for another machine than the host's (an arm64 kernel's) runs
// its #!/bin/sh scripts with busybox's sh, not the host's dash, which
// its #! line names and the guest could not run; a host program is an
// error naming it.
func TestForeignMachineClosure(t *testing.T) {
	other := "aarch64"
	if machine.Host().Name == other {
		other = "x86_64"
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "hello.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	spec := func(arch string) *Spec {
		return &Spec{Init: "none", Busybox: testenv.Busybox(t), Files: []string{script + ":/bin/hello"}, Arch: arch}
	}
	shells := func(arch string) map[string]string {
		tree, err := spec(arch).Assemble()
		if err != nil {
			t.Fatalf("%s: %v", arch, err)
		}
		got := map[string]string{}
		for _, f := range tree.Files() {
			if path.Base(f.Name) == "sh" || path.Base(f.Name) == "dash" {
				got["/"+f.Name] = f.Linkname
			}
		}
		return got
	}
	if _, ok := shells(machine.Host().Name)["/usr/bin/dash"]; !ok {
		t.Errorf("the host's machine: no dash, as the script's #! asks")
	}
	got := shells(other)
	if got["/bin/sh"] != "busybox" || len(got) != 1 {
		t.Errorf("%s: want /bin/sh -> busybox alone, got %v", other, got)
	}
	s := spec(other)
	s.Files = append(s.Files, "/usr/bin/dash")
	if _, err := s.Assemble(); err == nil || !strings.Contains(err.Error(), "/usr/bin/dash is a program for") {
		t.Errorf("a host program in an %s image: %v", other, err)
	}
}
