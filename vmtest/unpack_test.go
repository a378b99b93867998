package vmtest

import (
	"bytes"
	"strings"
	"testing"

	"github.com/initkit/initkit/compress"
	"github.com/initkit/initkit/cpio"
	"github.com/initkit/initkit/image"
)

// TestKernelKeepsNonEmptyDirectory pins what initkit extract copies from
// the kernel: a later segment's symlink or file over a non-empty
// directory leaves the directory (init/initramfs.c clean_path cannot
// rmdir it), over an empty one replaces it, and a hardlink replaces the
// file at its name.
func TestKernelKeepsNonEmptyDirectory(t *testing.T) {
	t.Parallel()
	first := append(BaseFiles(t, `[ -d /full ] && [ ! -L /full ] && [ -f /full/x ] && echo "kept:$((1+1))"
[ -L /empty ] && echo "replaced:$((2+2))"
[ "$(cat /exists)" = data ] && echo "linked:$((3+3))"`),
		Dir("full"), Text("full/x", "x", 0o644), Dir("empty"), Text("exists", "old", 0o644))
	second := []image.File{
		{Header: cpio.Header{Name: "full", Mode: cpio.TypeLink | 0o777, Linkname: "elsewhere"}},
		{Header: cpio.Header{Name: "empty", Mode: cpio.TypeLink | 0o777, Linkname: "elsewhere"}},
	}
	// A hardlink pair as cpio writes it (the image writer numbers inodes
	// itself): data on the first name, the second landing on "exists".
	var third bytes.Buffer
	w := cpio.NewWriter(&third)
	w.WriteHeader(&cpio.Header{Name: "a", Mode: cpio.TypeReg | 0o644, NLink: 2, Ino: 99, Size: 4})
	w.Write([]byte("data"))
	w.WriteHeader(&cpio.Header{Name: "exists", Mode: cpio.TypeReg | 0o644, NLink: 2, Ino: 99})
	w.Close()
	img := WriteImage(t, Segment(t, compress.None, first), Segment(t, compress.None, second), third.Bytes())
	console := Boot(t, img, bootTimeout)
	for _, want := range []string{"kept:2", "replaced:4", "linked:6"} {
		if !strings.Contains(console, want) {
			t.Errorf("the kernel's unpacking did not give %q:\n%s", want, console)
		}
	}
}
