package vmtest

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/initkit/initkit/internal/shell"
	"github.com/initkit/initkit/internal/syncbuf"

	"github.com/initkit/initkit/compress"
	"github.com/initkit/initkit/cpio"
	"github.com/initkit/initkit/image"
)

// debugRun runs initkit debug with args and returns gdb's output, then
// the guest's console; it fails the test unless it exits 0.
func debugRun(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(initkitBinary(t), append([]string{"debug"}, args...)...)
	cmd.Env = append(os.Environ(), "INITKIT_KERNEL="+Kernel(t).Image)
	var console strings.Builder
	cmd.Stderr = &console
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("initkit debug %q: %v\n%s\nconsole and errors:\n%s", args, err, out, console.String())
	}
	return string(out) + "\n--- console ---\n" + console.String()
}

func mustMatch(t *testing.T, out string, res ...string) {
	t.Helper()
	for _, re := range res {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Fatalf("no match for %s in:\n%s", re, out)
		}
	}
}

// TestDebugInitStopsAtMain: a C program built with -g is the real init;
// the real gdb catches the execve into it, stops at main with the right
// file:line, steps, prints a variable and detaches, and the guest then
// finishes. Ten runs in a row: the hook waits for the tracer instead of
// sleeping, so none may miss the exec.
func TestDebugInitStopsAtMain(t *testing.T) {
	t.Parallel()
	prog, batch := debugProgram(t)
	for i := 0; i < 10; i++ {
		mustStopAtMain(t, debugRun(t, "init", "--init", prog, "--batch", batch))
	}
}

// TestDebugInitOverTCP: the same session with gdbserver on the guest's
// network, reached through a forward bound to 127.0.0.1.
func TestDebugInitOverTCP(t *testing.T) {
	t.Parallel()
	prog, batch := debugProgram(t)
	out := debugRun(t, "init", "--transport", "tcp", "--init", prog, "--batch", batch)
	mustStopAtMain(t, out)
	mustMatch(t, out, `Listening on port 1234`, `Remote debugging from host 10\.0\.2\.2`)
}

// TestDebugInitPrint: --print shows the gdb command and script and keeps
// the guest waiting; running that command (as a frontend would) stops at
// main.
func TestDebugInitPrint(t *testing.T) {
	t.Parallel()
	prog, _ := debugProgram(t)
	cmd := exec.Command(initkitBinary(t), "debug", "init", "--init", prog, "--print", "--timeout", "3m")
	cmd.Env = append(os.Environ(), "INITKIT_KERNEL="+Kernel(t).Image)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stderr)
	var gdbArgs []string
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 3 && f[0] == "gdb" && f[len(f)-2] == "-x" {
			gdbArgs = f[1:]
			break
		}
	}
	if gdbArgs == nil {
		t.Fatal("no gdb command printed")
	}
	go io.Copy(io.Discard, stderr)
	out, err := exec.Command("gdb", append(append([]string{"-batch"}, gdbArgs...), "-ex", "info line *$pc", "-ex", "detach")...).CombinedOutput()
	// The guest powers off as soon as it is detached, and the serial line
	// may lose gdbserver's reply to the detach: gdb then fails its last
	// command, the detach, with this. Anything else is a failure.
	if err != nil && !strings.HasSuffix(strings.TrimSpace(string(out)), "Remote connection closed") {
		t.Fatalf("gdb: %v\n%s", err, out)
	}
	mustMatch(t, string(out), `hit Breakpoint 2, main \(\) at \S*prog\.c:9`, `Line 9 of "\S*prog\.c"`)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("initkit debug init --print: %v", err)
	}
}

// debugProgram compiles the test's real init, a C program built with -g,
// and writes the gdb commands run at main.
func debugProgram(t *testing.T) (prog, batch string) {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "prog.c")
	os.WriteFile(src, []byte(`#include <stdio.h>
#include <unistd.h>
#include <sys/reboot.h>

static int counter;

int main(void)
{
	counter = 41;
	counter++;
	printf("prog: counter=%d\n", counter);
	fflush(stdout);
	reboot(RB_POWER_OFF);
	for (;;)
		pause();
}
`), 0o644)
	prog = filepath.Join(dir, "prog")
	if out, err := exec.Command("gcc", "-g", "-O0", "-o", prog, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	batch = filepath.Join(dir, "cmds.gdb")
	os.WriteFile(batch, []byte("next\nnext\nprint counter\ninfo line *$pc\ndetach\n"), 0o644)
	return prog, batch
}

func mustStopAtMain(t *testing.T, out string) {
	t.Helper()
	mustMatch(t, out,
		`hit Catchpoint 1 \(call to syscall execve\)`,
		`process 1 is executing new program: /\.initkit/init\.real`,
		`hit Breakpoint 2, main \(\) at \S*prog\.c:9\n9\s+counter = 41;`,
		`\$1 = 42`,
		`Line 11 of "\S*prog\.c"`,
		`Detaching from process 1`,
		`prog: counter=42`)
}

// TestDebugInitWrapsUserInit: an image whose /init is a shell script is
// debugged as it is: the hook becomes /init and gdb catches the exec
// into the user's script, which then runs to its end.
func TestDebugInitWrapsUserInit(t *testing.T) {
	t.Parallel()
	img := WriteImage(t, Segment(t, compress.None, BaseFiles(t, "echo user-init-ran\n/bin/busybox poweroff -f\n")))
	batch := filepath.Join(t.TempDir(), "cmds.gdb")
	os.WriteFile(batch, []byte("info inferiors\ndetach\n"), 0o644)
	out := debugRun(t, "init", "--initrd", img, "--batch", batch)
	// The kernel runs a #! script's interpreter: that is the new program.
	mustMatch(t, out,
		`hit Catchpoint 1 \(call to syscall execve\)`,
		`process 1 is executing new program: /bin/busybox`,
		`hit Catchpoint 1 \(returned from syscall execve\)`,
		`\[Inferior 1 \(process 1\) detached\]`,
		`user-init-ran`)
}

// TestDebugKernel: gdb with the Debian -dbg vmlinux connects to QEMU's
// stub (the guest halted at reset), stops in kernel_init with source
// lines, shows a backtrace, detaches, and the boot completes.
func TestDebugKernel(t *testing.T) {
	t.Parallel()
	vmlinux := DebugVmlinux(t)
	img := WriteImage(t, Segment(t, compress.None, BaseFiles(t, "echo user-init-ran\n/bin/busybox poweroff -f\n")))
	batch := filepath.Join(t.TempDir(), "cmds.gdb")
	os.WriteFile(batch, []byte("bt 3\ndelete\ndetach\n"), 0o644)
	out := debugRun(t, "kernel", "--vmlinux", vmlinux, "--initrd", img, "--break", "kernel_init", "--batch", batch)
	mustMatch(t, out,
		`Breakpoint 1, kernel_init \(unused=.*\) at init/main\.c:[0-9]+`,
		`#1 +0x[0-9a-f]+ in ret_from_fork \(\) at \S*arch/x86/entry/entry_64\.S:[0-9]+`,
		`\[Inferior 1 \(process 1\) detached\]`,
		`user-init-ran`)
}

// debugExit runs initkit debug and returns its exit status and everything
// it printed.
func debugExit(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(initkitBinary(t), append([]string{"debug"}, args...)...)
	cmd.Env = append(os.Environ(), "INITKIT_KERNEL="+Kernel(t).Image)
	out, err := cmd.CombinedOutput()
	return exitStatus(err), string(out)
}

// TestDebugInitSystemdShape: the shape of a dracut image, whose /init is
// a symlink to a stripped program that is PID 1 by its argv[0]. busybox
// stands in for systemd: run as "init" it is busybox init, and its
// sysinit line shows that the hook's mounts are gone.
func TestDebugInitSystemdShape(t *testing.T) {
	t.Parallel()
	files := []image.File{
		Dir("bin"), Dir("dev"), Dir("proc"), Dir("sys"), Dir("etc"),
		{Header: cpio.Header{Name: "bin/busybox", Mode: cpio.TypeReg | 0o755}, Source: Busybox(t)},
		{Header: cpio.Header{Name: "bin/sh", Mode: cpio.TypeLink | 0o777, Linkname: "busybox"}},
		{Header: cpio.Header{Name: "init", Mode: cpio.TypeLink | 0o777, Linkname: "bin/busybox"}},
		{Header: cpio.Header{Name: "dev/console", Mode: cpio.TypeChar | 0o600, RDevMajor: 5, RDevMinor: 1}},
		Text("etc/inittab", "::sysinit:/bin/busybox sh -c 'echo \"leaked:$(/bin/busybox cat /proc/mounts 2>/dev/null | /bin/busybox wc -l)\"; /bin/busybox mount -t proc proc /proc && /bin/busybox mount -t sysfs sysfs /sys && echo \"sysinit-mounts:$((1+1))\"; /bin/busybox poweroff -f'\n", 0o644),
	}
	img := WriteImage(t, Segment(t, compress.None, files))
	batch := filepath.Join(t.TempDir(), "cmds.gdb")
	os.WriteFile(batch, []byte("detach\n"), 0o644)
	code, out := debugExit(t, "init", "--initrd", img, "--batch", batch)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	mustMatch(t, out,
		`the init has no symbol main \(stripped\)`,
		`process 1 is executing new program: /bin/busybox`,
		`leaked:0`, // no /proc, so no mount at all, until the init mounts it
		`sysinit-mounts:2`)
	if strings.Contains(out, "applet not found") {
		t.Errorf("the real init did not get the kernel's argv[0]:\n%s", out)
	}
}

// TestDebugInitVerdicts: debug init ends as boot does: PID 1 dying is a
// crash (3), --timeout while gdb waits is 4, a guest that powers off
// after the detach ends the session at once, and one that goes on is
// stopped soon after gdb ends.
func TestDebugInitVerdicts(t *testing.T) {
	for _, c := range []struct {
		name, script, batch string
		args                []string
		code                int
		within              time.Duration
	}{
		{"init dies", "echo leaving; exit 7", "detach", nil, 3, 90 * time.Second},
		{"timeout", "sleep 1000", "continue", []string{"--timeout", "25s"}, 4, 60 * time.Second},
		{"powers off", "/bin/busybox poweroff -f", "detach", nil, 0, 40 * time.Second},
		{"goes on", "sleep 1000", "detach", nil, 0, 40 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			batch := filepath.Join(t.TempDir(), "cmds.gdb")
			os.WriteFile(batch, []byte(c.batch+"\n"), 0o644)
			img := WriteImage(t, Segment(t, compress.None, BaseFiles(t, c.script)))
			start := time.Now()
			code, out := debugExit(t, append([]string{"init", "--initrd", img, "--batch", batch}, c.args...)...)
			if code != c.code {
				t.Fatalf("exit %d, want %d:\n%s", code, c.code, out)
			}
			if d := time.Since(start); d > c.within {
				t.Errorf("took %v", d)
			}
		})
	}
}

// TestDebugInitTrace: --trace runs a script init under sh -x: every
// command it runs appears on the console, and the boot's verdict is the
// exit status.
func TestDebugInitTrace(t *testing.T) {
	t.Parallel()
	img := WriteImage(t, Segment(t, compress.None, BaseFiles(t, "echo traced-$((3+4))\n/bin/busybox poweroff -f\n")))
	code, out := debugExit(t, "init", "--initrd", img, "--trace")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	mustMatch(t, out, `initkit.trace: /bin/sh -x /\.initkit/init\.real`, `\+ echo traced-7`, `\ntraced-7`)
	// A traced init that dies takes the kernel with it: the verdict says
	// so (exit 3), it is no success.
	img = WriteImage(t, Segment(t, compress.None, BaseFiles(t, "echo dying\nexit 4\n")))
	if code, out := debugExit(t, "init", "--initrd", img, "--trace"); code != 3 || !strings.Contains(out, "Attempted to kill init") {
		t.Errorf("exit %d, want 3:\n%s", code, out)
	}
}

// TestDebugInitCtrlC: Ctrl-C at the terminal belongs to gdb while it
// runs: at gdb's prompt it abandons the line being typed ("Quit"), and
// the session goes on (it used to end gdb and QEMU with it). gdb then
// steps and quits, and initkit ends with it.
func TestDebugInitCtrlC(t *testing.T) {
	t.Parallel()
	prog, _ := debugProgram(t)
	console := filepath.Join(t.TempDir(), "console")
	term := OnTerminalApart(t, []string{"INITKIT_KERNEL=" + Kernel(t).Image}, console, initkitBinary(t), "debug", "init", "--init", prog)
	const long = 120 * time.Second
	term.Expect(`Breakpoint 2, main \(\)`, long)
	term.Expect(`\(gdb\) `, long)
	term.Type("print never")
	time.Sleep(500 * time.Millisecond)
	term.Type("\x03") // Ctrl-C
	// gdb prints its next prompt before or after "Quit", as readline
	// redraws: typing goes to that prompt either way. "Quit" is gdb's
	// error, which may go to its stderr, the console's file.
	for end := time.Now().Add(long); ; time.Sleep(50 * time.Millisecond) {
		b, _ := os.ReadFile(console)
		if strings.Contains(term.Output(), "Quit") || strings.Contains(string(b), "Quit") {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("no Quit:\n%s\n--- console:\n%s", term.Output(), b)
		}
	}
	time.Sleep(300 * time.Millisecond)
	term.Type("next\r")
	term.Expect(`10\s+counter\+\+;`, long)
	term.Type("print counter\r")
	term.Expect(`\$1 = 41`, long)
	term.Type("detach\r")
	ExpectIn(t, console, `prog: counter=42`, long)
	term.Type("quit\r")
	if err := term.Wait(60 * time.Second); err != nil {
		t.Errorf("the session ended with %v:\n%s", err, term.Output())
	}
}

// TestKilledInitkitTakesGDBWithIt: gdb has a parent-death signal, so a
// SIGKILLed initkit leaves no gdb (nor QEMU) behind.
func TestKilledInitkitTakesGDBWithIt(t *testing.T) {
	t.Parallel()
	prog, _ := debugProgram(t)
	cmd := exec.Command(initkitBinary(t), "debug", "init", "--init", prog)
	cmd.Env = append(os.Environ(), "INITKIT_KERNEL="+Kernel(t).Image)
	stdin, err := cmd.StdinPipe() // gdb's, kept open: gdb waits at its prompt
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	var out syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(120 * time.Second); !strings.Contains(out.String(), "Breakpoint 2, main"); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(end) {
			cmd.Process.Kill()
			t.Fatalf("gdb never stopped at main:\n%s", out.String())
		}
	}
	children := childrenOf(cmd.Process.Pid)
	if len(children) == 0 {
		t.Fatal("no child processes of initkit found")
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		alive := 0
		for _, pid := range children {
			if syscall.Kill(pid, 0) == nil {
				alive++
			}
		}
		if alive == 0 {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("%d of initkit's children (gdb, QEMU) still alive 5 s after it was killed", alive)
		}
	}
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	var out []int
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(p, "/proc/"), "/stat"))
			out = append(out, n)
		}
	}
	return out
}

// TestDebugInitSystemd: the seed's case for real: Debian's systemd, whose
// libraries find libsystemd-shared only through systemd's RUNPATH, is
// PID 1; gdb stops in an exported function of the stripped program,
// detaches, and systemd runs on (to "Freezing execution", with no units)
// until the grace after gdb stops the guest.
func TestDebugInitSystemd(t *testing.T) {
	t.Parallel()
	batch := filepath.Join(t.TempDir(), "cmds.gdb")
	os.WriteFile(batch, []byte("bt 1\ndetach\n"), 0o644)
	code, out := debugExit(t, "init", "--init", "/usr/lib/systemd/systemd", "--break", "manager_startup", "--batch", batch)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	mustMatch(t, out,
		`hit Breakpoint 2, 0x[0-9a-f]+ in manager_startup \(\) from \S*/libsystemd-core-[0-9]+\.so`,
		`Detaching from process 1`,
		`systemd\[1\]: systemd [0-9]+.* running in system mode`)
}

// TestDebugPrintIntoClosedPipe: initkit debug init --print | head: the
// pipe closes, initkit stops as for any other signal (SIGPIPE), and
// leaves no QEMU and no temporary directory behind.
func TestDebugPrintIntoClosedPipe(t *testing.T) {
	t.Parallel()
	prog, _ := debugProgram(t)
	tmp := t.TempDir()
	cmd := exec.Command("sh", "-c", shell.Quote([]string{initkitBinary(t), "debug", "init", "--init", prog, "--print", "--timeout", "90s"})+" 2>&1 | head -3")
	cmd.Env = append(os.Environ(), "INITKIT_KERNEL="+Kernel(t).Image, "TMPDIR="+tmp)
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil || strings.Count(string(out), "\n") != 3 {
		t.Fatalf("%v\n%s", err, out)
	}
	// head has exited; initkit stops at its next write, then cleans up.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		left, _ := os.ReadDir(tmp)
		if len(left) == 0 && !qemuRunning(tmp) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: left %v, QEMU running %v", time.Since(start), left, qemuRunning(tmp))
		}
	}
}
