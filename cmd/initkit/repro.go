package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/initkit/initkit/bug"
	"github.com/initkit/initkit/internal/interrupt"
	"github.com/initkit/initkit/repro"
	"github.com/initkit/initkit/vmexec"
)

type reproFlags struct {
	machine
	lava   lavaFlags
	o      repro.Options
	req    bug.ReproRequest
	asJSON bool
	add    []string
}

func newRepro() *cobra.Command {
	var r reproFlags
	cmd := &cobra.Command{
		Use:   "repro [DIR] [flags] [-- CMD ARGS...]",
		Short: "Run a reproducer in fresh VMs, in parallel, until it crashes the kernel; exit codes for git bisect run",
		Long:  help("repro"),
		RunE: func(cmd *cobra.Command, args []string) error {
			interrupt.Graceful(interrupt.Stops...)
			code, err := runRepro(cmd, &r, args)
			if err != nil {
				// An error of initkit's own aborts a bisect, never marks a
				// commit bad.
				printError(cmd.ErrOrStderr(), err)
				return exitCode(repro.ExitInfra)
			}
			return exitCode(code)
		},
	}
	f := cmd.Flags()
	r.flags(f)
	r.lava.farmFlags(f)
	f.StringVar(&r.req.File, "repro", "", "the reproducer `FILE`: C (compiled with gcc -static), .syz (needs --syz-dir), or a program (default: the workspace's)")
	f.StringVar(&r.req.SyzDir, "syz-dir", "", "`DIR` with syz-execprog and syz-executor, for a syz reproducer")
	f.IntVar(&r.o.Runs, "runs", 10, "runs to do")
	f.IntVarP(&r.o.Jobs, "jobs", "j", 0, "runs at once (default: the cores)")
	f.BoolVar(&r.o.All, "all", false, "go on after the first crash")
	f.DurationVar(&r.o.Duration, "duration", 5*time.Minute, "how long a run may go on: a reproducer still running then ends clean")
	f.DurationVar(&r.o.Hang, "hang", 0, "a guest silent this long is hung (default 2m30s, x3 under TCG)")
	f.StringVar(&r.req.Title, "title", "", "only a crash whose title matches `REGEX` counts (others are listed as other crash)")
	f.BoolVar(&r.asJSON, "json", false, "print the summary as JSON on stdout")
	f.StringVar(&r.req.Disk, "disk", "", "run in the root of disk image `FILE`, a snapshot for each run (default: the workspace's disk image)")
	f.StringVar(&r.req.Root, "root", "", "the disk's root partition `PART` (PARTLABEL, number, or a root= value; default: the first Linux filesystem)")
	f.BoolVar(&r.req.NoDisk, "no-disk", false, "run in exec's own guest even when the workspace has a disk image")
	f.StringArrayVar(&r.add, "add", nil, "also add a host file with its libraries, or a directory whole, `SRC[:DST]` (repeatable)")
	f.Lookup("timeout").Hidden = true // --duration and --hang bound a run
	return cmd
}

// runRepro returns repro's exit code, or an error of its own.
func runRepro(cmd *cobra.Command, r *reproFlags, args []string) (int, error) {
	if err := refuseZero(cmd, "runs", "duration"); err != nil {
		return 0, err
	}
	if dash := cmd.ArgsLenAtDash(); dash >= 0 {
		r.req.Argv, args = args[dash:], args[:dash]
	}
	w, err := bug.Find(args, true)
	if err != nil {
		return 0, err
	}
	b, _, err := r.load(cmd)
	if err != nil {
		return 0, err
	}
	b.Image = nil
	r.o.Exec = vmexec.Options{Boot: b, Add: r.add}
	if r.lava.url != "" {
		farm, err := r.lava.remote(cmd)
		if err != nil {
			return 0, err
		}
		r.req.Farm = farm.FarmFor
	}
	r.req.Notes = cmd.ErrOrStderr()
	s, err := bug.RunRepro(cmd.Context(), w, r.o, r.req)
	if err != nil {
		return 0, err
	}
	s.Interrupted = interrupt.Code() != 0
	if err := s.Write(cmd.ErrOrStderr()); err != nil {
		return 0, err
	}
	if r.asJSON {
		if err := writeJSON(cmd, s); err != nil {
			return 0, err
		}
	}
	return s.ExitCode(), nil
}
