// Package interrupt decides how SIGINT, SIGTERM and SIGHUP end a command
// of initkit. By default at once: the temporary files of unfinished
// writes are removed (package atomicfile) and the process exits 128+N, as
// a shell reports a death by signal N. A command that stops by itself
// when its context ends (one that runs a guest, which saves its console
// log and stops QEMU on the way out) calls Graceful: the signals it names
// cancel the context instead, the command returns, and Code gives the
// exit status.
package interrupt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/initkit/initkit/internal/atomicfile"
)

var signals struct {
	mu       sync.Mutex
	graceful map[os.Signal]bool
	cancel   context.CancelFunc
	got      syscall.Signal
}

// Watch starts watching the signals; the context ends with a graceful
// one. Call the returned function when the command is done.
func Watch(stderr io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	signals.mu.Lock()
	signals.cancel, signals.graceful, signals.got = cancel, nil, 0
	brokenPipe.Store(false)
	signals.mu.Unlock()
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, Stops...)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-ch:
				if sig == syscall.SIGPIPE && !stdoutGone() {
					// A child's pipe (debugfs's script, sfdisk's) whose
					// reader exited: the write's EPIPE is the caller's
					// to report, and no reason to stop.
					continue
				}
				signals.mu.Lock()
				g, ok := signals.graceful, signals.graceful[sig]
				if g == nil || ok {
					signals.got = sig.(syscall.Signal)
					// A reader that went away ("initkit ls | head")
					// ends a filter silently, as it ends any other;
					// a run stopped by it says so.
					if sig != syscall.SIGPIPE || ok {
						fmt.Fprintf(stderr, "initkit: %v: stopping\n", sig)
					}
				}
				signals.mu.Unlock()
				switch {
				case g == nil:
					atomicfile.Cleanup()
					os.Exit(128 + int(sig.(syscall.Signal)))
				case ok:
					cancel()
				}
			case <-done:
				return
			}
		}
	}()
	return ctx, func() { signal.Stop(ch); close(done); cancel() }
}

// Stops are the signals that stop a command: Ctrl-C, kill, a closed
// terminal, and a closed pipe on stdout ("initkit ... | head").
var Stops = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE}

// Graceful makes sigs cancel the command's context instead of ending
// initkit at once; signals not named are left to whoever else listens
// (initkit debug leaves SIGINT to gdb while gdb runs).
func Graceful(sigs ...os.Signal) {
	signals.mu.Lock()
	defer signals.mu.Unlock()
	signals.graceful = map[os.Signal]bool{}
	for _, s := range sigs {
		signals.graceful[s] = true
	}
}

// Code returns 128+N when signal N stopped the command, else 0; and
// 128+SIGPIPE when a write to Stdout found its reader gone, whether or
// not the command checked that write (a listing's Fprintf does not) or
// the signal arrived first.
func Code() int {
	signals.mu.Lock()
	defer signals.mu.Unlock()
	if signals.got == 0 && brokenPipe.Load() {
		return 128 + int(syscall.SIGPIPE)
	}
	if signals.got == 0 {
		return 0
	}
	return 128 + int(signals.got)
}

var brokenPipe atomic.Bool

// stdoutGone reports whether initkit's stdout is a pipe whose reader is
// gone: once signal.Notify takes SIGPIPE, Go raises it for a write to
// any broken pipe, not only on descriptors 1 and 2. A pipe's write end
// polls POLLERR once it has no reader (fs/pipe.c, pipe_poll).
func stdoutGone() bool {
	fds := []unix.PollFd{{Fd: 1, Events: unix.POLLOUT}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0 && fds[0].Revents&unix.POLLERR != 0
}

// Stdout wraps the command's stdout to note a write to a pipe whose
// reader went away (EPIPE), for Code.
func Stdout(w io.Writer) io.Writer { return pipeWriter{w} }

type pipeWriter struct{ w io.Writer }

func (p pipeWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	note(err)
	return n, err
}

// ReadFrom keeps io.Copy to a file as fast as it was (splice, sendfile).
func (p pipeWriter) ReadFrom(r io.Reader) (int64, error) {
	n, err := io.Copy(p.w, r)
	note(err)
	return n, err
}

func note(err error) {
	if errors.Is(err, syscall.EPIPE) {
		brokenPipe.Store(true)
	}
}
