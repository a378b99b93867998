package pid1

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/initkit/initkit/guest"

	"golang.org/x/sys/unix"
)

// ask is one passphrase question put to the console and, while the
// remote unlock runs, to every SSH session at once: the first right
// answer from either ends it.
//
// The protocol on guest.UnlockSocket, a line each: the init sends the
// prompt, the client sends a passphrase, the init answers "ok" or
// "wrong" (and then the prompt again). "done" means another answer
// opened the volume.
type ask struct {
	prompt  string
	answers chan answer
	done    chan struct{}
	wake    [2]int // a pipe, closed when done: wakes the console's reader
	listen  int    // the socket's listening fd, -1 when there is none

	mu    sync.Mutex
	conns map[int]bool
}

type answer struct {
	pass string
	err  error // the console could not be read
	from string
	// verdict, when set, tells the one who answered before the question
	// ends (and its other askers are told "done").
	verdict func(opened bool)
	reply   chan bool // whether pass opened the volume
}

// errAnswered ends a console read: the question was answered elsewhere.
var errAnswered = errors.New("answered elsewhere")

func newAsk(prompt string) (*ask, error) {
	q := &ask{prompt: prompt, answers: make(chan answer), done: make(chan struct{}), listen: -1, conns: map[int]bool{}}
	if err := unix.Pipe2(q.wake[:], unix.O_CLOEXEC); err != nil {
		return nil, err
	}
	return q, nil
}

// close ends the question: the console's reader returns, SSH sessions
// are told "done" and disconnected, the socket goes.
func (q *ask) close() {
	close(q.done)
	unix.Close(q.wake[1])
	if q.listen >= 0 {
		// shutdown wakes an accept blocked on the socket; close does not.
		unix.Shutdown(q.listen, unix.SHUT_RDWR)
		unix.Close(q.listen)
		os.Remove(guest.UnlockSocket)
	}
	q.mu.Lock()
	for fd := range q.conns {
		unix.Write(fd, []byte("done\n"))
		unix.Shutdown(fd, unix.SHUT_RDWR)
	}
	q.mu.Unlock()
}

// send hands an answer over and waits for its verdict; ok is false when
// the question ended first.
func (q *ask) send(a answer) (opened, ok bool) {
	a.reply = make(chan bool, 1)
	select {
	case q.answers <- a:
	case <-q.done:
		return false, false
	}
	select {
	case opened = <-a.reply:
		return opened, true
	case <-q.done:
		return false, false
	}
}

// console asks on the console until the question ends or the console
// cannot be read.
func (q *ask) console(hint string) {
	for {
		pass, err := readSecretUntil(q.prompt+hint+": ", q.wake[0])
		if err == errAnswered {
			return
		}
		opened, ok := q.send(answer{pass: pass, err: err, from: "console"})
		if !ok || opened || err != nil {
			return
		}
		fmt.Fprintln(os.Stdout, "wrong passphrase")
	}
}

// serve listens on guest.UnlockSocket and asks every client that
// connects.
func (q *ask) serve() error {
	os.MkdirAll(strings.TrimSuffix(guest.UnlockSocket, "/unlock.sock"), 0o700)
	os.Remove(guest.UnlockSocket)
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: guest.UnlockSocket}); err != nil {
		unix.Close(fd)
		return fmt.Errorf("bind %s: %w", guest.UnlockSocket, err)
	}
	if err := unix.Listen(fd, 4); err != nil {
		unix.Close(fd)
		return err
	}
	q.listen = fd
	go func() {
		for {
			c, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return
			}
			go q.session(c)
		}
	}()
	return nil
}

func (q *ask) session(fd int) {
	q.mu.Lock()
	select {
	case <-q.done:
		q.mu.Unlock()
		unix.Write(fd, []byte("done\n"))
		unix.Close(fd)
		return
	default:
	}
	q.conns[fd] = true
	q.mu.Unlock()
	defer func() {
		q.mu.Lock()
		delete(q.conns, fd)
		q.mu.Unlock()
		unix.Close(fd)
	}()
	// Not an *os.File: its finalizer would close fd again, after the
	// deferred close, when the number may be another file's.
	r := bufio.NewReader(fdReader(fd))
	for {
		if _, err := unix.Write(fd, []byte(q.prompt+": \n")); err != nil {
			return
		}
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		tell := func(opened bool) {
			verdict := "wrong\n"
			if opened {
				verdict = "ok\n"
			}
			unix.Write(fd, []byte(verdict))
		}
		opened, ok := q.send(answer{pass: strings.TrimRight(line, "\r\n"), from: "ssh", verdict: tell})
		if !ok || opened {
			return // close says done
		}
	}
}

// fdReader reads a file descriptor it does not own.
type fdReader int

func (fd fdReader) Read(p []byte) (int, error) {
	for {
		n, err := unix.Read(int(fd), p)
		if err == unix.EINTR {
			continue
		}
		if n == 0 && err == nil {
			return 0, io.EOF
		}
		if n < 0 {
			n = 0
		}
		return n, err
	}
}

// readSecretUntil prompts on the console and reads one line with echo
// off, or returns errAnswered once wake is readable (closed). It reads a
// byte at a time, so that nothing typed after the line is taken from the
// rescue shell that may come next. Echo goes off before the prompt is
// printed: the tty echoes what arrives while ECHO is set, and a user (or
// a script) answers as soon as the prompt shows.
func readSecretUntil(prompt string, wake int) (string, error) {
	if t, err := unix.IoctlGetTermios(0, unix.TCGETS); err == nil {
		quiet := *t
		quiet.Lflag &^= unix.ECHO
		quiet.Lflag |= unix.ICANON
		unix.IoctlSetTermios(0, unix.TCSETS, &quiet)
		defer unix.IoctlSetTermios(0, unix.TCSETS, t)
	}
	fmt.Fprint(os.Stdout, prompt)
	defer fmt.Fprintln(os.Stdout)
	var line []byte
	b := make([]byte, 1)
	for {
		fds := []unix.PollFd{{Fd: 0, Events: unix.POLLIN}, {Fd: int32(wake), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, -1); err == unix.EINTR {
			continue
		} else if err != nil {
			return "", err
		}
		if fds[1].Revents != 0 {
			return "", errAnswered
		}
		n, err := unix.Read(0, b)
		if n == 1 {
			if b[0] == '\n' || b[0] == '\r' {
				return string(line), nil
			}
			line = append(line, b[0])
			continue
		}
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if err == nil {
			err = errors.New("end of input")
		}
		return "", err
	}
}
