package bug

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/initkit/initkit/internal/cache"
	"github.com/initkit/initkit/internal/hosttool"
	"github.com/initkit/initkit/kernel"
	"github.com/initkit/initkit/repro"
)

// KernelFor fills in the kernel of a run in the workspace, where the
// request names none: its build, else its image with its vmlinux.
func (w *Workspace) KernelFor(req *kernel.Request) {
	if req.Kernel != "" {
		return
	}
	req.Kernel = w.KernelPath()
	if req.Vmlinux == "" && w.Build() == "" {
		req.Vmlinux = w.Path(Vmlinux)
	}
}

// RunsDir makes a new directory for a repro's runs: repro/TIME.
func (w *Workspace) RunsDir() (string, error) {
	stamp := time.Now().UTC().Format("20060102-150405")
	dir := filepath.Join(w.Dir, "repro", stamp)
	for i := 2; ; i++ {
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			break
		}
		dir = filepath.Join(w.Dir, "repro", fmt.Sprintf("%s-%d", stamp, i))
	}
	return dir, os.MkdirAll(dir, 0o700)
}

// Record keeps a repro's result in bug.toml.
func (w *Workspace) Record(s *repro.Summary) error {
	w.Repro = &ReproState{Time: time.Now().UTC().Truncate(time.Second), Runs: s.Runs, Crashes: s.Counts[repro.Crash]}
	if len(s.Crashes) > 0 {
		w.Repro.Title = s.Crashes[0].Title
	}
	return w.Save()
}

// Program is what a run executes: argv when given (a command and its
// arguments), else file, else the workspace's reproducer (w may be nil),
// compiled into dir when it is C.
func Program(ctx context.Context, w *Workspace, argv []string, file, dir, syzDir string) (repro.Program, error) {
	if len(argv) > 0 {
		abs, err := hosttool.Program(argv[0])
		return repro.Program{Argv: append([]string{abs}, argv[1:]...)}, err
	}
	if file == "" && w != nil {
		file = w.Path(Repro)
	}
	switch {
	case file == "" && w != nil:
		return repro.Program{}, fmt.Errorf("nothing to run: the workspace %s has no reproducer (initkit bug new %s --repro FILE), and no --repro FILE or -- CMD ARGS was given", w.Dir, w.Dir)
	case file == "":
		return repro.Program{}, errors.New("nothing to run: a workspace with a reproducer, --repro FILE, or -- CMD ARGS")
	}
	return repro.ProgramFor(ctx, file, dir, syzDir)
}

// ReproRequest is what a repro run takes besides repro.Options: what to
// run and where, as initkit repro's flags give it.
type ReproRequest struct {
	Argv         []string // a command to run; else File, else the workspace's reproducer
	File, SyzDir string
	// Disk is a disk image whose root the runs are in (Root: its
	// partition); default the workspace's, unless NoDisk.
	Disk, Root string
	NoDisk     bool
	Title      string // a regexp: only crashes titled so count
	// Farm, when not nil, runs the program elsewhere (a LAVA farm); the
	// runs are then in exec's own guest, without a disk.
	Farm  func(ctx context.Context, o repro.Options) (repro.Farm, error)
	Notes io.Writer // what was decided, and the runs' progress
}

// RunRepro runs a reproducer as initkit repro does: in the workspace w (nil:
// none), whose kernel, disk image and reproducer are the defaults, its
// runs in a new directory of w (or of the cache), its result recorded in
// bug.toml.
func RunRepro(ctx context.Context, w *Workspace, o repro.Options, r ReproRequest) (*repro.Summary, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	if w != nil {
		w.KernelFor(&o.Exec.Boot.Kernel)
	}
	if err := r.disk(w, &o); err != nil {
		return nil, err
	}
	if r.Title != "" {
		re, err := regexp.Compile(r.Title)
		if err != nil {
			return nil, fmt.Errorf("--title: %w", err)
		}
		o.Title = re
	}
	var err error
	if w != nil {
		o.Dir, err = w.RunsDir()
	} else {
		o.Dir, err = cache.RunDir()
	}
	if err != nil {
		return nil, err
	}
	p, err := Program(ctx, w, r.Argv, r.File, o.Dir, r.SyzDir)
	if err != nil {
		return nil, err
	}
	o.Argv, o.Exec.Add = p.Argv, append(o.Exec.Add, p.Add...)
	if r.Farm != nil {
		if o.Farm, err = r.Farm(ctx, o); err != nil {
			return nil, err
		}
	}
	o.Progress = r.Notes
	fmt.Fprintf(r.Notes, "initkit repro: up to %d runs, %d at once, in %s\n", cmp.Or(o.Runs, 10), o.Parallel(), o.Dir)
	s, err := repro.Run(ctx, o)
	if err != nil || w == nil {
		return s, err
	}
	s.BugTitle = w.Title
	return s, w.Record(s)
}

// disk puts the runs in the root of the request's disk image, or of the
// workspace's.
func (r ReproRequest) disk(w *Workspace, o *repro.Options) error {
	if r.Disk == "" && w != nil && !r.NoDisk {
		r.Disk = w.Path(Disk)
		if _, err := os.Stat(r.Disk); err == nil && r.Farm != nil {
			fmt.Fprintln(r.Notes, "initkit repro: on LAVA the runs are in exec's own guest, without the workspace's disk image")
		}
		if r.Farm != nil {
			r.Disk = ""
		}
	}
	switch {
	case r.Disk != "" && r.Farm != nil:
		return fmt.Errorf("--disk: a LAVA job takes no disk image yet")
	case r.Disk != "":
		return o.Exec.InDisk(r.Disk, r.Root)
	}
	return nil
}
