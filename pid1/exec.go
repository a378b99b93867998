package pid1

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ExecFile, when present in the image, turns the init into the runner of
// initkit exec: it holds the command's argv, each argument ended by a NUL
// byte. The init then runs that command instead of looking for a root.
const ExecFile = "/.initkit/exec"

// The serial ports of an exec run (see package vmexec): the command's
// stdout, its stderr, and the line that reports its exit status.
const (
	execStdout = "/dev/ttyS1"
	execStderr = "/dev/ttyS2"
	execStatus = "/dev/ttyS3"
)

// execEnv is the environment the command of an exec run starts with.
var execEnv = []string{"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME=/tmp"}

// ParseExecFile reads the argv that ExecFile holds.
func ParseExecFile(b []byte) ([]string, error) {
	if len(b) == 0 || b[len(b)-1] != 0 {
		return nil, errors.New("not a NUL-terminated argument list")
	}
	args := strings.Split(string(b[:len(b)-1]), "\x00")
	if args[0] == "" {
		return nil, errors.New("the command is empty")
	}
	return args, nil
}

// FormatExecFile is the content of ExecFile for argv.
func FormatExecFile(argv []string) []byte {
	var b bytes.Buffer
	for _, a := range argv {
		b.WriteString(a)
		b.WriteByte(0)
	}
	return b.Bytes()
}

// runExec runs the command of ExecFile with stdin from /dev/null and
// stdout and stderr on raw serial ports, reports "initkit-exit:N" on the
// status port (128+N for a death by signal N) and powers off. Doing this
// in the init itself, without a shell, saves the processes a script
// would start (each costs tens of milliseconds under TCG).
func (in *initProc) runExec(file []byte) {
	if _, err := os.Stat("/lib/modules/" + release()); err == nil {
		in.early("modules", in.loadModules)
	}
	code := 127
	if argv, err := ParseExecFile(file); err != nil {
		in.logf("exec: %s: %v", ExecFile, err)
	} else {
		code = in.execCommand(argv)
	}
	if f, err := os.OpenFile(execStatus, os.O_WRONLY, 0); err == nil {
		makeRaw(f)
		fmt.Fprintf(f, "initkit-exit:%d\n", code)
		drain(f)
		f.Close()
	} else {
		in.logf("exec: %v; the status (%d) is lost", err, code)
	}
	unix.Sync()
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	for {
		time.Sleep(time.Hour) // PID 1 never exits, even if the power-off failed
	}
}

// execCommand starts argv and reaps every process until it has exited:
// PID 1 inherits the command's orphans.
func (in *initProc) execCommand(argv []string) int {
	out, err1 := os.OpenFile(execStdout, os.O_WRONLY|unix.O_NOCTTY, 0)
	errf, err2 := os.OpenFile(execStderr, os.O_WRONLY|unix.O_NOCTTY, 0)
	null, err3 := os.Open("/dev/null")
	if err := errors.Join(err1, err2, err3); err != nil {
		in.logf("exec: %v", err)
		return 127
	}
	defer closeDrained(out, errf, null)
	makeRaw(out)
	makeRaw(errf)
	p, err := os.StartProcess(argv[0], argv, &os.ProcAttr{
		Dir:   "/",
		Env:   execEnv,
		Files: []*os.File{null, out, errf},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		fmt.Fprintf(errf, "initkit exec: %v\n", err)
		if errors.Is(err, os.ErrPermission) {
			return 126
		}
		return 127
	}
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return 127 // ECHILD: cannot happen while the command lives
		}
		if pid != p.Pid {
			continue
		}
		if ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ws.ExitStatus()
	}
}

// makeRaw sets a serial port raw, as cfmakeraw(3) does: bytes pass
// unchanged (no "\n" to "\r\n", no echo, no line discipline).
func makeRaw(f *os.File) {
	fd := int(f.Fd())
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

func closeDrained(files ...*os.File) {
	for _, f := range files {
		drain(f)
		f.Close()
	}
}

// drain waits until the port has sent what was written to it: power-off
// does not wait for a UART.
func drain(f *os.File) {
	unix.IoctlSetInt(int(f.Fd()), unix.TCSBRK, 1) // tcdrain
}
