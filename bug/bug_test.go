package bug

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/initkit/initkit/kconfig"
	"github.com/initkit/initkit/kernel"
)

// syzbot is a server shaped like syzbot's dashboard: a bug's page, its
// JSON, its text files and its assets, counting the requests for each.
type syzbot struct {
	*httptest.Server
	mu    sync.Mutex
	gets  map[string]int
	files map[string][]byte
}

const commit = "deadbeef0123456789abcdef0123456789abcdef"

func newSyzbot(t *testing.T, kernel []byte) *syzbot {
	t.Helper()
	s := &syzbot{gets: map[string]int{}, files: map[string][]byte{
		"/text?tag=KernelConfig&x=1":                []byte("CONFIG_64BIT=y\nCONFIG_PRINTK=y\n"),
		"/text?tag=ReproC&x=2":                      []byte("int main(void) { return 0; }\n"),
		"/text?tag=ReproSyz&x=3":                    []byte("r0 = openat(0xffffffffffffff9c, 0x0, 0x0, 0x0)\n"),
		"/text?tag=CrashReport&x=4":                 []byte("BUG: KASAN: use-after-free in tcp_v4_rcv+0x1a/0x20\nCall Trace:\n"),
		"/syzbot-assets/0a1b2c/bzImage-deadbeef.xz": xz(t, kernel),
		"/syzbot-assets/0a1b2c/vmlinux-deadbeef.xz": xz(t, elfFile(t)),
		"/html":         []byte("<html><body>Sign in to see this page</body></html>\n"),
		"/other?json=1": []byte("<html>a page, not JSON</html>"),
	}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *syzbot) serve(w http.ResponseWriter, r *http.Request) {
	key := r.URL.RequestURI()
	s.mu.Lock()
	s.gets[key]++
	s.mu.Unlock()
	switch {
	case r.URL.Path == "/bug" && r.URL.Query().Get("json") == "1":
		fmt.Fprintf(w, `{"version":1,"title":"KASAN: use-after-free Read in tcp_v4_rcv","id":"abc","crashes":[
			{"title":"KASAN: use-after-free Read in tcp_v4_rcv","syz-reproducer":"/text?tag=ReproSyz&x=3",
			 "kernel-config":"/text?tag=KernelConfig&x=9","kernel-source-commit":"0000000000000000000000000000000000000000"},
			{"title":"KASAN: use-after-free Read in tcp_v4_rcv","syz-reproducer":"/text?tag=ReproSyz&x=3",
			 "c-reproducer":"/text?tag=ReproC&x=2","kernel-config":"/text?tag=KernelConfig&x=1",
			 "crash-report-link":"/text?tag=CrashReport&x=4",
			 "kernel-source-git":"https://git.kernel.org/torvalds/linux.git","kernel-source-commit":"%s","architecture":"amd64"}]}`, commit)
	case r.URL.Path == "/bug":
		// Assets of another build first: the crash's commit wins.
		fmt.Fprint(w, `<html><a href="/syzbot-assets/ffff/bzImage-00000000.xz">old</a>
			<a href="/syzbot-assets/0a1b2c/bzImage-deadbeef.xz">kernel image</a>
			<a href="/syzbot-assets/0a1b2c/vmlinux-deadbeef.xz">vmlinux</a></html>`)
	default:
		data, ok := s.files[key]
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	}
}

// downloads counts the requests for files, not pages.
func (s *syzbot) downloads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, v := range s.gets {
		if !strings.HasPrefix(k, "/bug") {
			n += v
		}
	}
	return n
}

// stubKernel is data behind an x86 bzImage's header ("HdrS" at 0x202):
// what kernel.Bootable takes for a kernel.
func stubKernel(data []byte) []byte {
	h := make([]byte, 0x400)
	copy(h, "MZ")
	copy(h[0x202:], "HdrS")
	return append(h, data...)
}

// elfFile is an ELF file with a .text section, as a vmlinux is: the
// host's true(1).
func elfFile(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func xz(t *testing.T, b []byte) []byte {
	t.Helper()
	cmd := exec.Command("xz", "-c")
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func TestNewFromSyzbot(t *testing.T) {
	kernel := stubKernel(bytes.Repeat([]byte("a kernel image "), 10000))
	s := newSyzbot(t, kernel)
	dir := filepath.Join(t.TempDir(), "uaf")
	var log bytes.Buffer
	w, err := New(context.Background(), dir, Sources{Syzbot: s.URL + "/bug?extid=abc"}, Options{Log: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if w.Title != "KASAN: use-after-free Read in tcp_v4_rcv" || w.Tree == nil || w.Tree.Commit != commit {
		t.Errorf("title %q, tree %+v", w.Title, w.Tree)
	}
	want := map[string][]byte{Config: s.files["/text?tag=KernelConfig&x=1"], Repro: s.files["/text?tag=ReproC&x=2"],
		Kernel: kernel, Vmlinux: elfFile(t), Report: s.files["/text?tag=CrashReport&x=4"]}
	for role, data := range want {
		got, err := os.ReadFile(w.Path(role))
		if err != nil || !bytes.Equal(got, data) || w.Files[role].SHA256 != sum(data) {
			t.Errorf("%s: %s: %v, sha256 %s, want %d bytes, sha256 %s", role, w.Path(role), err, w.Files[role].SHA256, len(data), sum(data))
		}
	}
	if filepath.Base(w.Path(Repro)) != "repro.c" || w.Files[Kernel].Compression != "xz" {
		t.Errorf("files %+v", w.Files)
	}
	// bug.toml says it all again.
	again, err := Open(dir)
	if err != nil || again.Files[Kernel].SHA256 != sum(kernel) || !strings.HasSuffix(again.Files[Kernel].URL, "/syzbot-assets/0a1b2c/bzImage-deadbeef.xz") {
		t.Fatalf("bug.toml read back: %v %+v", err, again)
	}

	// Again: nothing is fetched.
	before := s.downloads()
	log.Reset()
	if _, err := New(context.Background(), dir, Sources{Syzbot: s.URL + "/bug?extid=abc"}, Options{Log: &log}); err != nil {
		t.Fatal(err)
	}
	if n := s.downloads() - before; n != 0 || strings.Count(log.String(), "up to date") != 5 {
		t.Errorf("the second run fetched %d files:\n%s", n, log.String())
	}
	// A file changed on disk is fetched again, alone.
	os.WriteFile(w.Path(Kernel), []byte("damaged"), 0o644)
	if _, err := New(context.Background(), dir, Sources{Syzbot: s.URL + "/bug?extid=abc"}, Options{}); err != nil {
		t.Fatal(err)
	}
	if n := s.downloads() - before; n != 1 {
		t.Errorf("after damage, %d files fetched, want 1", n)
	}
	if got, _ := os.ReadFile(w.Path(Kernel)); !bytes.Equal(got, kernel) {
		t.Errorf("the damaged kernel was not fetched again")
	}
	ws, errs := List(filepath.Dir(dir))
	if len(ws) != 1 || len(errs) != 0 || !strings.Contains(ws[0].State(), "fetched config,kernel,report,repro,vmlinux") {
		t.Errorf("List: %v %v", ws, errs)
	}
	// A root not made yet holds no bug, and is no error.
	if ws, errs := List(filepath.Join(t.TempDir(), "bugs")); len(ws) != 0 || len(errs) != 0 {
		t.Errorf("List of a missing root: %v %v", ws, errs)
	}
}

func TestNewFailsClean(t *testing.T) {
	s := newSyzbot(t, stubKernel(nil))
	big := bytes.Repeat([]byte("x"), 1<<20)
	trunc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(big)))
		w.Write(big[:4096])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}))
	defer trunc.Close()
	for _, c := range []struct {
		name string
		src  Sources
		want string
	}{
		{"404", Sources{Config: s.URL + "/text?tag=KernelConfig&x=404"}, "HTTP 404 Not Found"},
		{"truncated", Sources{Kernel: trunc.URL + "/bzImage"}, "truncated: 4096 of 1048576 bytes"},
		{"not syzbot", Sources{Syzbot: s.URL + "/other"}, "not a syzbot bug's JSON"},
		{"scheme", Sources{Repro: "ftp://example.com/repro.c"}, "only http(s) URLs and local files"},
		{"missing file", Sources{Repro: "/nonexistent/repro.c"}, "/nonexistent/repro.c"},
		// A file that is not what its role needs: an error page served
		// with 200, a file given for another role.
		{"html config", Sources{Config: s.URL + "/html"}, `/html: line 1: "<html><body>Sign in to see this page</body></html>" is not CONFIG_NAME=VALUE`},
		{"repro as config", Sources{Config: s.URL + "/text?tag=ReproC&x=2"}, "is not CONFIG_NAME=VALUE"},
		{"empty config", Sources{Config: "/dev/null"}, "no CONFIG_ option in it: not a kernel config"},
		{"html kernel", Sources{Kernel: s.URL + "/html"}, "/html: not a kernel image (a bzImage, an arm64 Image or an ELF vmlinux): bytes 3c 68 74 6d 6c 3e"},
		{"config as vmlinux", Sources{Vmlinux: s.URL + "/text?tag=KernelConfig&x=1"}, "not a vmlinux: bad magic number"},
		{"program as repro", Sources{Repro: "/bin/true"}, "/bin/true: a NUL byte at offset 7: not a C or syz reproducer"},
		{"html disk", Sources{Disk: s.URL + "/html"}, "/html: an HTML page, not a disk image"},
		// --commit without --tree was ignored: an empty workspace, exit 0.
		{"commit without tree", Sources{Commit: "abc"}, "--commit and --no-build are about the kernel tree: give --tree REPO"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := New(context.Background(), dir, c.src, Options{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if e.Name() != ManifestName {
					t.Errorf("left %s behind", e.Name())
				}
			}
			// A workspace the failed call made itself is not left behind.
			fresh := filepath.Join(t.TempDir(), "bug")
			if _, err := New(context.Background(), fresh, c.src, Options{}); err == nil {
				t.Fatal("no error the second time")
			}
			if _, err := os.Stat(fresh); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the new workspace %s was left: %v", fresh, err)
			}
		})
	}
}

func TestOpenRefuses(t *testing.T) {
	for _, c := range []struct{ toml, want string }{
		{"titel = \"x\"\n", "bug.toml:1:1"},
		{"[files.config]\nname = \"../../etc/passwd\"\nurl = \"x\"\nsha256 = \"y\"\nsize = 1\n", "is not a file of the workspace"},
	} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, ManifestName), []byte(c.toml), 0o644)
		if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.toml, err, c.want)
		}
	}
	// One that is no manifest, which every command below it reads: a
	// FIFO (it hung), a link to /dev/zero (it filled memory).
	fifo, zero := t.TempDir(), t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(fifo, ManifestName), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Symlink("/dev/zero", filepath.Join(zero, ManifestName))
	for dir, want := range map[string]string{fifo: "not a regular file", zero: "not a regular file"} {
		if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", dir, err, want)
		}
	}
	big := t.TempDir()
	os.WriteFile(filepath.Join(big, ManifestName), bytes.Repeat([]byte("# x\n"), MaxManifest/4+1), 0o644)
	if _, err := Open(big); err == nil || !strings.Contains(err.Error(), "more than 1048576 bytes") {
		t.Errorf("a large one: %v", err)
	}
}

func TestAssets(t *testing.T) {
	page := "https://syzkaller.appspot.com/bug?extid=1"
	html := `<a href="https://storage.googleapis.com/syzbot-assets/aa/disk-11111111.raw.xz">disk</a>
<a href="https://storage.googleapis.com/syzbot-assets/bb/disk-22222222.raw.xz">disk</a>
<a href="https://storage.googleapis.com/syzbot-assets/bb/bzImage-22222222.xz">k</a>`
	got := Assets(page, html, "2222222299999")
	if got[Disk] != "https://storage.googleapis.com/syzbot-assets/bb/disk-22222222.raw.xz" || got[Kernel] == "" || got[Vmlinux] != "" {
		t.Errorf("Assets = %v", got)
	}
	for in, want := range map[string]string{"0123abcd": SyzbotHost + "/bug?extid=0123abcd", "https://x/bug?extid=1&json=1": "https://x/bug?extid=1"} {
		if got, err := SyzbotPage(in); err != nil || got != want {
			t.Errorf("SyzbotPage(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := SyzbotPage("not an id"); err == nil {
		t.Error("SyzbotPage took a bad extid")
	}
}

func TestFind(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if w, err := Find(nil, true); w != nil || err != nil {
		t.Errorf("no bug.toml here: %v, %v", w, err)
	}
	os.WriteFile(ManifestName, []byte("title = \"here\"\n"), 0o644)
	if w, err := Find(nil, true); err != nil || w.Title != "here" {
		t.Errorf("bug.toml here: %v, %v", w, err)
	}
	if w, err := Find(nil, false); w != nil || err != nil {
		t.Errorf("here not wanted: %v, %v", w, err)
	}
	// Below it, in its worktree, as git finds .git.
	os.MkdirAll(filepath.Join(dir, Worktree, "net/ipv4"), 0o755)
	t.Chdir(filepath.Join(dir, Worktree, "net/ipv4"))
	if w, err := Find(nil, true); err != nil || w == nil || w.Dir != dir {
		t.Errorf("in linux/net/ipv4: %+v, %v", w, err)
	}
	t.Chdir(dir)
	if _, err := Find([]string{"a", "b"}, true); err == nil {
		t.Error("two workspaces: no error")
	}
	if _, err := Find([]string{filepath.Join(dir, "none")}, true); err == nil {
		t.Error("a directory without bug.toml: no error")
	}
}

// TestTreeGains: a build gains the purposes and settings given, else
// those of the build before, else boot and exec; a setting the manifest
// holds that is not one is named with the manifest.
func TestTreeGains(t *testing.T) {
	set, _ := kconfig.Setting(`CONFIG_LOCALVERSION="-x"`)
	prev := &Tree{Purposes: []string{"kasan"}, Settings: []string{"CONFIG_KCOV=y"}}
	for _, c := range []struct {
		prev         *Tree
		o            Options
		purposes     string
		settings     string
		optsSettings int
	}{
		{nil, Options{}, "boot exec", "", 0},
		{prev, Options{}, "kasan", "CONFIG_KCOV=y", 1},
		{prev, Options{Purposes: []string{"kdump"}, Settings: []kconfig.Purposed{set}}, "kdump", `CONFIG_LOCALVERSION="-x"`, 1},
		{prev, Options{Settings: []kconfig.Purposed{}}, "kasan", "", 0},
	} {
		var next Tree
		o := c.o
		if err := next.gains(c.prev, &o); err != nil {
			t.Fatal(err)
		}
		if strings.Join(next.Purposes, " ") != c.purposes || strings.Join(next.Settings, " ") != c.settings || len(o.Settings) != c.optsSettings {
			t.Errorf("prev %+v, options %+v: gains %v %v (options: %d settings)", c.prev, c.o, next.Purposes, next.Settings, len(o.Settings))
		}
	}
	var next Tree
	if err := next.gains(&Tree{Settings: []string{"CONFIG_A=y\nCONFIG_B=y"}}, &Options{}); err == nil || !strings.Contains(err.Error(), "bug.toml: tree.settings") {
		t.Errorf("a bad setting in the manifest: %v", err)
	}
}

// A file refused by its check leaves the workspace's file as it was: a
// good config stays when a later run is given a page that is none.
func TestRefusedFileKeepsTheOld(t *testing.T) {
	s := newSyzbot(t, stubKernel(nil))
	dir := filepath.Join(t.TempDir(), "bug")
	good := s.URL + "/text?tag=KernelConfig&x=1"
	if _, err := New(context.Background(), dir, Sources{Config: good}, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(context.Background(), dir, Sources{Config: s.URL + "/html"}, Options{}); err == nil {
		t.Fatal("an HTML page taken for a config")
	}
	w, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(w.Path(Config))
	if err != nil || !bytes.Equal(got, s.files["/text?tag=KernelConfig&x=1"]) || w.Files[Config].URL != good {
		t.Errorf("config after a refused one: %q, %v, %+v", got, err, w.Files[Config])
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("workspace holds %v, want bug.toml and the config", entries)
	}
	// A sign-in page served with 200 is no reproducer and no crash
	// report either (a reproducer was checked for NUL bytes only).
	for _, src := range []Sources{{Repro: s.URL + "/html"}, {Report: s.URL + "/html"}} {
		if _, err := New(context.Background(), dir, src, Options{}); err == nil || !strings.Contains(err.Error(), "an HTML page, not a") {
			t.Errorf("%+v: %v", src, err)
		}
	}
}

// kernel build with no SRC, in a workspace: its worktree into its build
// directory, marked built once built; -O elsewhere is no build of its.
func TestTreeToBuild(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if _, _, err := TreeToBuild("", kernel.Tree{}); err == nil || !strings.Contains(err.Error(), "in no bug workspace") {
		t.Errorf("no workspace: %v", err)
	}
	if tr, w, err := TreeToBuild("src", kernel.Tree{Obj: "o"}); err != nil || w != nil || tr.Src != "src" || tr.Obj != "o" {
		t.Errorf("SRC given: %+v %v %v", tr, w, err)
	}
	os.WriteFile(ManifestName, []byte("title = \"t\"\n"), 0o644)
	if _, _, err := TreeToBuild("", kernel.Tree{}); err == nil || !strings.Contains(err.Error(), "has no kernel tree") {
		t.Errorf("no tree: %v", err)
	}
	os.WriteFile(ManifestName, []byte("[tree]\nrepo = \"r\"\ncommit = \"c\"\nbuilt = false\n"), 0o644)
	os.MkdirAll(filepath.Join(Worktree, "mm"), 0o755)
	t.Chdir(filepath.Join(dir, Worktree, "mm"))
	tr, w, err := TreeToBuild("", kernel.Tree{Obj: "../../" + BuildDir})
	if err != nil || w == nil || tr.Src != filepath.Join(dir, Worktree) || tr.Obj != filepath.Join(dir, BuildDir) {
		t.Fatalf("in linux/mm: %+v %v %v", tr, w, err)
	}
	if err := w.MarkBuilt(); err != nil {
		t.Fatal(err)
	}
	if again, err := Open(dir); err != nil || again.Build() != filepath.Join(dir, BuildDir) {
		t.Errorf("marked built: %v %+v", err, again)
	}
	if _, w, err := TreeToBuild("", kernel.Tree{Obj: t.TempDir()}); err != nil || w != nil {
		t.Errorf("-O elsewhere: %v %v", w, err)
	}
}
