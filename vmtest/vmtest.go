// Package vmtest holds the end-to-end tests that boot a real kernel in QEMU
// under TCG, and the helpers they share: the test kernel (fetched once and
// cached), busybox, and image and boot helpers.
package vmtest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/initkit/initkit/compress"
	"github.com/initkit/initkit/cpio"
	"github.com/initkit/initkit/image"
	"github.com/initkit/initkit/internal/testenv"
)

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

// The fixtures of package testenv, under the names the VM tests use.
var (
	Kernel        = testenv.Kernel
	Busybox       = testenv.Busybox
	InitBinary    = testenv.InitBinary
	BuildInitOnce = testenv.BuildInitOnce
	DebugVmlinux  = testenv.DebugVmlinux
)
