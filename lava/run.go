package lava

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/initkit/initkit/boot"
	"github.com/initkit/initkit/cpio"
	"github.com/initkit/initkit/image"
	"github.com/initkit/initkit/initramfs"
	"github.com/initkit/initkit/internal/atomicfile"
	"github.com/initkit/initkit/internal/hosttool"
	"github.com/initkit/initkit/kernel"
	"github.com/initkit/initkit/qemu"
)

// Result is how a job ended.
type Result struct {
	ID      int
	Health  string // Complete, Incomplete, Canceled
	Failure string // the server's failure comment, or why initkit gave the job up
	// Status is the command's exit status, from StatusCase; -1 when
	// the test case never reported one (a crash, a boot that failed).
	Status int
	// Console is what the device printed, kept within a local console's
	// bounds (qemu.Console); Crash is its first line of a fatal crash
	// report, "" when none, and Excerpt the report.
	Console, Crash, Excerpt string
	LogPath                 string        // the saved console, when RunOptions.Log asked
	Timeout                 time.Duration // the job's, for a job that timed out
	Tries                   int           // submissions: 1 + the retries
}

// RunOptions bound and show a job's run.
type RunOptions struct {
	Console      io.Writer     // the device's lines as they come (nil: none)
	Log          string        // save the console to this file (a retry's overwrites it)
	QueueTimeout time.Duration // how long the job may wait for a device (default 10 min)
	Poll         time.Duration // how often the job is looked at (default 2 s)
	// Lost is how long the server may fail to answer before the job is
	// given up as lost (default 1 min).
	Lost      time.Duration
	Retries   int              // submit again a job the farm failed, so many times
	Submitted func(id int)     // told the job's id once it is submitted
	Retrying  func(res Result) // told of a try the farm failed, before the next
}

// Run submits j, follows it to its end, and returns how it ended; a job
// the farm failed (Result.Infra) is submitted again up to o.Retries
// times. An error is initkit's own or a submission the server refused;
// cancelling ctx cancels the job.
func (c *Client) Run(ctx context.Context, j Job, o RunOptions) (Result, error) {
	def, err := j.Definition()
	if err != nil {
		return Result{Status: -1}, err
	}
	for try := 1; ; try++ {
		res, err := c.try(ctx, def, o)
		res.Tries, res.Timeout = try, j.timeout()
		if err != nil || !res.Infra() || try > o.Retries {
			return res, err
		}
		if o.Retrying != nil {
			o.Retrying(res)
		}
	}
}

// try submits the definition once and follows the job to its end.
func (c *Client) try(ctx context.Context, def []byte, o RunOptions) (res Result, err error) {
	res.Status = -1
	if res.ID, err = c.Submit(ctx, def); err != nil {
		return res, err
	}
	if o.Submitted != nil {
		o.Submitted(res.ID)
	}
	con := &qemu.Console{}
	if o.Log != "" {
		f, err := os.OpenFile(o.Log, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			c.Cancel(context.WithoutCancel(ctx), res.ID)
			return res, err
		}
		defer f.Close()
		con.Save(f)
		res.LogPath = o.Log
	}
	defer func() { res.Console, res.Crash, res.Excerpt = con.Log(), con.Crash(), con.Excerpt() }()
	f := follower{c: c, id: res.ID, con: con, echo: o.Console, poll: cmp.Or(o.Poll, 2*time.Second),
		queued: time.Now().Add(cmp.Or(o.QueueTimeout, 10*time.Minute)), lost: cmp.Or(o.Lost, time.Minute)}
	st, why := f.follow(ctx)
	if ctx.Err() != nil || why != "" {
		c.Cancel(context.WithoutCancel(ctx), res.ID)
		res.Failure = why
		return res, ctx.Err()
	}
	res.Health, res.Failure = st.Health, st.FailureComment
	return res, c.status(ctx, &res)
}

// follower follows one job: its state, its log into the console.
type follower struct {
	c            *Client
	id           int
	con          *qemu.Console
	echo         io.Writer
	poll, lost   time.Duration
	queued       time.Time
	seen         int       // log lines read
	answered     time.Time // the server's last answer
	workerLooked time.Time
}

// follow returns the job's status once it is finished, or why it was
// given up: no device took it in time, its worker went offline, the
// server stopped answering. The context's end gives it up too.
func (f *follower) follow(ctx context.Context) (Status, string) {
	f.answered = time.Now()
	for {
		st, err := f.c.Job(ctx, f.id)
		if ctx.Err() != nil {
			return st, ""
		}
		if err == nil {
			err = f.logs(ctx)
		}
		if err != nil && time.Since(f.answered) > f.lost {
			return st, fmt.Sprintf("the server was lost: %v", err)
		}
		if err == nil {
			f.answered = time.Now()
			if why := f.check(ctx, st); why != "" || st.State == "Finished" {
				return st, why
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(f.poll):
		}
	}
}

// check says why a job that is not finished should be given up, if it
// should.
func (f *follower) check(ctx context.Context, st Status) string {
	switch st.State {
	case "Submitted", "Scheduling":
		if time.Now().After(f.queued) {
			return "no device took the job in time (--queue-timeout)"
		}
	case "Scheduled", "Running":
		// The server leaves a job on a lost worker running: the
		// worker's state is the only sign.
		if st.Device != "" && time.Since(f.workerLooked) > 10*time.Second {
			f.workerLooked = time.Now()
			if on, err := f.c.WorkerOnline(ctx, st.Device); err == nil && !on {
				return "the worker of " + st.Device + " went offline"
			}
		}
	}
	return ""
}

// logs reads the job's new log lines and writes the device's into the
// console.
func (f *follower) logs(ctx context.Context) error {
	lines, err := f.c.Logs(ctx, f.id, f.seen)
	if err != nil {
		return err
	}
	f.seen += len(lines)
	for _, l := range lines {
		if s, ok := l.Target(); ok {
			f.con.Write([]byte(s + "\n"))
			if f.echo != nil {
				fmt.Fprintln(f.echo, s)
			}
		}
	}
	return nil
}

// Infra says the farm failed the job: it ended without the command's
// status, a crash, a timeout or the kernel's power-off, or initkit gave
// it up (Failure says why). Such a job is retried and never counted.
func (r Result) Infra() bool { return r.Outcome().Kind == qemu.Failed }

// Outcome is how the job's guest ended, as a local boot's: the console
// judged by the same rules (a fatal crash report first), the command's
// status or the kernel's power-off a clean end, LAVA's timeout a
// timeout, and anything else a failure of the farm.
func (r Result) Outcome() qemu.Outcome {
	o := qemu.Outcome{LogPath: r.LogPath, Timeout: r.Timeout}
	switch {
	case r.Crash != "":
		o.Kind, o.Line, o.Crash = qemu.Crashed, r.Crash, r.Excerpt
	case r.Status >= 0 || strings.Contains(r.Console, PowerOff):
		o.Kind = qemu.PoweredOff
	case strings.Contains(r.Failure, "timed out after"):
		o.Kind = qemu.TimedOut
	default:
		why := cmp.Or(r.Failure, "no reason given")
		if r.Health != "" {
			why = "ended " + r.Health + ": " + why
		}
		o.Kind, o.Err = qemu.Failed, fmt.Errorf("LAVA job %d %s", r.ID, why)
	}
	return o
}

// status reads the command's exit status from the job's results.
func (c *Client) status(ctx context.Context, res *Result) error {
	cases, err := c.Results(ctx, res.ID)
	if err != nil {
		return err
	}
	for _, t := range cases {
		if t.Name != StatusCase {
			continue
		}
		f, err := strconv.ParseFloat(t.Measurement, 64)
		if err != nil {
			return fmt.Errorf("job %d: %s's measurement %q is no status", res.ID, StatusCase, t.Measurement)
		}
		res.Status = int(f)
	}
	return nil
}

// Artifacts is where jobs' files go: a directory the farm serves at a
// URL (file:// when the workers share the filesystem).
type Artifacts struct {
	Dir, URL string
	Public   bool // files readable by everyone (default: the owner only)
}

// ParseArtifacts reads DIR=URL.
func ParseArtifacts(s string) (Artifacts, error) {
	dir, u, ok := strings.Cut(s, "=")
	if !ok || dir == "" || u == "" {
		return Artifacts{}, fmt.Errorf("--lava-artifacts %q: want DIR=URL, a directory of yours the farm's workers fetch from at URL (file:///DIR when they share this filesystem)", s)
	}
	abs, err := filepath.Abs(dir)
	return Artifacts{Dir: abs, URL: strings.TrimSuffix(u, "/") + "/"}, err
}

// Put copies a file into the directory under a name made of its content
// (a kernel shared by a hundred jobs is copied once) and returns its URL.
// The copy streams: a disk image of gigabytes is never in memory.
func (a Artifacts) Put(path string) (string, error) {
	src, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer src.Close()
	mode := os.FileMode(0o600)
	if a.Public {
		mode = 0o644
	}
	if err := os.MkdirAll(a.Dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := atomicfile.Create(filepath.Join(a.Dir, filepath.Base(path)), mode)
	if err != nil {
		return "", err
	}
	defer tmp.Abort()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp.File, h), src); err != nil {
		return "", err
	}
	name := hex.EncodeToString(h.Sum(nil)[:12]) + "-" + safeName(filepath.Base(path))
	if _, err := os.Stat(filepath.Join(a.Dir, name)); err == nil {
		return a.URL + name, nil // there already: the deferred Abort drops the copy
	}
	tmp.Path, tmp.NoSync = filepath.Join(a.Dir, name), true
	return a.URL + name, tmp.Commit()
}

// safeName keeps a file name's letters, digits, dots, dashes and
// underscores, and makes the rest underscores: the name reaches QEMU's
// command line inside an option (a comma would end it) and URLs.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 128 && (r == '.' || r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return r
		}
		return '_'
	}, s)
}

// initScript is the ramdisk's /init: the kernel's filesystems, then a
// shell on the console for LAVA's test runner (cttyhack gives it the
// console as its terminal).
const initScript = `#!/bin/sh
mkdir -p /proc /sys /dev /tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
export PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/tmp
exec setsid cttyhack sh
`

// Image writes the ramdisk of a LAVA run to out: busybox with every
// applet (LAVA's test runner is shell scripts), the init above, and the
// command's program with its libraries (add: more host files,
// SRC[:DST]); uncompressed newc in one segment, which LAVA unpacks to add
// its overlay.
func Image(out, busybox string, argv, add []string) error {
	spec := &initramfs.Spec{Output: out, Compress: "none", Split: "0", Init: "none", Busybox: busybox,
		Entries: []image.File{{Header: cpio.Header{Name: "init", Mode: cpio.TypeReg | 0o755}, Data: []byte(initScript)}},
		Dirs:    []string{"/tmp"}}
	if len(argv) > 0 && strings.Contains(argv[0], "/") {
		abs, err := filepath.Abs(argv[0])
		if err != nil {
			return err
		}
		spec.AddFiles(abs)
	}
	if err := spec.AddPaths(add...); err != nil {
		return err
	}
	_, err := spec.Build("", 0)
	return err
}

// Exec fills in j for a run of argv (a host program; none: a boot to the
// shell) on the guest b describes: the kernel the policy chooses for
// b.Kernel (or b.Chosen), and a ramdisk (Image) with busybox and the add
// files; both copied to a. It returns the job, ready to run, and the
// kernel, whose vmlinux decodes the job's crash.
func Exec(ctx context.Context, j Job, b boot.Options, argv, add []string, busybox string, a Artifacts) (Job, *kernel.Choice, error) {
	if err := errors.Join(farmable(b), j.checkPriority()); err != nil {
		return j, nil, err
	}
	k, err := choose(ctx, b)
	if err != nil {
		return j, nil, err
	}
	if err := x86(cmp.Or(k.Arch, "x86_64")); err != nil {
		return j, nil, err
	}
	dir, err := os.MkdirTemp("", "initkit-lava-")
	if err != nil {
		return j, nil, err
	}
	defer os.RemoveAll(dir)
	if len(argv) > 0 {
		abs, err := hosttool.Program(argv[0])
		if err != nil {
			return j, nil, err
		}
		argv = append([]string{abs}, argv[1:]...)
	}
	ramdisk := filepath.Join(dir, "initrd.cpio")
	if err := Image(ramdisk, busybox, argv, add); err != nil {
		return j, nil, err
	}
	j.Command = argv
	return j, k, j.fill(b, k.Image, ramdisk, a)
}

// Boot fills in j for a boot of the user's own image as initkit boot
// prepares it (boot.Prepare: the kernel, the initramfs built from the
// spec or given), both copied to a. The job ends as a local boot does:
// the kernel powers off, crashes, or the timeout ends it. The run's
// directory, where its console can be saved, is boot.Run.Dir.
func Boot(ctx context.Context, j Job, b boot.Options, a Artifacts) (Job, *boot.Run, error) {
	if err := errors.Join(farmable(b), j.checkPriority()); err != nil {
		return j, nil, err
	}
	r, err := boot.Prepare(ctx, b)
	if err != nil {
		return j, nil, err
	}
	if err := x86(r.Arch()); err != nil {
		return j, nil, err
	}
	j.UserImage = true
	return j, r, j.fill(b, r.Kernel.Image, r.Initrd, a)
}

// x86 refuses a guest of another architecture than the qemu device
// type's, whose kernel came from the kernel policy.
func x86(arch string) error {
	if arch != "x86_64" {
		return fmt.Errorf("a LAVA job cannot take another architecture than x86_64 (the kernel is for %s)", arch)
	}
	return nil
}

// farmable refuses what a LAVA job of the qemu device type cannot do:
// the job is a kernel, a ramdisk and a command line.
func farmable(b boot.Options) error {
	for _, c := range []struct {
		set  bool
		what string
	}{
		{b.Root != "", "a disk's root (--root)"}, {b.Init != "", "--init (put init= in --append)"},
		{len(b.Devices) > 0, "networking, ssh and gdb"}, {b.Kdump || b.Crash || b.DumpOnCrash || b.DumpOnTimeout, "dumps"},
		{len(b.QEMUArgs) > 0, "QEMU arguments"}, {len(b.Expect) > 0 || len(b.Fail) > 0, "--expect and --fail"},
		{b.Arch != "" && b.Arch != "x86_64", "another architecture than x86_64"}, {b.Interactive, "an interactive console"},
	} {
		if c.set {
			return fmt.Errorf("a LAVA job cannot take %s", c.what)
		}
	}
	return nil
}

// fill copies the kernel and ramdisk to a and sets the guest's size.
func (j *Job) fill(b boot.Options, kernelImage, ramdisk string, a Artifacts) (err error) {
	if j.Kernel, err = a.Put(kernelImage); err != nil {
		return err
	}
	if j.Ramdisk, err = a.Put(ramdisk); err != nil {
		return err
	}
	for _, d := range b.Disks {
		disk, err := farmDisk(d, a)
		if err != nil {
			return err
		}
		j.Disks = append(j.Disks, disk)
	}
	// QEMU's syntax, as a local run reads it: a plain number is MiB.
	mem, err := qemu.ParseMemory(cmp.Or(b.Memory, "1G"))
	if err != nil {
		return err
	}
	j.Memory, j.SMP, j.Append, j.Timeout = int(mem>>20), b.SMP, b.Append, b.Timeout
	return nil
}

// farmDisk copies a disk image to a: raw, or qcow2 that names no host
// file (the worker has none of the user's files), on virtio.
func farmDisk(d qemu.Disk, a Artifacts) (Disk, error) {
	if d.Interface != "" && d.Interface != "virtio" {
		return Disk{}, fmt.Errorf("disk %s: a LAVA job attaches virtio disks only", d.Path)
	}
	info, err := qemu.InspectImage(d.Path)
	if err != nil {
		return Disk{}, fmt.Errorf("disk %s: %w", d.Path, err)
	}
	if info.Backing != "" || info.DataFile != "" {
		return Disk{}, fmt.Errorf("disk %s names host files (a backing or data file) the farm does not have", d.Path)
	}
	u, err := a.Put(d.Path)
	return Disk{URL: u, Format: info.Format, ReadOnly: d.ReadOnly}, err
}

func choose(ctx context.Context, b boot.Options) (*kernel.Choice, error) {
	if b.Chosen != nil {
		return b.Chosen, nil
	}
	return kernel.Choose(ctx, b.Kernel)
}
