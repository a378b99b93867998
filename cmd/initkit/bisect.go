package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/initkit/initkit/bisect"
	"github.com/initkit/initkit/bug"
	"github.com/initkit/initkit/internal/interrupt"
	"github.com/initkit/initkit/kernel"
	"github.com/initkit/initkit/qemu"
	"github.com/initkit/initkit/repro"
	"github.com/initkit/initkit/vmexec"
)

type bisectFlags struct {
	machine
	good, bad, tree, obj, file, title string
	resume, log, git                  bool
	o                                 bisect.Options
	hang, duration                    time.Duration
}

func newBisect() *cobra.Command {
	var b bisectFlags
	cmd := &cobra.Command{
		Use:   "bisect --good A --bad B [DIR] [-- CMD ARGS...]",
		Short: "Find the commit that introduced a crash, even with a flaky reproducer, and say how sure it is",
		Long:  help("bisect"),
		RunE: func(cmd *cobra.Command, args []string) error {
			interrupt.Graceful(interrupt.Stops...)
			return runBisect(cmd, &b, args)
		},
	}
	f := cmd.Flags()
	// The machine's flags but --log: a bisect's log is its steps (and
	// each run keeps its console).
	mf := pflag.NewFlagSet("machine", pflag.ContinueOnError)
	b.flags(mf)
	mf.VisitAll(func(fl *pflag.Flag) {
		if fl.Name != "log" {
			f.AddFlag(fl)
		}
	})
	f.StringVar(&b.good, "good", "", "a good `COMMIT`: the crash is not there")
	f.StringVar(&b.bad, "bad", "", "a bad `COMMIT`: the reproducer crashes it")
	f.StringVar(&b.tree, "tree", "", "the kernel tree `DIR` to bisect in, without a workspace")
	f.StringVarP(&b.obj, "output", "O", "", "the build `DIR`, configured (default: the workspace's obj, or TREE-obj)")
	f.StringVar(&b.file, "repro", "", "the reproducer `FILE` (default: the workspace's)")
	f.StringVar(&b.title, "title", "", "the crash that counts, a `REGEX` (default: the bad end's first crash's title)")
	f.Float64Var(&b.o.Confidence, "confidence", 0.95, "stop when one commit is the first bad one with this probability")
	f.IntVarP(&b.o.Runs, "jobs", "j", 0, "runs per batch, at once (default: the cores)")
	f.Float64Var(&b.o.BuildCost, "build-cost", 2, "what a build costs, in batches of runs")
	f.IntVar(&b.o.MaxRuns, "max-runs", 400, "stop with the range found after this many runs")
	f.DurationVar(&b.hang, "hang", 0, "a guest silent this long is hung (default 2m30s, x3 under TCG)")
	f.DurationVar(&b.duration, "duration", 5*time.Minute, "how long a run may go on: a reproducer still running then ends clean")
	f.BoolVar(&b.resume, "resume", false, "go on with the bisect saved in the workspace")
	f.BoolVar(&b.git, "git", false, "plain git bisect run instead: one run of --repro a commit, as git bisect run expects (0 good, 1 bad, 125 skip)")
	f.BoolVar(&b.log, "log", false, "show the saved bisect's steps and where it stands")
	f.Lookup("timeout").Hidden = true
	return cmd
}

// bisectPaths are a bisect's tree, build directory, state file and
// workspace (nil with --tree).
func bisectPaths(b *bisectFlags, args []string) (tree, obj, state string, w *bug.Workspace, err error) {
	dir := ""
	if len(args) == 1 {
		dir = args[0]
	} else if _, e := os.Stat(bug.ManifestName); e == nil && b.tree == "" {
		dir = "."
	}
	switch {
	case dir != "":
		if w, err = bug.Open(dir); err != nil {
			return
		}
		tree, obj, state = filepath.Join(w.Dir, bug.Worktree), filepath.Join(w.Dir, bug.BuildDir), filepath.Join(w.Dir, "bisect.json")
	case b.tree != "":
		tree, _ = filepath.Abs(b.tree)
		obj = tree + "-obj"
	default:
		err = errors.New("bisect in a workspace DIR (initkit bug new --tree), or --tree DIR")
		return
	}
	if b.obj != "" {
		obj, _ = filepath.Abs(b.obj)
	}
	if w == nil {
		state = filepath.Join(obj, "initkit-bisect.json")
	}
	return
}

func runBisect(cmd *cobra.Command, b *bisectFlags, args []string) error {
	var program []string
	if dash := cmd.ArgsLenAtDash(); dash >= 0 {
		program, args = args[dash:], args[:dash]
	}
	tree, obj, statePath, w, err := bisectPaths(b, args)
	if err != nil {
		return err
	}
	if b.git {
		return b.gitBisect(cmd, tree, obj, w)
	}
	saved, err := b.saved(cmd, tree, statePath)
	if err != nil || b.log {
		return err
	}
	k, err := b.tester(cmd, w, tree, obj, saved, program)
	if err != nil {
		return err
	}
	out := cmd.ErrOrStderr()
	shown := len(saved.State.Steps) // a resumed bisect's steps were shown
	save := func(st *bisect.State) error {
		for ; shown < len(st.Steps); shown++ {
			fmt.Fprintln(out, saved.Describe(shown+1, st.Steps[shown]))
		}
		if k.Title != nil {
			saved.Title = k.Title.String()
		}
		return saved.Save(statePath)
	}
	res, err := bisect.Search(cmd.Context(), saved.State, k, b.o, save)
	if err != nil {
		return err
	}
	return b.report(cmd, saved, res, w)
}

// saved is the bisect to go on with: the saved one (--resume, --log), or
// a new one over good..bad.
func (b *bisectFlags) saved(cmd *cobra.Command, tree, path string) (*bisect.Saved, error) {
	if b.resume || b.log {
		s, err := bisect.Load(path)
		if err == nil && !b.log && cmd.Flags().Changed("confidence") {
			s.Confidence = b.o.Confidence
		}
		if err == nil {
			b.o.Confidence = s.Confidence
		}
		if err == nil && b.log {
			for i, st := range s.State.Steps {
				fmt.Fprintln(cmd.OutOrStdout(), s.Describe(i+1, st))
			}
			fmt.Fprintln(cmd.OutOrStdout(), s.Where())
		}
		return s, err
	}
	if b.good == "" || b.bad == "" {
		return nil, errors.New("--good and --bad name the range (or --resume a saved bisect)")
	}
	commits, err := bisect.Commits(cmd.Context(), tree, b.good, b.bad)
	if err != nil {
		return nil, err
	}
	return &bisect.Saved{Good: b.good, Bad: b.bad, Commits: commits, Title: b.title, Confidence: b.o.Confidence,
		State: bisect.NewState(len(commits) - 1)}, nil
}

// tester is the kernel tester of the bisect: the tree, the build, the
// reproducer compiled once, the crash that counts.
func (b *bisectFlags) tester(cmd *cobra.Command, w *bug.Workspace, tree, obj string, saved *bisect.Saved, program []string) (*bisect.Kernel, error) {
	boot, _, err := b.load(cmd)
	if err != nil {
		return nil, err
	}
	boot.Image = nil
	runs := filepath.Join(filepath.Dir(obj), filepath.Base(obj)+"-bisect-runs")
	if w != nil {
		runs = filepath.Join(w.Dir, "bisect-runs")
	}
	if err := os.MkdirAll(runs, 0o700); err != nil {
		return nil, err
	}
	k := &bisect.Kernel{Tree: tree, Obj: obj, Commits: saved.Commits, RunsDir: runs, Notes: cmd.ErrOrStderr(),
		Repro: repro.Options{Exec: vmexec.Options{Boot: boot}, Hang: b.hang, Duration: b.duration, Progress: cmd.ErrOrStderr()}}
	if f, ok := qemu.Terminal(cmd.ErrOrStderr()); ok {
		k.Log = kernel.Progress(f) // one line on a terminal; the whole log in OBJ
	}
	if saved.Title != "" {
		if k.Title, err = regexp.Compile(saved.Title); err != nil {
			return nil, fmt.Errorf("--title: %w", err)
		}
	}
	p, err := bug.Program(cmd.Context(), w, program, b.file, runs, "")
	if err != nil {
		return nil, err
	}
	k.Repro.Argv, k.Repro.Exec.Add = p.Argv, p.Add
	return k, nil
}

// report prints where the bisect ended; exit 1 when no commit reached
// the confidence.
func (b *bisectFlags) report(cmd *cobra.Command, s *bisect.Saved, res bisect.Result, w *bug.Workspace) error {
	fmt.Fprintln(cmd.OutOrStdout(), s.Where())
	if res.First < 0 {
		return exitCode(exitDiffers)
	}
	if w != nil {
		w.Bisected = s.Commits[res.First].Hash
		return w.Save()
	}
	return nil
}

// gitBisect runs plain git bisect run, each step a build and one repro
// run of the reproducer.
func (b *bisectFlags) gitBisect(cmd *cobra.Command, tree, obj string, w *bug.Workspace) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	file := b.file
	if file == "" && w != nil {
		file = w.Path(bug.Repro)
	}
	if file == "" {
		return errors.New("--git runs --repro FILE (or the workspace's reproducer)")
	}
	if file, err = filepath.Abs(file); err != nil {
		return err
	}
	args := []string{"--repro", file, "--runs", "1", "--hang", b.hang.String(), "--duration", b.duration.String()}
	if b.hang == 0 {
		args = append(args[:4], args[6:]...)
	}
	if b.title != "" {
		args = append(args, "--title", b.title)
	}
	first, err := bisect.GitBisect(cmd.Context(), self, tree, obj, b.good, b.bad, args, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	fmt.Fprintln(cmd.OutOrStdout(), "first bad commit (git bisect run):", first)
	return nil
}
