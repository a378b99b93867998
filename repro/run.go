package repro

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/initkit/initkit/boot"
	"github.com/initkit/initkit/guest"
	"github.com/initkit/initkit/qemu"
	"github.com/initkit/initkit/vmexec"
)

// Busybox runs the program in the guest, behind a shell that first says
// userspace started and then beats every few seconds, so that a silent
// program is not taken for a hung guest: the guest is hung when the
// heartbeat stops too.
const Busybox = "/bin/busybox"

// wrapper is the shell that runs the program: $1 is the token its lines
// carry, $2 the heartbeat's period in seconds, $3 busybox, the rest the
// program.
const wrapper = `t=$1 p=$2 b=$3; shift 3
"$b" echo "initkit-repro: $t started" >&2
(while :; do "$b" sleep "$p"; "$b" echo "initkit-repro: $t alive" >&2; done) &
exec "$@"`

// run does one try of run n.
func (o Options) run(ctx context.Context, n, try int) RunResult {
	r := RunResult{N: n, Dir: o.dirFor(n, try), Start: time.Now()}
	if o.Farm != nil {
		o.classifyFarm(ctx, &r)
	} else {
		o.classify(ctx, &r)
	}
	r.Duration = time.Since(r.Start)
	return r
}

// classify runs r and says how it ended.
func (o Options) classify(parent context.Context, r *RunResult) {
	ctx := parent
	if err := os.MkdirAll(r.Dir, 0o700); err != nil {
		r.Kind, r.Detail = Infra, err.Error()
		return
	}
	out, err := os.OpenFile(filepath.Join(r.Dir, "output.log"), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		r.Kind, r.Detail = Infra, err.Error()
		return
	}
	defer out.Close()
	token := newToken()
	w := &watcher{out: out, marker: []byte("initkit-repro: " + token + " ")}
	w.beat()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	hung := errors.New("hang")
	go w.watch(ctx, o.Hang, func() { cancel(hung) })

	e := o.Exec
	e.Boot.Console = w.console()
	e.Boot.LogPath = filepath.Join(r.Dir, "console.log")
	e.Boot.Timeout = o.Duration
	e.Boot.Notes = &bytes.Buffer{}
	e.Stdout, e.Stderr = w.stream(), w.stream()
	e.Busybox = "" // the wrapper's busybox, at its host path, is the one
	e.Add = append(append([]string(nil), e.Add...), o.Argv[0])
	period := max(1, int(o.Hang/time.Second)/5)
	busybox, program := Busybox, slices.Clone(o.Argv)
	if e.Boot.Root != "" {
		// In a disk's root the image, busybox and the program with it,
		// is at guest.ExecImage.
		busybox, program[0] = guest.ExecImage+Busybox, guest.ExecImage+program[0]
	}
	argv := append([]string{Busybox, "sh", "-c", wrapper, "repro", token, fmt.Sprint(period), busybox}, program...)
	res, err := vmexec.Run(ctx, argv, e)
	w.flush()
	started := w.started.Load()
	switch {
	case parent.Err() != nil && res.Kind != qemu.Crashed:
		r.Kind = interrupted
	case context.Cause(ctx) == hung && started:
		r.Kind = Hang
	case context.Cause(ctx) == hung:
		r.Kind, r.Detail = NoBoot, "the console went silent before userspace"
	case res.Kind == qemu.Crashed && !started:
		r.Kind, r.Detail = NoBoot, "the kernel crashed before userspace: "+strings.TrimSpace(res.Line)
	case res.Kind == qemu.Crashed:
		o.crashed(r, res.Result)
	case err == nil:
		r.Kind = Clean
		status := res.Status
		r.Status = &status
	case res.Kind == qemu.TimedOut:
		r.Kind, r.Detail = Clean, fmt.Sprintf("still running after %v", o.Duration)
	case res.Kind == qemu.Failed:
		r.Kind, r.Detail = Infra, fmt.Sprint(res.Err)
	case !started && errors.Is(err, vmexec.ErrNoStatus):
		r.Kind, r.Detail = NoBoot, "the guest stopped before userspace"
	case errors.Is(err, vmexec.ErrNoStatus):
		r.Kind, r.Detail = Infra, "the guest stopped without the program's status ("+res.Outcome.String()+")"
	default:
		r.Kind, r.Detail = Infra, err.Error()
	}
}

// crashed says r crashed as res says: titled, and counted when the title
// is the one asked for.
func (o Options) crashed(r *RunResult, res boot.Result) {
	r.Kind, r.Title = Crash, strings.TrimSpace(res.Line)
	if res.Identity != nil {
		r.Title = res.Identity.Title
	}
	if o.Title != nil && !o.Title.MatchString(r.Title) {
		r.Kind = OtherCrash
	}
}

// classifyFarm does r on the farm and says how it ended, by the same
// rules as a local run's; the farm's own timeout, after the program
// started, is a hang (the program is killed at Duration, so only a
// guest that stopped answering reaches it).
func (o Options) classifyFarm(parent context.Context, r *RunResult) {
	if err := os.MkdirAll(r.Dir, 0o700); err != nil {
		r.Kind, r.Detail = Infra, err.Error()
		return
	}
	t, err := o.Farm.Try(parent, o.Duration, filepath.Join(r.Dir, "console.log"))
	switch {
	case parent.Err() != nil && t.Kind != qemu.Crashed:
		r.Kind = interrupted
	case err != nil:
		r.Kind, r.Detail = Infra, err.Error()
	case t.Kind == qemu.Crashed && !t.Started:
		r.Kind, r.Detail = NoBoot, "the kernel crashed before userspace: "+strings.TrimSpace(t.Line)
	case t.Kind == qemu.Crashed:
		o.crashed(r, t.Result)
	case t.Status >= 0:
		r.Kind = Clean
		r.Status = &t.Status
	case t.Kind == qemu.TimedOut && t.Started:
		r.Kind, r.Detail = Hang, "the farm's timeout ended the run"
	case t.Kind == qemu.Failed:
		r.Kind, r.Detail = Infra, fmt.Sprint(t.Err)
	case !t.Started:
		r.Kind, r.Detail = NoBoot, "the guest stopped before userspace ("+t.Outcome.String()+")"
	default:
		r.Kind, r.Detail = Infra, "the guest stopped without the program's status ("+t.Outcome.String()+")"
	}
}

// watcher sees everything the guest says: it stamps the time of the last
// byte, notes the wrapper's start, drops its lines from the output and
// writes the rest to the run's output.log.
type watcher struct {
	out     *os.File
	marker  []byte
	last    atomic.Int64 // unix nanoseconds of the last byte
	started atomic.Bool
	mu      sync.Mutex
	streams []*stream
}

func (w *watcher) beat() { w.last.Store(time.Now().UnixNano()) }

// watch calls hang once nothing came for d.
func (w *watcher) watch(ctx context.Context, d time.Duration, hang func()) {
	tick := time.NewTicker(min(time.Second, d/4))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if time.Since(time.Unix(0, w.last.Load())) > d {
				hang()
				return
			}
		}
	}
}

func (w *watcher) console() *consoleWriter { return &consoleWriter{w} }

type consoleWriter struct{ w *watcher }

func (c *consoleWriter) Write(p []byte) (int, error) {
	c.w.beat()
	return len(p), nil
}

// stream is the program's stdout or stderr, cut into lines.
type stream struct {
	w       *watcher
	partial []byte
}

func (w *watcher) stream() *stream {
	s := &stream{w: w}
	w.mu.Lock()
	w.streams = append(w.streams, s)
	w.mu.Unlock()
	return s
}

func (s *stream) Write(p []byte) (int, error) {
	s.w.beat()
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		s.line(s.partial[:i+1])
		s.partial = s.partial[i+1:]
	}
	if len(s.partial) > 64<<10 { // a line that never ends is written as it comes
		s.line(s.partial)
		s.partial = nil
	}
	return len(p), nil
}

func (s *stream) line(l []byte) {
	if i := bytes.Index(l, s.w.marker); i >= 0 {
		if bytes.HasPrefix(l[i+len(s.w.marker):], []byte("started")) {
			s.w.started.Store(true)
		}
		return
	}
	s.w.mu.Lock()
	s.w.out.Write(l)
	s.w.mu.Unlock()
}

// flush writes what is left of unfinished lines.
func (w *watcher) flush() {
	for _, s := range w.streams {
		if len(s.partial) > 0 {
			s.line(s.partial)
			s.partial = nil
		}
	}
}

func newToken() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}
