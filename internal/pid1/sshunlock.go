package pid1

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/initkit/initkit/guest"

	"golang.org/x/sys/unix"
)

// sshListen is dropbear's -p for initkit.ssh=v: [ADDR:]PORT, or "" for
// port 22 on addr, the address ip= gave (listening only where the user
// says, not on every interface).
func sshListen(v, addr string) (string, error) {
	host, port, found := strings.Cut(v, ":")
	if !found {
		host, port = addr, v
	}
	if port == "" {
		port = "22"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", errors.New("want initkit.ssh=[ADDR:]PORT or off")
	}
	if host == "" {
		return port, nil
	}
	return host + ":" + port, nil
}

// remoteUnlock reports whether dropbear serves the passphrase prompt,
// starting it the first time: it needs ip= up, dropbear with its host
// key and authorized keys in the image (build's ssh_keys puts them
// there), and no initkit.ssh=off.
func (in *initProc) remoteUnlock() bool {
	if in.dropbear != nil {
		return true
	}
	if in.cmd.SSH == "off" || in.net == nil {
		return false
	}
	for _, f := range []string{guest.Dropbear, guest.SSHHostKey, guest.SSHAuthorizedKeys} {
		if _, err := os.Stat(f); err != nil {
			in.debugf("no remote unlock: %v", err)
			return false
		}
	}
	listen, err := sshListen(in.cmd.SSH, in.net.addr)
	if err == nil {
		err = in.startDropbear(listen)
	}
	if err != nil {
		in.logf("remote unlock: %v", err)
		return false
	}
	return true
}

// The remote unlock's connections: the forwarded port of user
// networking puts every client behind one address, and dropbear lets one
// address hold five connections that have not logged in (a compile-time
// limit), for five minutes: five idle connections would lock the key
// holder out. So the init accepts the connections itself and runs
// dropbear -i on each; one that has not logged in within sshGrace is
// dropped, and so is the oldest of sshPending waiting ones when another
// comes.
const (
	sshGrace   = 20 * time.Second
	sshPending = 16
)

// sshd is the remote unlock's listener and its connections.
type sshd struct {
	fd      int
	mu      sync.Mutex
	waiting []*os.Process // connections that have not logged in
}

func (in *initProc) startDropbear(listen string) error {
	if err := mountPTS(); err != nil {
		return err
	}
	fd, err := listenTCP(listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", listen, err)
	}
	self, err := os.Executable()
	if err != nil {
		self = "/init"
	}
	os.MkdirAll("/run/initkit", 0o700)
	log, err := os.Create("/run/initkit/dropbear.log")
	if err != nil {
		unix.Close(fd)
		return err
	}
	// -i: one connection, on stdin and stdout (with no -E: inetd mode
	// logs to syslog only, and there is none); -s: keys only; -j -k: no
	// forwarding; -c: every session is the prompt, whatever command the
	// client asks for.
	argv := []string{"dropbear", "-i", "-s", "-j", "-k", "-r", guest.SSHHostKey, "-c", self + " " + guest.UnlockArg}
	in.dropbear = &sshd{fd: fd}
	go in.dropbear.serve(argv, log)
	fp, _ := os.ReadFile(guest.SSHHostKeyFingerprint)
	in.logf("remote unlock: ssh root@%s answers the passphrase prompt (host key %s)", listen, bytes.TrimSpace(fp))
	return nil
}

// listenTCP listens on [ADDR:]PORT, an IPv4 address (all of them when
// there is none).
func listenTCP(listen string) (int, error) {
	var sa unix.SockaddrInet4
	host, port, found := strings.Cut(listen, ":")
	if !found {
		host, port = "", listen
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return -1, err
	}
	sa.Port = n
	if host != "" {
		ip := parseIPv4(host)
		if ip == nil {
			return -1, errors.New(host + " is not an IPv4 address")
		}
		sa.Addr = [4]byte(ip)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err := unix.Bind(fd, &sa); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if err := unix.Listen(fd, 64); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// serve accepts connections until the listener is closed.
func (d *sshd) serve(argv []string, log *os.File) {
	defer log.Close()
	for {
		c, _, err := unix.Accept4(d.fd, unix.SOCK_CLOEXEC)
		if err == unix.EINTR || err == unix.ECONNABORTED {
			continue
		}
		if err != nil {
			return // closed: the switch is near
		}
		conn := os.NewFile(uintptr(c), "ssh")
		p, err := os.StartProcess(guest.Dropbear, argv, &os.ProcAttr{
			Files: []*os.File{conn, conn, log},
			Env:   []string{"PATH=/sbin:/bin:/usr/sbin:/usr/bin", "HOME=/root"},
			Sys:   &syscall.SysProcAttr{Setsid: true},
		})
		conn.Close()
		if err != nil {
			fmt.Fprintf(log, "initkit: dropbear: %v\n", err)
			continue
		}
		d.wait(p)
	}
}

// wait keeps p among the waiting connections until it has logged in
// (it has a child: the session's command) or sshGrace passed, dropping
// the oldest when there are too many.
func (d *sshd) wait(p *os.Process) {
	d.mu.Lock()
	if len(d.waiting) >= sshPending {
		d.waiting[0].Kill()
		d.waiting = d.waiting[1:]
	}
	d.waiting = append(d.waiting, p)
	d.mu.Unlock()
	go p.Wait() // reaped whenever it ends
	time.AfterFunc(sshGrace, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if i := slices.Index(d.waiting, p); i >= 0 {
			d.waiting = slices.Delete(d.waiting, i, i+1)
			if !hasChild(p.Pid) {
				p.Kill()
			}
		}
	})
}

// hasChild reports whether a process of pid's is running.
func hasChild(pid int) bool {
	ents, _ := os.ReadDir("/proc")
	want := " " + strconv.Itoa(pid) + " "
	for _, e := range ents {
		if b, err := os.ReadFile("/proc/" + e.Name() + "/stat"); err == nil {
			// "pid (comm) state ppid ...": comm may hold blanks, not ')'.
			if i := bytes.LastIndexByte(b, ')'); i > 0 && len(b) > i+3 && strings.HasPrefix(string(b[i+3:]), want[1:]) {
				return true
			}
		}
	}
	return false
}

// stopDropbear ends the remote unlock before the switch: no new
// connection, and the sessions (each a session leader of its own, out of
// reach of a group signal) get two seconds to tell their users how the
// prompt ended, then are killed.
func (in *initProc) stopDropbear() {
	if in.dropbear == nil {
		return
	}
	unix.Shutdown(in.dropbear.fd, unix.SHUT_RDWR)
	unix.Close(in.dropbear.fd)
	in.dropbear = nil
	for i := 0; i < 100 && len(pidsOf("dropbear")) > 0; i++ {
		time.Sleep(20 * time.Millisecond)
		// A session whose dropbear ended is PID 1's child now.
		for {
			var ws unix.WaitStatus
			if pid, _ := unix.Wait4(-1, &ws, unix.WNOHANG, nil); pid <= 0 {
				break
			}
		}
	}
	for _, pid := range pidsOf("dropbear") {
		unix.Kill(pid, unix.SIGKILL)
	}
}

// pidsOf lists the processes whose command name is comm.
func pidsOf(comm string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == 1 {
			continue
		}
		if b, err := os.ReadFile("/proc/" + e.Name() + "/comm"); err == nil && strings.TrimSpace(string(b)) == comm {
			pids = append(pids, pid)
		}
	}
	return pids
}

// mountPTS mounts devpts, which dropbear's and telnetd's terminals need.
func mountPTS() error {
	os.MkdirAll("/dev/pts", 0o755)
	err := unix.Mount("devpts", "/dev/pts", "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "ptmxmode=0666")
	if err != nil && err != unix.EBUSY {
		return fmt.Errorf("mounting /dev/pts: %w", err)
	}
	return nil
}

// UnlockClient is the initkit init run as "/init unlock" in an SSH
// session: it puts the init's passphrase prompt to the user (on the
// session's terminal, echo off) or, without a terminal, answers it with
// the lines of stdin ("ssh host < passfile"). It returns the exit status.
func UnlockClient() int {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err == nil {
		err = unix.Connect(fd, &unix.SockaddrUnix{Name: guest.UnlockSocket})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "initkit: no passphrase is being asked for now")
		return 1
	}
	c := os.NewFile(uintptr(fd), guest.UnlockSocket)
	defer c.Close()
	from := bufio.NewReader(c)
	stdin := bufio.NewReader(os.Stdin)
	_, ttyErr := unix.IoctlGetTermios(0, unix.TCGETS)
	for {
		prompt, err := from.ReadString('\n')
		prompt = strings.TrimSuffix(prompt, "\n")
		if err != nil || prompt == "done" {
			fmt.Println("initkit: unlocked from elsewhere; the boot goes on")
			return 0
		}
		var pass string
		if ttyErr == nil {
			// The init's "done" (or its going away) ends the read.
			pass, err = readSecretUntil(prompt, fd)
			if err == errAnswered {
				continue
			}
		} else {
			pass, err = stdin.ReadString('\n')
			pass = strings.TrimRight(pass, "\r\n")
			if err != nil && pass != "" {
				err = nil // a last line without its newline
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "initkit: no passphrase given")
			return 1
		}
		fmt.Fprintln(c, pass)
		verdict, _ := from.ReadString('\n')
		switch strings.TrimSpace(verdict) {
		case "ok":
			fmt.Println("initkit: unlocked; the boot goes on")
			return 0
		case "wrong":
			fmt.Fprintln(os.Stderr, "initkit: wrong passphrase")
		default:
			fmt.Println("initkit: unlocked from elsewhere; the boot goes on")
			return 0
		}
	}
}
