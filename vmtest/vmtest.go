// Package vmtest holds the end-to-end tests that boot a real kernel in QEMU
// under TCG, and the helpers they share: the test kernel (fetched once and
// cached), busybox, and image and boot helpers.
package vmtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/initkit/initkit/compress"
	"github.com/initkit/initkit/cpio"
	"github.com/initkit/initkit/image"
	"github.com/initkit/initkit/kernel"
)

var (
	kernelOnce sync.Once
	testKernel *kernel.Kernel
	kernelErr  error
)

// Kernel returns the Debian cloud kernel, fetched into the cache on first
// use. A test that cannot have it fails: make test installs what it needs.
func Kernel(t testing.TB) *kernel.Kernel {
	t.Helper()
	kernelOnce.Do(func() {
		dir, err := kernel.CacheDir()
		if err != nil {
			kernelErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		testKernel, kernelErr = kernel.Fetch(ctx, dir, "")
	})
	if kernelErr != nil {
		t.Fatalf("test kernel: %v", kernelErr)
	}
	return testKernel
}

// Busybox returns the path of a static busybox (Debian's busybox-static).
func Busybox(t testing.TB) string {
	t.Helper()
	for _, p := range []string{os.Getenv("INITKIT_BUSYBOX"), "/bin/busybox", "/usr/bin/busybox"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	t.Fatal("no static busybox: apt-get install busybox-static (make test does)")
	return ""
}

// Dir returns an archive entry for a directory.
func Dir(name string) image.File {
	return image.File{Header: cpio.Header{Name: name, Mode: cpio.TypeDir | 0o755}}
}

// Text returns an archive entry for a regular file holding s.
func Text(name, s string, perm uint32) image.File {
	return image.File{Header: cpio.Header{Name: name, Mode: cpio.TypeReg | perm}, Data: []byte(s)}
}

// BaseFiles returns busybox, /dev/console as an archive entry (no root
// needed), and an /init shell script running script then powering off.
func BaseFiles(t testing.TB, script string) []image.File {
	return []image.File{
		Dir("bin"), Dir("dev"), Dir("proc"),
		{Header: cpio.Header{Name: "bin/busybox", Mode: cpio.TypeReg | 0o755}, Source: Busybox(t)},
		{Header: cpio.Header{Name: "bin/sh", Mode: cpio.TypeLink | 0o777, Linkname: "busybox"}},
		{Header: cpio.Header{Name: "dev/console", Mode: cpio.TypeChar | 0o600, RDevMajor: 5, RDevMinor: 1}},
		Text("init", "#!/bin/sh\nexport PATH=/bin\nbusybox mount -t proc proc /proc\nbusybox --install -s /bin\n"+script+"\npoweroff -f\n", 0o755),
	}
}

// Segment writes files as one archive compressed with f (several, with
// image.WithSplit).
func Segment(t testing.TB, f compress.Format, files []image.File, opts ...image.Option) []byte {
	t.Helper()
	var buf bytes.Buffer
	opts = append([]image.Option{image.WithCompression(f, compress.WriterOptions{}), image.WithModTime(0)}, opts...)
	if err := image.WriteSegment(&buf, files, opts...); err != nil {
		t.Fatalf("write %s segment: %v", f, err)
	}
	return buf.Bytes()
}

// WriteImage writes the concatenation of segs to a file in t's temp dir.
func WriteImage(t testing.TB, segs ...[]byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "initrd.img")
	if err := os.WriteFile(p, bytes.Join(segs, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Boot boots the test kernel with initrd until the guest powers off and
// returns the console. It fails the test on a timeout; QEMU is killed then.
func Boot(t testing.TB, initrd string, timeout time.Duration) string {
	t.Helper()
	return Start(t, initrd, "quiet").Wait(timeout)
}

var (
	initOnce sync.Once
	initPath string
	initErr  error
)

// InitBinary returns cmd/initkit-init built once, for tests whose images
// use the initkit init (the default).
func InitBinary(t testing.TB) string {
	t.Helper()
	p, err := BuildInitOnce()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// BuildInitOnce builds cmd/initkit-init once into a temporary directory
// (for a TestMain, which has no testing.TB).
func BuildInitOnce() (string, error) {
	initOnce.Do(func() {
		dir, err := os.MkdirTemp("", "initkit-init-")
		if err != nil {
			initErr = err
			return
		}
		initPath = filepath.Join(dir, "initkit-init")
		initErr = buildInit(initPath)
	})
	return initPath, initErr
}

// buildInit builds cmd/initkit-init as make build does: static, stripped.
func buildInit(out string) error {
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(file), "..", "cmd", "initkit-init")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, src)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build initkit-init: %v\n%s", err, b)
	}
	return nil
}

var (
	vmlinuxOnce sync.Once
	vmlinuxPath string
	vmlinuxErr  error
)

// DebugVmlinux returns the DWARF vmlinux of the test kernel, from its -dbg
// package, fetched into the cache on first use.
func DebugVmlinux(t testing.TB) string {
	t.Helper()
	k := Kernel(t)
	vmlinuxOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		vmlinuxPath, vmlinuxErr = kernel.FetchDebugInfo(ctx, k)
	})
	if vmlinuxErr != nil {
		t.Fatalf("debug vmlinux: %v", vmlinuxErr)
	}
	return vmlinuxPath
}
