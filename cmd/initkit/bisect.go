package main

import (
	"errors"
	"fmt"
	"os"
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
	lava                              lavaFlags
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
	b.lava.farmFlags(f)
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

func runBisect(cmd *cobra.Command, b *bisectFlags, args []string) error {
	run := repro.Options{Hang: b.hang, Duration: b.duration, Progress: cmd.ErrOrStderr()}
	if err := errors.Join(refuseZero(cmd, "duration", "max-runs", "build-cost"), b.o.Check(), run.Check()); err != nil {
		return err
	}
	var program []string
	if dash := cmd.ArgsLenAtDash(); dash >= 0 {
		program, args = args[dash:], args[:dash]
	}
	w, err := bug.Find(args, b.tree == "")
	if err != nil {
		return err
	}
	j, err := bisect.Locate(w, b.tree, b.obj)
	if err != nil {
		return err
	}
	if b.git {
		return b.gitBisect(cmd, j)
	}
	saved, err := b.saved(cmd, j)
	if err != nil || b.log {
		return err
	}
	boot, _, err := b.load(cmd)
	if err != nil {
		return err
	}
	run.Exec = vmexec.Options{Boot: boot}
	if b.lava.url != "" {
		farm, err := b.lava.remote(cmd)
		if err != nil {
			return err
		}
		j.Farm = farm.FarmFor
	}
	k, err := j.Tester(cmd.Context(), saved, run, program, b.file)
	if err != nil {
		return err
	}
	k.Notes = cmd.ErrOrStderr()
	if f, ok := qemu.Terminal(cmd.ErrOrStderr()); ok {
		k.Log = kernel.Progress(f) // one line on a terminal; the whole log in OBJ
	}
	res, err := j.Run(cmd.Context(), saved, k, b.o, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	fmt.Fprintln(cmd.OutOrStdout(), saved.Where())
	if res.First >= 0 {
		return nil
	}
	return exitCode(exitDiffers)
}

// saved is the bisect to go on with: the saved one (--resume, --log), or
// a new one over good..bad.
func (b *bisectFlags) saved(cmd *cobra.Command, j bisect.Job) (*bisect.Saved, error) {
	if !b.resume && !b.log {
		return j.Start(cmd.Context(), b.good, b.bad, b.title, b.o.Confidence)
	}
	s, err := bisect.Load(j.State)
	if err != nil {
		return nil, err
	}
	if !b.log && cmd.Flags().Changed("confidence") {
		s.Confidence = b.o.Confidence
	}
	b.o.Confidence = s.Confidence
	if b.log {
		for i, st := range s.State.Steps {
			fmt.Fprintln(cmd.OutOrStdout(), s.Describe(i+1, st))
		}
		fmt.Fprintln(cmd.OutOrStdout(), s.Where())
	}
	return s, nil
}

// gitBisect runs plain git bisect run, each step a build and one repro
// run of the reproducer.
func (b *bisectFlags) gitBisect(cmd *cobra.Command, j bisect.Job) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	args, err := j.GitRepro(b.file, b.title, b.hang, b.duration)
	if err != nil {
		return err
	}
	first, err := bisect.GitBisect(cmd.Context(), self, j.Tree, j.Obj, b.good, b.bad, args, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	fmt.Fprintln(cmd.OutOrStdout(), "first bad commit (git bisect run):", first)
	return nil
}
