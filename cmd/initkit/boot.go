package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/initkit/initkit/decode"
	"github.com/initkit/initkit/disk"
	"github.com/initkit/initkit/initramfs"
	"github.com/initkit/initkit/internal/cache"
	"github.com/initkit/initkit/internal/interrupt"
	"github.com/initkit/initkit/internal/shell"
	"github.com/initkit/initkit/kdump"
	"github.com/initkit/initkit/kernel"
	"github.com/initkit/initkit/qemu"
)

// Exit codes of initkit boot, beyond the shared ones.
const (
	exitExpect  = 1 // an --expect was not met, or a --fail matched
	exitCrash   = 3 // the kernel panicked, oopsed or lost init
	exitTimeout = 4 // --timeout was reached
	exitQEMU    = 5 // QEMU could not start or failed
)

// outcomeCodes maps how a run ended to boot's exit code; an interrupted
// run exits 128+N for signal N (package interrupt).
var outcomeCodes = map[qemu.Kind]int{qemu.PoweredOff: exitOK, qemu.ExpectMet: exitOK, qemu.ExpectMissed: exitExpect,
	qemu.FailMatched: exitExpect, qemu.Crashed: exitCrash, qemu.TimedOut: exitTimeout, qemu.Failed: exitQEMU}

type bootFlags struct {
	cfg          qemu.Config
	kernel       kernel.Request
	timeout      time.Duration
	logPath      string
	dryRun       bool
	expect, fail []string
	disks        []string
	diskIf       string
	noSnapshot   bool
	root, init   string
	gdb          int
	spec         string
	adds         []string
	modules      []string
	dumpTimeout  bool
	dumpCrash    bool
	dumpFormat   string
	kdump        bool
	kdumpSet     bool // --kdump given (over [boot] kdump)
	crashKernel  string
	noFilter     bool
	panicOn      []string
}

func newBoot() *cobra.Command {
	var b bootFlags
	cmd := &cobra.Command{
		Use:   "boot",
		Short: "Boot a kernel and initramfs in QEMU and turn the outcome into an exit code",
		Long: `Boot a kernel with an initramfs in QEMU, stream the serial console, save it
without ANSI escapes to --log, and exit with:
  0  the guest powered off, or every --expect matched (in order)
  1  an --expect was not met, or a --fail matched
  3  the kernel panicked, oopsed, hit a BUG/KASAN/UBSAN, or init died
  4  --timeout was reached
  5  QEMU failed to start
QEMU is stopped through QMP once the outcome is known, and killed on a
timeout, Ctrl-C, SIGTERM, or if initkit itself dies. Every listener binds
127.0.0.1.` + kernelHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBoot(cmd, &b) },
	}
	f := cmd.Flags()
	c := &b.cfg
	kernelFlags(f, &b.kernel)
	f.StringVar(&c.Initrd, "initrd", "", "initramfs `IMAGE`")
	f.StringVar(&b.spec, "spec", "", "build the initramfs from this spec `FILE` first")
	f.StringArrayVar(&b.adds, "add", nil, "append a segment with host file `SRC:DST` to the initramfs, no rebuild (repeatable)")
	f.StringVar(&c.Append, "append", "", "extra kernel command line")
	f.StringVar(&c.Memory, "mem", "1G", "guest memory")
	f.IntVar(&c.SMP, "smp", 1, "guest CPUs")
	f.StringVar(&c.Accel, "accel", "auto", "accelerator: auto (KVM if the kernel boots under it, else TCG), kvm or tcg")
	f.StringVar(&c.Arch, "arch", "x86_64", "guest architecture: x86_64 or aarch64")
	f.StringArrayVar(&b.disks, "disk", nil, "attach a disk image `FILE` (repeatable)")
	f.StringVar(&b.diskIf, "disk-if", "virtio", "disk interface: virtio, nvme or ide")
	f.BoolVar(&b.noSnapshot, "no-snapshot", false, "write disk changes back (disks are snapshots by default)")
	f.StringVar(&b.root, "root", "", "boot the first --disk's partition `PART` (PARTLABEL, number, or a root= value); with no initramfs, on the interface whose driver the kernel has built in")
	f.StringVar(&b.init, "init", "", "the init to run, `PATH` in the root (init=)")
	f.StringVar(&c.Net, "net", "", "networking: user (none by default)")
	f.IntVar(&c.SSHPort, "ssh-port", 0, "forward 127.0.0.1:`PORT` to the guest's port 22 (implies --net user)")
	f.IntVar(&b.gdb, "gdb", 0, "QEMU's gdb stub on 127.0.0.1:`PORT` (--gdb alone: 1234); adds nokaslr")
	f.Lookup("gdb").NoOptDefVal = "1234"
	f.BoolVar(&c.WaitGDB, "wait-gdb", false, "start the guest halted until gdb continues it")
	f.BoolVar(&c.Crash, "crash", false, "reserve memory for a crash kernel (crashkernel=256M)")
	f.BoolVar(&b.dumpTimeout, "dump-on-timeout", false, "on --timeout, write the guest's memory to vmcore in the run directory first (QEMU's dump-guest-memory; read it with initkit vmcore)")
	f.BoolVar(&b.dumpCrash, "dump-on-crash", false, "on a kernel crash, write the guest's memory to vmcore in the run directory (for a kernel without kdump)")
	f.StringVar(&b.dumpFormat, "dump-format", "elf", "the dump's format: elf or kdump-zlib (makedumpfile's compressed format)")
	f.BoolVar(&b.kdump, "kdump", false, "capture a panic: the crash kernel loaded at boot, the vmcore written to the run directory; exit 3 with its path")
	f.StringVar(&b.crashKernel, "crash-kernel", "", "with --kdump, the capture kernel `FILE` (default: the kernel that boots)")
	f.BoolVar(&b.noFilter, "no-makedumpfile", false, "with --kdump, write the ELF vmcore as it is instead of filtering it with makedumpfile")
	f.StringSliceVar(&b.panicOn, "panic-on", nil, "turn these reports into panics (and dumps): `oops,warn,hung,lockup,rcu`")
	f.StringArrayVar(&c.Extra, "qemu-arg", nil, "pass `ARG` to QEMU as it is (repeatable)")
	f.StringArrayVar(&b.expect, "expect", nil, "`REGEX` the console must show, in order (repeatable)")
	f.StringArrayVar(&b.fail, "fail", nil, "`REGEX` that fails the run when the console shows it (repeatable)")
	f.DurationVar(&b.timeout, "timeout", 0, "stop the guest after this long (0: no limit)")
	f.StringVar(&b.logPath, "log", "", "save the console to `FILE` (default: console.log in a new run directory under the cache)")
	f.BoolVar(&b.dryRun, "dry-run", false, "print the QEMU command instead of running it")
	f.StringArrayVar(&b.modules, "modules", nil, "with --vmlinux, `DIR` to find NAME.ko in for module frames (repeatable)")
	return cmd
}

// kernelHelp says how every command that boots picks its kernel.
const kernelHelp = `
The kernel is --kernel, else $INITKIT_KERNEL, else kernel in the [boot]
table of ./initkit.toml, else the one initkit kernel fetch cached; its
vmlinux and modules are the flags', else those found beside it.`

// kernelFlags adds --kernel and --vmlinux, the kernel policy's inputs.
func kernelFlags(f *pflag.FlagSet, r *kernel.Request) {
	f.StringVar(&r.Kernel, "kernel", "", "kernel image `FILE` to boot")
	f.StringVar(&r.Vmlinux, "vmlinux", "", "the kernel's vmlinux with DWARF, for source lines and inline frames")
}

func runBoot(cmd *cobra.Command, b *bootFlags) error {
	c := &b.cfg
	if b.gdb > 0 {
		c.GDBPort = b.gdb
	}
	c.Persist = b.noSnapshot
	for _, d := range b.disks {
		c.Disks = append(c.Disks, qemu.Disk{Path: d, Interface: b.diskIf})
	}
	if c.SSHPort > 0 && c.Net == "" {
		c.Net = "user" // a port forward is user networking's, as rq's -p
	}
	if c.SSHPort > 0 && c.Net != "user" {
		return fmt.Errorf("--ssh-port forwards through --net user, not --net %s", c.Net)
	}
	expect, err := qemu.Patterns(b.expect)
	if err != nil {
		return err
	}
	fail, err := qemu.Patterns(b.fail)
	if err != nil {
		return err
	}
	k, err := kernel.Choose(cmd.Context(), b.kernel)
	if err != nil {
		return err
	}
	c.Kernel = k.Image
	if err := b.rootArgs(k, cmd.Flags().Changed("disk-if")); err != nil {
		return err
	}
	if b.dryRun {
		warnLacks(cmd.ErrOrStderr(), k, c)
		fmt.Fprintln(cmd.OutOrStdout(), shell.Quote(qemu.DryRun(*c)))
		return nil
	}
	if in, ok := qemu.Terminal(cmd.InOrStdin()); ok {
		// A person at a terminal: keys go to the guest, Ctrl-A x quits.
		c.Interactive, c.Stdin = true, in
		fmt.Fprintln(cmd.ErrOrStderr(), "initkit boot: interactive console; Ctrl-A x quits")
	}
	interrupt.Graceful(os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	ctx := cmd.Context()
	run, err := cache.RunDir()
	if err != nil {
		return err
	}
	if c.Initrd, err = initramfs.Prepare(c.Initrd, b.spec, b.adds, run); err != nil {
		return err
	}
	warnLacks(cmd.ErrOrStderr(), k, c)
	logPath := b.logPath
	if logPath == "" {
		logPath = filepath.Join(run, "console.log")
	}
	w := qemu.Watch{Expect: expect, Fail: fail, Timeout: b.timeout, Console: cmd.OutOrStdout(), LogPath: logPath, Notes: cmd.ErrOrStderr(),
		DumpOnTimeout: b.dumpTimeout, DumpOnCrash: b.dumpCrash, DumpFormat: b.dumpFormat}
	if b.dumpTimeout || b.dumpCrash {
		// The guest's kernel hands VMCOREINFO to this device (with its
		// qemu_fw_cfg driver), and QEMU puts it in the dump.
		w.DumpPath, c.Extra = filepath.Join(run, "vmcore"), append(c.Extra, "-device", "vmcoreinfo")
	}
	b.kdumpSet = cmd.Flags().Changed("kdump")
	plan, err := b.kdumpPlan(ctx, cmd.ErrOrStderr(), k, run)
	if err != nil {
		return err
	}
	w.Kdump = plan != nil
	o := qemu.Boot(ctx, *c, w)
	if plan != nil {
		o.Crash = kdump.FirstKernel(o.Crash)
		if o.Dump, err = plan.Finish(); err != nil {
			return err
		}
	}
	if o.Kind == qemu.Crashed {
		fmt.Fprintln(cmd.ErrOrStderr(), decodeBlock(cmd.ErrOrStderr(), b.kernel.Vmlinux, b.modules, o.Crash))
	}
	if o.Dump != "" {
		fmt.Fprintf(cmd.ErrOrStderr(), "initkit boot: vmcore: %s (read it with: initkit vmcore %s)\n", o.Dump, o.Dump)
	}
	if o.DumpErr != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "initkit boot: %v\n", o.DumpErr)
	}
	return verdict(cmd.ErrOrStderr(), "boot", o, b.timeout)
}

// rootArgs adds --root and --init to the command line (disk.BootRoot).
func (b *bootFlags) rootArgs(k *kernel.Choice, ifaceGiven bool) error {
	iface := ""
	if ifaceGiven {
		iface = b.diskIf
	}
	cfg, _ := k.KernelConfig()
	return disk.BootRoot(&b.cfg, b.root, b.init, iface, cfg, b.spec != "")
}

// verdict says how a run ended, with its log, and returns its exit code.
func verdict(stderr io.Writer, name string, o qemu.Outcome, timeout time.Duration) error {
	msg := o.String()
	if o.Kind == qemu.TimedOut {
		msg = strings.Replace(msg, "timed out", "timed out after "+timeout.String(), 1)
	}
	if o.LogPath != "" {
		msg += " (console log: " + o.LogPath + ")"
	}
	fmt.Fprintf(stderr, "initkit %s: %s\n", name, msg)
	return exitCode(outcomeCodes[o.Kind])
}

// decodeBlock annotates the crash block with source lines when --vmlinux
// is given; when it cannot, it says why and returns the block as it is.
func decodeBlock(stderr io.Writer, vmlinux string, modules []string, block string) string {
	if vmlinux == "" {
		return block
	}
	out, err := decode.Block(vmlinux, modules, block)
	if err != nil {
		fmt.Fprintf(stderr, "initkit boot: cannot decode the crash: %v\n", err)
		return block
	}
	return out
}

// warnLacks says what the kernel's config lacks to boot c's initramfs.
func warnLacks(stderr io.Writer, k *kernel.Choice, c *qemu.Config) {
	for _, m := range k.Lacks(c.Arch, c.Initrd) {
		fmt.Fprintf(stderr, "initkit boot: warning: %s lacks CONFIG_%s=%s: %s\n", k.Config, m.Name, m.Value, m.Why)
	}
}
