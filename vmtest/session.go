package vmtest

import (
	"context"
	"io"
	"os"
	"regexp"
	"testing"
	"time"

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
