package qemu

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzInspectImage: a disk image's header from someone else never panics
// InspectImage, and the names it reports are the header's own bytes.
// Seeded with qcow2 images qemu-img made: plain, with a backing file, with
// an external data file.
func FuzzInspectImage(f *testing.F) {
	dir := f.TempDir()
	backing, data := filepath.Join(dir, "base.img"), filepath.Join(dir, "data.raw")
	for i, args := range [][]string{
		{"-f", "qcow2"},
		{"-f", "qcow2", "-o", "compat=0.10"},
		{"-f", "qcow2", "-b", backing, "-F", "raw"},
		{"-f", "qcow2", "-o", "data_file=" + data},
	} {
		if i == 2 {
			qemuImg(f, "create", "-f", "raw", backing, "1M")
		}
		img := filepath.Join(dir, "seed.qcow2")
		os.Remove(img)
		qemuImg(f, append(append([]string{"create"}, args...), img, "1M")...)
		b, err := os.ReadFile(img)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:min(len(b), qcowMaxHeaderRead)])
	}
	f.Add([]byte("raw data"))
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := inspect(bytes.NewReader(b), "fuzz.img")
		if err != nil {
			return
		}
		for _, name := range []string{info.Backing, info.DataFile} {
			if name != "" && name != "(the file QEMU is given as data-file)" && !bytes.Contains(b, []byte(name)) {
				t.Fatalf("a name %q that is not in the header", name)
			}
		}
		if info.Format == "raw" && bytes.HasPrefix(b, []byte(qcowMagic)) {
			t.Fatal("a qcow2 magic read as raw")
		}
	})
}
