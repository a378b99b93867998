package compress

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// StreamError reports a malformed or truncated compressed stream.
type StreamError struct {
	Format Format
	Offset int64 // from the first byte of the stream
	Msg    string
}

func (e *StreamError) Error() string {
	return fmt.Sprintf("%s stream: offset %d: %s", e.Format, e.Offset, e.Msg)
}

// ErrUnsupported is wrapped by errors for formats that are recognised but
// cannot be read.
var ErrUnsupported = errors.New("unsupported compression")

// NewReader returns a reader of the decompressed content of r, all of
// which is taken to be one stream of format f.
func NewReader(r io.Reader, f Format) (io.ReadCloser, error) {
	switch f {
	case None:
		return io.NopCloser(r), nil
	case Gzip:
		return gzip.NewReader(r)
	case Zstd:
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	case XZ:
		zr, err := xz.NewReader(r)
		return io.NopCloser(zr), err
	case LZ4:
		return io.NopCloser(lz4.NewReader(r)), nil
	case Bzip2:
		return io.NopCloser(bzip2.NewReader(r)), nil
	case LZMA:
		zr, err := lzma.NewReader(r)
		return io.NopCloser(zr), err
	}
	return nil, unsupported(f)
}

func unsupported(f Format) error {
	switch f {
	case LZ4Frame:
		return fmt.Errorf("%w: modern lz4 frame; the kernel accepts only the legacy lz4 frame (lz4 -l)", ErrUnsupported)
	case LZO:
		return fmt.Errorf("%w: lzo; decompress it with lzop -d and read the result", ErrUnsupported)
	}
	return fmt.Errorf("%w: %s", ErrUnsupported, f)
}

// ReadStream reads the one compressed stream of format f that starts at
// br's current position and returns its decompressed content. Once that
// content has been read to io.EOF, br is positioned at the first byte after
// the stream, as the kernel's decompressors report it (my_inptr), so a
// caller can read what follows. Bzip2 and lzma have no frame that can be
// walked without decoding: such a stream must be the last thing in br, and
// any NUL bytes after it are consumed as padding.
func ReadStream(br *bufio.Reader, f Format) (io.ReadCloser, error) {
	switch f {
	case Gzip:
		// With an io.ByteReader under it the inflater reads no byte past
		// the member, and with Multistream off it stops after the trailer.
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, &StreamError{Format: f, Msg: err.Error()}
		}
		zr.Multistream(false)
		return zr, nil
	case Zstd, XZ, LZ4:
		frame, err := readFrame(br, f)
		if err != nil {
			return nil, err
		}
		return NewReader(bytes.NewReader(frame), f)
	case Bzip2, LZMA:
		rest, err := io.ReadAll(br)
		if err != nil {
			return nil, err
		}
		return NewReader(bytes.NewReader(bytes.TrimRight(rest, "\x00")), f)
	}
	return nil, unsupported(f)
}

func readFrame(br *bufio.Reader, f Format) ([]byte, error) {
	src := &copySource{br: br}
	err := walk(src, f)
	return src.buf, err
}

// StreamLen returns the length of the zstd, xz or lz4 stream of format f
// that starts at off in ra, reading only the frame, block and chunk headers:
// the compressed data in between is skipped, not read. size is where ra's
// data ends.
func StreamLen(ra io.ReaderAt, off, size int64, f Format) (int64, error) {
	switch f {
	case Zstd, XZ, LZ4:
	default:
		return 0, fmt.Errorf("compress: the length of a %s stream cannot be found without decoding it", f)
	}
	src := &atSource{ra: ra, off: off, pos: off, size: size}
	err := walk(src, f)
	return src.pos - off, err
}

func walk(src source, f Format) error {
	w := &walker{src: src, f: f}
	switch f {
	case Zstd:
		return w.zstd()
	case XZ:
		return w.xz()
	}
	return w.lz4()
}

// source gives a walker the bytes of a stream: headers to parse, and data
// to pass over.
type source interface {
	// read returns the next n bytes; n is small (a header).
	read(n int) ([]byte, error)
	// skip passes over the next n bytes.
	skip(n int) error
	// peek returns up to n bytes without consuming them.
	peek(n int) []byte
	// offset is the number of bytes consumed.
	offset() int64
}

// copySource reads a stream from a bufio.Reader and keeps all of it, so
// that it can be decoded after the walk.
type copySource struct {
	br  *bufio.Reader
	buf []byte
}

func (s *copySource) offset() int64 { return int64(len(s.buf)) }

// read appends the next n bytes to buf. It grows buf a megabyte at a
// time as data arrives, so that a size field in a crafted header cannot
// make it allocate more than the input holds.
func (s *copySource) read(n int) ([]byte, error) {
	start := len(s.buf)
	for left := n; left > 0; {
		k := min(left, 1<<20)
		at := len(s.buf)
		s.buf = append(s.buf, make([]byte, k)...)
		got, err := io.ReadFull(s.br, s.buf[at:])
		if err != nil {
			s.buf = s.buf[:at+got]
			return nil, errShort{got: len(s.buf) - start}
		}
		left -= k
	}
	return s.buf[start:], nil
}

func (s *copySource) skip(n int) error { _, err := s.read(n); return err }

func (s *copySource) peek(n int) []byte { b, _ := s.br.Peek(n); return b }

// atSource walks a stream in an io.ReaderAt, reading headers only.
type atSource struct {
	ra        io.ReaderAt
	off, size int64
	pos       int64
	hdr       [64]byte
}

func (s *atSource) offset() int64 { return s.pos - s.off }

func (s *atSource) read(n int) ([]byte, error) {
	if n > len(s.hdr) {
		return nil, fmt.Errorf("header of %d bytes", n)
	}
	got, _ := s.ra.ReadAt(s.hdr[:n], s.pos)
	if got < n {
		s.pos += int64(got)
		return nil, errShort{got: got}
	}
	s.pos += int64(n)
	return s.hdr[:n], nil
}

func (s *atSource) skip(n int) error {
	if rest := s.size - s.pos; int64(n) > rest {
		s.pos = s.size
		return errShort{got: int(rest)}
	}
	s.pos += int64(n)
	return nil
}

func (s *atSource) peek(n int) []byte {
	b := make([]byte, n)
	got, _ := s.ra.ReadAt(b, s.pos)
	return b[:got]
}

type errShort struct{ got int }

func (errShort) Error() string { return "short" }

// walker follows a stream's framing, decoding nothing.
type walker struct {
	src source
	f   Format
}

func (w *walker) errorf(format string, a ...any) error {
	return &StreamError{Format: w.f, Offset: w.src.offset(), Msg: fmt.Sprintf(format, a...)}
}

func (w *walker) short(start int64, what string, n int, err error) error {
	var es errShort
	if errors.As(err, &es) {
		return &StreamError{Format: w.f, Offset: start,
			Msg: fmt.Sprintf("stream ends early in %s (%d of %d bytes)", what, es.got, n)}
	}
	return err
}

// take returns the next n header bytes.
func (w *walker) take(n int, what string) ([]byte, error) {
	start := w.src.offset()
	b, err := w.src.read(n)
	if err != nil {
		return nil, w.short(start, what, n, err)
	}
	return b, nil
}

// pass passes over n bytes of data.
func (w *walker) pass(n int, what string) error {
	start := w.src.offset()
	if err := w.src.skip(n); err != nil {
		return w.short(start, what, n, err)
	}
	return nil
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
