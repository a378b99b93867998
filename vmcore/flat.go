package vmcore

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sort"
)

// The flattened format (makedumpfile -F, and QEMU's kdump-* formats
// written to a file): a 4096-byte header starting "makedumpfile", then
// records of a big-endian (offset, size) pair and size bytes, each
// placing its bytes at offset of the dump they flatten, until an offset
// of -1. kdump-tools sends dumps this way over SSH; initkit reads them as
// they are, through an index of the records.
const flatHeaderSize = 4096

type extent struct {
	off, size int64 // in the dump
	pos       int64 // in the file
	seq       int
}

type flatReader struct {
	r       io.ReaderAt
	extents []extent // by off; a later record wins where two overlap
}

func (v *File) unflatten() error {
	var hdr [16]byte
	if err := v.readAt(hdr[:], flatHeaderSize, "flattened record"); err != nil {
		return err
	}
	fr := &flatReader{r: v.f}
	var end, real int64
	for pos, seq := int64(flatHeaderSize), 0; ; seq++ {
		if err := v.readAt(hdr[:], pos, "flattened record"); err != nil {
			return err
		}
		off, size := int64(binary.BigEndian.Uint64(hdr[:])), int64(binary.BigEndian.Uint64(hdr[8:]))
		if off == -1 {
			break
		}
		if off < 0 || size < 0 || pos+16+size > v.sz {
			return &FormatError{v.Name, pos, fmt.Sprintf("flattened record of %d bytes for offset %d runs past the end of the file (%d bytes): truncated?", size, off, v.sz)}
		}
		if off > math.MaxInt64-size {
			return &FormatError{v.Name, pos, fmt.Sprintf("flattened record of %d bytes for offset %d overflows", size, off)}
		}
		fr.extents = append(fr.extents, extent{off, size, pos + 16, seq})
		end, real = max(end, off+size), real+size
		pos += 16 + size
	}
	sort.SliceStable(fr.extents, func(i, j int) bool { return fr.extents[i].off < fr.extents[j].off })
	v.r, v.sz, v.real = fr, end, real
	return nil
}

// ReadAt reads the dump's bytes at off; bytes no record wrote read as 0,
// a hole at a time.
func (fr *flatReader) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		at := off + int64(n)
		e, ok := fr.find(at)
		if !ok {
			hole := min(int64(len(p)-n), fr.next(at)-at)
			clear(p[n : n+int(hole)])
			n += int(hole)
			continue
		}
		k := min(int64(len(p)-n), e.off+e.size-at)
		if _, err := fr.r.ReadAt(p[n:n+int(k)], e.pos+at-e.off); err != nil {
			return n, err
		}
		n += int(k)
	}
	return n, nil
}

// next is where the first record after at starts (MaxInt64: none).
func (fr *flatReader) next(at int64) int64 {
	i := sort.Search(len(fr.extents), func(i int) bool { return fr.extents[i].off > at })
	if i == len(fr.extents) {
		return math.MaxInt64
	}
	return fr.extents[i].off
}

// covers reports whether a record places any byte in [off, off+n).
func (fr *flatReader) covers(off, n int64) bool {
	if _, ok := fr.find(off); ok {
		return true
	}
	return fr.next(off) < off+n
}

// find is the latest record covering at.
func (fr *flatReader) find(at int64) (extent, bool) {
	i := sort.Search(len(fr.extents), func(i int) bool { return fr.extents[i].off > at })
	best, ok := extent{}, false
	// Records are small and rarely overlap (headers rewritten at the
	// end): a few steps back find every one that covers at.
	for j := i - 1; j >= 0 && j >= i-64; j-- {
		if e := fr.extents[j]; e.off+e.size > at && (!ok || e.seq > best.seq) {
			best, ok = e, true
		}
	}
	return best, ok
}
