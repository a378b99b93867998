package main

import (
	"os"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/initkit/initkit/gdb"
	"github.com/initkit/initkit/internal/interrupt"
	"github.com/initkit/initkit/qemu"
)

type debugFlags struct {
	machine
	opts  gdb.Options
	init  gdb.InitOptions
	batch string
}

func newDebug() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "debug",
		Short: "Debug PID 1 under gdbserver, or the kernel under QEMU's gdb stub, with gdb",
	}
	cmd.AddCommand(newDebugInit(), newDebugKernel())
	return cmd
}

func debugCommon(cmd *cobra.Command, d *debugFlags) {
	f := cmd.Flags()
	d.flags(f)
	f.StringVar(&d.boot.Initrd, "initrd", "", "initramfs `IMAGE` (default: the spec's [image], built)")
	f.StringVar(&d.file, "spec", "", "the same as -c: build the initramfs from this spec `FILE`'s [image]")
	f.StringVar(&d.opts.GDB, "gdb", "", "the gdb to run (default: gdb, or gdb-multiarch for a guest of another machine)")
	f.StringVar(&d.opts.Break, "break", "", "stop at function `FUNC`")
	f.StringVar(&d.batch, "batch", "", "run the gdb commands in `FILE` after the stop, then end gdb (no prompt)")
	f.BoolVar(&d.opts.Print, "print", false, "print the gdb command and script for a frontend or an IDE instead of starting gdb")
	f.DurationVar(&d.opts.Grace, "grace", gdb.DefaultGrace, "how long the guest may go on after gdb ends before it is stopped")
}

func newDebugInit() *cobra.Command {
	d := &debugFlags{}
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Boot with gdbserver attached to PID 1 on ttyS1 and stop gdb in the real init",
		Long:  help("debug-init"),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDebug(cmd, d, func() (*gdb.Result, error) {
				d.init.Options = d.opts
				return gdb.DebugInit(cmd.Context(), d.init)
			})
		},
	}
	debugCommon(cmd, d)
	f := cmd.Flags()
	f.StringVar(&d.init.Init, "init", "", "the init to debug, a host `PATH` (default: the image's /init)")
	f.StringVar(&d.init.Gdbserver, "gdbserver", "/usr/bin/gdbserver", "gdbserver to add to the image, a host `PATH`")
	f.StringVar(&d.init.Transport, "transport", "serial", "serial (ttyS1 on a unix socket) or tcp (gdbserver on the guest's network, forwarded from 127.0.0.1)")
	f.BoolVar(&d.init.Trace, "trace", false, "run the init, a #! script, under its interpreter's -x instead of gdb: every command it runs on the console")
	f.StringVar(&d.kernel.ModulesDir, "modules-dir", "", "the kernel's /lib/modules/RELEASE `DIR`, for the network driver of --transport tcp (default: beside the kernel)")
	return cmd
}

func newDebugKernel() *cobra.Command {
	d := &debugFlags{}
	cmd := &cobra.Command{
		Use:   "kernel",
		Short: "Boot halted with QEMU's gdb stub on 127.0.0.1 (nokaslr) and attach gdb with the vmlinux",
		Long:  help("debug-kernel"),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDebug(cmd, d, func() (*gdb.Result, error) { return gdb.DebugKernel(cmd.Context(), d.opts) })
		},
	}
	debugCommon(cmd, d)
	return cmd
}

// runDebug runs the session: gdb on stdout, the guest's console on
// stderr.
func runDebug(cmd *cobra.Command, d *debugFlags, session func() (*gdb.Result, error)) error {
	// SIGINT is left to the session: while gdb runs it is gdb's.
	interrupt.Graceful(syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	b, _, err := d.load(cmd)
	if err != nil {
		return err
	}
	b.Console = cmd.ErrOrStderr()
	o := &d.opts
	o.Boot = b
	if d.batch != "" {
		if o.Batch, err = gdb.BatchLines(d.batch); err != nil {
			return err
		}
	}
	o.Stdin, o.Stdout, o.Stderr = os.Stdin, cmd.OutOrStdout(), cmd.ErrOrStderr()
	res, err := session()
	if err != nil || res.Kind == qemu.PoweredOff || res.Kind == qemu.Interrupted {
		return err
	}
	return report(cmd, "debug", res.Result)
}
