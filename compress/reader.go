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
	w := &walker{br: br, f: f}
	var err error
	switch f {
	case Zstd:
		err = w.zstd()
	case XZ:
		err = w.xz()
	case LZ4:
		err = w.lz4()
	}
	return w.buf, err
}

// walker copies the bytes of one stream from br into buf, following the
// format's framing but decoding nothing.
type walker struct {
	br  *bufio.Reader
	f   Format
	buf []byte
}

func (w *walker) errorf(format string, a ...any) error {
	return &StreamError{Format: w.f, Offset: int64(len(w.buf)), Msg: fmt.Sprintf(format, a...)}
}

// take appends the next n bytes to buf and returns them.
func (w *walker) take(n int, what string) ([]byte, error) {
	start := len(w.buf)
	w.buf = append(w.buf, make([]byte, n)...)
	got, err := io.ReadFull(w.br, w.buf[start:])
	if err != nil {
		w.buf = w.buf[:start+got]
		return nil, &StreamError{Format: w.f, Offset: int64(start),
			Msg: fmt.Sprintf("stream ends early in %s (%d of %d bytes)", what, got, n)}
	}
	return w.buf[start:], nil
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
