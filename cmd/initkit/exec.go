package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/initkit/initkit/image"
	"github.com/initkit/initkit/internal/interrupt"
	"github.com/initkit/initkit/kernel"
	"github.com/initkit/initkit/qemu"
	"github.com/initkit/initkit/vmexec"
)

func newExec() *cobra.Command {
	var o vmexec.Options
	var k kernel.Request
	var dirLimit string
	var disks []string
	cmd := &cobra.Command{
		Use:   "exec [flags] -- CMD [ARGS...]",
		Short: "Run one command in a fresh VM, like a local command",
		Long: `Boot a kernel with an initramfs holding CMD (a host path) with its shared
libraries and busybox, run CMD as a child of the initkit init, stream its
stdout and stderr, and exit with its status (128+N when signal N killed it).
The status travels on its own serial port, not through the console.

Inside the guest: CMD, its libraries and --add files and directories,
busybox (when the host has one; a program added wins over its applet of the
same name), and the working directory with its files at the same path, where
CMD runs (up to --workdir-limit); stdin is /dev/null, PATH, PWD and HOME=/tmp
are set, the whole tree (in RAM) is writable, /proc /sys /dev /run are
mounted, the loopback interface is up; no other network, no other host
files. Each --disk is a virtio disk, /dev/vda on, there before CMD starts
(virtio_blk comes from the kernel's modules, as do --module's); CMD's
writes go back to the file unless FILE:ro. As go test -exec 'initkit exec
--' it runs a package's test binary under a real kernel, in the package's
directory with its testdata.

The kernel boots with "` + vmexec.Cmdline + `":
cryptomgr.notests skips the crypto self-tests, a fifth of the boot under
TCG, and init_on_alloc=0 the zeroing of each page allocated; --append
cryptomgr.notests=0 init_on_alloc=1 brings them back.` + kernelHelp,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			interrupt.Graceful(os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
			ctx := cmd.Context()
			choice, err := kernel.Choose(ctx, k)
			if err != nil {
				return err
			}
			o.Kernel, o.ModulesDir = choice.Image, choice.ModulesDir
			for _, d := range disks {
				o.Disks = append(o.Disks, qemu.ParseDisk(d))
			}
			if o.DirLimit, err = image.ParseSize(dirLimit); err != nil {
				return fmt.Errorf("--workdir-limit: %w", err)
			} else if o.DirLimit > 0 {
				o.Dir = "."
			}
			if _, err := os.Stat(o.Busybox); err != nil && !cmd.Flags().Changed("busybox") {
				o.Busybox = "" // busybox is for the command's convenience only
			}
			o.Stdout, o.Stderr, o.Notes = cmd.OutOrStdout(), cmd.ErrOrStderr(), cmd.ErrOrStderr()
			res, err := vmexec.Run(ctx, args, o)
			where := ""
			if res.Outcome.LogPath != "" {
				where = " (console log: " + res.Outcome.LogPath + ")"
			}
			switch {
			case res.Outcome.Kind == qemu.TimedOut:
				fmt.Fprintf(cmd.ErrOrStderr(), "initkit exec: timed out after %v%s\n", o.Timeout, where)
				return exitCode(exitTimeout)
			case errors.Is(err, vmexec.ErrNoStatus) && res.Outcome.Kind == qemu.Crashed:
				fmt.Fprintln(cmd.ErrOrStderr(), decodeBlock(cmd.ErrOrStderr(), k.Vmlinux, nil, res.Outcome.Crash))
				return fmt.Errorf("%w: %s%s", err, res.Outcome, where)
			case err != nil:
				return fmt.Errorf("%w%s", err, where)
			}
			return exitCode(res.Status)
		},
	}
	f := cmd.Flags()
	kernelFlags(f, &k)
	f.StringVar(&dirLimit, "workdir-limit", "64M", "copy the working directory into the guest, where CMD runs, up to this `SIZE` of files (0: run in / with nothing copied)")
	f.StringVar(&o.Busybox, "busybox", "/bin/busybox", "static busybox `PATH` for the guest (\"\": none)")
	f.StringSliceVar(&o.Applets, "applets", nil, "link only these busybox `APPLETS` (comma-separated; default: all)")
	f.StringVar(&o.Base, "initrd", "", "append to this initramfs `IMAGE` instead of starting empty")
	f.StringArrayVar(&o.Add, "add", nil, "also add a host file `SRC[:DST]` with its libraries (repeatable)")
	f.StringArrayVar(&disks, "disk", nil, "attach disk image `FILE[:ro]` as /dev/vda, vdb, ... in order, written back unless :ro (repeatable)")
	f.StringSliceVar(&o.Modules, "module", nil, "load kernel module `NAME` (with its dependencies) before CMD starts (repeatable, comma-separated)")
	f.StringVar(&o.Memory, "mem", "1G", "guest memory")
	f.IntVar(&o.SMP, "smp", 1, "guest CPUs")
	f.StringVar(&o.Accel, "accel", "auto", "accelerator: auto (KVM if the kernel boots under it, else TCG), kvm or tcg")
	f.StringVar(&o.Append, "append", "", "more kernel command line, after exec's own \""+vmexec.Cmdline+"\" (where a later value wins)")
	f.DurationVar(&o.Timeout, "timeout", 0, "give up after this long (0: no limit)")
	f.StringVar(&o.LogPath, "log", "", "save the kernel console to `FILE` (a crash's first line is reported either way)")
	return cmd
}
