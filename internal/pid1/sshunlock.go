package pid1

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
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
		return "", fmt.Errorf("want initkit.ssh=[ADDR:]PORT or off")
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

func (in *initProc) startDropbear(listen string) error {
	if err := mountPTS(); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		self = "/init"
	}
	os.MkdirAll("/run/initkit", 0o700)
	log, err := os.Create("/run/initkit/dropbear.log")
	if err != nil {
		return err
	}
	defer log.Close()
	// -s: keys only; -j -k: no forwarding; -c: every session is the
	// prompt, whatever command the client asks for.
	argv := []string{"dropbear", "-F", "-E", "-s", "-j", "-k", "-P", "/run/initkit/dropbear.pid",
		"-r", guest.SSHHostKey, "-p", listen, "-c", self + " " + guest.UnlockArg}
	p, err := os.StartProcess(guest.Dropbear, argv, &os.ProcAttr{
		Files: []*os.File{nil, log, log},
		Env:   []string{"PATH=/sbin:/bin:/usr/sbin:/usr/bin", "HOME=/root"},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	})
	if err != nil {
		return err
	}
	in.dropbear = p
	port, _ := strconv.Atoi(listen[strings.LastIndex(listen, ":")+1:])
	for i := 0; i < 200 && !listening(port); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	fp, _ := os.ReadFile(guest.SSHHostKeyFingerprint)
	in.logf("remote unlock: ssh root@%s answers the passphrase prompt (host key %s)", listen, bytes.TrimSpace(fp))
	return nil
}

// stopDropbear ends dropbear before the switch. Its sessions (each a
// session leader of its own, out of reach of a group signal) get two
// seconds to tell their users how the prompt ended, then are killed.
func (in *initProc) stopDropbear() {
	if in.dropbear == nil {
		return
	}
	in.dropbear.Signal(syscall.SIGTERM)
	in.dropbear.Wait()
	in.dropbear = nil
	for i := 0; i < 100 && len(pidsOf("dropbear")) > 0; i++ {
		time.Sleep(20 * time.Millisecond)
		// The sessions are PID 1's children now: reap those that ended.
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
