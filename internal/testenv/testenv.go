// Package testenv provides what initkit's tests share and make test
// installs: the test kernel (the Debian cloud kernel, fetched once into
// the cache), its DWARF vmlinux, a static busybox, and initkit-init built
// once. A test that cannot have one fails: it never skips.
package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/initkit/initkit/kernel"
)

var fetchKernel = sync.OnceValues(func() (*kernel.Kernel, error) {
	dir, err := kernel.CacheDir()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	return kernel.Fetch(ctx, dir, "", "")
})

// Kernel returns the Debian cloud kernel, fetched into the cache on first
// use. A test that cannot have it fails: make test installs what it needs.
func Kernel(t testing.TB) *kernel.Kernel {
	t.Helper()
	return must(t, "test kernel", fetchKernel)
}

// must returns what once gives, failing the test on its error.
func must[T any](t testing.TB, what string, once func() (T, error)) T {
	t.Helper()
	v, err := once()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// Busybox returns the path of a static busybox (Debian's busybox-static).
func Busybox(t testing.TB) string {
	t.Helper()
	p, err := findBusybox()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func findBusybox() (string, error) {
	for _, p := range []string{os.Getenv("INITKIT_BUSYBOX"), "/bin/busybox", "/usr/bin/busybox"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("no static busybox: apt-get install busybox-static (make test does)")
}

// InitBinary returns cmd/initkit-init built once, for tests whose images
// use the initkit init (the default).
func InitBinary(t testing.TB) string {
	t.Helper()
	return must(t, "initkit-init", BuildInitOnce)
}

// BuildInitOnce builds cmd/initkit-init once into a temporary directory
// (for a TestMain, which has no testing.TB).
var BuildInitOnce = sync.OnceValues(func() (string, error) {
	dir, err := tempDir("initkit-init-")
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "initkit-init")
	return p, buildInit(p)
})

// buildInit builds cmd/initkit-init as make build does: static, stripped.
func buildInit(out string) error { return buildInitFor(out, runtime.GOARCH) }

// InitBinaryFor builds cmd/initkit-init for a Go architecture (arm64),
// for images that boot a kernel of another architecture.
func InitBinaryFor(t testing.TB, goarch string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "initkit-init")
	if err := buildInitFor(out, goarch); err != nil {
		t.Fatal(err)
	}
	return out
}

func buildInitFor(out, goarch string) error {
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(file), "..", "..", "cmd", "initkit-init")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, src)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOARCH="+goarch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build initkit-init: %v\n%s", err, b)
	}
	return nil
}

var fetchVmlinux = sync.OnceValues(func() (string, error) {
	k, err := fetchKernel()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	return kernel.FetchDebugInfo(ctx, k)
})

// DebugVmlinux returns the DWARF vmlinux of the test kernel, from its -dbg
// package, fetched into the cache on first use.
func DebugVmlinux(t testing.TB) string {
	t.Helper()
	return must(t, "debug vmlinux", fetchVmlinux)
}

var temps struct {
	sync.Mutex
	dirs []string
}

// tempDir makes a temporary directory that Run removes.
func tempDir(prefix string) (string, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err == nil {
		temps.Lock()
		temps.dirs = append(temps.dirs, dir)
		temps.Unlock()
	}
	return dir, err
}

// Run runs m's tests (a TestMain's m.Run) and then removes the binaries
// testenv built for them; it returns the tests' exit code.
func Run(m interface{ Run() int }) int {
	code := m.Run()
	StopLAVA()
	RemoveTemps()
	return code
}

// RemoveTemps removes the binaries testenv built (Initkit, BuildInitOnce).
func RemoveTemps() {
	temps.Lock()
	defer temps.Unlock()
	for _, d := range temps.dirs {
		os.RemoveAll(d)
	}
	temps.dirs = nil
}

// WriteStubKernel writes, at path, the header of a kernel for arch and
// nothing else, for tests that print a QEMU command or fail before QEMU
// runs: an x86 bzImage's ("MZ", and the boot protocol's "HdrS" at 0x202)
// or, for "aarch64", an arm64 Image's ("ARM\x64" at 0x38).
func WriteStubKernel(path, arch string) error {
	b := make([]byte, 0x400)
	copy(b, "MZ")
	if arch == "aarch64" {
		copy(b[0x38:], "ARM\x64")
	} else {
		copy(b[0x202:], "HdrS")
	}
	return os.WriteFile(path, b, 0o644)
}
