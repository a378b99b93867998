// Package image reads and writes initramfs images: concatenations of newc
// cpio archives, each either stored or compressed, that the kernel unpacks in
// order, later files replacing earlier ones (init/initramfs.c,
// unpack_to_rootfs). A real distribution image is an uncompressed early
// microcode archive or two, NUL padding, then a compressed main archive.
package image

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/initkit/initkit/compress"
	"github.com/initkit/initkit/cpio"
)

// Segment describes one stored archive or one compressed stream of an image.
type Segment struct {
	Index       int
	Offset      int64           // first byte of the segment in the image
	End         int64           // first byte after it, before any NUL padding
	Compression compress.Format // compress.None for a stored archive
	Archives    int             // cpio archives (trailers) inside; normally 1
	Entries     int             // entries, trailers excluded
	DataSize    int64           // bytes of cpio data (decompressed)
}

// Entry is an archive entry and the segment it came from.
type Entry struct {
	cpio.Header
	Segment int
}

// Error reports bad input and where it is.
type Error struct {
	Segment     int   // -1 when the problem is between segments
	Offset      int64 // image offset of the segment, or of the bad bytes when Segment is -1
	Compression compress.Format
	// At is where in the segment the problem is: an image offset for a
	// stored segment, an offset in the decompressed data for a
	// compressed one (Decompressed); -1 when not known.
	At           int64
	Decompressed bool
	Err          error
}

func (e *Error) Error() string {
	if e.Segment < 0 {
		return fmt.Sprintf("image offset %d: %v", e.Offset, e.Err)
	}
	kind := e.Compression.String()
	if e.Compression == compress.None {
		kind = "stored"
	}
	where := ""
	switch {
	case e.At >= 0 && e.Decompressed:
		where = fmt.Sprintf(", decompressed offset %d", e.At)
	case e.At >= 0:
		where = fmt.Sprintf(", image offset %d", e.At)
	}
	return fmt.Sprintf("segment %d (%s, starting at image offset %d)%s: %v", e.Segment, kind, e.Offset, where, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// countingReader counts the bytes read through it, so that the position of
// the buffered reader above it is known exactly.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Reader reads the entries of every segment of an image in order.
type Reader struct {
	src  *countingReader   // a stream: what has been read of it
	sr   *io.SectionReader // a seekable input: the image
	br   *bufio.Reader
	segs []Segment
	seg  *Segment

	cr    *cpio.Reader
	inner *bufio.Reader // decompressed stream of a compressed segment
	rc    io.ReadCloser
	base  int64 // cpio data bytes of earlier archives in this segment
	// unpacked counts what the image's compressed segments decompressed
	// to, all of them (see MaxUnpacked).
	unpacked int64
	entries  int   // read so far, in every segment (see MaxEntries)
	end      int64 // with sr: where the current compressed segment ends
	err      error
}

// NewReader returns a Reader of the image in r, from r's current position.
// When r is seekable (a regular file, a bytes.Reader) the Reader reads only
// the headers of compressed frames to find where they end and seeks over
// the data of stored entries it is not asked for.
func NewReader(r io.Reader) *Reader {
	if sr := sectionOf(r); sr != nil {
		return &Reader{sr: sr, br: bufio.NewReaderSize(sr, 1<<20)}
	}
	src := &countingReader{r: r}
	return &Reader{src: src, br: bufio.NewReaderSize(src, 1<<20)}
}

func sectionOf(r io.Reader) *io.SectionReader {
	if f, ok := r.(*os.File); ok {
		// A device (/dev/zero) seeks but has no size: read it as a stream.
		if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
			return nil
		}
	}
	ra, ok := r.(io.ReaderAt)
	s, ok2 := r.(io.Seeker)
	if !ok || !ok2 {
		return nil
	}
	cur, err := s.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil
	}
	end, err := s.Seek(0, io.SeekEnd)
	if err != nil {
		return nil
	}
	if _, err := s.Seek(cur, io.SeekStart); err != nil {
		return nil
	}
	return io.NewSectionReader(ra, cur, end-cur)
}

func (r *Reader) pos() int64 {
	if r.sr != nil {
		cur, _ := r.sr.Seek(0, io.SeekCurrent)
		return cur - int64(r.br.Buffered())
	}
	return r.src.n - int64(r.br.Buffered())
}

// seek moves a seekable Reader to image offset off.
func (r *Reader) seek(off int64) {
	r.sr.Seek(off, io.SeekStart)
	r.br.Reset(r.sr)
}

// Discard skips n bytes of a stored segment, seeking when they are not
// buffered. The cpio reader uses it to pass over file data.
func (r *Reader) discard(n int) (int, error) {
	if n <= r.br.Buffered() || r.sr == nil {
		return r.br.Discard(n)
	}
	at := r.pos()
	if rest := r.sr.Size() - at; int64(n) > rest {
		r.seek(r.sr.Size())
		return int(rest), io.EOF
	}
	r.seek(at + int64(n))
	return n, nil
}

// storedInput is what the cpio reader of a stored segment reads from.
type storedInput struct{ r *Reader }

func (s storedInput) Read(p []byte) (int, error) { return s.r.br.Read(p) }
func (s storedInput) Discard(n int) (int, error) { return s.r.discard(n) }

// Segments returns the segments read so far; after Next has returned
// io.EOF, all of them.
func (r *Reader) Segments() []Segment { return r.segs }

// Next returns the next entry of the image, moving to the next segment as
// needed. It returns io.EOF after the last segment.
func (r *Reader) Next() (*Entry, error) {
	if r.err != nil {
		return nil, r.err
	}
	for {
		if r.cr == nil {
			if err := r.nextSegment(); err != nil {
				r.err = err
				return nil, err
			}
		}
		h, err := r.cr.Next()
		if err == nil && r.entries >= MaxEntries {
			err = &cpio.FormatError{Offset: h.Offset, Name: h.Name, Msg: fmt.Sprintf("more than %d entries: refused, no initramfs has that many", MaxEntries)}
		}
		if err == nil {
			r.entries++
			r.seg.Entries++
			e := &Entry{Header: *h, Segment: r.seg.Index}
			// The kernel takes a symlink's target as a C string
			// (init/initramfs.c, do_symlink): up to its first NUL,
			// which the kernel's own gen_init_cpio writes after it.
			if i := strings.IndexByte(e.Linkname, 0); i >= 0 {
				e.Linkname = e.Linkname[:i]
			}
			return e, nil
		}
		if err != io.EOF {
			r.err = r.wrap(err)
			return nil, r.err
		}
		if err := r.endArchive(); err != nil {
			r.err = r.wrap(err)
			return nil, r.err
		}
	}
}

// Read reads the data of the current entry.
func (r *Reader) Read(p []byte) (int, error) {
	if r.cr == nil {
		return 0, io.EOF
	}
	n, err := r.cr.Read(p)
	if err != nil && err != io.EOF {
		err = r.wrap(err)
	}
	return n, err
}

// EntryError returns err, a problem with the entry e that Next just
// returned, placed where e's header is.
func (r *Reader) EntryError(e *Entry, err error) error {
	return r.wrap(&cpio.FormatError{Offset: e.Offset, Name: e.Name, Msg: err.Error()})
}

// wrap places err in the current segment. The offsets the cpio and
// compress errors carry are relative to what they read (the archive, the
// stream); they become the image or decompressed offsets Error names,
// and the inner error keeps only its message.
func (r *Reader) wrap(err error) error {
	var ie *Error
	if errors.As(err, &ie) {
		return err
	}
	e := &Error{Segment: r.seg.Index, Offset: r.seg.Offset, Compression: r.seg.Compression, At: -1, Err: err}
	var fe *cpio.FormatError
	var se *compress.StreamError
	switch {
	case errors.As(err, &fe):
		e.At, e.Decompressed = r.base+fe.Offset, r.seg.Compression != compress.None
		if !e.Decompressed {
			e.At += r.seg.Offset
		}
		e.Err = errors.New(fe.Msg)
		if fe.Name != "" {
			e.Err = fmt.Errorf("entry %q: %s", fe.Name, fe.Msg)
		}
	case errors.As(err, &se):
		e.At, e.Err = r.seg.Offset+se.Offset, errors.New(se.Msg)
	}
	return e
}

// nextSegment skips NUL padding and starts the segment that follows.
func (r *Reader) nextSegment() error {
	start := r.pos()
	if err := skipNULs(r.br, maxPadding); err != nil {
		if errors.Is(err, errPadding) {
			return &Error{Segment: -1, Offset: start, Err: err}
		}
		if err == io.EOF {
			if len(r.segs) == 0 {
				return &Error{Segment: -1, Err: errors.New("empty image: no cpio archive")}
			}
			return io.EOF
		}
		return err
	}
	at := r.pos()
	magic, _ := r.br.Peek(compress.MagicLen)
	f := compress.Detect(magic)
	r.segs = append(r.segs, Segment{Index: len(r.segs), Offset: at, Compression: f, Archives: 1})
	r.seg = &r.segs[len(r.segs)-1]
	r.base = 0
	switch {
	case f == compress.Unknown:
		r.segs = r.segs[:len(r.segs)-1]
		err := fmt.Errorf("no cpio or compression magic: bytes % x", magic[:min(len(magic), 6)])
		if kind := otherKind(at, r.br); len(r.segs) == 0 && kind != "" {
			err = fmt.Errorf("%w: %s", err, kind)
		}
		return &Error{Segment: -1, Offset: at, Err: err}
	case f == compress.None && at%4 != 0:
		// The kernel only recognises a stored archive at a 4-byte boundary.
		r.segs = r.segs[:len(r.segs)-1]
		return &Error{Segment: -1, Offset: at, Err: errors.New("cpio archive does not start at a multiple of 4 bytes")}
	case f == compress.None:
		r.cr = cpio.NewReader(storedInput{r})
		return nil
	}
	rc, err := r.openStream(at, f)
	if err != nil {
		return r.wrap(err)
	}
	r.rc = bounded{rc, r}
	r.inner = bufio.NewReaderSize(r.rc, 1<<20)
	r.cr = cpio.NewReader(r.inner)
	return nil
}

// openStream returns the decompressed content of the stream at image
// offset at. On a seekable input, the frames of zstd, xz and lz4 are walked
// by their headers and decoded in place; otherwise the stream is read
// through r.br, which is left after it.
func (r *Reader) openStream(at int64, f compress.Format) (io.ReadCloser, error) {
	r.end = 0
	if r.sr == nil || (f != compress.Zstd && f != compress.XZ && f != compress.LZ4) {
		return compress.ReadStream(r.br, f)
	}
	n, err := compress.StreamLen(r.sr, at, r.sr.Size(), f)
	if err != nil {
		return nil, err
	}
	r.end = at + n
	return compress.NewReader(io.NewSectionReader(r.sr, at, n), f)
}

// MaxUnpacked bounds what the compressed segments of one image may
// decompress to, together. A few hundred bytes of zstd unpack to
// gigabytes: without a bound a hostile image keeps ls busy for hours and
// fills a disk with extract. An initramfs unpacks into the RAM of the
// machine it boots; the largest real ones are a few GiB.
var MaxUnpacked int64 = 16 << 30

// MaxEntries bounds the entries of one image: a listing or a tree holds
// each of them, and tiny entries cost a hundred bytes of image but a few
// hundred of memory. A distribution's initramfs has a few thousand; a
// whole system unpacked into RAM, a few hundred thousand.
var MaxEntries = 2_000_000

// bounded is a compressed segment's decompressed stream, counted into
// its Reader's unpacked bytes.
type bounded struct {
	io.ReadCloser
	r *Reader
}

func (b bounded) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.r.unpacked += int64(n)
	if b.r.unpacked > MaxUnpacked {
		return n, fmt.Errorf("the image's compressed segments unpack to more than %d MiB: refused, no initramfs is that large (a decompression bomb?)", MaxUnpacked>>20)
	}
	return n, err
}

// endArchive handles a trailer: within a compressed stream another archive
// may follow; otherwise the segment ends.
func (r *Reader) endArchive() error {
	r.seg.DataSize = r.base + r.cr.Offset()
	if r.inner == nil {
		r.seg.End = r.pos()
		r.cr = nil
		return nil
	}
	r.base += r.cr.Offset()
	err := skipNULs(r.inner, maxPadding)
	if err == nil {
		b, _ := r.inner.Peek(1)
		if b[0] != '0' {
			return fmt.Errorf("junk after the archive at decompressed offset %d", r.base)
		}
		r.seg.Archives++
		r.cr = cpio.NewReader(r.inner)
		return nil
	}
	if err != io.EOF {
		return err
	}
	if err := r.rc.Close(); err != nil {
		return err
	}
	if r.end > 0 {
		r.seek(r.end)
	}
	r.seg.End = r.pos()
	r.cr, r.inner, r.rc = nil, nil, nil
	return nil
}

// skipNULs consumes NUL bytes and returns io.EOF if nothing else follows.
// maxPadding bounds the NUL bytes read between segments. The kernel
// skips any number, but images pad to 4 or 512 bytes (a microcode
// segment's alignment at most); more is a device or a zeroed disk, and
// reading on would never end on /dev/zero.
const maxPadding = 16 << 20

var errPadding = fmt.Errorf("more than %d MiB of NUL bytes and nothing else: not an image", maxPadding>>20)

func skipNULs(br *bufio.Reader, max int) error {
	for skipped := 0; ; {
		if skipped > max {
			return errPadding
		}
		b, err := br.Peek(1)
		if len(b) == 0 {
			if err == nil {
				err = io.EOF
			}
			return err
		}
		buf, _ := br.Peek(br.Buffered())
		n := 0
		for n < len(buf) && buf[n] == 0 {
			n++
		}
		br.Discard(n)
		skipped += n
		if n < len(buf) {
			return nil
		}
	}
}

// Close releases the decoder of a compressed segment the Reader is in the
// middle of. It does not close the input.
func (r *Reader) Close() error {
	if r.rc != nil {
		err := r.rc.Close()
		r.rc = nil
		return err
	}
	return nil
}

// SkipSegment moves past the rest of the current segment. A zstd, xz or
// lz4 segment of a seekable input is passed over by its frame headers,
// without decoding; any other is read through. A skipped segment's Entries
// and DataSize count only what was read of it.
func (r *Reader) SkipSegment() error {
	if r.err != nil {
		return r.err
	}
	if r.inner != nil && r.end > 0 {
		r.rc.Close()
		r.seek(r.end)
		r.seg.End = r.end
		r.cr, r.inner, r.rc = nil, nil, nil
		return nil
	}
	for r.cr != nil {
		_, err := r.cr.Next()
		if err == nil {
			r.seg.Entries++
			continue
		}
		if err == io.EOF {
			err = r.endArchive()
		}
		if err != nil {
			r.err = r.wrap(err)
			return r.err
		}
	}
	return nil
}
