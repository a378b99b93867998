package cpio

import (
	"errors"
	"io"
)

// Reader reads entries from a newc archive, one at a time, like archive/tar.
//
// It reads exactly the bytes of the archive, through the padding after the
// trailer's name, and no further: once Next returns io.EOF the underlying
// reader is positioned at the first byte after the archive, so a caller can
// go on with whatever follows (in an initramfs, another segment). Pass a
// buffered reader for speed; the Reader does no buffering of its own.
type Reader struct {
	r      io.Reader
	off    int64 // bytes consumed from r
	remain int64 // data bytes of the current entry not yet read
	pad    int64 // padding after the current entry's data
	cur    *Header
	sum    uint32 // running checksum of the current entry's data
	crc    bool   // current entry is 070702
	done   bool
	err    error // sticky error
	hdr    [HeaderLen]byte
	name   [MaxNameLen + 4]byte
}

// NewReader returns a Reader that reads an archive from r.
func NewReader(r io.Reader) *Reader { return &Reader{r: r} }

// Offset returns the number of bytes the Reader has consumed. After Next
// returns io.EOF, it is the length of the archive including the trailer.
func (r *Reader) Offset() int64 { return r.off }

// Next advances to the next entry, skipping any unread data of the current
// one. It returns io.EOF at the trailer. Symlink targets are read into
// Header.Linkname; the data of other entries is read with Read.
func (r *Reader) Next() (*Header, error) {
	if r.err != nil {
		return nil, r.err
	}
	if r.done {
		return nil, io.EOF
	}
	if err := r.skipRest(); err != nil {
		return nil, r.fail(err)
	}
	h, err := r.readHeader()
	if err != nil {
		return nil, r.fail(err)
	}
	if h.Name == Trailer {
		r.done = true
		return nil, io.EOF
	}
	r.cur = h
	if h.Type() == TypeLink {
		if err := r.readLinkname(h); err != nil {
			return nil, r.fail(err)
		}
	}
	return h, nil
}

func (r *Reader) fail(err error) error {
	r.err = err
	return err
}

func (r *Reader) skipRest() error {
	if r.remain > 0 {
		if r.crc {
			// The checksum covers the data, so it has to be read, not skipped.
			if _, err := io.Copy(io.Discard, r); err != nil {
				return err
			}
		} else if err := r.discard(r.remain, "data"); err != nil {
			return err
		}
		r.remain = 0
	}
	if r.pad > 0 {
		if err := r.discard(r.pad, "padding"); err != nil {
			return err
		}
		r.pad = 0
	}
	return nil
}

func (r *Reader) discard(n int64, what string) error {
	start := r.off
	var got int64
	var err error
	if s, ok := r.r.(interface{ Discard(int) (int, error) }); ok && n < 1<<30 {
		var k int
		k, err = s.Discard(int(n))
		got = int64(k)
	} else {
		got, err = io.CopyN(io.Discard, r.r, n)
	}
	r.off += got
	if got < n {
		return r.truncated(start, what, err)
	}
	return nil
}

func (r *Reader) truncated(at int64, what string, err error) error {
	name := ""
	if r.cur != nil {
		name = r.cur.Name
	}
	if err == nil || err == io.EOF || err == io.ErrUnexpectedEOF {
		return &FormatError{Offset: at, Name: name, Msg: "archive truncated in " + what}
	}
	return err
}

func (r *Reader) readFull(p []byte, what string) error {
	start := r.off
	n, err := io.ReadFull(r.r, p)
	r.off += int64(n)
	if err != nil {
		if n == 0 && err == io.EOF && what == "header" {
			return &FormatError{Offset: start, Msg: "archive ends without a " + Trailer + " entry"}
		}
		return r.truncated(start, what, err)
	}
	return nil
}

func (r *Reader) readHeader() (*Header, error) {
	r.cur = nil
	start := r.off
	if err := r.readFull(r.hdr[:], "header"); err != nil {
		return nil, err
	}
	magic := string(r.hdr[:6])
	if magic != MagicNewc && magic != MagicCRC {
		msg := "bad magic " + quoteBytes(r.hdr[:6]) + ", want " + MagicNewc + " or " + MagicCRC
		if magic == "070707" {
			msg = "old portable (odc) cpio format; the kernel and this package read only newc (070701/070702)"
		}
		return nil, &FormatError{Offset: start, Msg: msg}
	}
	var f [13]uint32
	for i := range f {
		v, ok := parseHex(r.hdr[6+8*i : 14+8*i])
		if !ok {
			return nil, &FormatError{Offset: start + 6 + 8*int64(i),
				Msg: "field " + fieldNames[i] + " is not hexadecimal: " + quoteBytes(r.hdr[6+8*i:14+8*i])}
		}
		f[i] = v
	}
	h := &Header{
		Ino: f[0], Mode: f[1], UID: f[2], GID: f[3], NLink: f[4], ModTime: int64(f[5]),
		Size: int64(f[6]), DevMajor: f[7], DevMinor: f[8], RDevMajor: f[9], RDevMinor: f[10],
		Check: f[12], Offset: start,
	}
	nameLen := int64(f[11])
	if nameLen == 0 || nameLen > MaxNameLen {
		return nil, &FormatError{Offset: start + 94, Msg: "name size " + itoa(nameLen) + " out of range 1.." + itoa(MaxNameLen)}
	}
	buf := r.name[:nameLen+pad4(HeaderLen+nameLen)]
	if err := r.readFull(buf, "name"); err != nil {
		return nil, err
	}
	if buf[nameLen-1] != 0 {
		return nil, &FormatError{Offset: start + HeaderLen, Msg: "name is not NUL-terminated"}
	}
	for i, c := range buf[:nameLen-1] {
		if c == 0 {
			return nil, &FormatError{Offset: start + HeaderLen + int64(i), Msg: "NUL inside name"}
		}
	}
	h.Name = string(buf[:nameLen-1])
	r.crc = magic == MagicCRC
	if r.crc && h.Size == 0 && h.Type() == TypeReg && h.Check != 0 {
		// The kernel sums an empty file too (init/initramfs.c: do_copy,
		// "bad data checksum"); Read never runs to catch it.
		return nil, &FormatError{Offset: start + 6 + 8*12, Name: h.Name,
			Msg: "data checksum 00000000 does not match header " + hex8(h.Check)}
	}
	r.sum = 0
	r.remain = h.Size
	r.pad = pad4(h.Size)
	return h, nil
}

func (r *Reader) readLinkname(h *Header) error {
	if h.Size > MaxNameLen {
		return &FormatError{Offset: h.Offset, Name: h.Name, Msg: "symlink target of " + itoa(h.Size) + " bytes exceeds " + itoa(MaxNameLen)}
	}
	buf := make([]byte, h.Size)
	if _, err := io.ReadFull(r, buf); err != nil {
		return err
	}
	h.Linkname = string(buf)
	return nil
}

// Read reads the data of the current entry. It returns io.EOF at its end.
// For a 070702 entry, the checksum is verified when the last byte is read.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.remain <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.remain {
		p = p[:r.remain]
	}
	start := r.off
	n, err := r.r.Read(p)
	r.off += int64(n)
	r.remain -= int64(n)
	if r.crc {
		for _, c := range p[:n] {
			r.sum += uint32(c)
		}
		if r.remain == 0 && r.sum != r.cur.Check {
			return n, r.fail(&FormatError{Offset: r.cur.Offset, Name: r.cur.Name,
				Msg: "data checksum " + hex8(r.sum) + " does not match header " + hex8(r.cur.Check)})
		}
	}
	if err == io.EOF && r.remain > 0 {
		return n, r.fail(r.truncated(start, "data", err))
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return n, r.fail(err)
	}
	return n, nil
}

var fieldNames = [13]string{"ino", "mode", "uid", "gid", "nlink", "mtime", "filesize",
	"devmajor", "devminor", "rdevmajor", "rdevminor", "namesize", "check"}

func parseHex(b []byte) (uint32, bool) {
	var v uint32
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		v = v<<4 | uint32(c)
	}
	return v, true
}
