package pid1

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/initkit/initkit/guest"

	"golang.org/x/sys/unix"
)

// loadCrashKernel loads the crash kernel initkit boot --kdump put into
// the image (guest.KdumpKernel, its initramfs and command line) with
// kexec_file_load, so that a panic boots it: no kexec-tools needed. An
// image whose own /init was kept at guest.RealInit (wrapped, as debug
// init wraps it) then runs that, unchanged. When the crash kernel is
// loaded already this init is the real one, exec'd by the wrapper: the
// boot goes on.
func (in *initProc) loadCrashKernel() error {
	if _, err := os.Stat(guest.KdumpKernel); err != nil {
		return nil
	}
	if b, _ := os.ReadFile("/sys/kernel/kexec_crash_loaded"); strings.TrimSpace(string(b)) == "1" {
		return nil
	}
	err := kexecOnCrash()
	if err == nil {
		in.logf("kdump: crash kernel loaded (a panic boots it and the dump goes to the host)")
	} else {
		err = fmt.Errorf("%w: no crash kernel, no dump on a panic", err)
	}
	// The image's own init runs either way: the run it was made for goes
	// on, without a dump when the load failed (it ran the rescue shell).
	if _, serr := os.Stat(guest.RealInit); serr == nil && in.cmd.GDB == "" && !in.cmd.Trace {
		if err != nil {
			in.logf("kdump: %v", err)
		}
		in.execReal(guest.RealInit, os.Args)
	}
	return err
}

func kexecOnCrash() error {
	k, err := os.Open(guest.KdumpKernel)
	if err != nil {
		return err
	}
	defer k.Close()
	r, err := os.Open(guest.KdumpInitrd)
	if err != nil {
		return err
	}
	defer r.Close()
	cmdline, err := os.ReadFile(guest.KdumpCmdline)
	if err != nil {
		return err
	}
	err = unix.KexecFileLoad(int(k.Fd()), int(r.Fd()), strings.TrimSpace(string(cmdline)), unix.KEXEC_FILE_ON_CRASH)
	if err == unix.ENOMEM || err == unix.EADDRNOTAVAIL || err == unix.EINVAL {
		sz, _ := os.ReadFile("/sys/kernel/kexec_crash_size")
		return fmt.Errorf("kexec_file_load: %w (reserved for the crash kernel: %s bytes; is crashkernel= on the command line and big enough?)", err, strings.TrimSpace(string(sz)))
	}
	if err != nil {
		return fmt.Errorf("kexec_file_load: %w", err)
	}
	return nil
}

// capture is the init of the capture kernel: it writes /proc/vmcore to
// the virtio-serial port guest.KdumpPort, filtered by makedumpfile (-d
// 31: no zero, cache, user or free pages; compressed, flattened for a
// stream) when the image has it, else the ELF core as it is, and powers
// off. Whatever fails, it powers off: the host waits for that.
func (in *initProc) capture() error {
	defer func() {
		unix.Sync()
		unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	}()
	in.loadModules()
	os.MkdirAll("/tmp", 0o1777) // makedumpfile writes VMCOREINFO there
	var port string
	if !in.waitUntil(10*time.Second, func() bool { port = vmcorePort(); return port != "" }) {
		return errors.New("kdump: no virtio-serial port " + guest.KdumpPort + " (virtio_console loaded?)")
	}
	start := time.Now()
	out, err := os.OpenFile(port, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer out.Close()
	how := "the ELF core as it is"
	if md := firstPresent([]string{"/usr/sbin/makedumpfile", "/sbin/makedumpfile", "/usr/bin/makedumpfile"}); md != "" {
		how = "makedumpfile -F -c -d 31"
		err = runTool(md, []string{"-F", "-c", "-d", "31", "/proc/vmcore"}, "", out, os.Stderr)
	} else {
		var core *os.File
		if core, err = os.Open("/proc/vmcore"); err == nil {
			_, err = core.WriteTo(out)
			core.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("kdump: writing the dump (%s): %w", how, err)
	}
	in.logf("kdump: dump written to the host (%s) in %v; powering off", how, time.Since(start).Round(time.Millisecond))
	return nil
}

// vmcorePort is the device of the virtio-serial port named KdumpPort.
func vmcorePort() string {
	ports, _ := readDir("/sys/class/virtio-ports") // not filepath.Glob: its sort costs the init 6 KB
	for _, p := range ports {
		if b, err := os.ReadFile("/sys/class/virtio-ports/" + p.name + "/name"); err == nil && strings.TrimSpace(string(b)) == guest.KdumpPort {
			return "/dev/" + p.name
		}
	}
	return ""
}
