package bug

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

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
		abs, err := filepath.Abs(argv[0])
		return repro.Program{Argv: append([]string{abs}, argv[1:]...)}, err
	}
	if file == "" && w != nil {
		file = w.Path(Repro)
	}
	if file == "" {
		return repro.Program{}, errors.New("nothing to run: a workspace with a reproducer, --repro FILE, or -- CMD ARGS")
	}
	return repro.ProgramFor(ctx, file, dir, syzDir)
}
