package initramfs

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/initkit/initkit/compress"
	"github.com/initkit/initkit/cpio"
	"github.com/initkit/initkit/image"
	"github.com/initkit/initkit/internal/atomicfile"
)

// WriteList writes the tree as a list in the format of the kernel's
// usr/gen_init_cpio.c, for CONFIG_INITRAMFS_SOURCE: the kernel's build
// then embeds the initramfs in its image. Host files are named where they
// are; data the tree holds in memory (a generated init, module metadata)
// is written into dataDir first. Owners are 0:0, as in initkit's images.
func (t *Tree) WriteList(w io.Writer, dataDir string) error {
	bw := bufio.NewWriter(w)
	for i, f := range t.Files() {
		name, perm := "/"+f.Name, f.Mode&0o7777
		var err error
		switch f.Type() {
		case cpio.TypeDir:
			_, err = fmt.Fprintf(bw, "dir %s %04o 0 0\n", name, perm)
		case cpio.TypeLink:
			_, err = fmt.Fprintf(bw, "slink %s %s %04o 0 0\n", name, f.Linkname, perm)
		case cpio.TypeChar, cpio.TypeBlock:
			kind := map[uint32]string{cpio.TypeChar: "c", cpio.TypeBlock: "b"}[f.Type()]
			_, err = fmt.Fprintf(bw, "nod %s %04o %d %d %s %d %d\n", name, perm, f.UID, f.GID, kind, f.RDevMajor, f.RDevMinor)
		case cpio.TypeFIFO:
			_, err = fmt.Fprintf(bw, "pipe %s %04o 0 0\n", name, perm)
		case cpio.TypeSocket:
			_, err = fmt.Fprintf(bw, "sock %s %04o 0 0\n", name, perm)
		case cpio.TypeReg:
			src := f.Source
			if src == "" {
				if src, err = writeData(dataDir, i, f); err != nil {
					return err
				}
			}
			_, err = fmt.Fprintf(bw, "file %s %s %04o 0 0\n", name, src, perm)
		}
		if err != nil {
			return err
		}
	}
	return bw.Flush()
}

// writeData writes an in-memory file's data into dir under a name of its
// own (the entry's index: names in the tree may not be valid here).
func writeData(dir string, i int, f image.File) (string, error) {
	if dir == "" {
		return "", fmt.Errorf("%s: the tree holds its data in memory: a list needs a directory to write it into", f.Name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	abs, err := filepath.Abs(filepath.Join(dir, fmt.Sprintf("%05d-%s", i, filepath.Base(f.Name))))
	if err != nil {
		return "", err
	}
	return abs, os.WriteFile(abs, f.Data, 0o644)
}

// WriteList assembles the spec and writes its tree as a gen_init_cpio
// list to the spec's output, atomically, with the files generated in
// memory in OUTPUT.d.
func (s *Spec) WriteList() error {
	if s.Output == "" {
		return fmt.Errorf("no output: give -o FILE or output in [image]")
	}
	tree, err := s.Assemble()
	if err != nil {
		return err
	}
	return atomicfile.Write(s.Output, 0o644, func(w io.Writer) error { return tree.WriteList(w, s.Output+".d") })
}

// WriteDir assembles the spec and writes its tree into the directory the
// spec's output names, with the device nodes, which a tree without root
// cannot hold, listed beside it in OUTPUT.list (gen_init_cpio "nod"
// lines). CONFIG_INITRAMFS_SOURCE takes both: "OUTPUT OUTPUT.list".
func (s *Spec) WriteDir() error {
	if s.Output == "" {
		return fmt.Errorf("no output: give -o DIR or output in [image]")
	}
	tree, err := s.Assemble()
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(image.WriteSegment(pw, tree.Files(), image.WithCompression(compress.None, compress.WriterOptions{}), image.WithOwners()))
	}()
	res, err := image.Extract(pr, s.Output, image.ExtractOptions{Segment: -1, SetID: true})
	pr.CloseWithError(err)
	if err != nil {
		return err
	}
	return atomicfile.Write(s.Output+".list", 0o644, func(w io.Writer) error {
		_, err := w.Write(image.NodeList(res.Skipped))
		return err
	})
}
