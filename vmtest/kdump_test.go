package vmtest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/initkit/initkit/compress"
	"github.com/initkit/initkit/cpio"
	"github.com/initkit/initkit/image"
	"github.com/initkit/initkit/qemu"
	"github.com/initkit/initkit/vmexec"
)

var vmcoreLine = regexp.MustCompile(`initkit boot: vmcore: (\S+)`)

// bootForDump boots img with args in dir (none: the test's) and
// returns the dump boot reported, failing unless it exited with code.
func bootForDump(t *testing.T, dir, img string, code int, args ...string) string {
	t.Helper()
	cmd := exec.Command(initkitBinary(t), append([]string{"boot", "--kernel", Kernel(t).Image, "--initrd", img}, args...)...)
	cmd.Dir = dir
	b, err := cmd.CombinedOutput()
	got, out := exitStatus(err), string(b)
	m := vmcoreLine.FindStringSubmatch(out)
	if got != code || m == nil {
		t.Fatalf("exit %d (want %d), vmcore %v\n%s", got, code, m, out)
	}
	return m[1]
}

// TestKdumpSysrq: a sysrq crash with --kdump, from an image whose /init
// is a shell script (wrapped: the initkit init loads the crash kernel,
// then runs it): the capture kernel runs, the vmcore arrives on the host
// filtered by makedumpfile, and without it as the ELF core, bigger; both
// open, initkit vmcore prints the panic with the call trace decoded, and
// crash's bt on the filtered one shows sysrq_handle_crash.
func TestKdumpSysrq(t *testing.T) {
	t.Parallel()
	img := WriteImage(t, Segment(t, compress.None, BaseFiles(t, "echo c > /proc/sysrq-trigger")))
	vmlinux := DebugVmlinux(t)
	sizes := map[string]int64{}
	// The second asks for kdump in the [boot] table of ./initkit.toml.
	spec := t.TempDir()
	os.WriteFile(filepath.Join(spec, "initkit.toml"), []byte("[boot]\nkdump = true\n"), 0o644)
	for _, c := range []struct {
		name, format, dir string
		args              []string
	}{
		{"makedumpfile", "kdump-compressed", "", []string{"--kdump"}},
		{"elf", "elf", spec, []string{"--no-makedumpfile"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			core := bootForDump(t, c.dir, img, 3, append([]string{"--timeout", "180s"}, c.args...)...)
			st, err := os.Stat(core)
			if err != nil {
				t.Fatal(err)
			}
			sizes[c.name] = st.Size()
			code, out := initkitRun(t, "vmcore", core, "--vmlinux", vmlinux, "--tail", "40")
			if code != 0 {
				t.Fatalf("initkit vmcore: exit %d\n%s", code, out)
			}
			mustMatch(t, out, `\(`+c.format+`, x86_64, 1 CPU notes\)`, `crashed: 20\d\d-`, `panic:   Kernel panic - not syncing: sysrq triggered crash`,
				`1 crash report\(s\), decoded`, `sysrq_handle_crash\+0x[0-9a-f]+/0x[0-9a-f]+ drivers/tty/sysrq\.c:\d+`)
			if c.name != "makedumpfile" {
				return
			}
			// A .crashrc beside a received vmcore must not run: crash's
			// "!" runs a shell command.
			cwd, mark := t.TempDir(), filepath.Join(t.TempDir(), "crashrc-ran")
			os.WriteFile(filepath.Join(cwd, ".crashrc"), []byte("!touch "+mark+"\n"), 0o644)
			cmd := exec.Command(initkitBinary(t), "vmcore", core, "--vmlinux", vmlinux, "--crash", "--crash-cmd", "bt")
			cmd.Dir = cwd
			b, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(b), "sysrq_handle_crash at ") {
				t.Errorf("initkit vmcore --crash: %v\n%s", err, b)
			}
			if _, err := os.Stat(mark); err == nil {
				t.Error("the working directory's .crashrc ran")
			}
			crashBounded(t, core, vmlinux)
			// A dump is the guest's memory: the user's alone.
			if st, err := os.Stat(core); err != nil || st.Mode().Perm() != 0o600 {
				t.Errorf("vmcore mode %v, %v; want 0600", st.Mode(), err)
			}
			if st, err := os.Stat(filepath.Dir(core)); err != nil || st.Mode().Perm() != 0o700 {
				t.Errorf("run directory mode %v, %v; want 0700", st.Mode(), err)
			}
		})
	}
	if sizes["makedumpfile"] >= sizes["elf"] {
		t.Errorf("the filtered dump (%d bytes) is not smaller than the ELF core (%d)", sizes["makedumpfile"], sizes["elf"])
	}
}

// TestKdumpModuleOops: an Oops in a module with --panic-on oops: the
// vmcore's log holds the Oops, decoded with the module's lines.
func TestKdumpModuleOops(t *testing.T) {
	t.Parallel()
	ko := crashModule(t)
	data, err := os.ReadFile(ko)
	if err != nil {
		t.Fatal(err)
	}
	files := append(BaseFiles(t, "insmod /crashme.ko; echo insmod-returned"),
		image.File{Header: cpio.Header{Name: "crashme.ko", Mode: cpio.TypeReg | 0o644}, Data: data})
	img := WriteImage(t, Segment(t, compress.None, files))
	core := bootForDump(t, "", img, 3, "--kdump", "--panic-on", "oops", "--timeout", "180s")
	code, out := initkitRun(t, "vmcore", core, "--vmlinux", DebugVmlinux(t), "--modules", filepath.Dir(ko))
	if code != 0 {
		t.Fatalf("initkit vmcore: exit %d\n%s", code, out)
	}
	// With panic_on_oops the Oops itself starts the capture kernel
	// (oops_end calls crash_kexec): no panic line follows it.
	mustMatch(t, out, `crashed: 20\d\d-`, `1 crash report\(s\), decoded`, `BUG: kernel NULL pointer dereference`,
		`crash_here\S*\+0x[0-9a-f]+/0x[0-9a-f]+ \[crashme\] \S*crashme\.c:\d+`)
	if strings.Contains(out, "insmod-returned") {
		t.Errorf("the Oops did not panic:\n%s", out)
	}
}

// TestDumpOnTimeout: a guest that hangs, with --timeout 20s
// --dump-on-timeout: QEMU's ELF dump arrives, and initkit vmcore reads
// its log (VMCOREINFO found in the guest's memory: no fw_cfg driver
// loaded), not a crash.
func TestDumpOnTimeout(t *testing.T) {
	t.Parallel()
	img := WriteImage(t, Segment(t, compress.None, BaseFiles(t, "echo HANGING; sleep 1000")))
	for _, format := range []string{"elf", "kdump-zlib"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			core := bootForDump(t, "", img, 4, "--timeout", "20s", "--dump-on-timeout", "--dump-format", format)
			// The guest's memory and its console are the user's alone.
			for _, f := range []string{core, filepath.Join(filepath.Dir(core), "console.log")} {
				if st, err := os.Stat(f); err != nil || st.Mode().Perm() != 0o600 {
					t.Errorf("%s: mode %v, %v; want 0600", f, st.Mode(), err)
				}
			}
			code, out := initkitRun(t, "vmcore", core, "--vmlinux", DebugVmlinux(t))
			if code != 0 {
				t.Fatalf("initkit vmcore: exit %d\n%s", code, out)
			}
			mustMatch(t, out, `crashed: no`, `Run /init as init process`, `no crash report in the log`)
		})
	}
}

// TestDumpOnCrash: --dump-on-crash writes the memory of a kernel that
// panicked without kdump, and the dump holds that panic. The kernel's
// panic=-1 and QEMU's -no-reboot ended QEMU before the dump could be
// made: the run has the panicked kernel wait instead.
func TestDumpOnCrash(t *testing.T) {
	t.Parallel()
	img := WriteImage(t, Segment(t, compress.None, BaseFiles(t, "echo c > /proc/sysrq-trigger")))
	core := bootForDump(t, "", img, 3, "--timeout", "120s", "--dump-on-crash")
	code, out := initkitRun(t, "vmcore", core, "--vmlinux", DebugVmlinux(t))
	if code != 0 {
		t.Fatalf("initkit vmcore: exit %d\n%s", code, out)
	}
	mustMatch(t, out, `crashed: yes, by its log`, `Kernel panic - not syncing: sysrq triggered crash`)
}

// TestVmcoreBadInput: a truncated vmcore, a vmlinux of another program,
// and a file that is no vmcore get clear errors.
func TestVmcoreBadInput(t *testing.T) {
	t.Parallel()
	img := WriteImage(t, Segment(t, compress.None, BaseFiles(t, "echo c > /proc/sysrq-trigger")))
	core := bootForDump(t, "", img, 3, "--kdump", "--timeout", "180s")
	dir := t.TempDir()
	data, err := os.ReadFile(core)
	if err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(dir, "short")
	os.WriteFile(short, data[:len(data)/3], 0o644)
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("not a dump at all\n"), 0o644)
	true_, _ := exec.LookPath("true")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{short, "--vmlinux", DebugVmlinux(t)}, `short: offset \d+: .*truncated\?`},
		{[]string{core, "--vmlinux", true_}, `is not the kernel of .*: its build-id is [0-9a-f]+, the dump's [0-9a-f]+ \(release 6\.`},
		{[]string{text}, `notes\.txt: not a vmcore`},
	} {
		code, out := initkitRun(t, append([]string{"vmcore"}, c.args...)...)
		if code == 0 || !regexp.MustCompile(c.want).MatchString(out) {
			t.Errorf("vmcore %v: exit %d, want an error matching %s:\n%s", c.args, code, c.want, out)
		}
	}
}

// TestPortBound: a guest that writes to a virtio-serial port without end
// (as a hostile capture kernel could to the kdump port) is stopped once
// the host file passes its bound, and the file is emptied: the host's
// disk is not the guest's to fill. qemu's TestFileBound covers the
// logic; this is the real guest's flood.
func TestPortBound(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "flood.out")
	const flood = `for n in /sys/class/virtio-ports/*/name; do [ "$(cat $n)" = flood ] || continue; d=${n%/name}; cat /dev/zero > /dev/${d##*/}; done; echo no port named flood >&2; exit 9`
	o := vmexec.Options{Busybox: Busybox(t), InitBinary: InitBinary(t), Modules: []string{"virtio_pci", "virtio_console"}}
	o.Boot.Kernel.Kernel, o.Boot.Timeout = Kernel(t).Image, 180*time.Second
	o.Boot.Devices = []qemu.Device{qemu.PortToFile{Name: "flood", Path: out, Max: 8 << 20}}
	var stderr bytes.Buffer
	var stdout bytes.Buffer
	o.Stderr, o.Stdout = &stderr, &stdout
	res, err := vmexec.Run(context.Background(), []string{"/usr/bin/sh", "-c", flood}, o)
	if res.Kind != qemu.Failed || res.Err == nil || !strings.Contains(res.Err.Error(), "more than 8 MiB to its virtio-serial port flood") {
		t.Fatalf("run: %v (%v), status %d, error %v; stderr %s\nstdout %s", res.Kind, res.Err, res.Status, err, stderr.String(), stdout.String())
	}
	if st, err := os.Stat(out); err != nil || st.Size() != 0 {
		t.Errorf("the port's file after the overrun: %v, %v; want it empty", st, err)
	}
}

// crashBounded: crash on a dump runs for --crash-timeout at most, and
// what it started goes with it: here a shell command (crash's "!") that
// would sleep for minutes.
func crashBounded(t *testing.T, core, vmlinux string) {
	sleep := fmt.Sprintf("sleep %d", 600+rand.IntN(1000)) // a command line no other process has
	start := time.Now()
	code, out := initkitRun(t, "vmcore", core, "--vmlinux", vmlinux, "--crash", "--crash-cmd", "!exec "+sleep, "--crash-timeout", "30s")
	if took := time.Since(start); code != 2 || !strings.Contains(out, "after 30s: stopped (--crash-timeout)") || took > 45*time.Second {
		t.Errorf("crash past its --crash-timeout: exit %d after %v\n%s", code, took, out)
	}
	noneRuns(t, sleep)
	// Ctrl-C stops crash the same way, and its directory goes.
	sleep = fmt.Sprintf("sleep %d", 600+rand.IntN(1000))
	cmd := exec.Command(initkitBinary(t), "vmcore", core, "--vmlinux", vmlinux, "--crash", "--crash-cmd", "!exec "+sleep)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	cmd.WaitDelay = 10 * time.Second // a process left behind holds the output open
	defer exec.Command("pkill", "-x", "-f", sleep).Run()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Minute); running(sleep) == "" && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); exitStatus(err) != 130 {
		t.Errorf("initkit vmcore --crash after SIGINT: exit %d, want 130\n%s", exitStatus(err), buf.String())
	}
	noneRuns(t, sleep)
	if left, _ := filepath.Glob(filepath.Join(os.TempDir(), fmt.Sprintf("initkit-crash-%d-*", cmd.Process.Pid))); len(left) > 0 {
		t.Errorf("crash's directory left after SIGINT: %v", left)
	}
}

// noneRuns fails the test when a process with command line cmdline runs.
func noneRuns(t *testing.T, cmdline string) {
	t.Helper()
	if p := running(cmdline); p != "" {
		t.Errorf("%s still runs after crash was stopped (%s)", cmdline, p)
	}
}

// running returns the /proc entry of a process whose command line is
// cmdline, or "".
func running(cmdline string) string {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, _ := os.ReadFile(p); strings.ReplaceAll(string(b), "\x00", " ") == cmdline+" " {
			return p
		}
	}
	return ""
}

// TestKdumpLoadFails: when the crash kernel cannot be loaded (too little
// memory reserved: a later crashkernel= wins), the image's own init still
// runs, and the console says why no dump will come; before, the initkit
// init went on alone, to its rescue shell, and the run never happened.
func TestKdumpLoadFails(t *testing.T) {
	t.Parallel()
	img := WriteImage(t, Segment(t, compress.None, BaseFiles(t, "echo the-real-init-ran")))
	code, out := initkitRun(t, "boot", "--kernel", Kernel(t).Image, "--initrd", img, "--kdump", "--timeout", "180s",
		"--append", "crashkernel=4M", "--expect", "the-real-init-ran")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	mustMatch(t, out, `initkit: kdump: kexec_file_load: .*: no crash kernel, no dump on a panic`)
}
