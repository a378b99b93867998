// Package vmexec runs one command inside a freshly booted VM and reports it
// like a local command: its stdout and stderr stream to the caller and its
// exit status comes back, 128+N for a death by signal N.
//
// The guest has four serial ports: ttyS0 is the kernel console, ttyS1 the
// command's stdout, ttyS2 its stderr, ttyS3 the exit status. Each is a
// FIFO on the host, so output streams as it is written and the status
// never depends on scraping the console.
package vmexec

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/initkit/initkit/build"
	"github.com/initkit/initkit/internal/shell"
	"github.com/initkit/initkit/qemu"
)

// Options describe one run.
type Options struct {
	Kernel   string
	Busybox  string   // a static busybox for the guest's init
	Base     string   // an initramfs the command's segment is appended to
	Add      []string // more host files, "SRC[:DST]", with their closures
	Memory   string
	Compress string // compression of the command's segment (default none)
	Stdout   io.Writer
	Stderr   io.Writer
	Console  io.Writer // the kernel console, discarded when nil
}

// ErrNoStatus means the guest stopped without reporting the command's
// status: it crashed, or the timeout ended it.
var ErrNoStatus = errors.New("the guest stopped without reporting an exit status")

// Run runs argv[0] (a host path) with argv[1:] in a VM and returns its exit
// status. The image lives in a temporary directory removed on return.
func Run(ctx context.Context, argv []string, o Options) (int, error) {
	dir, err := os.MkdirTemp("", "initkit-exec-")
	if err != nil {
		return -1, err
	}
	defer os.RemoveAll(dir)
	initrd := filepath.Join(dir, "initrd.img")
	if err := buildImage(initrd, argv, o); err != nil {
		return -1, err
	}
	fifos := map[string]io.Writer{"out": o.Stdout, "err": o.Stderr, "status": nil}
	var extra []string
	for _, name := range []string{"out", "err", "status"} {
		p := filepath.Join(dir, name)
		for _, suffix := range []string{".in", ".out"} {
			if err := unix.Mkfifo(p+suffix, 0o600); err != nil {
				return -1, err
			}
		}
		extra = append(extra, "-serial", "pipe:"+p)
	}
	var wg sync.WaitGroup
	var status bytesBuffer
	var readers []*os.File
	for name, w := range fifos {
		if w == nil {
			w = &status
		}
		// Read-write, so that the open does not wait for QEMU to start
		// (a FIFO opened read-only blocks until it has a writer).
		f, err := os.OpenFile(filepath.Join(dir, name+".out"), os.O_RDWR, 0)
		if err != nil {
			return -1, err
		}
		defer f.Close()
		readers = append(readers, f)
		wg.Add(1)
		go func(w io.Writer) { defer wg.Done(); io.Copy(w, f) }(w)
	}
	console := o.Console
	if console == nil {
		console = io.Discard
	}
	cfg := qemu.Config{Kernel: o.Kernel, Initrd: initrd, Memory: o.Memory, Append: "quiet loglevel=1", Extra: extra}
	runErr := qemu.Run(ctx, cfg, console)
	// QEMU is gone and everything it wrote is in the pipes: read it, and
	// stop at the first wait (we hold a write end, so no EOF comes).
	for _, f := range readers {
		f.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	}
	wg.Wait()
	if code, ok := parseStatus(status.String()); ok {
		return code, nil
	}
	if runErr != nil {
		return -1, runErr
	}
	return -1, ErrNoStatus
}

func parseStatus(s string) (int, bool) {
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "initkit-exit:"); ok {
			n, err := strconv.Atoi(v)
			return n, err == nil
		}
	}
	return 0, false
}

type bytesBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (b *bytesBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b = append(b.b, p...)
	return len(p), nil
}

func (b *bytesBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.b)
}

// buildImage writes the image: the base if any, then a segment with
// busybox, the command and its closure, and the runner as /init.
func buildImage(out string, argv []string, o Options) error {
	abs, err := filepath.Abs(argv[0])
	if err != nil {
		return err
	}
	runnerPath := out + ".init"
	if err := os.WriteFile(runnerPath, []byte(runner(append([]string{abs}, argv[1:]...))), 0o755); err != nil {
		return err
	}
	spec := &build.Spec{Output: out, Compress: o.compression(), Init: runnerPath, Busybox: o.Busybox,
		Files: append([]string{abs}, o.Add...),
		Dirs:  []string{"/dev", "/proc", "/sys", "/tmp", "/run"},
		Nodes: []string{"/dev/console c 5 1 0600"}}
	_, _, _, err = spec.Build(o.Base, 0)
	return err
}

// runner is the guest's /init: it mounts what a program expects, runs the
// command with stdin from /dev/null, stdout and stderr on raw serial ports,
// reports the status on ttyS3, and powers off. It never exits.
func runner(argv []string) string {
	return fmt.Sprintf(`#!/bin/busybox sh
# /init written by initkit exec: run one command, report its status.
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
# /tmp and /run stay in the initramfs, which is writable: a tmpfs over
# /tmp would hide a command that lives there (go test's binaries do).
for p in 1 2 3; do /bin/busybox stty -F /dev/ttyS$p raw -echo; done
export PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/tmp
cd /
# A subshell that execs the command: the shell's own report of a signal
# death ("Killed") then goes to the console, not into the command's stderr.
(exec %s </dev/null >/dev/ttyS1 2>/dev/ttyS2) 2>/dev/console
echo "initkit-exit:$?" >/dev/ttyS3
/bin/busybox poweroff -f
while :; do /bin/busybox sleep 3600; done
`, shell.Quote(argv))
}

// compression of the command's segment: none by default, because under
// TCG the kernel decompresses slowly (measured: gzip costs more than it
// saves) while QEMU loads an uncompressed image with a plain copy.
func (o Options) compression() string {
	if o.Compress != "" {
		return o.Compress
	}
	return "none"
}
