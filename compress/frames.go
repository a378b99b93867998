package compress

import "encoding/binary"

// zstd walks one zstd frame, or one skippable frame (RFC 8878, section 3.1).
func (w *walker) zstd() error {
	magic, err := w.take(4, "frame magic")
	if err != nil {
		return err
	}
	if m := le32(magic); m&0xFFFFFFF0 == 0x184D2A50 {
		size, err := w.take(4, "skippable frame size")
		if err != nil {
			return err
		}
		return w.pass(int(le32(size)), "skippable frame")
	}
	fhd, err := w.take(1, "frame header")
	if err != nil {
		return err
	}
	d := fhd[0]
	single := d&0x20 != 0
	if d&0x08 != 0 {
		return w.errorf("reserved bit set in frame header descriptor")
	}
	n := [4]int{0, 1, 2, 4}[d&3] // dictionary ID
	if !single {
		n++ // window descriptor
	}
	switch d >> 6 {
	case 0:
		if single {
			n++
		}
	case 1:
		n += 2
	case 2:
		n += 4
	case 3:
		n += 8
	}
	if err := w.pass(n, "frame header"); err != nil {
		return err
	}
	for {
		bh, err := w.take(3, "block header")
		if err != nil {
			return err
		}
		h := uint32(bh[0]) | uint32(bh[1])<<8 | uint32(bh[2])<<16
		size := int(h >> 3)
		switch (h >> 1) & 3 {
		case 1: // RLE: one byte, repeated size times
			size = 1
		case 3:
			return w.errorf("reserved block type")
		}
		if size > 128<<10 {
			return w.errorf("block size %d exceeds the format's 128 KiB", size)
		}
		if err := w.pass(size, "block"); err != nil {
			return err
		}
		if h&1 != 0 {
			break
		}
	}
	if d&0x04 != 0 {
		return w.pass(4, "content checksum")
	}
	return nil
}

// xz walks one xz stream (The .xz File Format 1.1.0, sections 2-4). Blocks
// whose header omits the compressed size are walked by their LZMA2 chunk
// headers, which give each chunk's packed size.
func (w *walker) xz() error {
	hdr, err := w.take(12, "stream header")
	if err != nil {
		return err
	}
	check := hdr[7] & 0x0F
	checkSize := [16]int{0, 4, 4, 4, 8, 8, 8, 16, 16, 16, 32, 32, 32, 64, 64, 64}[check]
	for {
		b, err := w.take(1, "block header")
		if err != nil {
			return err
		}
		if b[0] == 0 {
			return w.xzIndexAndFooter()
		}
		if err := w.xzBlock(int(b[0])+1, checkSize); err != nil {
			return err
		}
	}
}

func (w *walker) xzBlock(hdrSize4 int, checkSize int) error {
	start := w.src.offset() - 1
	if hdrSize4*4-1 > 63 {
		return w.errorf("block header of %d bytes", hdrSize4*4)
	}
	rest, err := w.take(hdrSize4*4-1, "block header")
	if err != nil {
		return err
	}
	flags := rest[0]
	p := rest[1:]
	if flags&0x40 != 0 {
		size, n := binary.Uvarint(p)
		if n <= 0 {
			return w.errorf("bad compressed size in block header")
		}
		if err := w.pass(int(size), "block data"); err != nil {
			return err
		}
	} else if err := w.lzma2(); err != nil {
		return err
	}
	if pad := (4 - (w.src.offset()-start)%4) % 4; pad > 0 {
		if err := w.pass(int(pad), "block padding"); err != nil {
			return err
		}
	}
	return w.pass(checkSize, "block check")
}

// lzma2 walks LZMA2 chunks up to and including the end marker.
func (w *walker) lzma2() error {
	for {
		c, err := w.take(1, "LZMA2 chunk")
		if err != nil {
			return err
		}
		ctl := c[0]
		switch {
		case ctl == 0:
			return nil
		case ctl == 1 || ctl == 2:
			s, err := w.take(2, "LZMA2 chunk header")
			if err != nil {
				return err
			}
			if err := w.pass(int(s[0])<<8|int(s[1])+1, "LZMA2 chunk"); err != nil {
				return err
			}
		case ctl >= 0x80:
			n := 4
			if (ctl>>5)&3 >= 2 {
				n++ // properties byte
			}
			s, err := w.take(n, "LZMA2 chunk header")
			if err != nil {
				return err
			}
			if err := w.pass(int(s[2])<<8|int(s[3])+1, "LZMA2 chunk"); err != nil {
				return err
			}
		default:
			return w.errorf("invalid LZMA2 control byte %#x", ctl)
		}
	}
}

func (w *walker) xzIndexAndFooter() error {
	start := w.src.offset() - 1
	count, err := w.varint()
	if err != nil {
		return err
	}
	if count > 1<<32 {
		return w.errorf("implausible index record count %d", count)
	}
	for i := uint64(0); i < 2*count; i++ {
		if _, err := w.varint(); err != nil {
			return err
		}
	}
	pad := (4 - (w.src.offset()-start)%4) % 4
	if err := w.pass(int(pad)+4, "index padding and CRC32"); err != nil {
		return err
	}
	footer, err := w.take(12, "stream footer")
	if err != nil {
		return err
	}
	if footer[10] != 'Y' || footer[11] != 'Z' {
		return w.errorf("stream footer magic missing")
	}
	return nil
}

func (w *walker) varint() (uint64, error) {
	var v uint64
	for i := 0; i < 9; i++ {
		b, err := w.take(1, "index")
		if err != nil {
			return 0, err
		}
		v |= uint64(b[0]&0x7F) << (7 * i)
		if b[0]&0x80 == 0 {
			return v, nil
		}
	}
	return 0, w.errorf("index integer longer than 9 bytes")
}

// lz4MaxBlock is LZ4_COMPRESSBOUND(8 MiB), the largest block the legacy
// frame can hold (lib/decompress_unlz4.c).
const lz4MaxBlock = 8<<20 + 8<<20/255 + 16

// lz4 walks a legacy lz4 frame. It has no end mark: like the kernel, the
// walk ends at the end of input, at a size of zero (NUL padding, left
// unread), or at a final 4-byte uncompressed-size trailer as the kernel's
// own build appends it. A new legacy magic number continues the stream.
func (w *walker) lz4() error {
	if _, err := w.take(4, "magic"); err != nil {
		return err
	}
	for {
		peek := w.src.peek(5)
		if len(peek) < 4 {
			if len(peek) > 0 {
				return w.errorf("stream ends early in block size (%d bytes)", len(peek))
			}
			return nil
		}
		size := le32(peek)
		tail := peek
		switch {
		case size == 0x184C2102:
			w.take(4, "magic")
			continue
		case size == 0:
			return nil // NUL padding: not part of the stream
		case len(tail) == 4:
			_, err := w.take(4, "size trailer")
			return err
		case size > lz4MaxBlock:
			return w.errorf("block size %d exceeds the legacy frame's maximum %d", size, lz4MaxBlock)
		}
		w.take(4, "block size")
		if err := w.pass(int(size), "block"); err != nil {
			return err
		}
	}
}
