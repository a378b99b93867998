package image

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/initkit/initkit/compress"
	"github.com/initkit/initkit/cpio"
)

// File is one entry to write: a header and where its data comes from.
type File struct {
	cpio.Header
	// Source is a host file holding the data of a regular file; Data is
	// used when Source is empty.
	Source string
	Data   []byte
	// LinkGroup, when not empty, makes the file one name of a hardlink set:
	// every File with the same LinkGroup shares one inode and one copy of
	// the data.
	LinkGroup string
}

// Options control how a segment is written.
type Options struct {
	Compression compress.Format
	Compress    compress.WriterOptions
	CRC         bool   // write 070702 headers with data checksums
	ModTime     *int64 // if set, every entry's mtime; see Epoch
	KeepOwners  bool   // keep UID/GID as given instead of 0
}

// Option sets a field of Options.
type Option func(*Options)

// WithCompression compresses the segment with f and o.
func WithCompression(f compress.Format, o compress.WriterOptions) Option {
	return func(opt *Options) { opt.Compression, opt.Compress = f, o }
}

// WithModTime sets every entry's mtime to t, for reproducible output.
func WithModTime(t int64) Option { return func(o *Options) { o.ModTime = &t } }

// WithOwners keeps each File's UID and GID instead of writing 0.
func WithOwners() Option { return func(o *Options) { o.KeepOwners = true } }

// WithCRC writes 070702 headers with data checksums.
func WithCRC() Option { return func(o *Options) { o.CRC = true } }

// WriteSegment writes files as one archive, compressed as the options say.
// The output depends only on the files and options: entries are sorted by
// name, inodes numbered from 1 in that order, each hardlink set gets one
// inode and its data is written once, with the last name of the set, as GNU
// cpio does (the kernel links the earlier names and fills the inode then).
func WriteSegment(w io.Writer, files []File, opts ...Option) error {
	var o Options
	for _, f := range opts {
		f(&o)
	}
	if o.Compression == compress.Unknown {
		o.Compression = compress.None
	}
	zw, err := compress.NewWriter(w, o.Compression, o.Compress)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(zw, 1<<20)
	cw := cpio.NewWriter(bw)
	if o.CRC {
		cw = cpio.NewCRCWriter(bw)
	}
	sorted := prepare(files, o)
	for i := range sorted {
		if err := writeFile(cw, &sorted[i], o.CRC); err != nil {
			return err
		}
	}
	if err := cw.Close(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return zw.Close()
}

// prepare sorts a copy of files and fills in the fields the writer owns.
func prepare(files []File, o Options) []File {
	out := append([]File(nil), files...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	type group struct {
		ino   uint32
		count uint32
		last  int
	}
	groups := map[string]*group{}
	for i := range out {
		f := &out[i]
		f.Ino = uint32(i + 1)
		f.NLink = 1
		if f.Type() == cpio.TypeDir {
			f.NLink = 2
		}
		f.DevMajor, f.DevMinor = 0, 0
		if !o.KeepOwners {
			f.UID, f.GID = 0, 0
		}
		if o.ModTime != nil {
			f.ModTime = *o.ModTime
		}
		if f.LinkGroup != "" && f.Type() == cpio.TypeReg {
			g := groups[f.LinkGroup]
			if g == nil {
				g = &group{ino: f.Ino}
				groups[f.LinkGroup] = g
			}
			f.Ino = g.ino
			g.count++
			g.last = i
		}
	}
	for i := range out {
		f := &out[i]
		if g := groups[f.LinkGroup]; g != nil && f.Type() == cpio.TypeReg {
			f.NLink = g.count
			if i != g.last && g.count > 1 {
				f.Source, f.Data, f.Size = "", nil, -1 // data goes with the last name
			}
		}
	}
	return out
}

func writeFile(cw *cpio.Writer, f *File, crc bool) error {
	h := f.Header
	if h.Type() != cpio.TypeReg {
		h.Size = 0
		return cw.WriteHeader(&h)
	}
	if h.Size < 0 { // an earlier name of a hardlink set
		h.Size = 0
		return cw.WriteHeader(&h)
	}
	if f.Source == "" {
		h.Size = int64(len(f.Data))
		if crc {
			h.Check = cpio.Checksum(f.Data)
		}
		if err := cw.WriteHeader(&h); err != nil {
			return err
		}
		_, err := cw.Write(f.Data)
		return err
	}
	return copySource(cw, &h, f.Source, crc)
}

func copySource(cw *cpio.Writer, h *cpio.Header, src string, crc bool) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	h.Size = st.Size()
	if crc {
		data, err := io.ReadAll(in)
		if err != nil {
			return err
		}
		h.Check = cpio.Checksum(data)
		if _, err := in.Seek(0, io.SeekStart); err != nil {
			return err
		}
	}
	if err := cw.WriteHeader(h); err != nil {
		return err
	}
	n, err := io.Copy(cw, in)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	if n != h.Size {
		return fmt.Errorf("%s: changed size while being read (%d, then %d bytes)", src, h.Size, n)
	}
	return nil
}
