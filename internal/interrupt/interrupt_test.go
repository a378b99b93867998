package interrupt

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// A graceful signal cancels the context and sets the exit code; one not
// named leaves both alone.
func TestGraceful(t *testing.T) {
	ctx, stop := Watch(io.Discard)
	defer stop()
	Graceful(syscall.SIGHUP)
	syscall.Kill(os.Getpid(), syscall.SIGINT) // watched, but left to others (as debug leaves it to gdb)
	select {
	case <-ctx.Done():
		t.Fatal("a signal not named ended the context")
	case <-time.After(100 * time.Millisecond):
	}
	if Code() != 0 {
		t.Fatalf("Code = %d before any graceful signal", Code())
	}
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("SIGHUP did not end the context")
	}
	if Code() != 128+int(syscall.SIGHUP) {
		t.Errorf("Code = %d, want %d", Code(), 128+int(syscall.SIGHUP))
	}
}

// TestClosedPipe: a reader that goes away ("initkit ls | head") ends
// initkit as it ends any filter: status 141, nothing on stderr.
func TestClosedPipe(t *testing.T) {
	if os.Getenv("INTERRUPT_TEST_WRITER") == "1" {
		_, stop := Watch(os.Stderr)
		defer stop()
		for {
			os.Stdout.Write([]byte("line\n"))
		}
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestClosedPipe$")
	cmd.Env = append(os.Environ(), "INTERRUPT_TEST_WRITER=1")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = w, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	buf := make([]byte, 5)
	if _, err := io.ReadFull(r, buf); err != nil {
		t.Fatal(err)
	}
	r.Close()
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 128+int(syscall.SIGPIPE) {
		t.Errorf("exit %v, want %d", err, 128+int(syscall.SIGPIPE))
	}
	if stderr.Len() > 0 {
		t.Errorf("stderr: %q, want nothing", stderr.String())
	}
}

// TestStdoutNotesBrokenPipe: a write through Stdout to a pipe whose
// reader is gone makes Code 141, though the writer ignores the error.
func TestStdoutNotesBrokenPipe(t *testing.T) {
	// No Watch: its handler would take the SIGPIPE and exit; without it
	// the runtime ignores SIGPIPE on a descriptor other than 1 and 2.
	signals.mu.Lock()
	signals.got = 0
	signals.mu.Unlock()
	brokenPipe.Store(false)
	defer brokenPipe.Store(false)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	out := Stdout(w)
	out.Write([]byte("read\n"))
	if Code() != 0 {
		t.Fatalf("Code = %d with the reader there", Code())
	}
	r.Close()
	out.Write([]byte("to nobody\n"))
	if Code() != 128+int(syscall.SIGPIPE) {
		t.Errorf("Code = %d, want %d", Code(), 128+int(syscall.SIGPIPE))
	}
}

// TestChildPipe: a write to a child's pipe whose reader exited raises
// SIGPIPE once Watch takes it, for any descriptor. It neither stops the
// command nor hides the signal that did: a Ctrl-C during disk copy-out,
// whose debugfs then left its script unread, exited 141 saying "broken
// pipe", not 130.
func TestChildPipe(t *testing.T) {
	if os.Getenv("INTERRUPT_TEST_CHILD") == "1" {
		ctx, stop := Watch(os.Stderr)
		defer stop()
		Graceful(Stops...)
		r, w, _ := os.Pipe()
		r.Close()
		if _, err := w.Write([]byte("script\n")); !errors.Is(err, syscall.EPIPE) {
			os.Exit(3)
		}
		time.Sleep(200 * time.Millisecond)
		if ctx.Err() != nil || Code() != 0 {
			os.Exit(4) // the child's pipe stopped the command
		}
		syscall.Kill(os.Getpid(), syscall.SIGINT)
		<-ctx.Done()
		w.Write([]byte("more\n")) // the child was stopped with the command
		time.Sleep(200 * time.Millisecond)
		os.Exit(Code())
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildPipe$")
	cmd.Env = append(os.Environ(), "INTERRUPT_TEST_CHILD=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 128+int(syscall.SIGINT) {
		t.Errorf("exit %v, want %d\n%s", err, 128+int(syscall.SIGINT), stderr.String())
	}
	if got := stderr.String(); got != "initkit: interrupt: stopping\n" {
		t.Errorf("stderr %q, want only the interrupt", got)
	}
}
