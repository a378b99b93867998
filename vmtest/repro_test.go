package vmtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/initkit/initkit/bug"
	"github.com/initkit/initkit/internal/syncbuf"
	"github.com/initkit/initkit/internal/testenv"
	"github.com/initkit/initkit/kernel"
	"github.com/initkit/initkit/repro"
)

// TestBugRepro: a workspace made from a syzbot-shaped bug served on
// 127.0.0.1 (its JSON, its page's asset links, the test kernel's
// .config, a C reproducer, the test kernel's bzImage compressed by xz),
// and its reproducer run by initkit repro on that kernel: compiled once,
// run in parallel guests, the crash titled; then reproducers that never
// crash, hang, crash one run in three, and a kernel that never reaches
// userspace, with the outcomes, rates and exit codes git bisect run
// takes.
func TestBugRepro(t *testing.T) {
	t.Parallel()
	m := testenv.All.Get(t)
	obj := testenv.Obj(m)
	srv := serveBug(t, obj)
	root := t.TempDir()
	ws := filepath.Join(root, "sysrq")
	code, out := initkitRun(t, "bug", "new", ws, "--syzbot", srv.URL+"/bug?extid=0123abcd")
	if code != 0 {
		t.Fatalf("bug new: exit %d\n%s", code, out)
	}
	w, err := bug.Open(ws)
	if err != nil {
		t.Fatal(err)
	}
	image, _ := os.ReadFile(m.Image)
	if w.Files[bug.Kernel].SHA256 != sha(image) || w.Files[bug.Repro].Name != "repro.c" || w.Files[bug.Config].Size == 0 {
		t.Fatalf("workspace %+v", w.Manifest)
	}
	if code, out := initkitRun(t, "bug", "new", ws, "--syzbot", srv.URL+"/bug?extid=0123abcd"); code != 0 || strings.Count(out, "up to date") != 3 {
		t.Errorf("bug new again: exit %d, want every file up to date:\n%s", code, out)
	}

	t.Run("crash", func(t *testing.T) {
		code, out := initkitRun(t, "repro", ws, "--runs", "2", "-j", "2", "--hang", "60s")
		if code != repro.ExitCrash {
			t.Fatalf("exit %d, want %d\n%s", code, repro.ExitCrash, out)
		}
		mustMatch(t, out, `run \d: crash: kernel panic: sysrq triggered crash`, `first log: `+regexp.QuoteMeta(ws)+`/repro/[^/]+/run-\d/console.log`,
			`the bug's own crash: kernel panic: sysrq triggered crash, in [12] runs?`)
		log := regexp.MustCompile(`first log: (\S+)`).FindStringSubmatch(out)
		code, out = initkitRun(t, "bug", "ls", root)
		if code != 0 || !regexp.MustCompile(`sysrq\s+fetched config,kernel,repro; reproduced [12]/[12]\s+kernel panic`).MatchString(out) {
			t.Errorf("bug ls: exit %d\n%s", code, out)
		}
		// With the bug's vmlinux in the workspace, decode run anywhere in
		// it decodes with that vmlinux (it took the fetched kernel's).
		if code, out := initkitRun(t, "bug", "new", ws, "--vmlinux", filepath.Join(obj, "vmlinux")); code != 0 || log == nil {
			t.Fatalf("bug new --vmlinux: exit %d, first log %v\n%s", code, log, out)
		}
		decode := exec.Command(initkitBinary(t), "decode", "--no-index", log[1])
		decode.Dir = filepath.Join(ws, "repro")
		b, err := decode.CombinedOutput()
		if err != nil {
			t.Fatalf("decode in the workspace: %v\n%s", err, b)
		}
		mustMatch(t, string(b), ` panic\+0x[0-9a-f]+/0x[0-9a-f]+ kernel/panic\.c:\d+`)
	})
	t.Run("clean", func(t *testing.T) {
		code, out := initkitRun(t, "repro", "--kernel", obj, "--repro", "testdata/repro/clean.c", "--runs", "2", "-j", "2", "--hang", "60s")
		if code != repro.ExitNoCrash {
			t.Fatalf("exit %d, want 0\n%s", code, out)
		}
		mustMatch(t, out, `2 runs: 2 clean`, `reproduced in 0 of 2 runs: rate 0\.00 \(95% interval 0\.00-0\.66\)`)
	})
	t.Run("hang", func(t *testing.T) {
		code, out := initkitRun(t, "repro", "--kernel", obj, "--repro", "testdata/repro/hang.c", "--runs", "1", "--hang", "15s")
		if code != repro.ExitNoCrash {
			t.Fatalf("exit %d, want 0\n%s", code, out)
		}
		mustMatch(t, out, `run 1: hang after (1[5-9]|[2-9]\d)(\.\d)?s`, `1 run: 1 hang`)
	})
	t.Run("flaky", func(t *testing.T) {
		flaky(t, obj)
	})
	t.Run("no boot", func(t *testing.T) {
		code, out := initkitRun(t, "repro", "--kernel", obj, "--repro", "testdata/repro/clean.c", "--runs", "1", "--hang", "60s", "--append", "rdinit=/nonexistent")
		if code != repro.ExitNoBoot {
			t.Fatalf("exit %d, want 125\n%s", code, out)
		}
		mustMatch(t, out, `run 1: no boot \(the kernel crashed before userspace: .*\) after .*, try 4`, `1 run: 1 no boot \(3 tries retried\)`)
	})
	t.Run("own error", func(t *testing.T) {
		code, out := initkitRun(t, "repro", "--kernel", "/nonexistent/bzImage", "--repro", "testdata/repro/clean.c")
		if code != repro.ExitInfra || !strings.Contains(out, "/nonexistent/bzImage") {
			t.Errorf("exit %d, want 128 naming the kernel\n%s", code, out)
		}
		bad := filepath.Join(t.TempDir(), "bad.c")
		os.WriteFile(bad, []byte("int main(void) { return nope; }\n"), 0o644)
		code, out = initkitRun(t, "repro", "--kernel", obj, "--repro", bad)
		if code != repro.ExitInfra || !strings.Contains(out, "bad.c:1") {
			t.Errorf("a reproducer gcc refuses: exit %d, want 128 with gcc's words\n%s", code, out)
		}
	})
	t.Run("interrupt", func(t *testing.T) {
		interrupted(t, m.Image)
	})
	t.Run("disk", func(t *testing.T) {
		inDisk(t, m.Image, obj)
	})
}

// inDisk runs a workspace's reproducer in the root of its disk image,
// as exec --root runs a command: the reproducer finds the disk's marker
// and crashes the kernel; its writes are gone after the run (a snapshot);
// with --no-disk it runs in exec's own guest and finds no marker.
func inDisk(t *testing.T, image, obj string) {
	tree := t.TempDir()
	os.WriteFile(filepath.Join(tree, "initkit-disk-marker"), []byte("the disk's root\n"), 0o644)
	img := GPTImage(t, Partition{Name: "esp", UUID: "0c4f6a52-1b1e-4d3f-8a4e-0b5a6d1c2e01", SizeMiB: 4},
		Partition{Name: "root", UUID: "0c4f6a52-1b1e-4d3f-8a4e-0b5a6d1c2e02", Dir: tree, SizeMiB: 24})
	ws := filepath.Join(t.TempDir(), "disk")
	code, out := initkitRun(t, "bug", "new", ws, "--repro", "testdata/repro/disk.c", "--kernel", image, "--disk", img)
	if code != 0 {
		t.Fatalf("bug new: exit %d\n%s", code, out)
	}
	disk := filepath.Join(ws, "disk.raw")
	before, _ := os.ReadFile(disk)
	code, out = initkitRun(t, "repro", ws, "--kernel", obj, "--runs", "2", "-j", "2", "--hang", "60s")
	if code != repro.ExitCrash {
		t.Fatalf("in the disk's root: exit %d, want %d\n%s", code, repro.ExitCrash, out)
	}
	mustMatch(t, out, `run \d: crash: kernel panic: sysrq triggered crash`)
	if after, _ := os.ReadFile(disk); sha(after) != sha(before) {
		t.Errorf("the run wrote to the workspace's disk image")
	}
	code, out = initkitRun(t, "repro", ws, "--kernel", obj, "--no-disk", "--runs", "1", "--hang", "60s")
	if code != repro.ExitNoCrash {
		t.Errorf("--no-disk: exit %d, want 0\n%s", code, out)
	}
	// exec --root: the command sees the disk's root; a root that is not
	// there is the command's error, said on its stderr.
	code, out = initkitRun(t, "exec", "--kernel", obj, "--disk", img, "--root", "root", "--", "/bin/busybox", "cat", "/initkit-disk-marker")
	if code != 0 || !strings.Contains(out, "the disk's root") {
		t.Errorf("exec --root root: exit %d\n%s", code, out)
	}
	// As a user, the working directory its own and the root not; a
	// dynamic program whose loader the root lacks is said to be so.
	code, out = initkitRun(t, "exec", "--kernel", obj, "--disk", img, "--root", "root", "--user", "nobody", "--", "/bin/busybox", "sh", "-c",
		"id -u; touch mine && echo wrote; touch /x 2>/dev/null || echo root-not-mine")
	if code != 0 || !strings.Contains(out, "65534\nwrote\nroot-not-mine\n") {
		t.Errorf("exec --root root --user nobody: exit %d\n%s", code, out)
	}
	code, out = initkitRun(t, "exec", "--kernel", obj, "--disk", img, "--root", "root", "--", "/bin/sh", "-c", "true")
	if code != 127 || !strings.Contains(out, "its dynamic loader is not in root=") {
		t.Errorf("exec --root root -- /bin/sh (dynamic): exit %d\n%s", code, out)
	}
	code, out = initkitRun(t, "exec", "--kernel", obj, "--disk", img, "--root", "/dev/vdz", "--append", "initkit.timeout=2", "--", "/bin/busybox", "true")
	if code != 127 || !strings.Contains(out, "initkit exec: root device /dev/vdz not found") {
		t.Errorf("exec --root /dev/vdz: exit %d, want 127 and why\n%s", code, out)
	}
}

// flaky runs a reproducer that crashes about one run in three: the
// summary adds up, the rate is the crashes' share, and two guests ran at
// once.
func flaky(t *testing.T, obj string) {
	cmd := exec.Command(initkitBinary(t), "repro", "--kernel", obj, "--repro", "testdata/repro/flaky.c", "--runs", "9", "--all", "-j", "2", "--hang", "60s", "--json")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	code := exitStatus(err)
	var s repro.Summary
	if err := json.Unmarshal(stdout, &s); err != nil {
		t.Fatalf("exit %d, JSON: %v\n%s\n%s", code, err, stdout, stderr.String())
	}
	crashes, clean := s.Counts[repro.Crash], s.Counts[repro.Clean]
	if crashes+clean != 9 || s.Runs != 9 || len(s.Results) != 9 {
		t.Fatalf("counts %v of %d runs, want 9 crashes or clean ends\n%s", s.Counts, s.Runs, stderr.String())
	}
	if want := map[bool]int{true: 1, false: 0}[crashes > 0]; code != want {
		t.Errorf("%d crashes, exit %d, want %d", crashes, code, want)
	}
	rate, low, high := repro.Wilson(crashes, 9)
	if s.Rate != rate || s.RateLow != low || s.RateHigh != high {
		t.Errorf("rate %v [%v, %v], want %v [%v, %v]", s.Rate, s.RateLow, s.RateHigh, rate, low, high)
	}
	mustMatch(t, stderr.String(), fmt.Sprintf(`reproduced in %d of 9 runs: rate %.2f`, crashes, rate))
	overlap := false
	for _, a := range s.Results {
		for _, b := range s.Results {
			if a.N != b.N && !b.Start.Before(a.Start) && b.Start.Before(a.Start.Add(a.Duration)) {
				overlap = true
			}
		}
	}
	if !overlap {
		t.Errorf("no two runs at once with -j 2: %+v", s.Results)
	}
}

// interrupted stops repro with Ctrl-C while two guests run: it exits
// 130, says what finished, and no QEMU is left.
func interrupted(t *testing.T, image string) {
	kernel := filepath.Join(t.TempDir(), "bzImage-interrupt")
	data, _ := os.ReadFile(image)
	os.WriteFile(kernel, data, 0o644)
	cmd := exec.Command(initkitBinary(t), "repro", "--kernel", kernel, "--repro", "testdata/repro/hang.c", "--runs", "4", "-j", "2", "--hang", "10m")
	var stderr syncbuf.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	dir := regexp.MustCompile(`in (/\S+)\n`)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		m := dir.FindStringSubmatch(stderr.String())
		if m != nil && exists(filepath.Join(m[1], "run-1")) && exists(filepath.Join(m[1], "run-2")) {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the runs did not start:\n%s", stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(5 * time.Second) // the guests are booting or running
	if n := qemus(kernel); n != 2 {
		t.Errorf("%d QEMUs running, want 2", n)
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if code := exitStatus(err); code != 130 {
		t.Errorf("exit %d, want 130\n%s", code, stderr.String())
	}
	mustMatch(t, stderr.String(), `0 runs before the interrupt: none finished`)
	time.Sleep(time.Second)
	if n := qemus(kernel); n != 0 {
		t.Errorf("%d QEMUs left after Ctrl-C", n)
	}
}

// qemus counts the QEMUs booting kernel.
func qemus(kernel string) int {
	out, _ := exec.Command("pgrep", "-f", "-c", "qemu-system.*"+regexp.QuoteMeta(kernel)).Output()
	n := 0
	fmt.Sscan(string(out), &n)
	return n
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// serveBug serves a syzbot-shaped bug on 127.0.0.1: the kernel of obj,
// xz-compressed by the real xz, its .config, and the crash reproducer.
func serveBug(t *testing.T, obj string) *httptest.Server {
	t.Helper()
	m := testenv.All.Get(t)
	image, err := exec.Command("xz", "-c", "-T0", m.Image).Output()
	if err != nil {
		t.Fatalf("xz: %v", err)
	}
	config, _ := os.ReadFile(filepath.Join(obj, ".config"))
	crash, _ := os.ReadFile("testdata/repro/crash.c")
	files := map[string][]byte{
		"/text?tag=KernelConfig&x=1":                config,
		"/text?tag=ReproC&x=2":                      crash,
		"/syzbot-assets/1a2b3c/bzImage-c0ffee00.xz": image,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/bug" && r.URL.Query().Get("json") == "1":
			fmt.Fprint(w, `{"version":1,"title":"kernel panic: sysrq triggered crash","crashes":[{"title":"kernel panic: sysrq triggered crash",
				"c-reproducer":"/text?tag=ReproC&x=2","kernel-config":"/text?tag=KernelConfig&x=1",
				"kernel-source-commit":"c0ffee0011223344556677889900aabbccddeeff"}]}`)
		case r.URL.Path == "/bug":
			fmt.Fprint(w, `<a href="/syzbot-assets/1a2b3c/bzImage-c0ffee00.xz">bzImage</a>`)
		case files[r.URL.RequestURI()] != nil:
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(files[r.URL.RequestURI()]))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// TestBugTree: bug new --tree makes a git worktree of a kernel repository
// made from Debian's linux-source-6.1, at the commit, and configures its
// build directory from the bug's config with only what initkit's guests
// need added, each addition said; then builds it, and the reproducer
// runs on the build. (The build takes minutes on two cores the first
// time; ccache, which make test installs and the test turns on, makes
// later runs of the suite take one.)
func TestBugTree(t *testing.T) {
	t.Parallel()
	repo := testenv.DevTree(t)
	ws := filepath.Join(t.TempDir(), "tree")
	config := filepath.Join(t.TempDir(), "bug.config")
	os.WriteFile(config, []byte("CONFIG_64BIT=y\nCONFIG_PRINTK=y\n"), 0o644)
	code, out := initkitRun(t, "bug", "new", ws, "--tree", repo, "--commit", "base", "--config", config, "--no-build")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	mustMatch(t, out, `tree: worktree `+regexp.QuoteMeta(ws)+`/linux of .* at [0-9a-f]{12}`,
		`CONFIG_SERIAL_8250_CONSOLE=y \(boot\): `, `obj/\.config: \d+ options added`)
	head, _ := exec.Command("git", "-C", filepath.Join(ws, "linux"), "rev-parse", "HEAD").Output()
	base, _ := exec.Command("git", "-C", repo, "rev-parse", "base").Output()
	if len(head) == 0 || string(head) != string(base) {
		t.Errorf("the worktree is at %q, want base %q", head, base)
	}
	cfg, _ := os.ReadFile(filepath.Join(ws, "obj", ".config"))
	for _, want := range []string{"CONFIG_PRINTK=y", "CONFIG_64BIT=y", "CONFIG_SERIAL_8250_CONSOLE=y"} {
		if !strings.Contains(string(cfg), want+"\n") {
			t.Errorf("obj/.config lacks %s", want)
		}
	}
	code, out = initkitRun(t, "bug", "new", ws, "--tree", repo, "--commit", "base", "--config", config, "--no-build")
	if code != 0 || strings.Contains(out, "options added") || !strings.Contains(out, "config: up to date") {
		t.Errorf("again: exit %d, want nothing done\n%s", code, out)
	}
	// Options of the user's own configure the build again, and are kept
	// by the next bug new that is given none.
	frag := filepath.Join(t.TempDir(), "ramdisk.config")
	os.WriteFile(frag, []byte("CONFIG_BLK_DEV_RAM=y\n"), 0o644)
	code, out = initkitRun(t, "bug", "new", ws, "--tree", repo, "--commit", "base", "--no-build", "--set", `CONFIG_LOCALVERSION="-bug"`, "--fragment", frag)
	if code != 0 {
		t.Errorf("with settings: exit %d\n%s", code, out)
	}
	mustMatch(t, out, `CONFIG_LOCALVERSION="-bug" \(--set\)`, `CONFIG_BLK_DEV_RAM=y \(`+regexp.QuoteMeta(frag)+`\)`, `obj/\.config: \d+ options added`)
	code, out = initkitRun(t, "bug", "new", ws, "--tree", repo, "--commit", "base", "--no-build")
	if code != 0 || strings.Contains(out, "options added") {
		t.Errorf("with the settings kept: exit %d, want nothing done\n%s", code, out)
	}
	cfg, _ = os.ReadFile(filepath.Join(ws, "obj", ".config"))
	manifest, _ := os.ReadFile(filepath.Join(ws, "bug.toml"))
	for _, want := range []string{`CONFIG_LOCALVERSION="-bug"`, "CONFIG_BLK_DEV_RAM=y", "CONFIG_BLOCK=y", "CONFIG_SERIAL_8250_CONSOLE=y"} {
		if !strings.Contains(string(cfg), want+"\n") {
			t.Errorf("obj/.config lacks %s", want)
		}
	}
	if !strings.Contains(string(manifest), `CONFIG_LOCALVERSION="-bug"`) {
		t.Errorf("bug.toml does not keep the settings:\n%s", manifest)
	}
	// Another commit (made with no branch moved: other tests share the
	// repository) is refused over the worktree there.
	other, err := exec.Command("git", "-C", repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit-tree", "base^{tree}", "-p", "base", "-m", "other").Output()
	if err != nil {
		t.Fatal(err)
	}
	code, out = initkitRun(t, "bug", "new", ws, "--tree", repo, "--commit", strings.TrimSpace(string(other)), "--no-build")
	if code == 0 || !strings.Contains(out, "/linux is at") {
		t.Errorf("another commit over the worktree: exit %d\n%s", code, out)
	}
	t.Cleanup(func() {
		exec.Command("git", "-C", repo, "worktree", "remove", "--force", filepath.Join(ws, "linux")).Run()
	})
	t.Run("build", func(t *testing.T) {
		bugTreeBuild(t, repo)
	})
}

// bugTreeBuild: a workspace whose bug config is a small one (tinyconfig
// for QEMU), built by bug new, and a reproducer run on its build.
func bugTreeBuild(t *testing.T, repo string) {
	cfg := t.TempDir()
	if code, out := initkitRun(t, "kernel", "config", testenv.Source(t), "-O", cfg, "--for", "boot"); code != 0 {
		t.Fatalf("kernel config: exit %d\n%s", code, out)
	}
	ws := filepath.Join(t.TempDir(), "built")
	t.Cleanup(func() {
		exec.Command("git", "-C", repo, "worktree", "remove", "--force", filepath.Join(ws, "linux")).Run()
	})
	cache, err := kernel.CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	build := exec.Command(initkitBinary(t), "bug", "new", ws, "--tree", repo, "--commit", "base", "--config", filepath.Join(cfg, ".config"))
	build.Env = append(os.Environ(), kernel.CCacheEnv+"="+filepath.Join(cache, "ccache"))
	b, err := build.CombinedOutput()
	if code, out := exitStatus(err), string(b); code != 0 {
		t.Fatalf("bug new --tree: exit %d\n%s", code, testenv.LastLines(out, 40))
	}
	w, err := bug.Open(ws)
	if err != nil || w.Build() == "" {
		t.Fatalf("the workspace's tree is not built: %v", err)
	}
	if _, err := os.Stat(filepath.Join(ws, "obj", "arch", "x86", "boot", "bzImage")); err != nil {
		t.Fatal(err)
	}
	// kernel build with no SRC, in the worktree (where the bug's code is
	// edited): the workspace's tree into its build directory, marked
	// built (it needed SRC and -O, and left bug.toml as it was).
	w.Tree.Built = false
	if err := w.Save(); err != nil {
		t.Fatal(err)
	}
	rebuild := exec.Command(initkitBinary(t), "kernel", "build")
	rebuild.Dir = filepath.Join(ws, "linux")
	rebuild.Env = build.Env
	if b, err := rebuild.CombinedOutput(); err != nil || !strings.Contains(string(b), "kernel:  "+filepath.Join(ws, "obj")) {
		t.Fatalf("kernel build in the worktree: %v\n%s", err, testenv.LastLines(string(b), 20))
	}
	if w, err = bug.Open(ws); err != nil || w.Build() == "" {
		t.Fatalf("not marked built: %v", err)
	}
	code, out := initkitRun(t, "repro", ws, "--repro", "testdata/repro/crash.c", "--runs", "1", "--hang", "60s")
	if code != repro.ExitCrash {
		t.Fatalf("repro on the workspace's build: exit %d, want %d\n%s", code, repro.ExitCrash, out)
	}
	mustMatch(t, out, `run 1: crash: kernel panic: sysrq triggered crash`)
	code, out = initkitRun(t, "bug", "ls", filepath.Dir(ws))
	if code != 0 || !regexp.MustCompile(`/built\s+fetched config; built; reproduced 1/1`).MatchString(out) {
		t.Errorf("bug ls: exit %d\n%s", code, out)
	}
}
