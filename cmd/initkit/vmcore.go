package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/initkit/initkit/decode"
	"github.com/initkit/initkit/vmcore"
)

type vmcoreFlags struct {
	decodeFlags
	tail     int
	crash    bool
	crashCmd []string
}

func newVmcore() *cobra.Command {
	v := &vmcoreFlags{}
	cmd := &cobra.Command{
		Use:   "vmcore VMCORE",
		Short: "Read a kernel memory dump: its facts, its kernel log, its crash reports decoded",
		Long:  help("vmcore"),
		Args:  cobra.ExactArgs(1),
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
	return cmd
}

func runVmcore(cmd *cobra.Command, v *vmcoreFlags, path string) error {
	d, err := vmcore.Open(path)
	if err != nil {
		return err
	}
	defer d.Close()
	var vmlinux string
	k, vmErr := v.choose(cmd)
	if vmErr == nil {
		vmlinux, vmErr = k.NeedVmlinux()
	}
	if vmErr == nil && d.Info != nil {
		if err := d.CheckVmlinux(vmlinux); err != nil {
			return err
		}
	}
	if v.crash {
		if vmErr != nil {
			return vmErr
		}
		return vmcore.Crash(cmd.Context(), vmlinux, path, v.crashCmd, cmd.OutOrStdout(), cmd.ErrOrStderr())
	}
	var dec *decode.Decoder
	if vmErr == nil {
		if dec, err = decode.ForKernel(k, v.modules, true, decode.Options{}); err != nil {
			return err
		}
		defer dec.Close()
	} else if !v.json {
		defer fmt.Fprintf(cmd.ErrOrStderr(), "initkit vmcore: crash reports not decoded: %v\n", vmErr)
	}
	return d.Show(cmd.OutOrStdout(), dec, v.tail, v.json)
}
