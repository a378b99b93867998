package vmcore

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// The kdump-compressed format (makedumpfile's diskdump_mod.h): a
// disk_dump_header in block 0, a kdump_sub_header in the next block(s),
// two bitmaps of bitmap_blocks/2 blocks each (RAM pages; pages dumped),
// then one 24-byte page_desc for each page set in the second bitmap, in
// page order, pointing at the page's data, compressed or not.
const (
	// maxBitmap bounds a bitmap: 64 MiB is 2 TiB of 4 KiB pages.
	maxBitmap = 64 << 20

	kdumpUtsname   = 12  // struct new_utsname: six 65-byte fields
	kdumpBlockSize = 428 // after the timeval at 408
	pageDescSize   = 24

	flagZlib   = 0x1
	flagLZO    = 0x2
	flagSnappy = 0x4
	flagZstd   = 0x20
)

type kdumpMemory struct {
	v        *File
	page     uint64 // block_size: the page size
	maxPFN   uint64
	dumped   []uint64 // the second bitmap, as words
	rank     []uint64 // set bits in dumped before each 64-word chunk
	descs    int64    // file offset of the page descriptors
	fileSize int64

	mu   sync.Mutex
	zr   io.ReadCloser
	zstd *zstd.Decoder
}

func (v *File) openKdump() error {
	h := make([]byte, 464)
	if err := v.readAt(h, 0, "disk_dump_header"); err != nil {
		return err
	}
	le := binary.LittleEndian
	// utsname's fifth field, machine (uname -m); none, as x86-64.
	switch machine := string(trimNUL(h[kdumpUtsname+4*65 : kdumpUtsname+5*65])); machine {
	case "", "x86_64":
		v.Arch = "x86_64"
	case "aarch64":
		v.Arch = machine
	default:
		return &FormatError{v.Name, kdumpUtsname + 4*65, fmt.Sprintf("a dump of a %q machine: only x86-64 and arm64 dumps are read", machine)}
	}
	version := int32(le.Uint32(h[8:]))
	block := int64(int32(le.Uint32(h[kdumpBlockSize:])))
	subBlocks := int64(int32(le.Uint32(h[432:])))
	bitmapBlocks := int64(le.Uint32(h[436:]))
	maxPFN := uint64(le.Uint32(h[440:]))
	if block < 512 || block > 1<<20 || block&(block-1) != 0 {
		return &FormatError{v.Name, kdumpBlockSize, fmt.Sprintf("block size %d is not a page size", block)}
	}
	if subBlocks < 0 || subBlocks > 1<<16 || bitmapBlocks <= 0 || bitmapBlocks%2 != 0 {
		return &FormatError{v.Name, 432, fmt.Sprintf("sub-header of %d blocks and bitmaps of %d blocks make no dump", subBlocks, bitmapBlocks)}
	}
	sub := make([]byte, 104)
	if err := v.readAt(sub, block, "kdump_sub_header"); err != nil {
		return err
	}
	if version >= 6 {
		maxPFN = le.Uint64(sub[96:])
	}
	size := v.size()
	bitmapOff := (1 + subBlocks) * block
	half := bitmapBlocks / 2 * block
	if bitmapOff+2*half > size || half > v.real {
		return &FormatError{v.Name, bitmapOff, fmt.Sprintf("bitmaps of %d bytes run past the end of the file (%d bytes): truncated?", 2*half, v.real)}
	}
	if half > maxBitmap {
		return &FormatError{v.Name, 436, fmt.Sprintf("a bitmap of %d bytes: more than a machine of %d TiB has", half, maxBitmap*8*block>>40)}
	}
	if maxPFN > uint64(half)*8 {
		return &FormatError{v.Name, 440, fmt.Sprintf("max_mapnr %d is more than the bitmap's %d bits", maxPFN, half*8)}
	}
	m := &kdumpMemory{v: v, page: uint64(block), maxPFN: maxPFN, descs: bitmapOff + 2*half, fileSize: size}
	m.dumped = make([]uint64, (half+7)/8)
	chunk := make([]byte, 64<<10)
	for at := int64(0); at < half; at += int64(len(chunk)) {
		b := chunk[:min(int64(len(chunk)), half-at)]
		if err := v.readAt(b, bitmapOff+half+at, "the dumped-pages bitmap"); err != nil {
			return err
		}
		for i := 0; i < len(b); i += 8 {
			var w [8]byte
			copy(w[:], b[i:])
			m.dumped[(at+int64(i))/8] = le.Uint64(w[:])
		}
	}
	var n uint64
	for i, w := range m.dumped {
		if i%64 == 0 {
			m.rank = append(m.rank, n)
		}
		n += uint64(bits.OnesCount64(w))
	}
	if m.descs+int64(n)*pageDescSize > size || int64(n) > v.real/pageDescSize {
		return &FormatError{v.Name, m.descs, fmt.Sprintf("%d page descriptors run past the end of the file (%d bytes): truncated?", n, size)}
	}
	v.mem = m
	if version >= 3 {
		if err := v.kdumpNotes(sub, version, size); err != nil {
			return err
		}
	}
	return nil
}

// kdumpNotes reads the sub-header's VMCOREINFO and ELF notes.
func (v *File) kdumpNotes(sub []byte, version int32, size int64) error {
	le := binary.LittleEndian
	read := func(off, n int64, what string) ([]byte, error) {
		if off <= 0 || n <= 0 {
			return nil, nil
		}
		if n > 64<<20 || off+n > size || n > v.real {
			return nil, &FormatError{v.Name, off, fmt.Sprintf("%s of %d bytes runs past the end of the file", what, n)}
		}
		b := make([]byte, n)
		return b, v.readAt(b, off, what)
	}
	b, err := read(int64(le.Uint64(sub[32:])), int64(le.Uint64(sub[40:])), "VMCOREINFO")
	if err != nil {
		return err
	}
	if b != nil {
		if v.Info, err = ParseInfo(b); err != nil {
			return fmt.Errorf("%s: VMCOREINFO: %w", v.Name, err)
		}
	}
	if version < 4 {
		return nil
	}
	off := int64(le.Uint64(sub[48:]))
	if b, err = read(off, int64(le.Uint64(sub[56:])), "notes"); err != nil || b == nil {
		return err
	}
	info := v.Info
	err = v.notes(b, off)
	if info != nil {
		v.Info = info // the separate copy wins
	}
	return err
}

// index is the position of pfn's descriptor: the set bits before it.
func (m *kdumpMemory) index(pfn uint64) (uint64, bool) {
	w := pfn / 64
	if pfn >= m.maxPFN || w >= uint64(len(m.dumped)) || m.dumped[w]&(1<<(pfn%64)) == 0 {
		return 0, false
	}
	n := m.rank[w/64]
	for i := w &^ 63; i < w; i++ {
		n += uint64(bits.OnesCount64(m.dumped[i]))
	}
	return n + uint64(bits.OnesCount64(m.dumped[w]&(1<<(pfn%64)-1))), true
}

func (m *kdumpMemory) readPhys(p []byte, addr uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for len(p) > 0 {
		pfn, in := addr/m.page, addr%m.page
		i, ok := m.index(pfn)
		if !ok {
			return &AddrError{Addr: addr}
		}
		page, err := m.readPage(i)
		if err != nil {
			return err
		}
		n := copy(p, page[in:])
		p, addr = p[n:], addr+uint64(n)
	}
	return nil
}

// readPage reads the page of descriptor i.
func (m *kdumpMemory) readPage(i uint64) ([]byte, error) {
	var d [pageDescSize]byte
	at := m.descs + int64(i)*pageDescSize
	if err := m.v.readAt(d[:], at, "page descriptor"); err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	off, size, flags := int64(le.Uint64(d[0:])), int64(le.Uint32(d[8:])), le.Uint32(d[12:])
	if off < 0 || size <= 0 || size > int64(2*m.page) || off+size > m.fileSize {
		return nil, &FormatError{m.v.Name, at, fmt.Sprintf("page descriptor %d: %d bytes at offset %d, outside the file (truncated?)", i, size, off)}
	}
	data := make([]byte, size)
	if err := m.v.readAt(data, off, "page data"); err != nil {
		return nil, err
	}
	page, err := m.decompress(data, flags)
	if err != nil {
		return nil, &FormatError{m.v.Name, off, fmt.Sprintf("page %d: %v", i, err)}
	}
	if uint64(len(page)) != m.page {
		return nil, &FormatError{m.v.Name, off, fmt.Sprintf("page %d: %d bytes, not a page of %d", i, len(page), m.page)}
	}
	return page, nil
}

func (m *kdumpMemory) decompress(data []byte, flags uint32) ([]byte, error) {
	switch {
	case flags&flagZlib != 0:
		var err error
		if m.zr == nil {
			m.zr, err = zlib.NewReader(bytes.NewReader(data))
		} else {
			err = m.zr.(zlib.Resetter).Reset(bytes.NewReader(data), nil)
		}
		if err != nil {
			return nil, err
		}
		out := make([]byte, m.page+1)
		n, err := io.ReadFull(m.zr, out)
		if n > int(m.page) {
			return nil, fmt.Errorf("zlib data inflates past a page")
		}
		if err != nil && err != io.ErrUnexpectedEOF {
			return nil, err
		}
		return out[:n], nil
	case flags&flagZstd != 0:
		// A page inflates to a page: the decoder stops at that, whatever
		// the frame claims (one page once inflated to gigabytes).
		if m.zstd == nil {
			var err error
			if m.zstd, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(1<<20)); err != nil {
				return nil, err
			}
		}
		if err := m.zstd.Reset(bytes.NewReader(data)); err != nil {
			return nil, err
		}
		out := make([]byte, m.page+1)
		n, err := io.ReadFull(m.zstd, out)
		if n > int(m.page) {
			return nil, fmt.Errorf("zstd data inflates past a page")
		}
		if err != nil && err != io.ErrUnexpectedEOF {
			return nil, err
		}
		return out[:n], nil
	case flags&flagLZO != 0:
		return nil, fmt.Errorf("LZO-compressed (makedumpfile -l): not read here; write the dump with -c (zlib), -z (zstd) or uncompressed")
	case flags&flagSnappy != 0:
		return nil, fmt.Errorf("snappy-compressed (makedumpfile -p): not read here; write the dump with -c (zlib), -z (zstd) or uncompressed")
	}
	return data, nil
}

func (m *kdumpMemory) ranges() [][2]uint64 {
	var r [][2]uint64
	for w, word := range m.dumped {
		for word != 0 { // a word at a time: a sparse bitmap is mostly zero words
			b := uint64(bits.TrailingZeros64(word))
			word &= word - 1
			pfn := uint64(w)*64 + b
			if pfn >= m.maxPFN {
				return r
			}
			start := pfn * m.page
			if n := len(r); n > 0 && r[n-1][1] == start {
				r[n-1][1] += m.page
			} else {
				r = append(r, [2]uint64{start, start + m.page})
			}
		}
	}
	return r
}

// backed: every dumped page has its descriptor in the file (openKdump
// checked), and a page the file does not hold fails to read.
func (m *kdumpMemory) backed(addr, n uint64) bool { return true }
