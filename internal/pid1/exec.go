package pid1

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/initkit/initkit/guest"

	"golang.org/x/sys/unix"
)

// execPorts are the serial ports of an exec run (see package vmexec):
// the command's stdout, its stderr, and the line that reports its exit
// status; initkit.exec= names them, else guest's defaults.
func (in *initProc) execPorts() (stdout, stderr, status string) {
	p := in.cmd.ExecPorts
	if p[0] == "" {
		p = [3]string{guest.ExecStdout, guest.ExecStderr, guest.ExecStatus}
	}
	return "/dev/" + p[0], "/dev/" + p[1], "/dev/" + p[2]
}

// execEnv is the environment the command of an exec run starts with.
var execEnv = []string{"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME=/tmp"}

// runExec runs the command of guest.ExecFile with stdin from /dev/null and
// stdout and stderr on raw serial ports, reports guest.ExitPrefix+N on the
// status port (128+N for a death by signal N) and powers off. Doing this
// in the init itself, without a shell, saves the processes a script
// would start (each costs tens of milliseconds under TCG). It works on
// plain file descriptors, not os.File: under TCG every first use of a
// code path costs, and os.File would also start the runtime's poller
// for each serial port (measured: about 10 ms of the round trip).
func (in *initProc) runExec(file []byte) {
	if _, err := statMode("/lib/modules/" + release()); err == nil {
		in.early("modules", in.loadModules)
	}
	if err := loopbackUp(); err != nil {
		in.logf("exec: %v", err)
	}
	if in.cmd.IP != "" {
		in.early("network", in.netUp) // exec --net
	}
	if in.cmd.Disks > 0 {
		in.early("disks", in.waitDisks)
	}
	// The token goes before the command can read it.
	token, _ := readFile(guest.ExecToken)
	unix.Unlink(guest.ExecToken)
	dir := "/"
	if b, err := readFile(guest.ExecDir); err == nil && len(b) > 0 {
		dir = string(b)
	}
	code := 127
	outs := in.execOutputs()
	envFile, _ := readFile(guest.ExecEnv) // none: no variables
	if argv, err := guest.ParseExecFile(file); err != nil {
		in.logf("exec: %s: %v", guest.ExecFile, err)
	} else if env, err := guest.ParseEnvFile(envFile); err != nil {
		in.logf("exec: %s: %v", guest.ExecEnv, err)
	} else {
		path := argv[0]
		if b, err := readFile(guest.ExecPath); err == nil && len(b) > 0 {
			path = string(b) // argv[0] is the word the user typed
		}
		if cred, err := in.execUser(dir, outs); err != nil {
			in.logf("exec: %s: %v", guest.ExecUser, err)
		} else {
			code = in.execCommand(path, argv, dir, env, cred)
		}
	}
	_, _, execStatus := in.execPorts()
	if fd, err := openPort(execStatus); err == nil {
		// On a line of its own, whatever the command left unfinished
		// on the port.
		unix.Write(fd, []byte("\n"))
		in.sendOutputs(fd, string(token), outs)
		unix.Write(fd, guest.StatusLine(string(token), code))
		closeDrained(fd)
	} else {
		in.logf("exec: %v; the status (%d) is lost", err, code)
	}
	unix.Sync()
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	for {
		time.Sleep(time.Hour) // PID 1 never exits, even if the power-off failed
	}
}

// execRoot mounts root= for a command that runs in a disk's root (exec
// --root, repro on a bug's disk image), with /dev, /proc and /sys bound
// in, and the exec image at guest.ExecImage, where the command and its
// working directory are.
func (in *initProc) execRoot() error {
	if in.devs == nil { // no modules were loaded
		in.devs = newBlockDevs()
	}
	// A command waits for its root no longer than initkit.timeout: a
	// run whose disk lacks it fails, rootwait or not.
	in.cmd.RootWait = false
	if err := in.findRoot(); err != nil {
		return err
	}
	if err := in.mountRootFS(false); err != nil {
		return err
	}
	for _, m := range [][2]string{{"/dev", "/dev"}, {"/proc", "/proc"}, {"/sys", "/sys"}, {"/", guest.ExecImage}} {
		target := NewRoot + m[1]
		err := mkdir(target, 0o755)
		if err == nil {
			err = unix.Mount(m[0], target, "", unix.MS_BIND, "")
		}
		if err != nil {
			return errors.New("root=" + in.cmd.Root + ": binding " + m[0] + " on " + target + ": " + err.Error())
		}
	}
	return nil
}

// execCommand starts prog with argv, in dir with env added to its environment
// (commandEnv), and reaps every process until it has exited:
// PID 1 inherits the command's orphans.
// With root= it runs chrooted in that root (execRoot), the program and dir
// in the exec image bound at guest.ExecImage.
func (in *initProc) execCommand(prog string, argv []string, dir string, env []string, cred *syscall.Credential) int {
	execStdout, execStderr, _ := in.execPorts()
	out, err1 := openPort(execStdout)
	errf, err2 := openPort(execStderr)
	in0, err3 := execStdin()
	if err := errors.Join(err1, err2, err3); err != nil {
		in.logf("exec: %v", err)
		return 127
	}
	defer closeDrained(out, errf, in0)
	sys := &syscall.SysProcAttr{Setsid: true, Credential: cred}
	if in.cmd.Root != "" {
		if err := in.timed("root", in.execRoot); err != nil {
			unix.Write(errf, []byte("initkit exec: "+err.Error()+"\n"))
			return 127
		}
		sys.Chroot, prog, dir = NewRoot, guest.ExecImage+prog, guest.ExecImage+dir
	}
	pid, err := syscall.ForkExec(prog, argv, &syscall.ProcAttr{
		Dir:   dir,
		Env:   commandEnv(dir, env),
		Files: []uintptr{uintptr(in0), uintptr(out), uintptr(errf)},
		Sys:   sys,
	})
	if err != nil {
		msg := "initkit exec: " + argv[0] + ": " + err.Error()
		if _, serr := statMode(NewRoot + prog); errors.Is(err, unix.ENOENT) && sys.Chroot != "" && serr == nil {
			// The program is there: what is not is its ELF interpreter,
			// looked for in the disk's root like every absolute path.
			msg += " (its dynamic loader is not in root=" + in.cmd.Root + ": give a static program; busybox sh -c CMD runs the root's own)"
		}
		unix.Write(errf, []byte(msg+"\n"))
		if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
			return 126
		}
		return 127
	}
	for {
		var ws unix.WaitStatus
		p, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return 127 // ECHILD: cannot happen while the command lives
		}
		if p != pid {
			continue
		}
		if ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ws.ExitStatus()
	}
}

// execUser is the credential of the user guest.ExecUser names (nil, and
// root, when it names none), who is given the places the command is
// meant to write: its directory with what is in it, and the outputs'
// directories (never "/").
func (in *initProc) execUser(dir string, outs []guest.Output) (*syscall.Credential, error) {
	b, err := readFile(guest.ExecUser)
	if err != nil {
		return nil, nil
	}
	u, err := guest.ParseUser(string(b))
	if err != nil {
		return nil, err
	}
	mine := []string{dir}
	for _, o := range outs {
		if !o.Dir {
			o.Path = o.Path[:max(1, strings.LastIndexByte(o.Path, '/'))]
		}
		mine = append(mine, o.Path)
	}
	for _, p := range mine {
		if p == "/" {
			continue // the root stays root's
		}
		if err := chownTree(p, int(u.UID), int(u.GID)); err != nil {
			return nil, err
		}
	}
	return &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: []uint32{}}, nil
}

// execStdin opens the command's standard input: guest.ExecStdin, whose
// name goes once it is open, else /dev/null.
func execStdin() (int, error) {
	fd, err := unix.Open(guest.ExecStdin, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err == nil {
		unix.Unlink(guest.ExecStdin)
		return fd, nil
	}
	return unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
}

// chownTree gives the directory dir, and everything below it, to uid and
// gid. (filepath.WalkDir would cost the init 16 KB.)
func chownTree(dir string, uid, gid int) error {
	if err := os.Lchown(dir, uid, gid); err != nil {
		return err
	}
	ents, err := os.ReadDir(dir)
	for _, e := range ents {
		p := dir + "/" + e.Name()
		if e.IsDir() {
			err = errors.Join(err, chownTree(p, uid, gid))
		} else {
			err = errors.Join(err, os.Lchown(p, uid, gid))
		}
	}
	return err
}

// commandEnv is the command's environment: execEnv and PWD, then the
// variables of guest.ExecEnv, each replacing one of its name.
func commandEnv(dir string, extra []string) []string {
	env := append(execEnv[:len(execEnv):len(execEnv)], "PWD="+dir)
	for _, kv := range extra {
		name, _, _ := strings.Cut(kv, "=")
		env = slices.DeleteFunc(env, func(e string) bool { return strings.HasPrefix(e, name+"=") })
		env = append(env, kv)
	}
	return env
}

// execOutputs are the outputs guest.ExecOutputs lists: none when it is
// not there, or not a list.
func (in *initProc) execOutputs() []guest.Output {
	b, err := readFile(guest.ExecOutputs)
	if err != nil {
		return nil // none asked for
	}
	outs, err := guest.ParseOutputs(b)
	if err != nil {
		in.logf("exec: %s: %v", guest.ExecOutputs, err)
	}
	return outs
}

// sendOutputs writes the files of outs (execOutputs) on fd, the status
// port, each after its header (guest.FileHeader): the host puts them where
// the command's go test, or the user, expects them. A file that is not
// there is not sent; only regular files are.
func (in *initProc) sendOutputs(fd int, token string, outs []guest.Output) {
	for i, o := range outs {
		if !o.Dir {
			sendFile(fd, token, i, o.Path, "")
			continue
		}
		ents, err := os.ReadDir(o.Path)
		if err != nil {
			in.logf("exec: %v", err)
		}
		for _, e := range ents {
			if e.Type().IsRegular() && !strings.Contains(e.Name(), "\n") {
				sendFile(fd, token, i, o.Path+"/"+e.Name(), e.Name())
			}
		}
	}
}

// sendFile writes the file at path, if it is a regular file, on fd as
// file name of output index.
func sendFile(fd int, token string, index int, path, name string) {
	if st, err := statMode(path); err != nil || st&unix.S_IFMT != unix.S_IFREG {
		return
	}
	data, err := readFile(path)
	if err != nil {
		return
	}
	writeAll(fd, guest.FileHeader(token, index, int64(len(data)), name))
	writeAll(fd, data)
}

// writeAll writes b to fd, whatever the port takes at a time.
func writeAll(fd int, b []byte) {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return
		}
		b = b[n:]
	}
}

// openPort opens a serial port of an exec run, raw.
// portWait is how long openPort waits for a port that is not there yet.
const portWait = 5 * time.Second

func openPort(path string) (int, error) {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	// A virtio console (an aarch64 guest's ports, hvcN) appears a moment
	// after its driver loads: the device announces its ports to a work
	// queue of the driver. A ttyS port is there at once.
	for wait := portWait; (err == unix.ENOENT || err == unix.ENODEV || err == unix.ENXIO) && wait > 0; wait -= 10 * time.Millisecond {
		time.Sleep(10 * time.Millisecond)
		fd, err = unix.Open(path, unix.O_WRONLY|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: path, Err: err}
	}
	makeRaw(fd)
	return fd, nil
}

// makeRaw sets a serial port raw, as cfmakeraw(3) does: bytes pass
// unchanged (no "\n" to "\r\n", no echo, no line discipline).
func makeRaw(fd int) {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	unix.IoctlSetTermios(fd, unix.TCSETS, t)
}

func closeDrained(fds ...int) {
	for _, fd := range fds {
		drain(fd)
		unix.Close(fd)
	}
}

// drain waits until the port has sent what was written to it: power-off
// does not wait for a UART.
func drain(fd int) {
	unix.IoctlSetInt(fd, unix.TCSBRK, 1) // tcdrain
}

// diskWait bounds the wait for exec's disks: virtio-blk probes its
// devices as the module loads, so they are there at once or never.
const diskWait = 10 * time.Second

// waitDisks waits until the disks the command line counts have their
// /dev nodes: the command is often a mkfs that would fail on a missing one.
func (in *initProc) waitDisks() error {
	end := time.Now().Add(diskWait)
	for {
		n := 0
		ents, _ := readDir("/sys/class/block")
		for _, e := range ents {
			if len(e.name) == 3 && e.name[:2] == "vd" {
				if _, err := statMode("/dev/" + e.name); err == nil {
					n++
				}
			}
		}
		if n >= in.cmd.Disks {
			return nil
		}
		if time.Now().After(end) {
			return fmt.Errorf("%d of %d disks after %v (is virtio_blk in the image?)", n, in.cmd.Disks, diskWait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
