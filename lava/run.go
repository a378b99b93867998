package lava

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/initkit/initkit/boot"
	"github.com/initkit/initkit/cpio"
	"github.com/initkit/initkit/image"
	"github.com/initkit/initkit/initramfs"
	"github.com/initkit/initkit/internal/atomicfile"
	"github.com/initkit/initkit/kernel"
	"github.com/initkit/initkit/oops"
)

// Result is how a job ended.
type Result struct {
	ID      int
	Health  string // Complete, Incomplete, Canceled
	Failure string // the server's failure comment
	// Status is the command's exit status, from StatusCase; -1 when
	// the test case never reported one (a crash, a boot that failed).
	Status  int
	Console string // what the device printed
}

// RunOptions bound and show a job's run.
type RunOptions struct {
	Console      io.Writer     // the device's lines as they come (nil: none)
	QueueTimeout time.Duration // how long the job may wait for a device (default 10 min)
	Poll         time.Duration // how often the job is looked at (default 2 s)
	Submitted    func(id int)  // told the job's id once it is submitted
}

// ErrQueued means no device took the job within the queue timeout: the
// job was cancelled.
var ErrQueued = fmt.Errorf("no device took the job")

// Run submits j, follows it to its end, and returns how it ended.
// Cancelling ctx cancels the job.
func (c *Client) Run(ctx context.Context, j Job, o RunOptions) (Result, error) {
	res := Result{Status: -1}
	def, err := j.Definition()
	if err != nil {
		return res, err
	}
	if res.ID, err = c.Submit(ctx, def); err != nil {
		return res, err
	}
	if o.Submitted != nil {
		o.Submitted(res.ID)
	}
	poll := cmp.Or(o.Poll, 2*time.Second)
	queueTimeout := cmp.Or(o.QueueTimeout, 10*time.Minute)
	queued := time.Now().Add(queueTimeout)
	var console strings.Builder
	seen := 0
	for {
		st, err := c.Job(ctx, res.ID)
		if ctx.Err() != nil || err != nil {
			c.Cancel(context.WithoutCancel(ctx), res.ID)
			return res, cmp.Or(ctx.Err(), err)
		}
		lines, _ := c.Logs(ctx, res.ID, seen)
		seen += len(lines)
		for _, l := range lines {
			if s, ok := l.Target(); ok {
				console.WriteString(s + "\n")
				if o.Console != nil {
					fmt.Fprintln(o.Console, s)
				}
			}
		}
		switch {
		case st.State == "Finished":
			res.Health, res.Failure, res.Console = st.Health, st.FailureComment, console.String()
			return res, c.status(ctx, &res)
		case (st.State == "Submitted" || st.State == "Scheduling") && time.Now().After(queued):
			c.Cancel(context.WithoutCancel(ctx), res.ID)
			return res, fmt.Errorf("job %d: %w within %v", res.ID, ErrQueued, queueTimeout)
		}
		select {
		case <-ctx.Done():
		case <-time.After(poll):
		}
	}
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
		return Artifacts{}, fmt.Errorf("--lava-artifacts %q: DIR=URL", s)
	}
	abs, err := filepath.Abs(dir)
	return Artifacts{Dir: abs, URL: strings.TrimSuffix(u, "/") + "/"}, err
}

// Put copies a file into the directory under a name made of its content
// (a kernel shared by a hundred jobs is copied once) and returns its URL.
func (a Artifacts) Put(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	name := hex.EncodeToString(sum[:12]) + "-" + filepath.Base(path)
	dst := filepath.Join(a.Dir, name)
	if _, err := os.Stat(dst); err != nil {
		mode := os.FileMode(0o600)
		if a.Public {
			mode = 0o644
		}
		if err := os.MkdirAll(a.Dir, 0o755); err != nil {
			return "", err
		}
		err := atomicfile.Write(dst, mode, func(w io.Writer) error { _, err := w.Write(data); return err })
		if err != nil {
			return "", err
		}
	}
	return a.URL + name, nil
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
	spec.AddFiles(add...)
	_, err := spec.Build("", 0)
	return err
}

// Exec fills in j for a run of argv (a host program; none: a boot to the
// shell) on the guest b describes: the kernel the policy chooses for
// b.Kernel, and a ramdisk (Image) with busybox and the add files; both
// copied to a. It returns the job, ready to run.
func Exec(ctx context.Context, j Job, b boot.Options, argv, add []string, busybox string, a Artifacts) (Job, error) {
	k, err := kernel.Choose(ctx, b.Kernel)
	if err != nil {
		return j, err
	}
	dir, err := os.MkdirTemp("", "initkit-lava-")
	if err != nil {
		return j, err
	}
	defer os.RemoveAll(dir)
	if len(argv) > 0 {
		abs, err := filepath.Abs(argv[0])
		if err != nil {
			return j, err
		}
		argv = append([]string{abs}, argv[1:]...)
	}
	ramdisk := filepath.Join(dir, "initrd.cpio")
	if err := Image(ramdisk, busybox, argv, add); err != nil {
		return j, err
	}
	if j.Kernel, err = a.Put(k.Image); err != nil {
		return j, err
	}
	if j.Ramdisk, err = a.Put(ramdisk); err != nil {
		return j, err
	}
	mem, err := image.ParseSize(cmp.Or(b.Memory, "1G"))
	if err != nil {
		return j, fmt.Errorf("memory %s: %w", b.Memory, err)
	}
	j.Memory, j.SMP, j.Append, j.Command, j.Timeout = int(mem>>20), b.SMP, b.Append, argv, b.Timeout
	return j, nil
}

// Exit codes of a run, as initkit exec and boot give them.
const (
	ExitCrash = boot.ExitCrash
	ExitInfra = boot.ExitQEMU // the farm failed: no status, no crash
)

// Verdict is how a job's run ends for initkit exec: the command's
// status; ExitCrash and the crash's title when the kernel crashed (from
// the console, by package oops); ExitInfra and why for a job that ended
// otherwise without a status (the farm's failure, not the command's).
func (r Result) Verdict() (code int, why string) {
	if r.Status >= 0 {
		return r.Status, ""
	}
	if reps, _ := oops.Parse(strings.NewReader(r.Console)); len(reps) > 0 {
		return ExitCrash, "kernel crash: " + reps[0].Title
	}
	return ExitInfra, fmt.Sprintf("the job ended %s without the command's status: %s", r.Health, cmp.Or(r.Failure, "no reason given"))
}
