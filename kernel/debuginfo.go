package kernel

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/initkit/initkit/internal/apt"
	"github.com/initkit/initkit/internal/atomicfile"
	"github.com/initkit/initkit/internal/machine"
	"github.com/initkit/initkit/internal/procgroup"
)

// DebugVmlinux returns the DWARF vmlinux of k kept in the cache, or ""
// when FetchDebugInfo has not fetched it.
func (k *Kernel) DebugVmlinux() string {
	if p := k.debugVmlinuxPath(); exists(p) {
		return p
	}
	return ""
}

// debugVmlinuxPath is where the -dbg package keeps the vmlinux, under the
// unpacked kernel package.
func (k *Kernel) debugVmlinuxPath() string {
	return filepath.Join(k.Dir, "usr", "lib", "debug", "boot", "vmlinux-"+k.Release)
}

// FetchDebugInfo provides the vmlinux with DWARF that matches k, from the
// kernel package's -dbg companion (Debian: PACKAGE-dbg, about 280 MB). Only
// the vmlinux is kept: the package is read as a stream and the rest of it
// is never written.
func FetchDebugInfo(ctx context.Context, k *Kernel) (string, error) {
	out := k.debugVmlinuxPath()
	if exists(out) {
		return out, nil
	}
	pkg := k.Package + "-dbg"
	tmp, err := os.MkdirTemp(filepath.Dir(k.Dir), ".fetch-dbg-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	m, _ := machine.Lookup(k.Arch)
	a, err := apt.For(ctx, filepath.Dir(filepath.Dir(k.Dir)), m.Debian)
	if err != nil {
		return "", err
	}
	deb, err := a.Download(ctx, tmp, pkg)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", err
	}
	return out, extractMember(ctx, deb, "/boot/vmlinux-"+k.Release, out)
}

// extractMember writes the file of the .deb whose path ends in suffix.
func extractMember(ctx context.Context, deb, suffix, out string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, "dpkg-deb", "--fsys-tarfile", deb)
	procgroup.Own(cmd) // dpkg-deb decompresses in child processes
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	// Once the member is written the rest is not wanted: stop dpkg-deb
	// first, then reap it (in the other order, Wait waits for a dpkg-deb
	// blocked writing into a pipe nobody reads).
	defer func() {
		cancel()
		cmd.Wait()
	}()
	tr := tar.NewReader(pipe)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return fmt.Errorf("%s holds no file ending in %s", deb, suffix)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", deb, err)
		}
		if h.Typeflag == tar.TypeReg && strings.HasSuffix(h.Name, suffix) {
			return atomicfile.Write(out, 0o644, func(w io.Writer) error {
				n, err := io.Copy(w, tr)
				if err == nil && n != h.Size {
					err = errors.New("short member")
				}
				return err
			})
		}
	}
}
