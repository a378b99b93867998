package interrupt

import (
	"io"
	"os"
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
