package pid1

import (
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// runtimeNeeds are the kernel's features the Go runtime of this init
// needs before it may open any file: the first os.Open starts the
// runtime's poller (runtime/netpoll_epoll.go: epoll_create1, then an
// eventfd to wake it), and without either the runtime dies with a fatal
// error no code of the init can catch ("runtime: eventfd failed"), and
// the kernel with "Attempted to kill init!".
var runtimeNeeds = []struct {
	option string
	probe  func() (int, error)
}{
	{"CONFIG_EPOLL", func() (int, error) { return unix.EpollCreate1(unix.EPOLL_CLOEXEC) }},
	{"CONFIG_EVENTFD", func() (int, error) { return unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK) }},
}

// missingRuntime returns the options of runtimeNeeds the kernel lacks:
// their system calls fail with ENOSYS.
func missingRuntime() []string {
	var missing []string
	for _, n := range runtimeNeeds {
		fd, err := n.probe()
		if err == unix.ENOSYS {
			missing = append(missing, n.option)
		} else if err == nil {
			unix.Close(fd)
		}
	}
	return missing
}

// checkRuntime runs first, before anything opens a file: when the kernel
// lacks what the runtime needs, it says which options, runs a shell if
// the image has one (with system calls only: no file is opened) and
// otherwise waits forever. PID 1 never exits.
func (in *initProc) checkRuntime() {
	missing := missingRuntime()
	if len(missing) == 0 {
		return
	}
	in.logf("the kernel lacks %s, which this init (a Go program) needs to open any file: it cannot boot. Rebuild the kernel with them (initkit kernel config --for boot sets them; initkit kernel check names what else is missing)",
		strings.Join(missing, " and "))
	for {
		sh := ""
		for _, p := range shellPaths {
			var st unix.Stat_t
			if sh == "" && unix.Stat(p, &st) == nil {
				sh = p
			}
		}
		if sh == "" {
			in.logf("no shell in the image: nothing more to do")
			break
		}
		in.logf("starting a shell (%s) on the console", sh)
		if err := runShell(sh); err != nil {
			in.logf("shell %s: %v", sh, err)
			break
		}
	}
	for {
		time.Sleep(time.Hour)
	}
}
