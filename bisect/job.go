package bisect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/initkit/initkit/bug"
	"github.com/initkit/initkit/repro"
)

// Job is where one bisect keeps its things: the tree it checks out, the
// build directory, the saved state, the runs, and the bug workspace it
// belongs to (nil for a bare tree).
type Job struct {
	Tree, Obj, State, Runs string
	Workspace              *bug.Workspace
	// Farm, when set, makes each batch's farm from its options (the
	// kernel just built, the program): the runs go there, not to local
	// VMs, and without the workspace's disk image.
	Farm func(ctx context.Context, o repro.Options) (repro.Farm, error)
}

// Locate places a bisect in workspace w (its linux worktree, obj,
// bisect.json and bisect-runs), else in tree (TREE-obj,
// OBJ/initkit-bisect.json, OBJ-bisect-runs). obj, when given, is the
// build directory in either.
func Locate(w *bug.Workspace, tree, obj string) (Job, error) {
	var j Job
	switch {
	case w != nil:
		j = Job{Tree: filepath.Join(w.Dir, bug.Worktree), Obj: filepath.Join(w.Dir, bug.BuildDir),
			State: filepath.Join(w.Dir, "bisect.json"), Runs: filepath.Join(w.Dir, "bisect-runs"), Workspace: w}
		if st, err := os.Stat(j.Tree); err != nil || !st.IsDir() {
			return j, fmt.Errorf("%s: the workspace has no kernel tree to bisect in (initkit bug new %s --tree REPO makes one)", w.Dir, w.Dir)
		}
	case tree != "":
		if st, err := os.Stat(tree); err != nil || !st.IsDir() {
			return j, fmt.Errorf("--tree %s: not a directory (a kernel git tree)", tree)
		}
		j.Tree, _ = filepath.Abs(tree)
		j.Obj = j.Tree + "-obj"
	default:
		return j, errors.New("bisect in a workspace DIR (initkit bug new --tree), or --tree DIR")
	}
	if obj != "" {
		j.Obj, _ = filepath.Abs(obj)
	}
	if w == nil {
		j.State = filepath.Join(j.Obj, "initkit-bisect.json")
		j.Runs = j.Obj + "-bisect-runs"
	}
	return j, nil
}

// Start is a new bisect over good..bad, stopping at confidence; title
// is the crash that counts, a regular expression ("": the bad end's
// first crash).
func (j Job) Start(ctx context.Context, good, bad, title string, confidence float64) (*Saved, error) {
	if good == "" || bad == "" {
		return nil, errors.New("--good and --bad name the range (or --resume a saved bisect)")
	}
	if _, err := regexp.Compile(title); err != nil {
		return nil, fmt.Errorf("--title: %w", err)
	}
	commits, err := Commits(ctx, j.Tree, good, bad)
	if err != nil {
		return nil, err
	}
	return &Saved{Good: good, Bad: bad, Commits: commits, Title: title, Confidence: confidence,
		State: NewState(len(commits) - 1)}, nil
}

// Tester is the kernel tester of s: run is how each batch runs (the
// guest, the bounds), the program is argv, else file, else the
// workspace's reproducer, compiled once into the runs directory.
func (j Job) Tester(ctx context.Context, s *Saved, run repro.Options, argv []string, file string) (*Kernel, error) {
	if err := os.MkdirAll(j.Runs, 0o700); err != nil {
		return nil, err
	}
	k := &Kernel{Tree: j.Tree, Obj: j.Obj, Commits: s.Commits, RunsDir: j.Runs, Repro: run, Farm: j.Farm}
	if j.Workspace != nil {
		k.BugTitle = j.Workspace.Title
	}
	k.Repro.Exec.Boot.Image = nil
	if d := j.diskPath(); d != "" && len(run.Exec.Boot.Disks) == 0 && j.Farm == nil {
		if err := k.Repro.Exec.InDisk(d, ""); err != nil {
			return nil, err
		}
	}
	if s.Title != "" {
		var err error
		if k.Title, err = regexp.Compile(s.Title); err != nil {
			return nil, fmt.Errorf("%s: title: %w", j.State, err)
		}
	}
	p, err := bug.Program(ctx, j.Workspace, argv, file, j.Runs, "")
	if err != nil {
		return nil, err
	}
	k.Repro.Argv, k.Repro.Exec.Add = p.Argv, append(k.Repro.Exec.Add, p.Add...)
	return k, nil
}

// Run is Search over the saved bisect with k: the state saved after each
// step, each new step told to notes, and the end recorded (Found).
func (j Job) Run(ctx context.Context, s *Saved, k *Kernel, o Options, notes io.Writer) (Result, error) {
	shown := len(s.State.Steps) // a resumed bisect's steps were told
	save := func(st *State) error {
		for ; shown < len(st.Steps); shown++ {
			fmt.Fprintln(notes, s.Describe(shown+1, st.Steps[shown]))
		}
		if k.Title != nil {
			s.Title = k.Title.String()
		}
		return s.Save(j.State)
	}
	res, err := Search(ctx, s.State, k, o, save)
	if err != nil {
		return res, err
	}
	return res, j.Found(s, res)
}

// Found records a bisect's end in its workspace: the first bad commit,
// when one reached the confidence.
func (j Job) Found(s *Saved, res Result) error {
	if j.Workspace == nil || res.First < 0 {
		return nil
	}
	j.Workspace.Bisected = s.Commits[res.First].Hash
	return j.Workspace.Save()
}

// GitRepro is the repro command line each plain git bisect step runs
// (after initkit repro --kernel OBJ): one run of file (default: the
// workspace's reproducer), with the hang and duration bounds (0: repro's
// defaults) and the title that counts.
func (j Job) GitRepro(file, title string, hang, duration time.Duration) ([]string, error) {
	if file == "" && j.Workspace != nil {
		file = j.Workspace.Path(bug.Repro)
	}
	if file == "" {
		return nil, errors.New("--git runs --repro FILE (or the workspace's reproducer)")
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	args := []string{"--repro", abs, "--runs", "1"}
	if hang > 0 {
		args = append(args, "--hang", hang.String())
	}
	if duration > 0 {
		args = append(args, "--duration", duration.String())
	}
	if title != "" {
		args = append(args, "--title", title)
	}
	return args, nil
}

// diskPath is the workspace's disk image, the root the reproducer runs
// in ("": none).
func (j Job) diskPath() string {
	if j.Workspace == nil {
		return ""
	}
	return j.Workspace.Path(bug.Disk)
}
