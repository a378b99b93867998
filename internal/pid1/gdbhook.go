package pid1

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/initkit/initkit/guest"

	"golang.org/x/sys/unix"
)

var gdbserverPaths = []string{"/usr/bin/gdbserver", "/bin/gdbserver", "/usr/sbin/gdbserver"}

// gdbHook runs for initkit.gdb=TTY: it starts gdbserver attached to PID 1
// on /dev/TTY, waits until PID 1 is traced, and execs guest.RealInit, so that
// gdb catches the exec into the real init. Waiting for TracerPid instead
// of sleeping is what makes it race-free: gdbserver needs a while to
// attach, and a fixed wait short enough not to slow every boot misses the
// exec (50 ms missed it every time under TCG). devtmpfs and proc are already
// mounted: gdbserver cannot start without /dev, and without /proc it takes
// PID 1 for a 32-bit process and corrupts it on continue. gdbserver keeps
// them in a mount namespace of its own; PID 1's are undone before the
// exec, so that the real init finds the system as the kernel left it and
// mounts them itself. It runs with the argv the kernel gave /init.
func (in *initProc) gdbHook() {
	if _, err := os.Stat(guest.RealInit); err != nil {
		in.logf("initkit.gdb=%s: the image has no %s (initkit debug init adds it); booting without gdbserver", in.cmd.GDB, guest.RealInit)
		return
	}
	var gs string
	for _, p := range gdbserverPaths {
		if _, err := os.Stat(p); err == nil {
			gs = p
			break
		}
	}
	comm, err := in.gdbComm()
	if gs == "" {
		in.logf("initkit.gdb: no gdbserver in the image; running %s undebugged", guest.RealInit)
	} else if err != nil {
		in.logf("initkit.gdb=%s: %v; running %s undebugged", in.cmd.GDB, err, guest.RealInit)
	} else if err := startGDBServer(gs, comm); err != nil {
		in.logf("initkit.gdb: %v; running %s undebugged", err, guest.RealInit)
	} else {
		in.logf("gdbserver on %s is attached to PID 1; exec %s", comm, guest.RealInit)
	}
	in.execReal(guest.RealInit, os.Args)
}

// execReal undoes the init's own mounts and execs path with argv, as the
// kernel would have run the image's /init. It returns only on failure.
func (in *initProc) execReal(path string, argv []string) {
	in.restoreMounts()
	err := execReleased(path, argv, os.Environ())
	in.logf("exec %s: %v", path, err)
	in.early("mounts", in.mountEarly) // the boot goes on, to the rescue shell
}

// traceHook runs for initkit.trace: the image's own /init, a #! script
// kept at guest.RealInit, runs under its interpreter with -x, so that
// every command it runs is printed on the console (sh -x).
func (in *initProc) traceHook() {
	b, err := readFile(guest.RealInit)
	if err != nil {
		in.logf("%s: the image has no %s (initkit debug init --trace adds it): %v", guest.KeyTrace, guest.RealInit, err)
		return
	}
	interp, ok := shebang(b)
	if !ok {
		in.logf("%s: %s is not a #! script; running it as it is", guest.KeyTrace, guest.RealInit)
		in.execReal(guest.RealInit, os.Args)
		return
	}
	argv := append(append(interp, "-x", guest.RealInit), os.Args[1:]...)
	in.logf("%s: %s", guest.KeyTrace, strings.Join(argv, " "))
	in.execReal(argv[0], argv)
}

// shebang returns the interpreter and its one optional argument from a
// script's #! line, as the kernel's binfmt_script reads it.
func shebang(b []byte) ([]string, bool) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	rest, ok := bytes.CutPrefix(line, []byte("#!"))
	if !ok {
		return nil, false
	}
	f := strings.Fields(string(rest))
	if len(f) == 0 {
		return nil, false
	}
	if len(f) > 1 {
		return []string{f[0], strings.Join(f[1:], " ")}, true
	}
	return f, true
}

// gdbComm is gdbserver's COMM argument for initkit.gdb: a serial port
// (ttyS1: /dev/ttyS1), or tcp:PORT, for which the network comes up first:
// the image's modules are loaded (its network driver among them) and the
// interface is configured from ip=CLIENT::GW:NETMASK::DEVICE.
func (in *initProc) gdbComm() (string, error) {
	port, ok := strings.CutPrefix(in.cmd.GDB, "tcp:")
	if !ok {
		return "/dev/" + in.cmd.GDB, nil
	}
	if err := in.loadModules(); err != nil {
		in.logf("%v", err)
	}
	c, err := parseIP(in.cmd.IP)
	if err != nil {
		return "", err
	}
	if c.dhcp {
		return "", errors.New("ip=dhcp is not supported for the gdb transport; give ip=CLIENT::GW:NETMASK::DEVICE")
	}
	if err := ipUp(c.dev, c.addr, c.mask); err != nil {
		return "", err
	}
	// A numeric address: gdbserver resolves the host part, and the image
	// has no resolver configuration.
	return c.addr + ":" + port, nil
}

func startGDBServer(gs, tty string) error {
	p, err := os.StartProcess(gs, []string{gs, "--attach", tty, "1"}, &os.ProcAttr{
		Files: []*os.File{nil, os.Stdout, os.Stderr},
		// A copy of PID 1's mounts that PID 1 then undoes in its own.
		Sys: &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS},
	})
	if err != nil {
		return err
	}
	// gdbserver attaches at once and holds PID 1 stopped until gdb
	// connects and continues; this loop sees the tracer after that, or
	// gdbserver's exit when it could not start.
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if traced() {
			p.Release()
			return nil
		}
		var ws unix.WaitStatus
		if pid, _ := unix.Wait4(p.Pid, &ws, unix.WNOHANG, nil); pid == p.Pid {
			return fmt.Errorf("gdbserver exited (status %d)", ws.ExitStatus())
		}
	}
	p.Release()
	return errors.New("gdbserver did not attach within a minute")
}

// traced reports whether every thread of PID 1 is traced, reading its
// own status files (a forked reader would see its own). The Go runtime
// has several threads and gdbserver attaches them one by one: a thread
// still free could otherwise exec before the rest are held.
func traced() bool {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + t.Name() + "/status")
		if err != nil {
			return false
		}
		i := bytes.Index(b, []byte("TracerPid:"))
		if i < 0 {
			return false
		}
		if f := bytes.Fields(b[i+len("TracerPid:"):]); len(f) == 0 || string(f[0]) == "0" {
			return false
		}
	}
	return true
}
