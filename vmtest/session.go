package vmtest

import (
	"context"
	"io"
	"os"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/initkit/initkit/internal/shell"
	"github.com/initkit/initkit/internal/syncbuf"

	"github.com/initkit/initkit/qemu"
)

// Session is a running guest whose serial console a test reads and types
// into, in the manner of expect(1).
type Session struct {
	t     testing.TB
	guest *qemu.Guest
	in    *os.File
	seen  int // console bytes already matched
}

// Start boots the test kernel with initrd and append in the background.
// The guest is killed when the test ends.
func Start(t testing.TB, initrd, append string, extra ...string) *Session {
	t.Helper()
	k := Kernel(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	// An *os.File is handed to QEMU as it is; any other reader would be
	// copied by a goroutine that keeps Wait from returning.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cfg := qemu.Config{Kernel: k.Image, Initrd: initrd, Append: append, Stdin: pr, Extra: extra}
	g, err := qemu.Start(ctx, cfg, qemu.Watch{})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); <-g.Done(); pw.Close(); pr.Close() })
	return &Session{t: t, guest: g, in: pw}
}

// Expect waits until the console shows a match of re after what earlier
// calls matched, and returns the match. It fails the test on timeout.
func (s *Session) Expect(re string, timeout time.Duration) string {
	s.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(timeout)
	for {
		log := s.guest.Log()
		if loc := rx.FindStringIndex(log[s.seen:]); loc != nil {
			m := log[s.seen+loc[0] : s.seen+loc[1]]
			s.seen += loc[1]
			return m
		}
		select {
		case <-s.guest.Done():
			if log := s.guest.Log(); !rx.MatchString(log[s.seen:]) {
				s.t.Fatalf("guest ended (%v) before %q appeared:\n%s", s.guest.Wait().Kind, re, log)
			}
			continue
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%q did not appear within %v:\n%s", re, timeout, s.guest.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Send types text into the console.
func (s *Session) Send(text string) {
	s.t.Helper()
	if _, err := io.WriteString(s.in, text); err != nil {
		s.t.Fatalf("send %q: %v", text, err)
	}
}

// Wait waits for QEMU to exit and returns the console.
func (s *Session) Wait(timeout time.Duration) string {
	s.t.Helper()
	select {
	case <-s.guest.Done():
		if o := s.guest.Wait(); o.Kind == qemu.Failed {
			s.t.Fatalf("%v\n%s", o.Err, s.guest.Log())
		}
	case <-time.After(timeout):
		s.t.Fatalf("guest still running after %v:\n%s", timeout, s.guest.Log())
	}
	return s.guest.Log()
}

// Log returns the console so far.
func (s *Session) Log() string { return s.guest.Log() }

// Terminal runs a command line on a pseudo-terminal (script(1)), as a
// person at a terminal would, and matches what it shows in order.
type Terminal struct {
	t    testing.TB
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  syncbuf.Buffer
	seen int
	done chan error
}

// OnTerminal starts argv on a terminal, with env added to the test's
// environment; it is killed when the test ends. The shell script(1)
// starts execs argv: a shell left waiting in the foreground would take
// Ctrl-C for itself (dash dies of it), and its status would be the one
// the test sees.
func OnTerminal(t testing.TB, env []string, argv ...string) *Terminal {
	t.Helper()
	return onTerminal(t, env, "", argv)
}

// OnTerminalApart is OnTerminal with argv's stderr (initkit's guest
// console) into the file stderr: two writers sharing one terminal
// interleave their bytes, and a match across them is a matter of luck.
func OnTerminalApart(t testing.TB, env []string, stderr string, argv ...string) *Terminal {
	t.Helper()
	return onTerminal(t, env, stderr, argv)
}

func onTerminal(t testing.TB, env []string, stderr string, argv []string) *Terminal {
	redirect := ""
	if stderr != "" {
		redirect = " 2>" + shell.Quote([]string{stderr})
	}
	cmd := exec.Command("script", "-qec", "exec "+shell.Quote(argv)+redirect, "/dev/null")
	cmd.Env = append(os.Environ(), env...)
	term := &Terminal{t: t, cmd: cmd, done: make(chan error, 1)}
	var err error
	if term.in, err = term.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	term.cmd.Stdout, term.cmd.Stderr = &term.out, &term.out
	if err := term.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { term.done <- term.cmd.Wait() }()
	t.Cleanup(func() { term.cmd.Process.Kill() })
	return term
}

// Expect waits for a match of re after what earlier calls matched.
func (term *Terminal) Expect(re string, timeout time.Duration) {
	term.t.Helper()
	rx := regexp.MustCompile(re)
	for end := time.Now().Add(timeout); ; time.Sleep(50 * time.Millisecond) {
		if loc := rx.FindStringIndex(term.out.String()[term.seen:]); loc != nil {
			term.seen += loc[1]
			return
		}
		if time.Now().After(end) {
			term.t.Fatalf("%s never appeared:\n%s", re, term.out.String())
		}
	}
}

// Type sends keys.
func (term *Terminal) Type(keys string) { io.WriteString(term.in, keys) }

// Wait waits for the command to end and returns its error.
func (term *Terminal) Wait(timeout time.Duration) error {
	term.t.Helper()
	select {
	case err := <-term.done:
		return err
	case <-time.After(timeout):
		term.t.Fatalf("still running after %v:\n%s", timeout, term.out.String())
		return nil
	}
}

// Output is everything the terminal showed.
func (term *Terminal) Output() string { return term.out.String() }

// ExpectIn waits until the file at path shows a match of re.
func ExpectIn(t testing.TB, path, re string, timeout time.Duration) {
	t.Helper()
	rx := regexp.MustCompile(re)
	for end := time.Now().Add(timeout); ; time.Sleep(50 * time.Millisecond) {
		b, _ := os.ReadFile(path)
		if rx.Match(b) {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("%s never appeared in %s:\n%s", re, path, b)
		}
	}
}
