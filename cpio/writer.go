package cpio

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// TrailerBlock is the boundary the Writer pads the archive to after the
// trailer, as usr/gen_init_cpio.c and GNU cpio do.
const TrailerBlock = 512

// Writer writes a newc archive. Call WriteHeader for each entry, then Write
// its data, then Close to write the trailer. It writes the headers it is
// given as they are: ordering, inode numbering and hardlink grouping are the
// caller's choice (see package image for a deterministic tree writer).
type Writer struct {
	w       io.Writer
	magic   string
	off     int64
	remain  int64
	pad     int64
	cur     *Header
	sum     uint32
	closed  bool
	scratch []byte
}

// NewWriter returns a Writer of 070701 archives.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w, magic: MagicNewc} }

// NewCRCWriter returns a Writer of 070702 archives: each header's Check must
// hold the sum of the entry's data bytes (see Checksum); the Writer verifies it.
func NewCRCWriter(w io.Writer) *Writer { return &Writer{w: w, magic: MagicCRC} }

// Checksum returns the 070702 checksum of data: the sum of its bytes, modulo 2^32.
func Checksum(data []byte) uint32 {
	var s uint32
	for _, c := range data {
		s += uint32(c)
	}
	return s
}

// Offset returns the number of bytes written so far.
func (w *Writer) Offset() int64 { return w.off }

// WriteHeader finishes the current entry and writes the header of the next.
// A symlink's target is taken from Linkname and written as its data.
func (w *Writer) WriteHeader(h *Header) error {
	if w.closed {
		return errors.New("cpio: write after close")
	}
	if err := w.finish(); err != nil {
		return err
	}
	if err := validate(h); err != nil {
		return err
	}
	hh := *h
	if hh.Type() == TypeLink {
		hh.Size = int64(len(hh.Linkname))
		if w.magic == MagicCRC {
			hh.Check = Checksum([]byte(hh.Linkname))
		}
	}
	if err := w.writeHeader(&hh); err != nil {
		return err
	}
	w.cur = &hh
	w.remain = hh.Size
	w.pad = pad4(hh.Size)
	w.sum = 0
	if hh.Type() == TypeLink {
		if _, err := io.WriteString(w, hh.Linkname); err != nil {
			return err
		}
	}
	return nil
}

func validate(h *Header) error {
	bad := func(msg string) error { return fmt.Errorf("cpio: entry %q: %s", h.Name, msg) }
	switch {
	case h.Name == "":
		return bad("empty name")
	case len(h.Name) >= MaxNameLen:
		return bad(fmt.Sprintf("name longer than %d bytes", MaxNameLen-1))
	case strings.IndexByte(h.Name, 0) >= 0:
		return bad("NUL in name")
	case h.Name == Trailer:
		return bad("name is reserved for the trailer")
	case h.Size < 0 || h.Size > 0xFFFFFFFF:
		return bad(fmt.Sprintf("size %d does not fit the format's 32 bits", h.Size))
	case h.ModTime < 0 || h.ModTime > 0xFFFFFFFF:
		return bad(fmt.Sprintf("mtime %d does not fit the format's unsigned 32 bits", h.ModTime))
	case h.Type() == TypeLink && len(h.Linkname) > MaxNameLen:
		return bad("symlink target too long")
	case h.Type() == TypeLink && h.Linkname == "":
		return bad("symlink without a target")
	case h.Type() != TypeReg && h.Type() != TypeLink && h.Size != 0:
		return bad("only regular files and symlinks carry data")
	}
	return nil
}

func (w *Writer) writeHeader(h *Header) error {
	nameLen := int64(len(h.Name) + 1)
	b := w.scratch[:0]
	b = append(b, w.magic...)
	for _, v := range [13]uint32{h.Ino, h.Mode, h.UID, h.GID, h.NLink, uint32(h.ModTime),
		uint32(h.Size), h.DevMajor, h.DevMinor, h.RDevMajor, h.RDevMinor, uint32(nameLen), h.Check} {
		b = appendHex8(b, v)
	}
	b = append(b, h.Name...)
	b = append(b, 0)
	b = append(b, zeros[:pad4(HeaderLen+nameLen)]...)
	w.scratch = b
	return w.raw(b)
}

const hexDigits = "0123456789ABCDEF"

func appendHex8(b []byte, v uint32) []byte {
	for i := 28; i >= 0; i -= 4 {
		b = append(b, hexDigits[v>>uint(i)&0xF])
	}
	return b
}

var zeros [TrailerBlock]byte

func (w *Writer) raw(b []byte) error {
	n, err := w.w.Write(b)
	w.off += int64(n)
	return err
}

// Write writes data of the current entry. Writing more than the header's
// Size is an error.
func (w *Writer) Write(p []byte) (int, error) {
	if w.cur == nil {
		return 0, errors.New("cpio: write before header")
	}
	if int64(len(p)) > w.remain {
		return 0, fmt.Errorf("cpio: entry %q: write beyond its size %d", w.cur.Name, w.cur.Size)
	}
	if w.magic == MagicCRC {
		for _, c := range p {
			w.sum += uint32(c)
		}
	}
	n, err := w.w.Write(p)
	w.off += int64(n)
	w.remain -= int64(n)
	return n, err
}

func (w *Writer) finish() error {
	if w.cur == nil {
		return nil
	}
	h := w.cur
	if w.remain != 0 {
		return fmt.Errorf("cpio: entry %q: %d of %d data bytes missing", h.Name, w.remain, h.Size)
	}
	// Only a regular file's sum means anything (init/initramfs.c checks
	// no other); a symlink's is set in WriteHeader, others are kept.
	if w.magic == MagicCRC && h.Type() == TypeReg && w.sum != h.Check {
		return fmt.Errorf("cpio: entry %q: data sums to %08x, header says %08x", h.Name, w.sum, h.Check)
	}
	w.cur = nil
	return w.raw(zeros[:w.pad])
}

// Close finishes the last entry, writes the trailer and pads the archive to
// a multiple of TrailerBlock bytes. It does not close the underlying writer.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	if err := w.finish(); err != nil {
		return err
	}
	w.closed = true
	if err := w.writeHeader(&Header{Name: Trailer, NLink: 1}); err != nil {
		return err
	}
	return w.raw(zeros[:(TrailerBlock-w.off%TrailerBlock)%TrailerBlock])
}
