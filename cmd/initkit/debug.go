package main

import (
	"os"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/initkit/initkit/gdb"
	"github.com/initkit/initkit/internal/interrupt"
	"github.com/initkit/initkit/kernel"
	"github.com/initkit/initkit/qemu"
)

type debugFlags struct {
	kernel  kernel.Request
	opts    gdb.Options
	init    gdb.InitOptions
	batch   string
	timeout time.Duration
}

func newDebug() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "debug",
		Short: "debug PID 1 under gdbserver, or the kernel under QEMU's gdb stub, with gdb",
	}
	cmd.AddCommand(newDebugInit(), newDebugKernel())
	return cmd
}

func debugCommon(cmd *cobra.Command, d *debugFlags) {
	f := cmd.Flags()
	kernelFlags(f, &d.kernel)
	f.StringVar(&d.opts.QEMU.Initrd, "initrd", "", "initramfs `IMAGE`")
	f.StringVar(&d.opts.Spec, "spec", "", "build the initramfs from spec `FILE`")
	f.StringVar(&d.opts.QEMU.Append, "append", "", "extra kernel command line")
	f.StringVar(&d.opts.GDB, "gdb", "gdb", "the gdb to run")
	f.StringVar(&d.opts.Break, "break", "", "stop at function `FUNC`")
	f.StringVar(&d.batch, "batch", "", "run the gdb commands in `FILE` after the stop, then end gdb (no prompt)")
	f.BoolVar(&d.opts.Print, "print", false, "print the gdb command and script for a frontend or an IDE instead of starting gdb")
	f.DurationVar(&d.timeout, "timeout", 0, "stop the guest after this long (0: never)")
	f.DurationVar(&d.opts.Grace, "grace", gdb.DefaultGrace, "how long the guest may go on after gdb ends before it is stopped")
}

func newDebugInit() *cobra.Command {
	d := &debugFlags{}
	cmd := &cobra.Command{
		Use:   "init",
		Short: "boot with gdbserver attached to PID 1 on ttyS1 and stop gdb in the real init",
		Long: `Adds gdbserver (with its libraries) and the debug hook to the image: /init
becomes the initkit init, which mounts /dev and /proc, starts gdbserver attached
to PID 1 on ttyS1, waits until PID 1 is traced (no sleep, no race), and execs
the real init: the image's own /init, or --init PATH (then a minimal image is
built around it: the program, its libraries and busybox). ttyS1 is a unix
socket; gdb reads files from a local copy of the image (set sysroot), catches
the execve into the real init and stops at --break (default main, when the
program has it).` + kernelHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDebug(cmd, d, func(k *kernel.Choice) (*gdb.Result, error) {
				d.init.Options, d.init.ModulesDir = d.opts, k.ModulesDir
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
		Short: "boot halted with QEMU's gdb stub on 127.0.0.1 (nokaslr) and attach gdb with the vmlinux",
		Long: `Boots the kernel halted with QEMU's gdb stub on 127.0.0.1 (nokaslr), and runs
gdb with the vmlinux, sourcing vmlinux-gdb.py when the build tree has it.` + kernelHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDebug(cmd, d, func(k *kernel.Choice) (*gdb.Result, error) {
				vmlinux, err := k.NeedVmlinux()
				if err != nil {
					return nil, err
				}
				return gdb.DebugKernel(cmd.Context(), gdb.KernelOptions{Options: d.opts, Vmlinux: vmlinux})
			})
		},
	}
	debugCommon(cmd, d)
	return cmd
}

// runDebug picks the kernel and runs the session: gdb on stdout, the
// guest's console on stderr.
func runDebug(cmd *cobra.Command, d *debugFlags, session func(*kernel.Choice) (*gdb.Result, error)) error {
	// SIGINT is left to the session: while gdb runs it is gdb's.
	interrupt.Graceful(syscall.SIGTERM, syscall.SIGHUP)
	ctx := cmd.Context()
	k, err := kernel.Choose(ctx, d.kernel)
	if err != nil {
		return err
	}
	o := &d.opts
	o.QEMU.Kernel, o.Timeout = k.Image, d.timeout
	if d.batch != "" {
		if o.Batch, err = gdb.BatchLines(d.batch); err != nil {
			return err
		}
	}
	o.Stdin, o.Stdout, o.Stderr, o.Console = os.Stdin, cmd.OutOrStdout(), cmd.ErrOrStderr(), cmd.ErrOrStderr()
	res, err := session(k)
	if err != nil || res.Outcome.Kind == qemu.PoweredOff || res.Outcome.Kind == qemu.Interrupted {
		return err
	}
	return verdict(cmd.ErrOrStderr(), "debug", res.Outcome, d.timeout)
}
