package vmtest

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/initkit/initkit/internal/syncbuf"
	"github.com/initkit/initkit/internal/testenv"

	"github.com/initkit/initkit/compress"
)

// TestMain removes the binaries the tests built once the tests end.
func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

// initkitBinary builds cmd/initkit once for the tests that drive the CLI,
// with initkit-init beside it, where initkit build looks for it.
func initkitBinary(t *testing.T) string {
	t.Helper()
	bin, err := testenv.Initkit()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// qemuRunning reports whether a QEMU process was started with initrd.
func qemuRunning(initrd string) bool {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte("qemu-system")) && bytes.Contains(b, []byte(initrd)) {
			return true
		}
	}
	return false
}

func exitStatus(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func TestBootExitCodes(t *testing.T) {
	bin := initkitBinary(t)
	k := Kernel(t)
	cases := []struct {
		name    string
		script  string
		timeout string
		code    int
		log     string
		args    []string
		stderr  string // a regexp the verdict must match
	}{
		{"poweroff", `echo "boot-ok:$((40+2))"`, "120s", 0, "boot-ok:42", nil, ""},
		{"init exits", `echo "leaving"; exit 7`, "120s", 3, "Attempted to kill init! exitcode=0x00000700", nil, ""},
		// The accelerator is named: what this case times is --timeout, not
		// the probe of --accel auto (up to 10 s once per host boot, maybe
		// under way in a parallel case when this one starts).
		{"hang", `echo "hanging"; sleep 1000`, "10s", 4, "hanging", []string{"--accel", "tcg"}, ""},
		// The guest never powers off: meeting the expectations must end the
		// run (QMP quit), long before the timeout.
		{"expect met", `echo "step:$((1+1))"; echo "step:$((1+2))"; sleep 1000`, "100s", 0, "step:3", []string{"--expect", "step:2", "--expect", "step:3"}, ""},
		{"expect out of order", `echo "step:$((1+2))"; echo "step:$((1+1))"`, "120s", 1, "step:2", []string{"--expect", "step:3", "--expect", "step:2x"}, ""},
		{"fail matched", `echo "FAIL:$((1+1))"; sleep 1000`, "100s", 1, "FAIL:2", []string{"--fail", "FAIL:[0-9]"}, ""},
		// The crash block comes decoded with the kernel's own vmlinux, the
		// one the kernel policy finds beside it (its -dbg package's), or
		// --vmlinux's.
		{"crash decoded", `echo c > /proc/sysrq-trigger`, "120s", 3, "sysrq triggered crash", []string{"--accel", "tcg"},
			`(?m) panic\+0x[0-9a-f]+/0x[0-9a-f]+ kernel/panic\.c:[0-9]+$`},
		{"crash decoded with --vmlinux", `echo c > /proc/sysrq-trigger`, "120s", 3, "sysrq triggered crash", []string{"--vmlinux", DebugVmlinux(t)},
			`(?m) panic\+0x[0-9a-f]+/0x[0-9a-f]+ kernel/panic\.c:[0-9]+$`},
		// The vmlinux itself boots, through its PVH entry (CONFIG_PVH), and
		// decodes its own crash (no vmlinux was found beside it).
		{"vmlinux booted", `echo c > /proc/sysrq-trigger`, "120s", 3, "sysrq triggered crash", []string{"--kernel", DebugVmlinux(t)},
			`(?m) panic\+0x[0-9a-f]+/0x[0-9a-f]+ kernel/panic\.c:[0-9]+$`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			initrd := WriteImage(t, Segment(t, compress.Gzip, BaseFiles(t, c.script)))
			logPath := filepath.Join(t.TempDir(), "console.log")
			args := append([]string{"boot", "--kernel", k.Image, "--initrd", initrd, "--timeout", c.timeout, "--log", logPath}, c.args...)
			cmd := exec.Command(bin, args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			start := time.Now()
			err := cmd.Run()
			if got := exitStatus(err); got != c.code {
				t.Fatalf("exit %d, want %d; stderr: %s", got, c.code, stderr.String())
			}
			log, _ := os.ReadFile(logPath)
			if !strings.Contains(string(log), c.log) {
				t.Errorf("log lacks %q:\n%s", c.log, log)
			}
			if !strings.Contains(stderr.String(), logPath) {
				t.Errorf("verdict does not name the log: %s", stderr.String())
			}
			if c.code == 3 && !strings.Contains(stderr.String(), "Call Trace:") {
				t.Errorf("the verdict does not show the crash block:\n%s", stderr.String())
			}
			if c.stderr != "" && !regexp.MustCompile(c.stderr).MatchString(stderr.String()) {
				t.Errorf("the verdict does not match %s:\n%s", c.stderr, stderr.String())
			}
			if c.code == 4 && time.Since(start) > 15*time.Second {
				t.Errorf("timeout of 10s took %v", time.Since(start))
			}
			if c.args != nil && c.code != 1 && time.Since(start) > 60*time.Second {
				t.Errorf("the run went on for %v after its outcome was known", time.Since(start))
			}
			if qemuRunning(initrd) {
				t.Error("a QEMU process is left behind")
			}
		})
	}
}

// TestKilledInitkitTakesQEMUWithIt: SIGKILL gives initkit no chance to
// clean up; the kernel's parent-death signal must end QEMU anyway.
func TestKilledInitkitTakesQEMUWithIt(t *testing.T) {
	t.Parallel()
	bin := initkitBinary(t)
	k := Kernel(t)
	initrd := WriteImage(t, Segment(t, compress.Gzip, BaseFiles(t, `echo "hanging"; sleep 1000`)))
	cmd := exec.Command(bin, "boot", "--kernel", k.Image, "--initrd", initrd, "--log", filepath.Join(t.TempDir(), "log"))
	var out syncbuf.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(out.String(), "hanging") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("guest never started:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !qemuRunning(initrd) {
		t.Fatal("no QEMU process found while the guest runs")
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	for end := time.Now().Add(5 * time.Second); qemuRunning(initrd); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("QEMU still running 5 s after initkit was killed")
		}
	}
}

// TestBootSpecAndAdd: --spec builds the image on the fly, with the modules
// of the kernel that boots (not the host's), and --add appends a segment
// with a host file that the guest then sees, without a rebuild.
func TestBootSpecAndAdd(t *testing.T) {
	t.Parallel()
	bin := initkitBinary(t)
	k := Kernel(t)
	dir := t.TempDir()
	initScript := filepath.Join(dir, "init.sh")
	os.WriteFile(initScript, []byte("#!/bin/busybox sh\n/bin/busybox echo \"added:$(/bin/busybox cat /etc/added)\"\n"+
		"/bin/busybox echo \"mods:$(/bin/busybox find /lib/modules/$(/bin/busybox uname -r) -name 'virtio_blk.ko*' | /bin/busybox wc -l)\"\n/bin/busybox poweroff -f\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "added"), []byte("it-is-here\n"), 0o644)
	spec := filepath.Join(dir, "initkit.toml")
	os.WriteFile(spec, []byte("[image]\nbusybox = \""+Busybox(t)+"\"\ninit = \"init.sh\"\ncompress = \"gzip\"\n[modules]\nnames = [\"virtio_blk\"]\n"), 0o644)
	logPath := filepath.Join(dir, "console.log")
	cmd := exec.Command(bin, "boot", "--kernel", k.Image, "--spec", spec, "--add", filepath.Join(dir, "added")+":/etc/added",
		"--expect", "added:it-is-here", "--expect", "mods:1", "--timeout", "120s", "--log", logPath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		log, _ := os.ReadFile(logPath)
		t.Fatalf("boot: %v\n%s\n%s", err, stderr.String(), log)
	}
}

// TestBootInteractive runs initkit boot on a pseudo-terminal (script(1)):
// what is typed reaches the guest, and Ctrl-A x quits a guest that would
// otherwise run forever.
func TestBootInteractive(t *testing.T) {
	t.Parallel()
	bin := initkitBinary(t)
	k := Kernel(t)
	initrd := WriteImage(t, Segment(t, compress.Gzip, BaseFiles(t,
		`echo "ready-$((1+1))"; read line; echo "got:$line"; echo "typed-$((2+2))"; sleep 1000`)))
	term := OnTerminal(t, nil, bin, "boot", "--kernel", k.Image, "--initrd", initrd, "--log", filepath.Join(t.TempDir(), "log"))
	term.Expect("interactive console; Ctrl-A x quits", 90*time.Second)
	term.Expect("ready-2", 90*time.Second)
	term.Type("hello guest\r")
	term.Expect("got:hello guest", 90*time.Second)
	term.Expect("typed-4", 90*time.Second)
	term.Type("\x01x") // Ctrl-A x
	term.Wait(20 * time.Second)
	if qemuRunning(initrd) {
		t.Error("QEMU left running")
	}
}

// TestTerminatedInitkitStopsQEMU: SIGTERM, SIGINT (Ctrl-C) and SIGHUP end
// a boot or an exec with the interrupted verdict and exit 128+N, the
// console log is saved, and the QEMU is gone when initkit exits.
func TestTerminatedInitkitStopsQEMU(t *testing.T) {
	bin := initkitBinary(t)
	k := Kernel(t)
	for _, verb := range []string{"boot", "exec"} {
		for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP} {
			t.Run(verb+"/"+sig.String(), func(t *testing.T) {
				t.Parallel()
				initrd := WriteImage(t, Segment(t, compress.Gzip, BaseFiles(t, `echo "hanging"; sleep 1000`)))
				log := filepath.Join(t.TempDir(), "log")
				args := []string{"boot", "--kernel", k.Image, "--initrd", initrd, "--log", log}
				if verb == "exec" {
					args = []string{"exec", "--kernel", k.Image, "--initrd", initrd, "--log", log, "--", "/bin/sh", "-c", "echo hanging; sleep 1000"}
				}
				cmd := exec.Command(bin, args...)
				tmp := t.TempDir() // initkit's temporary directories go here, and must go
				cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
				var out, stderr syncbuf.Buffer
				cmd.Stdout, cmd.Stderr = &out, &stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				for end := time.Now().Add(90 * time.Second); !strings.Contains(out.String(), "hanging"); time.Sleep(100 * time.Millisecond) {
					if time.Now().After(end) {
						cmd.Process.Kill()
						t.Fatalf("guest never started:\n%s", out.String())
					}
				}
				cmd.Process.Signal(sig)
				err := cmd.Wait()
				if got := exitStatus(err); got != 128+int(sig) || !strings.Contains(stderr.String(), "stopping") {
					t.Errorf("exit %d, stderr %q; want %d and the signal named", got, stderr.String(), 128+int(sig))
				}
				if verb == "boot" && !strings.Contains(stderr.String(), "interrupted (console log: "+log) {
					t.Errorf("no interrupted verdict naming the log: %q", stderr.String())
				}
				if b, err := os.ReadFile(log); err != nil || (verb == "boot" && !strings.Contains(string(b), "hanging")) {
					t.Errorf("console log not saved: %v", err)
				}
				if qemuRunning(initrd) {
					t.Error("QEMU still running after initkit exited")
				}
				if left, _ := os.ReadDir(tmp); len(left) > 0 {
					t.Errorf("temporary files left: %v", left)
				}
			})
		}
	}
}

// TestBootQEMUFailsSaysWhy: a QEMU that cannot start says why in
// initkit's error, not only in the console log: here the forwarded port
// is taken.
func TestBootQEMUFailsSaysWhy(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	initrd := WriteImage(t, Segment(t, compress.Gzip, BaseFiles(t, `echo hi`)))
	code, out := initkitRun(t, "boot", "--kernel", Kernel(t).Image, "--initrd", initrd, "--ssh-port", port, "--timeout", "60s")
	if code != 5 || !strings.Contains(out, "Could not set up host forwarding rule") {
		t.Errorf("exit %d, want 5 and QEMU's reason:\n%s", code, out)
	}
}
