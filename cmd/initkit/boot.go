package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/pelletier/go-toml/v2"

	"github.com/initkit/initkit/initramfs"
	"github.com/initkit/initkit/decode"
	"github.com/initkit/initkit/internal/atomicfile"
	"github.com/initkit/initkit/internal/shell"
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

type bootFlags struct {
	cfg          qemu.Config
	timeout      time.Duration
	logPath      string
	dryRun       bool
	expect, fail []string
	disks        []string
	diskIf       string
	noSnapshot   bool
	gdb          int
	spec         string
	adds         []string
	vmlinux      string
	modules      []string
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
127.0.0.1. The kernel is --kernel, else $INITKIT_KERNEL, else the one
initkit kernel fetch cached.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBoot(cmd, &b) },
	}
	f := cmd.Flags()
	c := &b.cfg
	f.StringVar(&c.Kernel, "kernel", os.Getenv("INITKIT_KERNEL"), "kernel image `FILE` to boot")
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
	f.StringVar(&c.Net, "net", "", "networking: user (none by default)")
	f.IntVar(&c.SSHPort, "ssh-port", 0, "with --net user, forward 127.0.0.1:`PORT` to the guest's port 22")
	f.IntVar(&b.gdb, "gdb", 0, "QEMU's gdb stub on 127.0.0.1:`PORT` (--gdb alone: 1234); adds nokaslr")
	f.Lookup("gdb").NoOptDefVal = "1234"
	f.BoolVar(&c.WaitGDB, "wait-gdb", false, "start the guest halted until gdb continues it")
	f.BoolVar(&c.Crash, "crash", false, "reserve memory for a crash kernel (crashkernel=256M)")
	f.StringArrayVar(&c.Extra, "qemu-arg", nil, "pass `ARG` to QEMU as it is (repeatable)")
	f.StringArrayVar(&b.expect, "expect", nil, "`REGEX` the console must show, in order (repeatable)")
	f.StringArrayVar(&b.fail, "fail", nil, "`REGEX` that fails the run when the console shows it (repeatable)")
	f.DurationVar(&b.timeout, "timeout", 0, "stop the guest after this long (0: no limit)")
	f.StringVar(&b.logPath, "log", "", "save the console to `FILE` (default: console.log in a new run directory under the cache)")
	f.BoolVar(&b.dryRun, "dry-run", false, "print the QEMU command instead of running it")
	f.StringVar(&b.vmlinux, "vmlinux", "", "decode a crash with this vmlinux's DWARF: source lines and inline frames (see initkit decode)")
	f.StringArrayVar(&b.modules, "modules", nil, "with --vmlinux, `DIR` to find NAME.ko in for module frames (repeatable)")
	return cmd
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
	if c.SSHPort > 0 && c.Net != "user" {
		return fmt.Errorf("--ssh-port needs --net user")
	}
	expect, err := compileAll(b.expect)
	if err != nil {
		return err
	}
	fail, err := compileAll(b.fail)
	if err != nil {
		return err
	}
	if c.Kernel == "" {
		c.Kernel = bootTableKernel()
	}
	if c.Kernel == "" {
		if c.Kernel, err = defaultKernel(cmd.Context()); err != nil {
			return err
		}
	}
	if b.dryRun {
		if c.Accel == "auto" {
			c.Accel = "tcg" // a dry run starts nothing, so it probes nothing
		}
		fmt.Fprintln(cmd.OutOrStdout(), shell.Quote(append([]string{c.BinaryName()}, c.Args()...)))
		return nil
	}
	c.Accel = chooseAccel(cmd, c.Accel, c.Kernel)
	if in, ok := cmd.InOrStdin().(*os.File); ok && isTerminal(in) {
		// A person at a terminal: keys go to the guest, Ctrl-A x quits.
		// QEMU makes the terminal raw; its settings are restored here
		// even if QEMU dies without restoring them.
		c.Interactive, c.Stdin = true, in
		if saved, err := unix.IoctlGetTermios(int(in.Fd()), unix.TCGETS); err == nil {
			defer unix.IoctlSetTermios(int(in.Fd()), unix.TCSETS, saved)
		}
		fmt.Fprintln(cmd.ErrOrStderr(), "initkit boot: interactive console; Ctrl-A x quits")
	}
	return boot(cmd, b, expect, fail)
}

func compileAll(pats []string) ([]*regexp.Regexp, error) {
	var out []*regexp.Regexp
	for _, p := range pats {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("pattern %q: %w", p, err)
		}
		out = append(out, re)
	}
	return out, nil
}

// chooseAccel resolves --accel auto, remembering the verdict for this boot
// of the host so that only the first run pays for the probe (up to 10 s
// where KVM hangs). Runs started together wait for the first one's
// verdict (a lock on the memo) instead of each probing.
func chooseAccel(cmd *cobra.Command, accel, image string) string {
	if accel != "auto" {
		return accel
	}
	probe := func() string {
		return qemu.ChooseAccel(cmd.Context(), accel, "", image, "/dev/kvm", qemu.Probe, cmd.ErrOrStderr())
	}
	bootID, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	dir, err := kernel.CacheDir()
	if err != nil || len(bootID) == 0 || os.MkdirAll(dir, 0o755) != nil {
		return probe()
	}
	memo := filepath.Join(dir, "accel-kernel-"+strings.TrimSpace(string(bootID)))
	read := func() (string, bool) {
		v, err := os.ReadFile(memo)
		return strings.TrimSpace(string(v)), err == nil
	}
	// The lock only when there is no verdict yet: every other run reads
	// the memo and goes on.
	if v, ok := read(); ok {
		return v
	}
	if lock, err := os.OpenFile(memo+".lock", os.O_CREATE|os.O_RDWR, 0o644); err == nil {
		defer lock.Close() // and with it the lock
		unix.Flock(int(lock.Fd()), unix.LOCK_EX)
	}
	if v, ok := read(); ok {
		return v
	}
	got := probe()
	os.WriteFile(memo, []byte(got+"\n"), 0o644)
	return got
}

func defaultKernel(ctx context.Context) (string, error) {
	dir, err := kernel.CacheDir()
	if err != nil {
		return "", err
	}
	// The kernel initkit kernel fetch cached, read without asking apt
	// (a second or more per run); fetched only when there is none.
	if ks := kernel.Cached(dir); len(ks) > 0 {
		return ks[0].Image, nil
	}
	k, err := kernel.Fetch(ctx, dir, "")
	if err != nil {
		return "", fmt.Errorf("no --kernel given and none could be fetched: %w", err)
	}
	return k.Image, nil
}

func boot(cmd *cobra.Command, b *bootFlags, expect, fail []*regexp.Regexp) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if b.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.timeout)
		defer cancel()
	}
	run, err := runDir()
	if err != nil {
		return err
	}
	// The QMP socket lives in a short temporary directory: a unix socket
	// path must fit in 108 bytes, which a cache path may not.
	sock, err := os.MkdirTemp("", "initkit-qmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(sock)
	qmp := filepath.Join(sock, "qmp.sock")
	cfg := b.cfg
	if cfg.Initrd, err = prepareInitrd(b, run); err != nil {
		return err
	}
	cfg.Extra = append(qemu.QMPArgs(qmp), cfg.Extra...)

	console := &qemu.Console{}
	console.Watch(expect, fail)
	go func() {
		select {
		case <-console.Done():
			if console.Crash() != "" {
				time.Sleep(2 * time.Second) // let the rest of the report arrive
			}
			qemu.Quit(qmp)
		case <-ctx.Done():
		}
	}()
	runErr := qemu.Run(ctx, cfg, io.MultiWriter(cmd.OutOrStdout(), console))

	logPath := b.logPath
	if logPath == "" {
		logPath = filepath.Join(run, "console.log")
	}
	if err := saveLog(logPath, console); err != nil {
		return err
	}
	logPath, _ = filepath.Abs(logPath)
	verdict := func(code int, format string, a ...any) error {
		fmt.Fprintf(cmd.ErrOrStderr(), "initkit boot: "+format+" (console log: %s)\n", append(a, logPath)...)
		return exitCode(code)
	}
	switch {
	case console.Crash() != "":
		fmt.Fprintln(cmd.ErrOrStderr(), decodeBlock(cmd.ErrOrStderr(), b, crashBlock(console.Log(), console.Crash())))
		return verdict(exitCrash, "kernel crash: %s", strings.TrimSpace(console.Crash()))
	case console.Failed() != "":
		return verdict(exitExpect, "--fail matched: %s", strings.TrimSpace(console.Failed()))
	case len(expect) > 0 && console.Expected():
		return verdict(exitOK, "every --expect matched")
	case errors.Is(runErr, qemu.ErrTimeout):
		return verdict(exitTimeout, "timed out after %v%s", b.timeout, pending(console))
	case ctx.Err() != nil:
		return verdict(exitTimeout, "interrupted%s", pending(console))
	case runErr != nil:
		return verdict(exitQEMU, "%v", runErr)
	case len(expect) > 0:
		return verdict(exitExpect, "the guest stopped%s", pending(console))
	}
	return verdict(exitOK, "guest powered off")
}

func pending(c *qemu.Console) string {
	if p := c.Pending(); p != "" {
		return fmt.Sprintf(" before --expect %q matched", p)
	}
	return ""
}

// runDir makes a directory for one boot's files under the cache.
func runDir() (string, error) {
	dir, err := kernel.CacheDir()
	if err != nil {
		return "", err
	}
	run := filepath.Join(dir, "runs", time.Now().Format("20060102-150405")+"-"+fmt.Sprint(os.Getpid()))
	return run, os.MkdirAll(run, 0o755)
}

// prepareInitrd builds the image of --spec and appends the --add files.
func prepareInitrd(b *bootFlags, run string) (string, error) {
	initrd := b.cfg.Initrd
	if b.spec != "" {
		s, err := initramfs.Load(b.spec)
		if err != nil {
			return "", err
		}
		s.Output = filepath.Join(run, "initrd.img")
		if err := writeSpec(s, ""); err != nil {
			return "", err
		}
		initrd = s.Output
	}
	if len(b.adds) == 0 {
		return initrd, nil
	}
	if initrd == "" {
		return "", fmt.Errorf("--add needs an initramfs to append to: give --initrd or --spec")
	}
	s := &initramfs.Spec{Init: "none", Output: filepath.Join(run, "initrd-added.img")}
	merge(s, &initramfs.Spec{}, b.adds, nil)
	return s.Output, writeSpec(s, initrd)
}

func writeSpec(s *initramfs.Spec, base string) error {
	_, _, _, err := s.Build(base, 0)
	return err
}

// bootTableKernel returns kernel from the [boot] table of ./initkit.toml.
func bootTableKernel() string {
	data, err := os.ReadFile("initkit.toml")
	if err != nil {
		return ""
	}
	var doc struct {
		Boot struct {
			Kernel string `toml:"kernel"`
		} `toml:"boot"`
	}
	if toml.Unmarshal(data, &doc) != nil {
		return ""
	}
	return doc.Boot.Kernel
}

// decodeBlock annotates the crash block with source lines when --vmlinux
// is given; when it cannot, it says why and returns the block as it is.
func decodeBlock(stderr io.Writer, b *bootFlags, block string) string {
	if b.vmlinux == "" {
		return block
	}
	res, closeAll, err := openResolver(b.vmlinux, b.modules, true)
	if err != nil {
		fmt.Fprintf(stderr, "initkit boot: cannot decode the crash: %v\n", err)
		return block
	}
	defer closeAll()
	var out strings.Builder
	dec := &decode.Decoder{R: res}
	if _, err := dec.Annotate([]byte(block), &out); err != nil {
		fmt.Fprintf(stderr, "initkit boot: cannot decode the crash: %v\n", err)
		return block
	}
	res.Index.Save()
	return strings.TrimRight(out.String(), "\n")
}

// crashBlock returns the crash report from its first line: up to the end
// trace marker, or 60 lines.
func crashBlock(log, first string) string {
	i := strings.Index(log, first)
	if i < 0 {
		return first
	}
	lines := strings.Split(log[i:], "\n")
	end := min(len(lines), 60)
	for j, l := range lines[:end] {
		if strings.Contains(l, "---[ end ") {
			end = j + 1
			break
		}
	}
	return strings.Join(lines[:end], "\n")
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// saveLog writes the console's clean copy to path, atomically.
func saveLog(path string, console *qemu.Console) error {
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		_, err := io.WriteString(w, console.Log())
		return err
	})
}
