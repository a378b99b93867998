package vmtest

import (
	"bytes"
	"crypto/md5"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestExec: initkit exec runs a host program (here dash, dynamically
// linked, so its closure must come along) in a VM and behaves like the
// program: exit status, signal death as 128+N, stdout and stderr apart,
// arguments passed unchanged.
func TestExec(t *testing.T) {
	bin := initkitBinary(t)
	k := Kernel(t)
	wd, _ := os.Getwd()
	plain := filepath.Join(t.TempDir(), "not-a-program")
	if err := os.WriteFile(plain, []byte("data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A script env(1) runs: bash must come along too, not only env.
	envScript := filepath.Join(t.TempDir(), "env-bash")
	if err := os.WriteFile(envScript, []byte("#!/usr/bin/env -S bash -e\necho \"${BASH##*/}\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name           string
		flags, argv    []string
		code           int
		stdout, stderr string
	}{
		{"success", nil, []string{"/usr/bin/true"}, 0, "", ""},
		{"status 7", nil, []string{"/usr/bin/sh", "-c", "exit 7"}, 7, "", ""},
		{"killed by SIGKILL", nil, []string{"/usr/bin/sh", "-c", "kill -9 $$"}, 137, "", ""},
		{"streams apart", nil, []string{"/usr/bin/sh", "-c", "echo to-out; echo to-err >&2; echo more-out"}, 0, "to-out\nmore-out\n", "to-err\n"},
		{"not executable", nil, []string{plain}, 126, "", "initkit exec: " + plain + ": permission denied"},
		{"a script env runs", nil, []string{envScript}, 0, "bash\n", ""},
		{"arguments", nil, []string{"/usr/bin/printf", "[%s]", "a b", "it's", "$HOME", ""}, 0, "[a b][it's][$HOME][]", ""},
		{"no signal ignored", nil, []string{"/usr/bin/grep", "SigIgn", "/proc/self/status"}, 0, "SigIgn:\t0000000000000000\n", ""},
		{"kernel command line", []string{"--append", "initkit.test=one two"}, []string{"/usr/bin/sh", "-c", "tr ' ' '\\n' </proc/cmdline | grep -x -e initkit.test=one -e two -e quiet"}, 0, "quiet\ninitkit.test=one\ntwo\n", ""},
		// exec skips the crypto self-tests and the zeroing of allocated
		// pages; --append can bring them back.
		{"pages not zeroed", nil, []string{"/usr/bin/sh", "-c", "dmesg | grep -o 'heap alloc:o[nf]*'"}, 0, "heap alloc:off\n", ""},
		{"pages zeroed", []string{"--append", "init_on_alloc=1"}, []string{"/usr/bin/sh", "-c", "dmesg | grep -o 'heap alloc:o[nf]*'"}, 0, "heap alloc:on\n", ""},
		{"crypto self-tests skipped", nil, []string{"/usr/bin/cat", "/sys/module/cryptomgr/parameters/notests"}, 0, "Y\n", ""},
		{"crypto self-tests back", []string{"--append", "cryptomgr.notests=0"}, []string{"/usr/bin/cat", "/sys/module/cryptomgr/parameters/notests"}, 0, "N\n", ""},
		// --applets links only those named; busybox's shell still runs
		// every other applet (cat here) without a link.
		{"only the applets named", []string{"--applets", "sh,ls"}, []string{Busybox(t), "sh", "-c", "ls -1 /bin; cat /proc/self/comm"}, 0, "busybox\nls\nsh\ncat\n", ""},
		// A program added wins over busybox's applet of that name, though
		// PATH lists /usr/bin, where the applets land, before /usr/sbin.
		{"added program wins", []string{"--add", "/usr/sbin/mke2fs"}, []string{"/usr/bin/sh", "-c", "command -v mke2fs"}, 0, "/usr/sbin/mke2fs\n", ""},
		// What go test -exec needs: lo up (IFF_UP|IFF_LOOPBACK), and the
		// working directory with its files, at its own path.
		{"loopback up", nil, []string{"/usr/bin/cat", "/sys/class/net/lo/flags"}, 0, "0x9\n", ""},
		{"working directory", nil, []string{"/usr/bin/sh", "-c", "pwd; ls exec_test.go"}, 0, wd + "\nexec_test.go\n", ""},
		{"no working directory", []string{"--workdir-limit", "0"}, []string{"/usr/bin/pwd"}, 0, "/\n", ""},
		{"working directory too large", []string{"--workdir-limit", "1k"}, []string{"/usr/bin/true"}, 2, "", "initkit: the working directory " + wd + " holds more than 1K of files (--workdir-limit 1K; the largest, "},
		// The status port is reachable from the guest; a status line the
		// command writes there itself has no token, and does not count.
		{"a status line of its own", nil, []string{"/usr/bin/sh", "-c", "echo initkit-exit:5 >/dev/ttyS3; exit 3"}, 3, "", ""},
		// A bare name is found as a shell finds it, in a normal user's
		// PATH, then in root's /usr/sbin, as the guest runs it as root.
		{"a name in PATH", nil, []string{"printf", "%s", "found"}, 0, "found", ""},
		// argv[0] is the word typed, as a shell passes it.
		{"argv[0] as typed", nil, []string{"sh", "-c", `echo "$0"`}, 0, "sh\n", ""},
		{"a name in /usr/sbin", nil, []string{"mke2fs", "-q", "-F", "/tmp/fs", "1M"}, 0, "Creating regular file /tmp/fs\n", ""},
		// --env as docker run -e takes it: NAME=VALUE, or NAME for the
		// host's value (none: left out); PATH, HOME and PWD can be replaced.
		{"environment", []string{"--env", "GREETING=it's $x", "--env", "INITKIT_TEST_HOST", "--env", "INITKIT_TEST_UNSET", "--env", "HOME=/root"},
			[]string{"/usr/bin/sh", "-c", `echo "$GREETING|$INITKIT_TEST_HOST|${INITKIT_TEST_UNSET-unset}|$HOME"`}, 0, "it's $x|from the host|unset|/root\n", ""},
		{"a variable no shell can read", []string{"--env", "A-B=1"}, []string{"/usr/bin/true"}, 2, "", `initkit: --env A-B=1: the name "A-B" is not a letter`},
		{"a name nowhere", nil, []string{"initkit-no-such-program"}, 2, "", "initkit: no initkit-no-such-program in PATH or"},
		// --user: the command is that user, and not root; its working
		// directory and /tmp are its to write.
		{"as a user", []string{"--user", "nobody:4711"}, []string{"sh", "-c", "id -u; id -g; touch made /tmp/made && echo wrote; cat /proc/1/environ 2>/dev/null || echo denied"},
			0, "65534\n4711\nwrote\ndenied\n", ""},
		{"a user the host lacks", []string{"--user", "initkit-no-such-user"}, []string{"true"}, 2, "", "initkit: --user initkit-no-such-user: user: unknown user initkit-no-such-user"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"exec", "--kernel", k.Image, "--busybox", Busybox(t), "--timeout", "120s"}, c.flags...)
			cmd := exec.Command(bin, append(append(args, "--"), c.argv...)...)
			cmd.Env = append(os.Environ(), "PATH=/usr/local/bin:/usr/bin:/bin", // a normal user's
				"INITKIT_TEST_HOST=from the host")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if got := exitStatus(err); got != c.code {
				t.Fatalf("exit %d, want %d; stderr: %s", got, c.code, stderr.String())
			}
			if stdout.String() != c.stdout {
				t.Errorf("stdout %q, want %q", stdout.String(), c.stdout)
			}
			if got := strings.TrimSpace(stderr.String()); c.stderr == "" && got != "" || !strings.HasPrefix(got, strings.TrimSpace(c.stderr)) {
				t.Errorf("stderr %q, want %q", stderr.String(), c.stderr)
			}
		})
	}
}

// TestExecNoDash: without --, what follows CMD is still CMD's, as for
// env(1) or sudo: initkit exec ls -l.
func TestExecNoDash(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(initkitBinary(t), "exec", "--kernel", Kernel(t).Image, "--busybox", "", "--timeout", "120s", "--workdir-limit", "0",
		"printf", "%s|%s", "-l", "--timeout")
	out, err := cmd.Output()
	if err != nil || string(out) != "-l|--timeout" {
		t.Fatalf("%v: %q", err, out)
	}
}

// TestExecCrash: a command that crashes the kernel ends exec with exit 3
// and the crash named, apart from initkit's own errors (exit 2: git
// bisect run tells them apart), and --log keeps the whole console.
func TestExecCrash(t *testing.T) {
	t.Parallel()
	log := filepath.Join(t.TempDir(), "console.log")
	DebugVmlinux(t) // fetched beside the kernel, where the kernel policy finds it
	cmd := exec.Command(initkitBinary(t), "exec", "--kernel", Kernel(t).Image, "--busybox", "", "--timeout", "120s", "--log", log,
		"--", "/usr/bin/sh", "-c", "echo c >/proc/sysrq-trigger")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	const panicLine = "Kernel panic - not syncing: sysrq triggered crash"
	if got := exitStatus(err); got != 3 || !strings.Contains(stderr.String(), "kernel crash: ") || !strings.Contains(stderr.String(), panicLine) {
		t.Fatalf("exit %d, stderr %q; want 3 and the panic named", got, stderr.String())
	}
	own := exec.Command(initkitBinary(t), "exec", "--kernel", filepath.Join(t.TempDir(), "none"), "--", "/usr/bin/true")
	if out, err := own.CombinedOutput(); exitStatus(err) != 2 {
		t.Errorf("exec with a kernel that is not there: exit %d, want 2\n%s", exitStatus(err), out)
	}
	if b, err := os.ReadFile(log); err != nil || !strings.Contains(string(b), panicLine) {
		t.Fatalf("console log: %v\n%s", err, b)
	}
	// The crash comes decoded with the kernel's vmlinux, as boot's does.
	if !regexp.MustCompile(`(?m) panic\+0x[0-9a-f]+/0x[0-9a-f]+ kernel/panic\.c:[0-9]+$`).MatchString(stderr.String()) {
		t.Errorf("the crash is not decoded:\n%s", stderr.String())
	}
}

// TestExecAddRelative: --add paths are the host's, relative to the working
// directory, and a directory is added whole.
func TestExecAddRelative(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "data.txt"), []byte("relative-ok\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "tree", "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "tree", "sub", "f"), []byte("tree-ok\n"), 0o644)
	cmd := exec.Command(initkitBinary(t), "exec", "--kernel", Kernel(t).Image, "--busybox", "", "--timeout", "120s", "--workdir-limit", "0",
		"--add", "data.txt:/data.txt", "--add", "tree:/opt/tree", "--", "/usr/bin/cat", "/data.txt", "/opt/tree/sub/f")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || string(out) != "relative-ok\ntree-ok\n" {
		t.Fatalf("%v: %q", err, out)
	}
}

// TestGoTestExec: go test -exec 'initkit exec --' runs a package's test
// binary under the real kernel and reports its result.
func TestGoTestExec(t *testing.T) {
	t.Parallel()
	runner := initkitBinary(t) + " exec --kernel " + Kernel(t).Image + " --busybox " + Busybox(t) + " --timeout 120s --"
	// oops and elfdeps read their testdata (go test runs each binary in
	// its package's directory); gdb's TestTransport listens on 127.0.0.1.
	out, err := exec.Command("go", "test", "-count=1", "-exec", runner, "-run", "TestKASAN|TestGPFWithKASLR|TestSysrootClosure|TestRunpathOrigin|TestTransport",
		"-v", "../oops", "../elfdeps", "../gdb").CombinedOutput()
	if err != nil {
		t.Fatalf("go test -exec: %v\n%s", err, out)
	}
	for _, want := range []string{"--- PASS: TestKASAN", "--- PASS: TestGPFWithKASLR", "--- PASS: TestSysrootClosure", "--- PASS: TestRunpathOrigin", "--- PASS: TestTransport",
		"ok  \tgithub.com/initkit/initkit/oops", "ok  \tgithub.com/initkit/initkit/elfdeps", "ok  \tgithub.com/initkit/initkit/gdb"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestGoTestExecCover: go test -cover and its profiles under initkit
// exec: the coverage counters (-test.gocoverdir), the coverprofile and a
// CPU profile the test binary writes in the guest come back where go
// test reads them.
func TestGoTestExecCover(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"go.mod": "module example.com/cover\n\ngo 1.22\n",
		"a.go":   "package cover\n\nfunc Sign(n int) int {\n\tif n < 0 {\n\t\treturn -1\n\t}\n\treturn 1\n}\n",
		// A test listening on localhost:0, as many do: the name resolves.
		"a_test.go": "package cover\n\nimport (\n\t\"net\"\n\t\"os\"\n\t\"testing\"\n)\n\nfunc TestSign(t *testing.T) {\n\tif Sign(2) != 1 {\n\t\tt.Fatal()\n\t}\n\tt.Log(\"uid\", os.Getuid())\n\tl, err := net.Listen(\"tcp\", \"localhost:0\")\n\tif err != nil {\n\t\tt.Fatal(err)\n\t}\n\tl.Close()\n}\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	runner := initkitBinary(t) + " exec --kernel " + Kernel(t).Image + " --busybox '' --timeout 120s --"
	for _, args := range [][]string{{"-cover"}, {"-coverprofile=c.out", "-cpuprofile=cpu.out"}} {
		cmd := exec.Command("go", append([]string{"test", "-count=1", "-exec", runner}, append(args, ".")...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "coverage: 66.7% of statements") {
			t.Fatalf("go test -exec %v: %v\n%s", args, err, out)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "c.out")); err != nil || !strings.HasPrefix(string(b), "mode: set\nexample.com/cover/a.go:") {
		t.Errorf("the coverprofile: %v\n%s", err, b)
	}
	// As a user that is not root, the counters and the profile are
	// written all the same.
	cmd := exec.Command("go", "test", "-count=1", "-v", "-exec", strings.Replace(runner, " exec ", " exec --user nobody ", 1), "-coverprofile=u.out", ".")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "uid 65534") || !strings.Contains(string(out), "coverage: 66.7% of statements") {
		t.Errorf("go test -exec 'initkit exec --user nobody': %v\n%s", err, out)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "u.out")); err != nil || !strings.HasPrefix(string(b), "mode: set\n") {
		t.Errorf("the coverprofile as a user: %v\n%s", err, b)
	}
	if st, err := os.Stat(filepath.Join(dir, "cpu.out")); err != nil || st.Size() == 0 {
		t.Errorf("the CPU profile: %v", err)
	}
}

// TestExecCopyOut: --copy-out brings back a directory's files and a file
// the command wrote, and nothing else; a command that writes nothing
// there brings nothing back.
func TestExecCopyOut(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	res, file := filepath.Join(dir, "results"), filepath.Join(dir, "deep", "log.txt")
	// Every byte value, the serial line's XON, XOFF and NUL among them.
	data := make([]byte, 300000)
	for i := range data {
		data[i] = byte(i*7 + i/256)
	}
	src := filepath.Join(dir, "data.bin")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(initkitBinary(t), "exec", "--kernel", Kernel(t).Image, "--busybox", Busybox(t), "--timeout", "120s", "--workdir-limit", "0",
		"--copy-out", res+"/", "--copy-out", file, "--add", src+":/data.bin", "--",
		"/bin/sh", "-c", "echo one > "+res+"/a; cp /data.bin "+res+"/big; mkdir "+res+"/sub; echo no > "+res+"/sub/x; ln -s /etc/passwd "+res+"/link; echo log > "+file)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	ents, _ := os.ReadDir(res)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "a big" {
		t.Errorf("%s holds %v, want a and big (no subdirectory, no symlink)", res, names)
	}
	if b, err := os.ReadFile(filepath.Join(res, "big")); err != nil || !bytes.Equal(b, data) {
		t.Errorf("big: %d bytes back of %d, or not the same: %v", len(b), len(data), err)
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "log\n" {
		t.Errorf("%s: %q %v", file, b, err)
	}
}

// TestExecPthreadExit: glibc loads libgcc_s.so.1 at run time to unwind a
// thread; the image ships it when the closure has glibc, or pthread_exit
// aborts ("libgcc_s.so.1 must be installed for pthread_exit to work").
func TestExecPthreadExit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src, prog := filepath.Join(dir, "p.c"), filepath.Join(dir, "p")
	os.WriteFile(src, []byte(`#include <pthread.h>
#include <stdio.h>
static void *run(void *a) { puts("thread-ran"); fflush(stdout); pthread_exit(NULL); }
int main(void) { pthread_t t; pthread_create(&t, NULL, run, NULL); pthread_join(t, NULL); puts("joined"); return 0; }
`), 0o644)
	if out, err := exec.Command("gcc", "-O2", "-pthread", "-o", prog, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	code, out := initkitRun(t, "exec", "--kernel", Kernel(t).Image, "--busybox", "", "--workdir-limit", "0", "--timeout", "120s", "--", prog)
	if code != 0 || !strings.Contains(out, "thread-ran\njoined\n") {
		t.Errorf("exit %d\n%s", code, out)
	}
}

// TestExecStdin: -i gives the command initkit's stdin, every byte value
// as it is, also to a user that is not root, and its name is gone from
// the guest's tree; without -i the command reads /dev/null whatever
// initkit's stdin holds.
func TestExecStdin(t *testing.T) {
	t.Parallel()
	data := make([]byte, 300000)
	for i := range data {
		data[i] = byte(i*7 + i/256)
	}
	sum := fmt.Sprintf("%x", md5.Sum(data))
	for _, c := range []struct {
		flags []string
		argv  []string
		want  string
	}{
		{[]string{"-i"}, []string{"md5sum"}, sum + "  -\n"},
		{[]string{"-i", "--user", "nobody"}, []string{"sh", "-c", "wc -c; ls -1a /.initkit"}, "300000\n.\n..\nexec\nexec.path\nexec.user\n"},
		{nil, []string{"wc", "-c"}, "0\n"},
	} {
		args := append([]string{"exec", "--kernel", Kernel(t).Image, "--busybox", Busybox(t), "--timeout", "120s", "--workdir-limit", "0"}, c.flags...)
		cmd := exec.Command(initkitBinary(t), append(append(args, "--"), c.argv...)...)
		cmd.Stdin = bytes.NewReader(data)
		out, err := cmd.Output()
		if err != nil || string(out) != c.want {
			t.Errorf("%v %v: %v\n%q, want %q", c.flags, c.argv, err, out, c.want)
		}
	}
}

// TestExecNet: --net user reaches a real HTTP server on the host's
// 127.0.0.1 as 10.0.2.2, with QEMU's DNS server in /etc/resolv.conf;
// without it the guest has no route out. --net needs busybox, and takes
// only user.
func TestExecNet(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from the host, %s\n", r.URL.Path)
	}))
	defer srv.Close()
	url := strings.Replace(srv.URL, "127.0.0.1", "10.0.2.2", 1) + "/guest"
	base := []string{"exec", "--kernel", Kernel(t).Image, "--busybox", Busybox(t), "--timeout", "120s", "--workdir-limit", "0"}
	for _, c := range []struct {
		flags  []string
		code   int
		stdout string
	}{
		{[]string{"--net", "user"}, 0, "nameserver 10.0.2.3\nhello from the host, /guest\n"},
		{nil, 1, "nameserver none\n"},
	} {
		cmd := exec.Command(initkitBinary(t), append(append(base, c.flags...), "--", "sh", "-c", "cat /etc/resolv.conf 2>/dev/null || echo nameserver none; wget -q -O- "+url)...)
		out, err := cmd.Output()
		if code := cmd.ProcessState.ExitCode(); code != c.code || string(out) != c.stdout {
			t.Errorf("%v: exit %d (%v), want %d\n%q, want %q", c.flags, code, err, c.code, out, c.stdout)
		}
	}
	for flags, want := range map[string]string{
		"--net user --busybox=": "the network needs busybox",
		"--net tap":             "--net tap: want user",
	} {
		cmd := exec.Command(initkitBinary(t), append(append(base, strings.Fields(flags)...), "--", "/bin/true")...)
		if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), want) {
			t.Errorf("%s: %v\n%s", flags, err, out)
		}
	}
}

// TestExecARM64: a program built for arm64 runs in an arm64 guest of
// Debian's arm64 kernel (fetched by make kernel), as initkit exec runs a
// host program: its stdout and stderr apart on virtio consoles (the virt
// machine has one UART), its exit status, its arguments; GOARCH=arm64 go
// test -exec 'initkit exec --' runs a package's tests there. A dynamically
// linked arm64 program is refused: exec has no arm64 libraries to ship.
func TestExecARM64(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n\t\"runtime\"\n)\n\nfunc main() {\n\tfmt.Println(runtime.GOARCH, os.Args[1])\n\tfmt.Fprintln(os.Stderr, \"to-err\")\n\tos.Exit(7)\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	prog := filepath.Join(dir, "prog")
	build := exec.Command("go", "build", "-o", prog, src)
	build.Env = append(os.Environ(), "GOARCH=arm64", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(initkitBinary(t), "exec", "--timeout", "300s", "--workdir-limit", "0", "--", prog, "it's an argument")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if code := exitStatus(cmd.Run()); code != 7 || stdout.String() != "arm64 it's an argument\n" || stderr.String() != "to-err\n" {
		t.Errorf("exec of an arm64 program: exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	runner := initkitBinary(t) + " exec --timeout 300s --"
	gotest := exec.Command("go", "test", "-count=1", "-exec", runner, "-run", "TestLookup|TestHost", "-v", "../internal/machine")
	gotest.Env = append(os.Environ(), "GOARCH=arm64")
	out, err := gotest.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestHost") || !strings.Contains(string(out), "ok  \tgithub.com/initkit/initkit/internal/machine") {
		t.Errorf("GOARCH=arm64 go test -exec: %v\n%s", err, out)
	}
	csrc := filepath.Join(dir, "hello.c")
	os.WriteFile(csrc, []byte("int main(void) { return 0; }\n"), 0o644)
	dyn := filepath.Join(dir, "hello")
	if out, err := exec.Command("aarch64-linux-gnu-gcc", "-o", dyn, csrc).CombinedOutput(); err != nil {
		t.Fatalf("aarch64-linux-gnu-gcc: %v\n%s", err, out)
	}
	code, o := initkitRun(t, "exec", "--", dyn)
	if code != 2 || !strings.Contains(o, "is a dynamically linked aarch64 program, and exec has no aarch64 libraries to ship: build it static") {
		t.Errorf("a dynamic arm64 program: exit %d\n%s", code, o)
	}
}
