// Package pid1 is the initkit init: the program the kernel runs as /init
// from the initramfs. It mounts the early filesystems, reads the kernel
// command line, loads modules (the image's list, then whatever the devices
// present ask for), finds the root by path, UUID, LABEL, PARTUUID or
// PARTLABEL, unlocks LUKS volumes, mounts the root and hands over to the
// real init with switch_root. It never exits: every failure ends in a
// rescue shell, and a rescue shell that exits is followed by another try.
//
// Only golang.org/x/sys and the standard library are used, so the static
// binary (cmd/initkit-init) stays small.
package pid1

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/initkit/initkit/guest"

	"golang.org/x/sys/unix"
)

// NewRoot is where the root filesystem is mounted before switch_root.
const NewRoot = guest.NewRoot

// initProc is the state of one run of the init.
type initProc struct {
	start   time.Time
	out     io.Writer
	cmd     Cmdline
	mods    *modules
	devs    *blockDevs
	events  <-chan uevent
	stages  []stageTime
	tried   []string
	root    *blockDev
	broke   []string   // the stages whose rd.break shell has run
	earlyFS string     // root= when it is the disk filesystem the init runs from
	net     *netConfig // the network netUp configured

	saidDegraded bool            // the console was told md arrays may start degraded
	mdSeen       map[string]bool // the md members given to mdadm --incremental
	delayed      bool            // rootdelay has been waited
	telnet       bool            // the telnet rescue has been started
	mounted      []string        // what mountEarly mounted, in order
	dropbear     *sshd           // the remote unlock's SSH server
	toolSaid     map[string]bool // the failures of volume tools said on the console
}

type stageTime struct {
	name string
	d    time.Duration
}

// Main runs the init. It never returns: the real init replaces it, or it
// keeps a rescue shell on the console. Run as any other process it exits
// at once with an error: it would mount over the host's /dev, /proc and
// /run.
func Main() {
	if os.Getpid() != 1 && len(os.Args) == 2 && os.Args[1] == guest.UnlockArg {
		os.Exit(UnlockClient())
	}
	if os.Getpid() != 1 {
		fmt.Fprintf(os.Stderr, "%s: the initkit init runs only as PID 1, as /init of an initramfs (initkit build puts it there); it changed nothing\n", os.Args[0])
		os.Exit(2)
	}
	in := &initProc{start: time.Now(), out: os.Stdout}
	in.checkRuntime() // before any file is opened
	holdSignals()
	in.early("mounts", in.mountEarly)

	in.early("cmdline", in.readCmdline)
	if b, err := readFile(guest.ExecFile); err == nil {
		// exec runs no hooks: its image has none, and its command starts
		// as soon as it can.
		in.early("exec", func() error { in.runExec(b); return nil })
	}
	if in.cmd.Capture {
		in.early("capture", in.capture) // powers off
	}
	in.early("kdump", in.loadCrashKernel)
	if in.cmd.GDB != "" {
		in.early("gdb", func() error { in.gdbHook(); return nil })
	}
	if in.cmd.Trace {
		in.early("trace", func() error { in.traceHook(); return nil })
	}
	in.earlyStage("cmdline")
	in.earlyStage("pre-udev")
	in.early("modules", in.loadModules)
	in.early("network", in.netUp)
	for {
		err := in.attempt()
		in.rescue(err)
		in.logf("the rescue shell exited; trying the boot again")
	}
}

// attempt runs the stages from the root search on; it returns only when
// one fails (success ends in exec).
func (in *initProc) attempt() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error: %v\n%s", r, debug.Stack())
		}
	}()
	if in.cmd.RootDelay > 0 && !in.delayed {
		in.delayed = true
		in.timed("rootdelay", func() error { time.Sleep(in.cmd.RootDelay); return nil })
	}
	steps := []struct {
		name string
		fn   func() error
	}{{"pre-mount hooks", in.preMount},
		{"luks", in.unlockAll}, {"root", in.findRoot}, {"mount", in.mountRoot},
		{"mount hooks", func() error { return in.stage("mount") }},
		{"pre-pivot hooks", func() error { return in.stage("pre-pivot") }}}
	for i, s := range steps {
		if err := in.timed(s.name, s.fn); err != nil {
			if i > 3 { // the root is mounted: the next attempt mounts it again
				unix.Unmount(NewRoot, unix.MNT_DETACH)
			}
			return err
		}
	}
	in.summary()
	in.stopDropbear()
	in.netDown()
	if in.earlyFS != "" {
		err = pivotRoot(NewRoot, in.cmd.Init, os.Args[1:], in.logf)
	} else {
		err = switchRoot(NewRoot, in.cmd.Init, os.Args[1:], in.logf)
	}
	unix.Unmount(NewRoot, unix.MNT_DETACH)
	return fmt.Errorf("switch to %s: %w", in.cmd.Root, err)
}

// preMount runs the pre-mount stage, whose hooks (and rd.break) are told
// the modules are loaded: first the disks those modules bring are let
// appear.
func (in *initProc) preMount() error {
	if in.wantsStage("pre-mount") {
		in.settle()
	}
	return in.stage("pre-mount")
}

// settle waits, up to 3 s, until no new block device has appeared for
// 250 ms.
func (in *initProc) settle() {
	last, since := -1, time.Now()
	in.waitUntil(3*time.Second, func() bool {
		if ents, _ := readDir("/sys/class/block"); len(ents) != last {
			last, since = len(ents), time.Now()
		}
		return time.Since(since) >= 250*time.Millisecond
	})
}

// earlyStage runs a stage before the root search: a failing hook brings
// the rescue shell, after which the boot goes on.
func (in *initProc) earlyStage(name string) {
	if err := in.timed(name+" hooks", func() error { return in.stage(name) }); err != nil {
		in.rescue(err)
	}
}

// timed runs one stage and records its time.
func (in *initProc) timed(name string, fn func() error) error {
	t := time.Now()
	err := fn()
	in.stages = append(in.stages, stageTime{name, time.Since(t)})
	in.debugf("stage %s: %v (%s)", name, time.Since(t).Round(time.Microsecond), errString(err))
	return err
}

// early runs a stage before the root search, whose failure is reported
// but not fatal: the root may still be found. A panic in it is such a
// failure too: PID 1 must not exit, whatever goes wrong.
func (in *initProc) early(name string, fn func() error) {
	err := in.timed(name, func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("internal error: %v\n%s", r, debug.Stack())
			}
		}()
		return fn()
	})
	if err != nil {
		in.logf("%s: %v", name, err)
	}
}

func errString(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

// mountEarly mounts devtmpfs on /dev (the Debian kernel does not do it by
// itself: no CONFIG_DEVTMPFS_MOUNT), proc, sysfs and a tmpfs /run, and
// makes sure fds 0-2 are the console.
func (in *initProc) mountEarly() error {
	var errs []error
	for _, m := range []struct{ src, dir, fstype, data string }{
		{"devtmpfs", "/dev", "devtmpfs", "mode=0755"},
		{"proc", "/proc", "proc", ""},
		{"sysfs", "/sys", "sysfs", ""},
		{"tmpfs", "/run", "tmpfs", "mode=0755"},
	} {
		mkdir(m.dir, 0o755)
		err := unix.Mount(m.src, m.dir, m.fstype, unix.MS_NOSUID, m.data)
		// EBUSY: the same filesystem is there already (a kernel with
		// DEVTMPFS_MOUNT, or an /init that mounted it before exec'ing
		// this one). A tmpfs over it would hide every device node.
		if err != nil && !errors.Is(err, unix.EBUSY) && m.dir == "/dev" {
			err = unix.Mount("tmpfs", "/dev", "tmpfs", unix.MS_NOSUID, "mode=0755")
		}
		if err == nil {
			in.mounted = append(in.mounted, m.dir)
		}
		if err != nil && !errors.Is(err, unix.EBUSY) {
			errs = append(errs, fmt.Errorf("mount %s on %s: %w", m.fstype, m.dir, err))
		}
	}
	openConsole()
	return errors.Join(errs...)
}

// restoreMounts undoes mountEarly's mounts, newest first: what runs next
// finds /dev, /proc, /sys and /run as the kernel left them.
func (in *initProc) restoreMounts() {
	for i := len(in.mounted) - 1; i >= 0; i-- {
		unix.Unmount(in.mounted[i], unix.MNT_DETACH)
	}
	in.mounted = nil
}

// openConsole makes fds 0, 1 and 2 the console when the kernel could not
// (an image without /dev/console: "Warning: unable to open an initial
// console"), now that devtmpfs has the node.
func openConsole() {
	var st unix.Stat_t
	if unix.Fstat(1, &st) == nil {
		return
	}
	fd, err := unix.Open("/dev/console", unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return
	}
	for i := 0; i < 3; i++ {
		unix.Dup3(fd, i, 0)
	}
	if fd > 2 {
		unix.Close(fd)
	}
}

func (in *initProc) readCmdline() error {
	b, err := readFile("/proc/cmdline")
	if err != nil {
		in.cmd, _ = ParseCmdline("")
		return err
	}
	in.cmd, err = ParseCmdline(string(b))
	if in.cmd.EarlyRoot != "" {
		// Booted from a disk: root= is the filesystem the init runs
		// from, initkit.root= the one to pivot into.
		// init= is the early one, which the kernel ran.
		in.earlyFS, in.cmd.Root, in.cmd.Init = in.cmd.Root, in.cmd.EarlyRoot, "/sbin/init"
		if in.cmd.EarlyInit != "" {
			in.cmd.Init = in.cmd.EarlyInit
		}
	}
	return err
}

// loadModules loads the image's modules and coldplugs the devices present.
// The uevent socket is opened first, so that devices added while modules
// load are not missed; it is not opened at all when every module that
// modules.alias names is to be loaded anyway, since no device could then
// ask for one (and listening costs boot time: each event wakes the init).
func (in *initProc) loadModules() error {
	in.devs = newBlockDevs()
	in.mods = openModules("/lib/modules/"+release(), in.debugf)
	var err error
	if in.mods.wantedBeyond(in.cmd.Modules) {
		in.events, err = listenUevents()
	} else {
		in.debugf("every module of modules.alias is listed: not listening for devices")
	}
	in.mods.loadAll(in.cmd.Modules)
	in.debugf("listed modules loaded")
	in.mods.coldplug()
	if err != nil {
		return fmt.Errorf("uevent socket: %w (devices that appear later get no modules)", err)
	}
	return nil
}

func release() string {
	var u unix.Utsname
	unix.Uname(&u)
	return unix.ByteSliceToString(u.Release[:])
}

// handle acts on a uevent: a device that appeared may want a module.
func (in *initProc) handle(ev uevent) {
	if ev["ACTION"] == "add" && ev["MODALIAS"] != "" {
		in.mods.forAlias(ev["MODALIAS"])
	}
}

// waitUntil waits up to d for cond, loading the modules that devices
// appearing meanwhile ask for (a NIC's driver loads only then: its
// device shows up once the bus driver has loaded).
func (in *initProc) waitUntil(d time.Duration, cond func() bool) bool {
	end := time.Now().Add(d)
	for poll := 2 * time.Millisecond; !cond(); poll = min(2*poll, 50*time.Millisecond) {
		if time.Now().After(end) {
			return false
		}
		in.drainEvents(poll)
	}
	return true
}

// drainEvents handles the uevents that arrive within d (or at once).
func (in *initProc) drainEvents(d time.Duration) {
	select {
	case ev, ok := <-in.events:
		if !ok {
			in.events = nil
			return
		}
		in.handle(ev)
		for len(in.events) > 0 {
			in.handle(<-in.events)
		}
	case <-time.After(d):
	}
}

// waitFor waits until a block device matches spec and returns it. Without
// rootwait it gives up after the root timeout, listing what it saw.
func (in *initProc) waitFor(spec string, match func(*blockDev) bool) (*blockDev, error) {
	start := time.Now()
	nextNote := 5 * time.Second
	seen, degraded := -1, false
	// Look again soon, then less often: a device can appear just after
	// its driver loaded (NVMe probes asynchronously), and without a
	// uevent socket nothing else wakes the init when it does.
	poll := 2 * time.Millisecond
	for {
		devs := in.devs.scan()
		for _, d := range devs {
			if match(d) {
				in.debugf("%s is %s", spec, d)
				return d, nil
			}
		}
		waited := time.Since(start)
		// New devices may be members of arrays and groups; an array still
		// short of members starts degraded once half the time is gone.
		if late := waited > in.cmd.RootTimeout/2; len(devs) != seen || late && !degraded {
			seen, degraded = len(devs), degraded || late
			in.assemble(devs, degraded)
			continue
		}
		if !in.cmd.RootWait && waited > in.cmd.RootTimeout {
			in.tried = append(in.tried, fmt.Sprintf("waited %v for %s", in.cmd.RootTimeout, spec))
			return nil, fmt.Errorf("root device %s not found after %v (add rootwait to wait longer, or initkit.timeout=SECONDS)", spec, in.cmd.RootTimeout)
		}
		if waited > nextNote {
			in.logf("waiting for %s (%v so far); block devices: %s", spec, waited.Round(time.Second), deviceNames(devs))
			nextNote += 5 * time.Second
		}
		in.drainEvents(poll)
		poll = min(2*poll, 100*time.Millisecond)
	}
}

func deviceNames(devs []*blockDev) string {
	if len(devs) == 0 {
		return "none"
	}
	var n []string
	for _, d := range devs {
		n = append(n, d.Name)
	}
	return strings.Join(n, " ")
}

// findRoot waits for root=; a LUKS volume named as the root itself is
// unlocked, and the filesystem inside it becomes the root.
func (in *initProc) findRoot() error {
	spec := in.cmd.Root
	if err := validRootSpec(spec); err != nil {
		return err
	}
	d, err := in.waitFor(spec, func(d *blockDev) bool { return matchRoot(spec, d) })
	if err != nil {
		return err
	}
	if d.FS.Type == "crypto_LUKS" {
		name := "luks-" + d.FS.UUID
		if err := in.openLUKS(d, name); err != nil {
			return err
		}
		mapped := "/dev/mapper/" + name
		if d, err = in.waitFor(mapped, func(d *blockDev) bool { return matchRoot(mapped, d) }); err != nil {
			return err
		}
	}
	in.root = d
	return nil
}

// summary prints one line of stage timings (every decision is printed
// under initkit.debug as it happens). It is built without fmt, which
// would be translated for this one line on a successful boot (see
// sysfile.go).
func (in *initProc) summary() {
	if in.cmd.Quiet && !in.cmd.Debug {
		return
	}
	s := "initkit: root " + in.root.Path + " (" + in.root.FS.Type + "); "
	for i, st := range in.stages {
		if i > 0 {
			s += ", "
		}
		s += st.name + " " + ms(st.d)
	}
	s += "; " + ms(time.Since(in.start)) + " since start; switching to " + in.cmd.Init + "\n"
	io.WriteString(in.out, s)
}

// ms formats a duration in milliseconds with one decimal.
func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64) + "ms"
}

func (in *initProc) logf(format string, args ...any) {
	fmt.Fprintf(in.out, "initkit: "+format+"\n", args...)
}

// debugf logs under initkit.debug, with the time since the init started.
func (in *initProc) debugf(format string, args ...any) {
	if in.cmd.Debug {
		in.logf("+%s "+format, append([]any{ms(time.Since(in.start))}, args...)...)
	}
}
