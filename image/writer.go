package image

import (
	"bufio"
	"fmt"
	"hash"
	"io"
	"os"
	"sort"
	"sync"

	"golang.org/x/sys/unix"

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
	Split       int64  // see WithSplit
	ModTime     *int64 // if set, every entry's mtime; see Epoch
	KeepOwners  bool   // keep UID/GID as given instead of 0
	Cache       Cache  // see WithCache
	Report      func([]Piece)
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

// WithSplit writes the archive as several segments of about n bytes of
// input each, compressed independently and all at once (on as many
// goroutines as the compression's Concurrency), then concatenated in
// order. Each segment is a whole archive ending in its trailer, which the
// kernel's unpack_to_rootfs (init/initramfs.c) accepts one after the
// other, as it does early microcode before the main archive; a split
// inside an archive it refuses ("junk at the end of compressed archive").
// Split points fall between entries, and the names of a hardlink set go
// together (the kernel forgets links at each trailer); they depend only
// on the files, so
// the output does not depend on the number of cores. Only zstd, xz and
// gzip are split: an uncompressed archive gains nothing, and a legacy lz4
// stream has no end the kernel can find.
func WithSplit(n int64) Option { return func(o *Options) { o.Split = n } }

// WithCRC writes 070702 headers with data checksums.
func WithCRC() Option { return func(o *Options) { o.CRC = true } }

// WriteSegment writes files as one archive, compressed as the options say.
// The output depends only on the files and options: entries are sorted by
// name, inodes numbered from 1 in that order, each hardlink set gets one
// inode and its data is written once, with the last name of the set, as GNU
// cpio does (the kernel links the earlier names and fills the inode then).
// With WithSplit the archive becomes several segments (see there).
func WriteSegment(w io.Writer, files []File, opts ...Option) error {
	var o Options
	for _, f := range opts {
		f(&o)
	}
	if o.Compression == compress.Unknown {
		o.Compression = compress.None
	}
	sorted := prepare(files, o)
	if parts := o.parts(sorted); len(parts) > 1 || o.Split > 0 && len(sorted) > 0 && splittable(o.Compression) {
		return writeParts(w, parts, o)
	}
	_, err := writeArchive(w, sorted, o, nil)
	return err
}

// The buffers of writeArchive, kept between the pieces of an image: a
// megabyte allocated is a megabyte cleared.
var (
	bufioPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 1<<20) }}
	copyPool  = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}
)

// writeArchive writes entries as one compressed archive with its trailer.
// A host file's content is also written to its tee, when it has one, and
// its length returned in read.
func writeArchive(w io.Writer, entries []File, o Options, tee []hash.Hash) (read []int64, err error) {
	zw, err := compress.NewWriter(w, o.Compression, o.Compress)
	if err != nil {
		return nil, err
	}
	bw := bufioPool.Get().(*bufio.Writer)
	bw.Reset(zw)
	defer func() { bw.Reset(nil); bufioPool.Put(bw) }()
	cw := cpio.NewWriter(bw)
	if o.CRC {
		cw = cpio.NewCRCWriter(bw)
	}
	buf := copyPool.Get().(*[]byte)
	defer copyPool.Put(buf)
	read = make([]int64, len(entries))
	for i := range entries {
		var h hash.Hash
		if tee != nil {
			h = tee[i]
		}
		if read[i], err = writeFile(cw, &entries[i], o.CRC, *buf, h); err != nil {
			return nil, err
		}
	}
	if err := cw.Close(); err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	return read, zw.Close()
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

func writeFile(cw *cpio.Writer, f *File, crc bool, buf []byte, tee hash.Hash) (int64, error) {
	h := f.Header
	if h.Type() != cpio.TypeReg {
		h.Size = 0
		return 0, cw.WriteHeader(&h)
	}
	if h.Size < 0 { // an earlier name of a hardlink set
		h.Size = 0
		return 0, cw.WriteHeader(&h)
	}
	if f.Source == "" {
		h.Size = int64(len(f.Data))
		if crc {
			h.Check = cpio.Checksum(f.Data)
		}
		if err := cw.WriteHeader(&h); err != nil {
			return 0, err
		}
		_, err := cw.Write(f.Data)
		return h.Size, err
	}
	if f.Size == 0 && f.Source != "" {
		h.Size = -1 // not known: take it from the file
	}
	var w io.Writer = io.Discard
	if tee != nil {
		w = tee
	}
	err := copySource(cw, &h, f.Source, crc, buf, w)
	return h.Size, err
}

// copySource writes the header and data of a host file, the data to tee
// too. It reads with plain system calls: os.Open costs six more per file
// (poller registration, fstat), which is most of the time for a tree of
// small files. The size is the one recorded when the tree was scanned,
// as GNU cpio uses st_size; a file that shrank since is an error.
func copySource(cw *cpio.Writer, h *cpio.Header, src string, crc bool, buf []byte, tee io.Writer) error {
	fd, err := unix.Open(src, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: src, Err: err}
	}
	defer unix.Close(fd)
	if h.Size < 0 {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return &os.PathError{Op: "stat", Path: src, Err: err}
		}
		h.Size = st.Size
	}
	if crc {
		data := make([]byte, h.Size)
		if err := readFull(fd, data, src); err != nil {
			return err
		}
		tee.Write(data)
		h.Check = cpio.Checksum(data)
		if err := cw.WriteHeader(h); err != nil {
			return err
		}
		_, err := cw.Write(data)
		return err
	}
	if err := cw.WriteHeader(h); err != nil {
		return err
	}
	for left := h.Size; left > 0; {
		chunk := buf[:min(int64(len(buf)), left)]
		if err := readFull(fd, chunk, src); err != nil {
			return err
		}
		tee.Write(chunk)
		if _, err := cw.Write(chunk); err != nil {
			return err
		}
		left -= int64(len(chunk))
	}
	return nil
}

func readFull(fd int, p []byte, src string) error {
	for len(p) > 0 {
		n, err := unix.Read(fd, p)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &os.PathError{Op: "read", Path: src, Err: err}
		}
		if n == 0 {
			return fmt.Errorf("%s: shrank while being read (%d bytes short)", src, len(p))
		}
		p = p[n:]
	}
	return nil
}
