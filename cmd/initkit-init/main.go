// Command initkit-init is the initkit init: install it as /init of an
// initramfs (initkit build does, with init = "initkit"). Build it static
// and stripped:
//
//	CGO_ENABLED=0 go build -trimpath -ldflags=-s\ -w ./cmd/initkit-init
//
// See package pid1 for what it does.
package main

import (
	"runtime"

	"github.com/initkit/initkit/internal/pid1"
)

// The init runs on the process's main thread: PID 1 is that thread, the
// one gdbserver attaches first (initkit.gdb), and the one the kernel
// treats as init.
func init() { runtime.LockOSThread() }

func main() {
	pid1.Main()
}
