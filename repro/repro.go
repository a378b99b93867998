// Package repro runs a reproducer in fresh VMs, many at once, until it
// crashes the kernel or a number of runs is done, and says what happened:
// each run ends as a crash (titled by package oops, as syzbot titles it),
// a hang (the guest fell silent), a clean end, or a failure of the
// infrastructure (QEMU failed, the kernel never reached userspace), which
// is retried and never counted. The summary gives the reproduction rate
// with its 95 % interval, and the exit code is one git bisect run
// understands.
package repro

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/initkit/initkit/boot"
	"github.com/initkit/initkit/initramfs"
	"github.com/initkit/initkit/kernel"
	"github.com/initkit/initkit/vmexec"
)

// Options describe the runs.
type Options struct {
	// Exec is the guest each run boots, as initkit exec builds it: the
	// kernel (Exec.Boot.Kernel or Chosen), memory, CPUs, more files.
	// Run sets the console, the output and the timeouts.
	Exec vmexec.Options
	// Argv is the program and its arguments: a host path, copied into
	// the guest with its libraries (a compiled reproducer is static).
	Argv []string
	Runs int  // runs to do (default 10)
	Jobs int  // runs at once (default: the cores)
	All  bool // go on after the first crash
	// Duration is how long a run may go on without a crash: a
	// reproducer still running then ends clean (default 5 min).
	Duration time.Duration
	// Hang ends a run whose guest said nothing for so long - no console,
	// no output, no heartbeat - as a hang (default: DefaultHang, times
	// 3 under TCG).
	Hang time.Duration
	// Title says which crash counts (nil: any); others are "other
	// crash".
	Title *regexp.Regexp
	// Dir holds a directory per run (run-N: console.log, output.log).
	Dir string
	// Retries is how often a run the infrastructure failed is tried again
	// (default 3).
	Retries int
	// Progress gets a line per finished run.
	Progress io.Writer
	// Farm, when set, does each try instead of a local VM (a LAVA
	// farm: package lava); Exec and Argv are then the farm's business.
	Farm Farm
}

// Farm does tries of the program it was made for somewhere else than in
// a local VM.
type Farm interface {
	// Try runs the program once in a fresh guest, killed after limit,
	// with the console saved to log, and says how the guest ended.
	Try(ctx context.Context, limit time.Duration, log string) (FarmTry, error)
}

// FarmTry is how a try on a farm ended.
type FarmTry struct {
	boot.Result      // the guest's end, its crash titled
	Status      int  // the program's exit status; -1 when it gave none
	Started     bool // the program began
}

// DefaultHang is how long a guest may stay silent under KVM before its run
// is a hang: syzkaller's no-output timeout.
const DefaultHang = 150 * time.Second

// Kind is how a run ended.
type Kind string

const (
	Crash      Kind = "crash"       // the crash the options count
	OtherCrash Kind = "other_crash" // a crash with another title
	Hang       Kind = "hang"        // the guest fell silent for Options.Hang
	Clean      Kind = "clean"       // the program ended, or ran for Options.Duration, without a crash
	Infra      Kind = "infrastructure"
	NoBoot     Kind = "no_boot" // the kernel never reached userspace
	// interrupted is a run stopped by the caller, or by another run's
	// crash: no answer, and not counted.
	interrupted Kind = "interrupted"
)

// RunResult is one run.
type RunResult struct {
	N        int           `json:"n"`
	Kind     Kind          `json:"kind"`
	Title    string        `json:"title,omitempty"`
	Status   *int          `json:"status,omitempty"` // the program's exit status, when it ended
	Detail   string        `json:"detail,omitempty"` // what failed, for infrastructure and no_boot
	Dir      string        `json:"dir"`
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"duration_ns"`
	Tries    int           `json:"tries"`
}

// Run does the runs and returns their summary. The context's end stops
// every guest; the summary then holds the runs that finished.
func Run(ctx context.Context, o Options) (*Summary, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	if err := o.chooseKernel(ctx); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s := &Summary{Title: regexpString(o.Title)}
	var mu sync.Mutex
	next := 0
	var wg sync.WaitGroup
	for range o.Jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if next >= o.Runs || ctx.Err() != nil {
					mu.Unlock()
					return
				}
				next++
				n := next
				mu.Unlock()
				r := o.runWithRetries(ctx, n)
				if r.Kind == interrupted {
					return // stopped by the caller, or by a crash: not a run
				}
				mu.Lock()
				s.add(r)
				if o.Progress != nil {
					fmt.Fprintln(o.Progress, r.Line())
				}
				if r.Kind == Crash && !o.All {
					cancel()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	s.finish()
	return s, nil
}

// Check refuses a count or a time that cannot be one: a negative one
// (0 is the default).
func (o *Options) Check() error {
	switch {
	case o.Runs < 0:
		return fmt.Errorf("runs %d: want 1 or more (0: 10)", o.Runs)
	case o.Jobs < 0:
		return fmt.Errorf("jobs %d: want 1 or more runs at once (0: the cores)", o.Jobs)
	case o.Duration < 0:
		return fmt.Errorf("duration %v: a run's time cannot be negative", o.Duration)
	case o.Hang < 0:
		return fmt.Errorf("hang %v: a silence cannot be negative", o.Hang)
	}
	return nil
}

// Parallel is how many runs Run does at once: Jobs (default: the cores),
// at most Runs (default 10).
func (o *Options) Parallel() int {
	return max(1, min(cmp.Or(o.Jobs, runtime.NumCPU()), cmp.Or(o.Runs, 10)))
}

func (o *Options) defaults() error {
	if len(o.Argv) == 0 && o.Farm == nil {
		return errors.New("no program to run")
	}
	if err := o.Check(); err != nil {
		return err
	}
	o.Jobs = o.Parallel()
	o.Runs = cmp.Or(o.Runs, 10)
	o.Duration = cmp.Or(o.Duration, 5*time.Minute)
	o.Retries = cmp.Or(o.Retries, 3)
	if o.Hang == 0 {
		o.Hang = DefaultHang
		if !kvm(o.Exec.Boot.Accel) {
			o.Hang *= 3
		}
	}
	if o.Dir == "" {
		return errors.New("no directory for the runs")
	}
	return os.MkdirAll(o.Dir, 0o700)
}

// chooseKernel chooses the kernel once, for every run, and checks what
// no run can change: a kernel that is not there or is none, one for
// another machine than the host's programs, and an initkit init that
// cannot be found are errors, not failures of each run, each retried as
// the infrastructure's.
func (o *Options) chooseKernel(ctx context.Context) error {
	if o.Exec.Boot.Chosen != nil || o.Farm != nil {
		return nil
	}
	k, err := kernel.ChooseBootable(ctx, o.Exec.Boot.Kernel)
	if err != nil {
		return err
	}
	if host := kernel.HostArch(); k.Arch != "" && k.Arch != host {
		return fmt.Errorf("kernel %s (from %s) is for %s: a reproducer runs as a host program, built for %s", k.Image, k.From, k.Arch, host)
	}
	if o.Exec.InitBinary, err = initramfs.FindInit(o.Exec.InitBinary); err != nil {
		return fmt.Errorf("repro runs the program with the initkit init, and %w", err)
	}
	o.Exec.Boot.Chosen = k
	return nil
}

// runWithRetries does run n, again while the infrastructure fails.
func (o Options) runWithRetries(ctx context.Context, n int) RunResult {
	var r RunResult
	for try := 1; try <= 1+o.Retries; try++ {
		r = o.run(ctx, n, try)
		r.Tries = try
		if r.Kind != Infra && r.Kind != NoBoot {
			return r
		}
	}
	return r
}

// dirFor is run n's directory; a retry's is run-N.TRY.
func (o Options) dirFor(n, try int) string {
	name := "run-" + strconv.Itoa(n)
	if try > 1 {
		name += "." + strconv.Itoa(try)
	}
	return filepath.Join(o.Dir, name)
}

// regexpString is re's text, "" for nil.
func regexpString(re *regexp.Regexp) string {
	if re == nil {
		return ""
	}
	return re.String()
}

// kvm says whether the guests will likely run under KVM: asked for, or
// left to the default with /dev/kvm usable.
func kvm(accel string) bool {
	switch accel {
	case "kvm":
		return true
	case "", "auto":
		return unix.Access("/dev/kvm", unix.R_OK|unix.W_OK) == nil
	}
	return false
}
