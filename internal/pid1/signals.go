package pid1

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// heldSignals are the signals whose default action in a Go program is to
// exit. The kernel delivers to PID 1 only the signals it has a handler
// for, and the Go runtime installs its handler for all of these at start;
// without more, a "kill -TERM 1" would end the init and panic the kernel.
// (SIGTSTP, SIGTTIN and SIGTTOU are not among them: the runtime leaves
// them at SIG_DFL, which the kernel does not deliver to PID 1.)
var heldSignals = []unix.Signal{unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGQUIT,
	unix.SIGUSR1, unix.SIGUSR2, unix.SIGPIPE}

// sigaction is the kernel's struct sigaction for rt_sigaction(2) on amd64
// (where make builds the init) and arm64 (include/uapi/asm-generic/signal.h
// with SA_RESTORER): only the handler is set here, the rest stays zero.
// Other architectures order the fields differently (mips puts the flags
// first).
type sigaction struct {
	handler, flags, restorer, mask uintptr
}

const (
	sigDefault = 0 // SIG_DFL
	sigIgnore  = 1 // SIG_IGN
)

// holdSignals sets heldSignals to SIG_IGN for PID 1 with rt_sigaction
// itself, not through os/signal: under TCG os/signal's first use (a
// goroutine and two threads) cost 7-13 ms of the boot. Children do not
// inherit the SIG_IGN: the Go runtime still counts these signals as its
// own, and a forked child resets those to SIG_DFL before it execs
// (runtime.clearSignalHandlers); the VM tests check a child's SigIgn
// mask. The init's own exec of the real init calls releaseSignals.
func holdSignals() { setSignals(sigIgnore) }

// releaseSignals gives heldSignals their default action back, for the
// exec of the real init (execve keeps SIG_IGN). A signal that comes in
// between finds SIG_DFL, which the kernel does not deliver to PID 1.
func releaseSignals() { setSignals(sigDefault) }

func setSignals(handler uintptr) {
	sa := sigaction{handler: handler}
	for _, s := range heldSignals {
		rtSigaction(s, &sa, nil)
	}
}

// rtSigaction is rt_sigaction(2): it sets s's action to act unless act is
// nil, and stores the previous one in old unless old is nil.
func rtSigaction(s unix.Signal, act, old *sigaction) {
	unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(s), uintptr(unsafe.Pointer(act)), uintptr(unsafe.Pointer(old)), 8, 0, 0)
}

// execReleased execs path as PID 1's successor with heldSignals back at
// their defaults; if the exec fails, they are held again.
func execReleased(path string, argv, env []string) error {
	releaseSignals()
	err := unix.Exec(path, argv, env)
	holdSignals()
	return err
}
