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
	files, opts, f, err := o.plan(dir)
	if err != nil {
		return 0, f, err
	}
	return len(files), f, WriteSegment(w, files, opts...)
}

// plan checks the options and reads the tree: everything Pack does
// before it writes, so PackFile names the output only in errors of its
// own.
func (o PackOptions) plan(dir string) ([]File, []Option, compress.Format, error) {
	f, err := compress.ParseFormat(o.Compress)
	if err != nil {
		return nil, nil, f, err
	}
	if !f.Writable() {
		return nil, nil, f, fmt.Errorf("cannot write %s (writable: %v)", f, compress.WritableNames())
	}
	if err := f.CheckLevel(o.Level); err != nil {
		return nil, nil, f, err
	}
	if o.Jobs < 0 {
		return nil, nil, f, fmt.Errorf("jobs %d: want 1 or more compression threads (0: all cores)", o.Jobs)
	}
	mtime, err := Epoch(o.Epoch)
	if err != nil {
		return nil, nil, f, err
	}
	split, err := ParseSize(o.Split)
	if err != nil {
		return nil, nil, f, err
	}
	files, err := FilesFromDir(dir)
	if err != nil {
		return nil, nil, f, err
	}
	opts := []Option{WithCompression(f, compress.WriterOptions{Level: o.Level, Concurrency: o.Jobs}), WithModTime(mtime), WithSplit(split)}
	if o.CRC {
		opts = append(opts, WithCRC())
	}
	if o.Owners {
		opts = append(opts, WithOwners())
	}
	return files, opts, f, nil
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
	files, opts, f, err := o.plan(dir)
	if err != nil {
		return Packed{}, err
	}
	p := Packed{Entries: len(files), Format: f}
	err = atomicfile.Write(path, 0o644, func(w io.Writer) error {
		return WriteSegment(w, files, opts...)
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
