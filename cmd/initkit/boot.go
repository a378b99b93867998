package main

import (
	"cmp"
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/initkit/initkit/boot"
	"github.com/initkit/initkit/internal/interrupt"
	"github.com/initkit/initkit/internal/shell"
	"github.com/initkit/initkit/kernel"
	"github.com/initkit/initkit/qemu"
	"github.com/initkit/initkit/spec"
)

// machine is what every command that boots takes: the spec file, the
// kernel, and the guest's size, command line, time limit and log.
type machine struct {
	file   string
	kernel kernel.Request
	boot   boot.Options
}

// flags declares the machine's flags on f.
func (m *machine) flags(f *pflag.FlagSet) {
	specFlag(f, &m.file)
	kernelFlags(f, &m.kernel)
	b := &m.boot
	f.StringVar(&b.Append, "append", "", "more kernel command line `ARGS` (after [boot] append)")
	f.StringVar(&b.Memory, "mem", "1G", "guest memory `SIZE` (1G, 512M)")
	f.IntVar(&b.SMP, "smp", 1, "guest CPUs")
	f.StringVar(&b.Accel, "accel", "auto", "accelerator: auto (KVM if the kernel boots under it, else TCG), kvm or tcg")
	f.DurationVar(&b.Timeout, "timeout", 0, "stop the guest after this long (0: no limit)")
	f.StringVar(&b.LogPath, "log", "", "save the console to `FILE`")
}

// specFlag adds -c, the spec file every command that reads one takes.
func specFlag(f *pflag.FlagSet, file *string) {
	f.StringVarP(file, "config", "c", "", "spec `FILE`: initkit.toml's tables (default ./initkit.toml when present)")
}

// kernelFlags adds --kernel and --vmlinux, the kernel policy's inputs.
func kernelFlags(f *pflag.FlagSet, r *kernel.Request) {
	f.StringVar(&r.Kernel, "kernel", "", "kernel image `FILE`, a vmlinux, or a kernel build directory to boot")
	f.StringVar(&r.Vmlinux, "vmlinux", "", "the kernel's vmlinux `FILE` with DWARF, for source lines and inline frames")
}

// load reads the spec file and returns the boot the flags ask for, the
// [boot] table's values where a flag was not given, and the [image] to
// build when no --initrd was given.
func (m *machine) load(cmd *cobra.Command) (boot.Options, *spec.File, error) {
	sf, err := spec.Load(m.file)
	if err != nil {
		return boot.Options{}, nil, err
	}
	b := m.boot
	b.Kernel, b.Notes = m.kernel, cmd.ErrOrStderr()
	sf.Apply(&b, cmd.Flags().Changed)
	if b.Initrd == "" {
		b.Image = sf.Image
	}
	return b, sf, nil
}

type bootFlags struct {
	machine
	lava                        lavaFlags
	waitGDB, dryRun, noSnapshot bool
	watch                       bool
	diskBacking                 bool
	disks, expect, fail         []string
	gdb, sshPort                int
	net                         string
	json                        bool
}

func newBoot() *cobra.Command {
	var b bootFlags
	o := &b.boot
	cmd := &cobra.Command{
		Use:   "boot",
		Short: "Boot a kernel and initramfs in QEMU and turn the outcome into an exit code",
		Long:  help("boot"),
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return runBoot(cmd, &b) },
	}
	f := cmd.Flags()
	b.flags(f)
	b.lava.flags(f)
	f.StringVar(&o.Initrd, "initrd", "", "initramfs `IMAGE` (default: the spec's [image], built)")
	f.StringVar(&b.file, "spec", "", "the same as -c: build the initramfs from this spec `FILE`'s [image]")
	f.StringArrayVar(&o.Add, "add", nil, "append a segment with host file or directory `SRC[:DST]` to the initramfs, no rebuild (repeatable)")
	f.StringVar(&o.Arch, "arch", "", "guest architecture: x86_64 or aarch64 (default: the kernel's)")
	f.StringArrayVar(&b.disks, "disk", nil, "attach a disk image `FILE` (repeatable)")
	f.StringVar(&o.DiskIf, "disk-if", "", "disk interface: virtio (default), nvme or ide; with --root and no initramfs, the one the kernel has built in")
	f.BoolVar(&b.noSnapshot, "no-snapshot", false, "write disk changes back (disks are snapshots by default)")
	f.BoolVar(&b.diskBacking, "disk-backing", false, "let qcow2 disks open the backing and data files they name (host files: refused by default)")
	f.StringVar(&o.Root, "root", "", "boot the first --disk's partition `PART` (PARTLABEL, number, or a root= value)")
	f.StringVar(&o.Init, "init", "", "the init to run, `PATH` in the root (init=)")
	f.StringVar(&b.net, "net", "", "networking: user (none by default)")
	f.IntVar(&b.sshPort, "ssh-port", 0, "forward 127.0.0.1:`PORT` to the guest's port 22 (implies --net user)")
	f.IntVar(&b.gdb, "gdb", 0, "QEMU's gdb stub on 127.0.0.1:`PORT` (--gdb alone: 1234); adds nokaslr")
	f.Lookup("gdb").NoOptDefVal = "1234"
	f.BoolVar(&b.waitGDB, "wait-gdb", false, "start the guest halted until gdb continues it")
	f.BoolVar(&o.Crash, "crash", false, "reserve memory for a crash kernel (crashkernel=256M)")
	f.BoolVar(&o.DumpOnTimeout, "dump-on-timeout", false, "on --timeout, write the guest's memory to vmcore in the run directory first (read it with initkit vmcore)")
	f.BoolVar(&o.DumpOnCrash, "dump-on-crash", false, "on a kernel crash, write the guest's memory to vmcore in the run directory (for a kernel without kdump)")
	f.StringVar(&o.DumpFormat, "dump-format", "elf", "the dump's format: elf or kdump-zlib (makedumpfile's compressed format)")
	f.BoolVar(&o.Kdump, "kdump", false, "capture a panic: the crash kernel loaded at boot, the vmcore written to the run directory; exit 3 with its path")
	f.StringVar(&o.CrashKernel, "crash-kernel", "", "with --kdump, the capture kernel `FILE` (default: the kernel that boots)")
	f.BoolVar(&o.NoMakedumpfile, "no-makedumpfile", false, "with --kdump, write the ELF vmcore as it is instead of filtering it with makedumpfile")
	f.StringSliceVar(&o.PanicOn, "panic-on", nil, "turn these reports into panics (and dumps): `oops,warn,hung,lockup,rcu`")
	f.StringArrayVar(&o.QEMUArgs, "qemu-arg", nil, "pass `ARG` to QEMU as it is (repeatable)")
	f.StringArrayVar(&b.expect, "expect", nil, "`REGEX` the console must show, in order (repeatable)")
	f.StringArrayVar(&b.fail, "fail", nil, "`REGEX` that fails the run when the console shows it (repeatable)")
	f.BoolVar(&b.watch, "watch", false, "boot again whenever the kernel (a make in its tree) or the initramfs changes (--initrd, or any input of the spec's [image], built again), until Ctrl-C")
	f.BoolVar(&b.dryRun, "dry-run", false, "prepare everything and print the QEMU command instead of running it")
	f.BoolVar(&b.json, "json", false, "print how the run ended as JSON on stdout (the console only in the log)")
	f.StringArrayVar(&o.ModuleDirs, "modules", nil, "`DIR` to find NAME.ko in for module frames of a crash (repeatable)")
	return cmd
}

func runBoot(cmd *cobra.Command, b *bootFlags) error {
	o, sf, err := b.load(cmd)
	if err != nil {
		return err
	}
	if err := b.options(cmd, &o, sf); err != nil {
		return err
	}
	if b.watch {
		return b.watchBoot(cmd)
	}
	if b.lava.url != "" && !b.dryRun {
		interrupt.Graceful(interrupt.Stops...)
		r, err := b.lava.remote(cmd)
		if err != nil {
			return err
		}
		res, err := r.Boot(cmd.Context(), o)
		if err != nil {
			return err
		}
		return b.end(cmd, res)
	}
	if !b.dryRun {
		if in, ok := qemu.Terminal(cmd.InOrStdin()); ok {
			// A person at a terminal: keys go to the guest, Ctrl-A x quits.
			o.Stdin, o.Interactive = in, true
			fmt.Fprintln(cmd.ErrOrStderr(), "initkit boot: interactive console; Ctrl-A x quits")
		}
		interrupt.Graceful(interrupt.Stops...)
	}
	r, err := boot.Prepare(cmd.Context(), o)
	if err != nil {
		return err
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(cmd.ErrOrStderr(), "initkit boot: warning: %s\n", w)
	}
	if r.Kdump != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "initkit boot: kdump: %s\n", r.Kdump)
	}
	if b.dryRun {
		args, err := r.Command()
		fmt.Fprintln(cmd.OutOrStdout(), shell.Quote(args))
		return err
	}
	return b.end(cmd, r.Boot(cmd.Context()))
}

// end reports how the boot ended, and exits with its code.
func (b *bootFlags) end(cmd *cobra.Command, res boot.Result) error {
	if b.json {
		if err := writeJSON(cmd, res.Summary()); err != nil {
			return err
		}
	}
	return report(cmd, "boot", res)
}

// options turns the flags into the run's options, over the spec file's.
func (b *bootFlags) options(cmd *cobra.Command, o *boot.Options, sf *spec.File) error {
	var err error
	if o.Expect, err = qemu.Patterns(b.expect); err != nil {
		return err
	}
	if o.Fail, err = qemu.Patterns(b.fail); err != nil {
		return err
	}
	if b.file != "" && cmd.Flags().Changed("spec") && sf.Image == nil {
		return fmt.Errorf("--spec %s: no [image] table to build the initramfs from", b.file)
	}
	for _, d := range b.disks {
		o.Disks = append(o.Disks, qemu.Disk{Path: d, Snapshot: !b.noSnapshot, Backing: b.diskBacking})
	}
	if n, err := qemu.Network(b.net, b.sshPort); err != nil {
		return err
	} else if n != nil {
		o.Devices = append(o.Devices, n)
	}
	if b.gdb != 0 || b.waitGDB {
		port := cmp.Or(b.gdb, 1234)
		if err := qemu.CheckPort("--gdb", port); err != nil {
			return err
		}
		o.Devices = append(o.Devices, qemu.GDBStub{Port: port, Wait: b.waitGDB})
	}
	if !b.json {
		o.Console = cmd.OutOrStdout()
	}
	return nil
}

// report says how a run ended and returns its exit code.
func report(cmd *cobra.Command, name string, res boot.Result) error {
	res.Report(cmd.ErrOrStderr(), name)
	return exitCode(res.ExitCode())
}

// watchBoot boots, and again whenever the kernel or an input of the
// initramfs changes. Ctrl-C stops the guest and ends.
func (b *bootFlags) watchBoot(cmd *cobra.Command) error {
	var w boot.Watcher
	defer w.Close()
	return watchLoop(cmd, "boot", b.file, func(ctx context.Context) ([]string, error) {
		o, sf, err := b.load(cmd)
		if err == nil {
			err = b.options(cmd, &o, sf)
		}
		if err != nil {
			return nil, err
		}
		return w.Step(ctx, o, cmd.ErrOrStderr())
	})
}
