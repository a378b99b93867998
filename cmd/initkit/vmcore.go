package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/initkit/initkit/internal/interrupt"
	"github.com/initkit/initkit/vmcore"
)

type vmcoreFlags struct {
	decodeFlags
	tail     int
	crash    bool
	crashCmd []string
	limit    time.Duration
}

func newVmcore() *cobra.Command {
	v := &vmcoreFlags{}
	cmd := &cobra.Command{
		Use:   "vmcore VMCORE",
		Short: "Read a kernel memory dump: its facts, its kernel log, its crash reports decoded",
		Long:  help("vmcore"),
		Args:  nArgs(1, 1),
		RunE:  func(cmd *cobra.Command, args []string) error { return runVmcore(cmd, v, args[0]) },
	}
	f := cmd.Flags()
	specFlag(f, &v.file)
	kernelFlags(f, &v.kernel)
	f.StringArrayVar(&v.modules, "modules", nil, "`DIR` to find NAME.ko in for module frames (repeatable)")
	f.BoolVar(&v.json, "json", false, "print the facts, the log and the decoded reports as JSON")
	f.IntVar(&v.tail, "tail", 0, "print only the last `N` lines of the log (0: all)")
	f.BoolVar(&v.crash, "crash", false, "run crash(8) non-interactively on the dump and the vmlinux")
	f.StringArrayVar(&v.crashCmd, "crash-cmd", nil, "crash `COMMAND` to run (repeatable; default bt, ps, log)")
	f.DurationVar(&v.limit, "crash-timeout", vmcore.DefaultCrashLimit, "stop crash after this long (a corrupt dump can keep it going)")
	return cmd
}

func runVmcore(cmd *cobra.Command, v *vmcoreFlags, path string) error {
	if v.crash {
		// Ctrl-C stops crash with what it started, and removes its directory.
		interrupt.Graceful(interrupt.Stops...)
	}
	o := vmcore.ReportOptions{ModuleDirs: v.modules, Tail: v.tail, JSON: v.json, Crash: v.crash, CrashCmds: v.crashCmd, CrashLimit: v.limit}
	o.Kernel, o.KernelErr = v.choose(cmd)
	return vmcore.Report(cmd.Context(), path, o, cmd.OutOrStdout(), cmd.ErrOrStderr())
}
