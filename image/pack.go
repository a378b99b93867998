package image

import (
	"fmt"
	"io"
	"os"

	"github.com/initkit/initkit/compress"
	"github.com/initkit/initkit/internal/atomicfile"
)

// PackOptions say how Pack writes a tree, as initkit pack's flags do.
type PackOptions struct {
	Compress    string // none, gzip, zstd, xz or lz4
	Level, Jobs int    // compression level and threads (0: defaults)
	Split       string // segments of this much input ("0": one)
	Epoch       string // every mtime, in seconds ("": Epoch's default)
	CRC         bool   // 070702 headers with data checksums
	Owners      bool   // keep file owners instead of 0:0
}

// Pack writes the tree under dir to w, reproducibly (FilesFromDir, then
// WriteSegment), and returns its entries and the format it wrote.
func Pack(w io.Writer, dir string, o PackOptions) (int, compress.Format, error) {
	f, err := compress.ParseFormat(o.Compress)
	if err != nil {
		return 0, f, err
	}
	if !f.Writable() {
		return 0, f, fmt.Errorf("cannot write %s (writable: %v)", f, compress.WritableNames())
	}
	if err := f.CheckLevel(o.Level); err != nil {
		return 0, f, err
	}
	if o.Jobs < 0 {
		return 0, f, fmt.Errorf("jobs %d: want 1 or more compression threads (0: all cores)", o.Jobs)
	}
	mtime, err := Epoch(o.Epoch)
	if err != nil {
		return 0, f, err
	}
	split, err := ParseSize(o.Split)
	if err != nil {
		return 0, f, err
	}
	files, err := FilesFromDir(dir)
	if err != nil {
		return 0, f, err
	}
	opts := []Option{WithCompression(f, compress.WriterOptions{Level: o.Level, Concurrency: o.Jobs}), WithModTime(mtime), WithSplit(split)}
	if o.CRC {
		opts = append(opts, WithCRC())
	}
	if o.Owners {
		opts = append(opts, WithOwners())
	}
	return len(files), f, WriteSegment(w, files, opts...)
}

// Packed is what PackFile wrote.
type Packed struct {
	Entries int
	Bytes   int64
	Format  compress.Format
}

// PackFile packs the tree under dir into the file path, atomically: a
// failed pack leaves what was at path as it was.
func PackFile(path, dir string, o PackOptions) (Packed, error) {
	var p Packed
	err := atomicfile.Write(path, 0o644, func(w io.Writer) (err error) {
		p.Entries, p.Format, err = Pack(w, dir, o)
		return err
	})
	if err != nil {
		return p, fmt.Errorf("%s: %w", path, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return p, err
	}
	p.Bytes = st.Size()
	return p, nil
}
