package qemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/initkit/initkit/internal/atomicfile"
	"github.com/initkit/initkit/internal/syncbuf"
	"golang.org/x/sys/unix"
)

// Watch says what a run watches the console for, and where the console
// goes.
type Watch struct {
	Expect []*regexp.Regexp // lines to see in this order: the run ends once all have matched
	Fail   []*regexp.Regexp // any line matching one ends the run
	// Ready, when set, is a line that closes Guest.Ready: the guest is
	// ready for a debugger, say. It does not end the run.
	Ready *regexp.Regexp
	// Timeout ends the run (0: never).
	Timeout time.Duration
	// CrashGrace is how long a crashed guest may go on printing its
	// report before it is stopped (default 2 s).
	CrashGrace time.Duration
	// NoStop leaves the guest running once the outcome is known: a
	// debugger attached to it decides when it ends (Guest.Stop), or the
	// guest does. The outcome is still what the console showed first.
	NoStop  bool
	Console io.Writer // a live copy of the console, as QEMU writes it; nil for none
	LogPath string    // where the clean console is saved when the run ends; "" for nowhere
	Notes   io.Writer // where the run says what it decided for the user (the accelerator); default stderr
	// DumpPath, with DumpOnTimeout or DumpOnCrash, is where QEMU writes
	// the guest's memory (DumpMemory: an ELF core) when the run times
	// out, or once a crash report has had its grace, before the guest is
	// stopped. Outcome.Dump says it was written.
	DumpPath                   string
	DumpFormat                 string // elf (default) or kdump-zlib
	DumpOnTimeout, DumpOnCrash bool
	// Kdump lets a crash go on: the capture kernel boots and the run ends
	// when it powers off (or on the timeout). The outcome is still the
	// crash the console showed first.
	Kdump bool
}

// Kind is how a run ended.
type Kind int

const (
	PoweredOff   Kind = iota // QEMU exited: the guest powered off or rebooted
	ExpectMet                // every expectation matched
	ExpectMissed             // the guest stopped before every expectation matched
	FailMatched              // a Fail pattern matched
	Crashed                  // the kernel crashed (package oops's fatal reports)
	TimedOut                 // Watch.Timeout ended the run
	Interrupted              // the caller's context ended the run
	Failed                   // QEMU could not start, or failed
)

var kindNames = [...]string{"powered off", "expectations met", "expectation missed", "fail pattern matched", "crashed", "timed out", "interrupted", "qemu failed"}

func (k Kind) String() string { return kindNames[k] }

// Outcome is how a run ended and why.
type Outcome struct {
	Kind Kind
	// Line is the console line that decided the run: the crash report's
	// first line, or the line a Fail pattern matched.
	Line    string
	Pending string // the first expectation not met, if any
	Crash   string // the crash report, from its first line (oops.Excerpt)
	LogPath string // the saved console log, absolute; "" when not saved
	Accel   string // the accelerator the guest ran under
	Err     error  // why QEMU failed, for Failed
	Dump    string // the memory dump written (Watch.DumpPath), absolute; "" when none
	DumpErr error  // why the dump asked for could not be written
	// Timeout is the Watch's, for TimedOut to say how long it waited.
	Timeout time.Duration
}

// String says what happened in words, without the log's path.
func (o Outcome) String() string {
	pending := ""
	if o.Pending != "" {
		pending = fmt.Sprintf(" before %q matched", o.Pending)
	}
	switch o.Kind {
	case Crashed:
		return "kernel crash: " + strings.TrimSpace(o.Line)
	case FailMatched:
		return "fail pattern matched: " + strings.TrimSpace(o.Line)
	case ExpectMet:
		return "every expectation matched"
	case ExpectMissed:
		return "the guest stopped" + pending
	case TimedOut:
		return "timed out after " + o.Timeout.String() + pending
	case Interrupted:
		return o.Kind.String() + pending
	case Failed:
		return fmt.Sprint(o.Err)
	}
	return "guest powered off"
}

// Guest is a running QEMU.
type Guest struct {
	console *Console
	watch   Watch
	accel   string
	ready   <-chan struct{}
	done    chan struct{}
	stop    chan struct{} // closed by Stop
	outcome Outcome
	parent  context.Context
	ctx     context.Context // the run's: ends with the timeout, or the parent
	cancel  context.CancelFunc
	qmpDir  string
	restore func()           // the terminal's settings, for an interactive run
	timeout <-chan time.Time // the run's timeout, when a dump is to be taken on it
	expired bool             // that timeout fired
	dumped  string
	dumpErr error
	mu      sync.Mutex
	overran *fileLimit          // the file the guest wrote past its bound (Machine.LimitFile)
	log     *atomicfile.Pending // the saved console, written as it comes
	stderr  syncbuf.Buffer      // the tail of QEMU's own stderr
}

// Start boots c in the background and watches its console as w says.
// The guest is stopped (through QMP, so that QEMU closes its files) as
// soon as the outcome is known, and killed when ctx ends, on the
// timeout, or when the calling process dies.
func Start(ctx context.Context, c Config, w Watch) (*Guest, error) {
	notes := w.Notes
	if notes == nil {
		notes = os.Stderr
	}
	c.Accel = resolveAccel(ctx, c, notes, true)
	// The QMP socket lives in a short temporary directory: a unix socket
	// path must fit in 108 bytes, which a cache path may not.
	dir, err := atomicfile.TempDir("qmp")
	if err != nil {
		return nil, err
	}
	qmp := filepath.Join(dir, "qmp.sock")
	c.Extra = append(QMPArgs(qmp), c.Extra...)
	g := &Guest{console: &Console{}, watch: w, accel: c.Accel, done: make(chan struct{}), stop: make(chan struct{}), parent: ctx, qmpDir: dir}
	g.stderr.Max = 4096
	g.ctx, g.cancel = context.WithCancel(ctx)
	switch {
	case w.Timeout > 0 && w.DumpOnTimeout && w.DumpPath != "":
		g.timeout = time.After(w.Timeout) // quitWhenKnown dumps, then stops
	case w.Timeout > 0:
		g.ctx, g.cancel = context.WithTimeout(ctx, w.Timeout)
	}
	if w.LogPath != "" {
		// Written as it comes, renamed into place when the run ends: a
		// console that goes on for hours costs disk, not memory.
		if g.log, err = atomicfile.Create(w.LogPath, 0o600); err != nil {
			g.cancel()
			os.RemoveAll(dir)
			return nil, err
		}
		g.log.NoSync = true
		g.console.Save(g.log.File)
	}
	g.console.Watch(w.Expect, w.Fail)
	if w.Ready != nil {
		g.ready = g.console.WatchReady(w.Ready)
	}
	var out io.Writer = g.console
	if w.Console != nil {
		out = io.MultiWriter(w.Console, g.console)
	}
	args, m, err := c.build()
	if err != nil {
		g.cancel()
		os.RemoveAll(dir)
		if g.log != nil {
			g.log.Abort()
		}
		return nil, err
	}
	cmd := c.commandWith(g.ctx, args)
	// QEMU's own complaints go to the console too, and the last of them
	// into the error when it fails: "Could not set up host forwarding
	// rule" says more than "exit status 1".
	cmd.Stdin, cmd.Stdout, cmd.Stderr = c.Stdin, out, io.MultiWriter(out, &g.stderr)
	if f, ok := c.Stdin.(*os.File); ok && c.Interactive {
		// QEMU makes the terminal raw; its settings are restored when the
		// run ends, even if QEMU died without restoring them.
		if saved, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err == nil {
			g.restore = func() { unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, saved) }
		}
	}
	if err := cmd.Start(); err != nil {
		g.cancel()
		os.RemoveAll(dir)
		if g.log != nil {
			g.log.Abort()
		}
		return nil, fmt.Errorf("qemu: %w", err)
	}
	go g.quitWhenKnown(qmp)
	if len(m.limits) > 0 {
		go g.bound(m.limits)
	}
	go func() {
		err := cmd.Wait()
		g.finish(err)
	}()
	return g, nil
}

// quitWhenKnown stops the guest once the console decided the outcome, or
// Stop was called: a crashed guest after the grace its report needs.
func (g *Guest) quitWhenKnown(qmp string) {
	if g.awaitEnd(qmp) && Quit(qmp) != nil {
		g.cancel() // QMP did not answer: kill it
	}
}

// awaitEnd waits until the guest is to be stopped (true) or has exited
// (false), taking the dump asked for on the way.
func (g *Guest) awaitEnd(qmp string) bool {
	known := g.console.Done()
	if g.watch.NoStop {
		known = nil
	}
	for {
		select {
		case <-known:
			if g.console.Crash() == "" {
				return true
			}
			if g.watch.Kdump {
				known = nil // the capture kernel powers off by itself
				continue
			}
			grace := g.watch.CrashGrace
			if grace == 0 {
				grace = 2 * time.Second
			}
			select {
			case <-time.After(grace): // let the rest of the report arrive
			case <-g.done:
				return false
			}
			if g.watch.DumpOnCrash {
				g.dump(qmp)
			}
			return true
		case <-g.timeout:
			g.expired = true
			g.dump(qmp)
			return true
		case <-g.stop:
			return true
		case <-g.done:
			return false
		}
	}
}

// dump writes the guest's memory to Watch.DumpPath, through a temporary
// file renamed into place once QEMU has written it all.
func (g *Guest) dump(qmp string) {
	if g.watch.DumpPath == "" {
		return
	}
	final, _ := filepath.Abs(g.watch.DumpPath)
	tmp := final + ".partial"
	// The guest's memory is the user's alone: QEMU keeps the mode of a
	// file that is there already.
	err := os.WriteFile(tmp, nil, 0o600)
	if err == nil {
		err = DumpMemory(qmp, tmp, g.watch.DumpFormat)
	}
	if err == nil {
		err = os.Chmod(tmp, 0o600)
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err != nil {
		os.Remove(tmp)
		g.dumpErr = fmt.Errorf("dumping the guest's memory: %w", err)
		return
	}
	g.dumped = final
}

// bound stops the guest when a file it writes grows past its limit: the
// file may overshoot by what a guest writes in boundEvery, no more.
func (g *Guest) bound(limits []fileLimit) {
	t := time.NewTicker(boundEvery)
	defer t.Stop()
	for {
		select {
		case <-g.done:
			return
		case <-t.C:
		}
		for _, l := range limits {
			if st, err := os.Stat(l.path); err == nil && st.Size() > l.max {
				g.mu.Lock()
				g.overran = &l
				g.mu.Unlock()
				g.cancel()
				return
			}
		}
	}
}

// boundEvery is how often bound looks at the files.
const boundEvery = 100 * time.Millisecond

func (g *Guest) finish(runErr error) {
	defer close(g.done)
	if g.restore != nil {
		g.restore()
	}
	defer os.RemoveAll(g.qmpDir)
	defer g.cancel()
	c := g.console
	o := Outcome{Pending: c.Pending(), Accel: g.accel}
	switch {
	case c.Crash() != "":
		o.Kind, o.Line, o.Crash = Crashed, c.Crash(), c.Excerpt()
	case c.Failed() != "":
		o.Kind, o.Line = FailMatched, c.Failed()
	case len(g.watch.Expect) > 0 && c.Expected():
		o.Kind = ExpectMet
	case g.parent.Err() != nil:
		o.Kind = Interrupted
	case errors.Is(g.ctx.Err(), context.DeadlineExceeded) || g.expired:
		o.Kind, o.Timeout = TimedOut, g.watch.Timeout
	case runErr != nil && !g.stopped():
		o.Kind, o.Err = Failed, fmt.Errorf("qemu: %w", runErr)
		if msg := lastLine(g.stderr.String()); msg != "" {
			o.Err = fmt.Errorf("qemu: %w: %s", runErr, msg)
		}
	case len(g.watch.Expect) > 0:
		o.Kind = ExpectMissed
	}
	o.Dump, o.DumpErr = g.dumped, g.dumpErr
	g.mu.Lock()
	if l := g.overran; l != nil {
		// What the guest wrote is not to be kept, nor to fill the disk.
		os.Truncate(l.path, 0)
		err := fmt.Errorf("the guest wrote more than %d MiB to its %s (%s): stopped, and the file emptied", l.max>>20, l.what, l.path)
		if o.Kind == Crashed {
			o.DumpErr = err // the crash stands; its capture overran
		} else {
			o.Kind, o.Err = Failed, err
		}
	}
	g.mu.Unlock()
	if g.log != nil {
		c.Save(nil)
		if rest := c.rest(); rest != "" {
			io.WriteString(g.log.File, rest)
		}
		if err := g.log.Commit(); err != nil && o.Err == nil {
			o.Err = err
		}
		o.LogPath, _ = filepath.Abs(g.log.Path)
	}
	g.outcome = o
}

func (g *Guest) stopped() bool {
	select {
	case <-g.stop:
		return true
	default:
		return false
	}
}

// Ready is closed once a console line matched Watch.Ready (never, when
// Watch.Ready is nil).
func (g *Guest) Ready() <-chan struct{} { return g.ready }

// Done is closed when QEMU has exited and the outcome is known.
func (g *Guest) Done() <-chan struct{} { return g.done }

// Wait waits for QEMU to exit and returns the outcome.
func (g *Guest) Wait() Outcome {
	<-g.done
	return g.outcome
}

// Stop asks the guest to quit (QMP), or kills it when QEMU does not
// answer; a guest stopped so powered off, as far as its Outcome says.
func (g *Guest) Stop() {
	select {
	case <-g.stop:
	default:
		close(g.stop)
	}
}

// Kill ends QEMU at once.
func (g *Guest) Kill() { g.cancel() }

// Log returns the clean console so far.
func (g *Guest) Log() string { return g.console.Log() }

// Boot runs c to its outcome. A QEMU that cannot start is an Outcome of
// kind Failed.
func Boot(ctx context.Context, c Config, w Watch) Outcome {
	g, err := Start(ctx, c, w)
	if err != nil {
		return Outcome{Kind: Failed, Err: err}
	}
	return g.Wait()
}

// DryRun returns the command line Start would run for c, without
// starting anything: an accelerator of auto is shown as the verdict
// remembered for this boot of the host, or tcg when there is none yet.
func DryRun(c Config) ([]string, error) {
	c.Accel = resolveAccel(context.Background(), c, io.Discard, false)
	args, err := c.Args()
	return append([]string{c.BinaryName()}, args...), err
}

// Patterns compiles the regular expressions of Watch.Expect or Fail,
// naming a bad one.
func Patterns(pats []string) ([]*regexp.Regexp, error) {
	var out []*regexp.Regexp
	for _, p := range pats {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("pattern %q: %w", p, err)
		}
		out = append(out, re)
	}
	return out, nil
}

// Terminal returns r (a reader or a writer) as the terminal it is, for
// Config.Stdin of an interactive run, or false when it is none.
func Terminal(r any) (*os.File, bool) {
	f, ok := r.(*os.File)
	if !ok {
		return nil, false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return f, err == nil
}

// lastLine is the last line of s that says something, without the
// program's name QEMU puts first.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	l := strings.TrimSpace(lines[len(lines)-1])
	if i := strings.Index(l, ": "); i > 0 && strings.HasPrefix(l, "qemu-system-") {
		l = l[i+2:]
	}
	return l
}
