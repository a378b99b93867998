package vmtest

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/initkit/initkit/compress"
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
