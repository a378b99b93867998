// Package boot owns one boot run, from the kernel's choice to the verdict:
// it chooses the kernel (package kernel's policy), prepares the
// initramfs (an image spec built with that kernel's modules, segments
// appended), plans a root on a disk the kernel mounts by itself, sets up
// kdump and QEMU's memory dumps, boots QEMU (package qemu) with every
// device it needs, and once the guest has stopped, trims the crash
// report, finishes the dump and decodes the crash with the kernel's own
// vmlinux. initkit boot, exec and debug, and disk create's VM, boot
// through it; so will each run of a reproducer and each step of a bisect.
package boot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/initkit/initkit/decode"
	"github.com/initkit/initkit/image"
	"github.com/initkit/initkit/initramfs"
	"github.com/initkit/initkit/internal/cache"
	"github.com/initkit/initkit/kdump"
	"github.com/initkit/initkit/kernel"
	"github.com/initkit/initkit/oops"
	"github.com/initkit/initkit/qemu"
)

// Options describe one boot run.
type Options struct {
	// Kernel is the kernel policy's input (kernel.Choose); Chosen, when
	// set, is a kernel already chosen, and Kernel is not looked at.
	Kernel kernel.Request
	Chosen *kernel.Choice

	// Initrd is an initramfs to boot. Image, when set, is built (with the
	// chosen kernel's modules when it names none) and boots instead, or
	// appended to Initrd when both are given. Add are host files
	// ("SRC:DST", with their closures) appended as one more segment.
	Initrd string
	Image  *initramfs.Spec
	Add    []string
	// Wrap, when set, turns the initramfs into the one that boots, in
	// the run's directory: initkit debug init adds its hook.
	Wrap func(r *Run, initrd string) (string, error)

	// Disks are attached in order. Root names a partition of the first
	// that is the root (a PARTLABEL, a number, or a root= value as it
	// is): with no initramfs the kernel must mount it by itself, on the
	// interface whose driver it has built in, unless DiskIf names one.
	// Init is the init to run (init=).
	Disks      []qemu.Disk
	DiskIf     string
	Root, Init string

	Arch, Memory, Accel string // as qemu.Config takes them
	SMP                 int
	Append              string   // the user's kernel command line, last
	QEMUArgs            []string // passed to QEMU as they are, last
	// Crash reserves memory for a crash kernel of the guest's own
	// (crashkernel=256M); Kdump reserves what it needs itself.
	Crash bool
	// Devices are more devices, after the run's own: an SSH forward,
	// the gdb stub, exec's serial ports.
	Devices []qemu.Device
	// Kdump captures a panic with a crash kernel (package kdump):
	// CrashKernel is the capture kernel ("" for the kernel that boots),
	// NoMakedumpfile keeps the ELF core as it is. PanicOn turns the kinds
	// of report kdump.PanicArgs names into panics.
	Kdump          bool
	CrashKernel    string
	NoMakedumpfile bool
	PanicOn        []string
	// DumpOnTimeout and DumpOnCrash have QEMU write the guest's memory to
	// vmcore in the run's directory, as DumpFormat says (elf, the
	// default, or kdump-zlib).
	DumpOnTimeout, DumpOnCrash bool
	DumpFormat                 string

	// What the run watches for (qemu.Watch).
	Expect, Fail []*regexp.Regexp
	Ready        *regexp.Regexp
	Timeout      time.Duration
	NoStop       bool

	Stdin       io.Reader // typed into the console
	Interactive bool      // the console is a person's terminal
	Console     io.Writer // a live copy of the console
	Notes       io.Writer // what the run decided for the user (default stderr)
	// Dir holds the run's files (images, the console log, dumps); ""
	// makes a new run directory under the cache. LogPath is where the
	// console is saved; "" is console.log in Dir, "-" is nowhere.
	Dir, LogPath string
	// ModuleDirs are where the decode of a crash finds NAME.ko (default:
	// the kernel's own modules).
	ModuleDirs []string
	// NoDecode leaves the crash report as the console showed it.
	NoDecode bool
}

// Result is how a run ended.
type Result struct {
	qemu.Outcome
	// Decoded is the crash report with file:line for every frame, from
	// the kernel's vmlinux; "" when there was no crash, or no vmlinux
	// (DecodeErr says why).
	Decoded   string
	DecodeErr error
	// Identity is the crash's first report with its title, type and
	// guilty frame; nil when there was no crash.
	Identity *oops.Report
}

// Run is a boot being prepared, or under way.
type Run struct {
	Kernel *kernel.Choice
	Dir    string // the run's files
	Initrd string // the initramfs that boots
	// Warnings are what the kernel's config lacks to boot this image.
	Warnings []string
	// Kdump is the capture set up, when Options.Kdump asked for one.
	Kdump *kdump.Plan
	// Image is the image built from Options.Image; nil when none was.
	Image *initramfs.Result

	o     Options
	cfg   qemu.Config
	watch qemu.Watch
	guest *qemu.Guest
}

// Boot prepares and runs a boot to its outcome.
func Boot(ctx context.Context, o Options) (Result, error) {
	r, err := Prepare(ctx, o)
	if err != nil {
		return Result{}, err
	}
	return r.Boot(ctx), nil
}

// Boot starts the prepared run and waits for its result. A QEMU that
// cannot start is an outcome (Failed: exit 5), not an error (exit 2).
func (r *Run) Boot(ctx context.Context) Result {
	if err := r.Start(ctx); err != nil {
		return Result{Outcome: qemu.Outcome{Kind: qemu.Failed, Err: err}}
	}
	return r.Wait()
}

// Prepare does everything before QEMU starts: the kernel, the run's
// directory, the initramfs, the root, kdump and the dump's device. What
// it returns can be started, or shown (Command).
func Prepare(ctx context.Context, o Options) (*Run, error) {
	r, err := prepare(ctx, o)
	if err != nil {
		if r != nil && o.Dir == "" && r.Dir != "" {
			os.RemoveAll(r.Dir) // made for this run, which never started
		}
		return nil, err
	}
	return r, nil
}

// prepare is Prepare; on an error the run, if made, says which directory
// it made.
func prepare(ctx context.Context, o Options) (*Run, error) {
	// The guest's size and accelerator before any work that needs them.
	if err := (qemu.Config{Arch: o.Arch, Memory: o.Memory, Accel: o.Accel, SMP: o.SMP}).Check(); err != nil {
		return nil, err
	}
	if o.Timeout < 0 {
		return nil, fmt.Errorf("timeout %v: a time limit cannot be negative (0: none)", o.Timeout)
	}
	if f := o.DumpFormat; f != "" && f != "elf" && f != "kdump-zlib" {
		// QEMU would refuse it only once the guest crashed: no dump.
		return nil, fmt.Errorf("dump format %q: want elf or kdump-zlib (what initkit vmcore reads)", f)
	}
	r := &Run{o: o, Kernel: o.Chosen}
	if r.Kernel == nil {
		// A file that is no kernel is refused here, where QEMU would say
		// "linux kernel too old to load a ram disk" of it.
		req := o.Kernel
		req.Arch = o.Arch // the fetched kernel's, when none is named
		k, err := kernel.ChooseBootable(ctx, req)
		if err != nil {
			return r, err
		}
		r.Kernel = k
	}
	if err := r.arch(); err != nil {
		return r, err
	}
	o.Arch = r.o.Arch
	if err := r.makeDir(); err != nil {
		return r, err
	}
	var err error
	if r.Initrd, err = r.initramfs(ctx); err != nil {
		return r, err
	}
	if o.Wrap != nil {
		if r.Initrd, err = o.Wrap(r, r.Initrd); err != nil {
			return r, err
		}
	}
	if err := fits(o.Memory, r.Kernel.Image, r.Initrd); err != nil {
		return r, err
	}
	if err := foreignInit(r.Initrd, o.Arch); err != nil {
		return r, err
	}
	if r.Initrd == "" && o.Root == "" {
		r.note(builtinNote(r.Kernel.Image, o.Append))
	}
	r.cfg = qemu.Config{Arch: o.Arch, Kernel: r.Kernel.Image, Memory: o.Memory, SMP: o.SMP, Accel: o.Accel,
		Append: o.Append, Extra: o.QEMUArgs, Stdin: o.Stdin, Interactive: o.Interactive}
	if err := r.root(); err != nil {
		return r, err
	}
	missing, err := r.Kernel.Lacks(o.Arch, r.Initrd)
	if err != nil {
		// Booted anyway: the kernel's own words on it may be the point.
		r.Warnings = append(r.Warnings, fmt.Sprintf("%v: the kernel will not unpack it (\"Initramfs unpacking failed\"), and panics without a root", err))
	}
	for _, m := range missing {
		r.Warnings = append(r.Warnings, fmt.Sprintf("%s lacks CONFIG_%s=%s: %s", r.Kernel.Config, m.Name, m.Value, m.Why))
	}
	if err := r.dumps(ctx); err != nil {
		return r, err
	}
	r.cfg.Initrd = r.Initrd
	r.cfg.Devices = append(r.cfg.Devices, o.Devices...)
	if _, err := r.cfg.Args(); err != nil {
		return r, err
	}
	r.watch = qemu.Watch{Expect: o.Expect, Fail: o.Fail, Ready: o.Ready, Timeout: o.Timeout, NoStop: o.NoStop,
		Console: o.Console, LogPath: r.LogPath(), Notes: o.Notes,
		DumpOnTimeout: o.DumpOnTimeout, DumpOnCrash: o.DumpOnCrash, DumpFormat: o.DumpFormat, Kdump: r.Kdump != nil}
	if o.DumpOnTimeout || o.DumpOnCrash {
		r.watch.DumpPath = filepath.Join(r.Dir, "vmcore")
	}
	return r, nil
}

// fits refuses a guest whose memory cannot hold its kernel and its
// initramfs as files, before they are even unpacked: QEMU would stop
// with "initrd is too large, cannot support", an infrastructure failure
// (exit 5) for what is the caller's mistake.
func fits(memory string, files ...string) error {
	mem, err := qemu.ParseMemory(cmp.Or(memory, qemu.DefaultMemory))
	if err != nil {
		return err
	}
	var total int64
	var sizes []string
	for _, f := range files {
		if st, err := os.Stat(f); err == nil && f != "" {
			total += st.Size()
			sizes = append(sizes, fmt.Sprintf("%s %.1f MiB", f, float64(st.Size())/(1<<20)))
		}
	}
	if total >= mem {
		return fmt.Errorf("memory %s: the kernel and the initramfs alone take more (%s): give more", cmp.Or(memory, qemu.DefaultMemory), strings.Join(sizes, ", "))
	}
	return nil
}

// arch settles the guest's architecture: Options.Arch, else the
// kernel's. A kernel for another one is refused here, where QEMU would
// fail on it with "linux kernel too old to load a ram disk".
func (r *Run) arch() error {
	k := r.Kernel.Arch
	switch {
	case r.o.Arch == "":
		r.o.Arch = cmp.Or(k, "x86_64")
	case k != "" && k != r.o.Arch:
		return fmt.Errorf("kernel %s (from %s) is for %s, not %s: give --arch %s", r.Kernel.Image, r.Kernel.From, k, r.o.Arch, k)
	}
	return nil
}

// Arch is the guest's architecture, in QEMU's names: Options.Arch, else
// the kernel's.
func (r *Run) Arch() string { return r.o.Arch }

// makeDir makes the run's directory: Options.Dir, or a new one under the
// cache, private to the user (it holds the guest's memory, keys).
func (r *Run) makeDir() error {
	if r.o.Dir != "" {
		r.Dir = r.o.Dir
		return os.MkdirAll(r.Dir, 0o700)
	}
	dir, err := cache.RunDir()
	r.Dir = dir
	return err
}

// LogPath is where the run's console is saved, "" for nowhere.
func (r *Run) LogPath() string {
	switch r.o.LogPath {
	case "-":
		return ""
	case "":
		return filepath.Join(r.Dir, "console.log")
	}
	return r.o.LogPath
}

// initramfs returns the image that boots, built in the run's directory.
func (r *Run) initramfs(ctx context.Context) (string, error) {
	o := r.o
	initrd := o.Initrd
	if initrd != "" {
		// Said before QEMU starts, which would say it after a second.
		st, err := os.Stat(initrd)
		if err != nil {
			return "", fmt.Errorf("initramfs: %w", err)
		}
		if st.IsDir() {
			return "", fmt.Errorf("initramfs %s: a directory, not an image (initkit pack DIR -o IMAGE makes one)", initrd)
		}
	}
	if o.Image != nil {
		s := *o.Image
		s.Output = filepath.Join(r.Dir, "initrd.img")
		// Each run's image is in a directory of its own: the file sums
		// are kept under one scope for every boot.
		s.CacheScope = cmp.Or(s.CacheScope, "boot")
		if s.Log == nil {
			s.Log = cmp.Or[io.Writer](r.o.Notes, os.Stderr)
		}
		if err := FitKernel(ctx, &s, r.Kernel); err != nil {
			return "", err
		}
		res, err := s.Build(initrd, 0)
		if err != nil {
			return "", err
		}
		r.Image, initrd = res, s.Output
	}
	if len(o.Add) == 0 {
		return initrd, nil
	}
	if initrd == "" {
		return "", errors.New("files to add need an initramfs to append to: give one, or a spec")
	}
	s := &initramfs.Spec{Init: "none", Output: filepath.Join(r.Dir, "initrd-added.img")}
	if err := s.AddPaths(o.Add...); err != nil {
		return "", err
	}
	_, err := s.Build(initrd, 0)
	return s.Output, err
}

// FitKernel makes an image spec the kernel k's that boots it: its init
// and its busybox built for k's architecture (guestBusybox), and, when
// it ships modules and names
// neither their directory nor a release, k's modules. initkit build does
// the same.
func FitKernel(ctx context.Context, s *initramfs.Spec, k *kernel.Choice) error {
	s.Arch = cmp.Or(s.Arch, k.Arch)
	if err := GuestBusybox(ctx, s); err != nil {
		return err
	}
	m := &s.Modules
	if !s.NeedsModules() || m.Dir != "" || m.Kernel != "" {
		return nil
	}
	dir, err := k.NeedModules()
	m.Dir = dir
	return err
}

// note tells the user what the run decided for them (Options.Notes).
// builtinNote says what a kernel booted with no initramfs will run: a
// kernel alone panics with "Unable to mount root fs" unless it has an
// initramfs built in with an init (kernel build --initramfs), and every
// kernel with CONFIG_BLK_DEV_INITRD has one, holding /dev and /root only
// by default.
func builtinNote(img, cmdline string) string {
	const none = "no initramfs (no --initrd, no [image] in the spec file)"
	init := "init"
	for _, f := range strings.Fields(cmdline) {
		if v, ok := strings.CutPrefix(f, "rdinit="); ok {
			init = strings.TrimPrefix(v, "/")
		}
	}
	r, _, err := kernel.OpenInitramfs(img)
	if err != nil {
		return none + ": the kernel boots with the one built into it, if any"
	}
	defer r.Close()
	tree, _, err := image.Tree(r)
	switch {
	case err != nil:
		return none + ": the kernel boots with the one built into it, if any"
	case tree["/"+init] == nil:
		return fmt.Sprintf("%s, and the one built into the kernel has no /%s (%d entries): without --root it panics with \"VFS: Unable to mount root fs\" (initkit build --busybox /bin/busybox -o initrd.img makes one to give as --initrd)", none, init, len(tree))
	}
	return fmt.Sprintf("%s: the kernel boots with the one built into it (%d entries, /%s its init)", none, len(tree), init)
}

func (r *Run) note(msg string) {
	w := r.o.Notes
	if w == nil {
		w = os.Stderr
	}
	fmt.Fprintf(w, "initkit: %s\n", msg)
}

// ForKernel is FitKernel with the kernel the policy chooses from req,
// chosen only when the spec needs it (its modules) or req names one (its
// architecture, for the init): initkit build makes the image for the
// kernel initkit boot would boot.
func ForKernel(ctx context.Context, s *initramfs.Spec, req kernel.Request) error {
	needs := s.NeedsModules() && s.Modules.Dir == "" && s.Modules.Kernel == ""
	if !needs && req.Kernel == "" && req.Spec.Kernel == "" && os.Getenv("INITKIT_KERNEL") == "" {
		return nil
	}
	k, err := kernel.Choose(ctx, req)
	if err != nil {
		return err
	}
	return FitKernel(ctx, s, k)
}

// dumps sets up kdump, --panic-on and QEMU's memory dumps.
func (r *Run) dumps(ctx context.Context) error {
	o := r.o
	panics, err := kdump.PanicArgs(o.PanicOn)
	if err != nil {
		return err
	}
	r.cfg.Devices = append(r.cfg.Devices, panics)
	if o.DumpOnTimeout || o.DumpOnCrash {
		r.cfg.Devices = append(r.cfg.Devices, qemu.VMCoreInfo{})
	}
	if o.DumpOnCrash && !o.Kdump {
		// panic=-1 reboots at once, and -no-reboot ends QEMU before its
		// memory can be dumped: the panicked kernel waits instead
		// (a later panic= wins), and the run stops QEMU once dumped.
		r.cfg.Devices = append(r.cfg.Devices, qemu.Cmdline{"panic=0"})
	}
	if !o.Kdump {
		if o.Crash {
			r.cfg.Devices = append(r.cfg.Devices, qemu.CrashKernel{Size: "256M"})
		}
		return nil
	}
	if r.Initrd == "" {
		return fmt.Errorf("kdump: the crash kernel is loaded by the initkit init of an initramfs: give one (--initrd or --spec)")
	}
	if err := canKexecFile(r.Kernel); err != nil {
		return err
	}
	k := r.Kernel
	if o.CrashKernel != "" {
		// The capture image's modules are the crash kernel's.
		if k, err = kernel.Choose(ctx, kernel.Request{Kernel: o.CrashKernel}); err != nil {
			return err
		}
	}
	mods, err := k.NeedModules()
	if err != nil {
		return fmt.Errorf("kdump: the capture image needs virtio_console: %w", err)
	}
	mem, err := qemu.ParseMemory(cmp.Or(o.Memory, qemu.DefaultMemory))
	if err != nil {
		return err
	}
	p, err := kdump.Prepare(r.Initrd, kdump.Options{Kernel: k.Image, ModulesDir: mods, Arch: o.Arch, NoMakedumpfile: o.NoMakedumpfile, Dir: r.Dir, Memory: mem})
	if err != nil {
		return err
	}
	r.Kdump, r.Initrd = p, p.Initrd
	r.cfg.Devices = append(r.cfg.Devices, p.Devices()...)
	return nil
}

// canKexecFile refuses kdump on a kernel whose config says it lacks
// kexec_file_load, which the initkit init loads the crash kernel with
// (Debian's arm64 kernels: KEXEC_FILE is not set, and the syscall
// fails with ENOSYS in the guest, after a boot for nothing).
func canKexecFile(k *kernel.Choice) error {
	cfg, ok := k.KernelConfig()
	if !ok || cfg.Value("KEXEC_FILE") == "y" {
		return nil
	}
	return fmt.Errorf("kdump: kernel %s has no kexec_file_load (CONFIG_KEXEC_FILE is not set in %s), which the initkit init loads the crash kernel with: use --dump-on-crash (QEMU writes the guest's memory), or a kernel built with it", k.Image, k.Config)
}

// Command is the QEMU command the run starts, for a dry run: an
// accelerator of auto is shown as the verdict remembered for this boot of
// the host.
func (r *Run) Command() ([]string, error) { return qemu.DryRun(r.cfg) }

// Start starts QEMU.
func (r *Run) Start(ctx context.Context) error {
	g, err := qemu.Start(ctx, r.cfg, r.watch)
	r.guest = g
	return err
}

// Guest is the running QEMU, once Start has started it.
func (r *Run) Guest() *qemu.Guest { return r.guest }

// Wait waits for the guest to stop and returns the run's result: the
// crash report cut where a capture kernel starts, the dump kdump wrote,
// and the crash decoded.
func (r *Run) Wait() Result {
	res := Result{Outcome: r.guest.Wait()}
	if r.Kdump != nil {
		res.Crash = oops.FirstKernel(res.Crash)
		dump, err := r.Kdump.Finish()
		if err != nil && res.DumpErr == nil {
			res.DumpErr = err
		}
		if dump != "" {
			res.Dump = dump
		}
	}
	return Judge(res.Outcome, r.Kernel, r.o)
}

// Judge is the result of a run that ended as out on kernel k, wherever
// it ran: a crash identified, and decoded with the kernel's vmlinux
// unless o.NoDecode (o.ModuleDirs for module frames).
func Judge(out qemu.Outcome, k *kernel.Choice, o Options) Result {
	res := Result{Outcome: out}
	if res.Kind == qemu.Crashed {
		res.Identity = Identify(res.Crash)
		if !o.NoDecode {
			res.Decoded, res.DecodeErr = decode.Block(k, o.ModuleDirs, res.Crash)
		}
	}
	return res
}

// Summary is how a run ended, as initkit boot --json prints it.
type Summary struct {
	Outcome    string       `json:"outcome"` // qemu.Kind's name: "powered off", "crashed", "timed out", ...
	ExitCode   int          `json:"exit_code"`
	Line       string       `json:"line,omitempty"`   // the crash's first line, or the --fail line that matched
	Report     *oops.Report `json:"report,omitempty"` // the crash's identity: title, type, guilty frame, stack
	Decoded    string       `json:"decoded,omitempty"`
	DecodeErr  string       `json:"decode_error,omitempty"`
	ConsoleLog string       `json:"console_log,omitempty"`
	Vmcore     string       `json:"vmcore,omitempty"`
	Error      string       `json:"error,omitempty"` // a dump or QEMU that failed
}

// Summary returns the result as initkit boot --json prints it.
func (res Result) Summary() Summary {
	s := Summary{Outcome: res.Kind.String(), ExitCode: res.ExitCode(), Line: strings.TrimSpace(res.Line), Report: res.Identity,
		Decoded: res.Decoded, ConsoleLog: res.LogPath, Vmcore: res.Dump}
	if res.DecodeErr != nil {
		s.DecodeErr = res.DecodeErr.Error()
	}
	if err := cmp.Or(res.DumpErr, res.Err); err != nil {
		s.Error = err.Error()
	}
	return s
}

// Identify returns the crash identity of a crash report as the console
// caught it (qemu.Outcome.Crash): its first report, titled (package
// oops). A crash line oops does not read as a report's first line (a
// panic joined to other output) is read from its "Kernel panic" on.
func Identify(crash string) *oops.Report {
	reps, _ := oops.Parse(strings.NewReader(crash))
	if len(reps) == 0 {
		if i := strings.Index(crash, "Kernel panic - not syncing"); i >= 0 {
			reps, _ = oops.Parse(strings.NewReader(crash[i:]))
		}
	}
	if len(reps) == 0 {
		return nil
	}
	return &reps[0]
}

// Exit codes of a run that ended, as initkit boot, exec and debug exit
// with them: a script or git bisect run tells each kind of end apart.
const (
	ExitOK      = 0
	ExitExpect  = 1 // an expected line was not seen, or a failing one was
	ExitCrash   = 3 // the kernel panicked, oopsed or lost init
	ExitTimeout = 4 // the timeout was reached
	ExitQEMU    = 5 // QEMU could not start or failed
)

var exitCodes = map[qemu.Kind]int{qemu.PoweredOff: ExitOK, qemu.ExpectMet: ExitOK, qemu.ExpectMissed: ExitExpect,
	qemu.FailMatched: ExitExpect, qemu.Crashed: ExitCrash, qemu.TimedOut: ExitTimeout, qemu.Failed: ExitQEMU}

// ExitCode is the run's exit code. An interrupted run has none of its
// own: the command exits 128+N for signal N (package interrupt).
func (res Result) ExitCode() int { return exitCodes[res.Kind] }

// Report writes what a user must see of a run that ended, for command
// name: the crash report (decoded when the kernel's vmlinux was found,
// else why not), the dump, and the verdict with the console log's path.
func (res Result) Report(w io.Writer, name string) {
	if res.Kind == qemu.Crashed {
		switch {
		case res.Decoded != "":
			fmt.Fprintln(w, res.Decoded)
		case res.DecodeErr != nil:
			fmt.Fprintf(w, "%s\ninitkit %s: the crash is not decoded: %v\n", res.Crash, name, res.DecodeErr)
		default:
			fmt.Fprintln(w, res.Crash)
		}
	}
	if res.Dump != "" {
		fmt.Fprintf(w, "initkit %s: vmcore: %s (read it with: initkit vmcore %s)\n", name, res.Dump, res.Dump)
	}
	if res.DumpErr != nil {
		fmt.Fprintf(w, "initkit %s: %v\n", name, res.DumpErr)
	}
	if res.Identity != nil {
		fmt.Fprintf(w, "initkit %s: title: %s\n", name, res.Identity.Title)
	}
	msg := res.String()
	if res.LogPath != "" {
		msg += " (console log: " + res.LogPath + ")"
	}
	fmt.Fprintf(w, "initkit %s: %s\n", name, msg)
}
