package probe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
)

// Partition is one entry of a partition table. Number counts from 1 as
// the kernel numbers partitions (the N of /dev/vdaN and of
// /sys/class/block/*/partition).
type Partition struct {
	Number int
	UUID   string // PARTUUID: the GPT unique GUID, or "DISKID-NN" for MBR
	Label  string // PARTLABEL: the GPT name (MBR has none)
	Start  int64  // in bytes
	Size   int64  // in bytes
}

// Table is a disk's partition table.
type Table struct {
	Type       string // "gpt" or "dos"
	UUID       string // the disk GUID, or the MBR disk identifier
	Partitions []Partition
}

// ErrNoTable means the disk has neither a GPT nor an MBR partition table.
var ErrNoTable = errors.New("no partition table")

// Partitions reads a disk's partition table. GPT is tried at both sector
// sizes a disk can have (512 and 4096); a protective MBR without a valid
// GPT is reported as an error, not as an empty MBR. A table is untrusted:
// an entry that ends before it starts, lies past the end of the disk (its
// size is read from r when r can say it: Size() or Seek) or outside the
// GPT's usable area, overflows 64 bits, or overlaps another entry is an
// error naming the entry.
func Partitions(r io.ReaderAt) (Table, error) {
	size := sizeOf(r)
	if size == 0 {
		size = -1 // unknown
	}
	for _, ss := range []int64{512, 4096} {
		if t, ok, err := gpt(r, ss, size); ok || err != nil {
			return t, err
		}
	}
	t, err := mbr(r)
	if err == nil {
		err = t.check(size)
	}
	return t, err
}

// check refuses entries past the end of a disk of size bytes (-1:
// unknown) and entries that overlap (a table has at most 128: each is
// checked against the others, with no sorting, which the init's size
// would pay for).
func (t Table) check(size int64) error {
	for i, p := range t.Partitions {
		if p.Size <= 0 || p.Start < 0 || p.Start > math.MaxInt64-p.Size {
			return fmt.Errorf("probe: %s partition %d: start %d, size %d", t.Type, p.Number, p.Start, p.Size)
		}
		if size >= 0 && p.Start+p.Size > size {
			return fmt.Errorf("probe: %s partition %d ends at byte %d, past the end of the disk (%d bytes)", t.Type, p.Number, p.Start+p.Size, size)
		}
		for _, q := range t.Partitions[:i] {
			if p.Start < q.Start+q.Size && q.Start < p.Start+p.Size {
				return fmt.Errorf("probe: %s partition %d overlaps partition %d", t.Type, p.Number, q.Number)
			}
		}
	}
	return nil
}

// gpt reads the primary GPT header at LBA 1 (block/partitions/efi.h:
// gpt_header) and its partition entry array (gpt_entry).
func gpt(r io.ReaderAt, ss, diskSize int64) (Table, bool, error) {
	h := make([]byte, 92)
	if !readAt(r, h, ss) || string(h[:8]) != "EFI PART" {
		return Table{}, false, nil
	}
	size := binary.LittleEndian.Uint32(h[12:])
	if size < 92 || int64(size) > ss {
		return Table{}, true, fmt.Errorf("probe: GPT header at offset %d: header size %d", ss, size)
	}
	full := make([]byte, size)
	readAt(r, full, ss)
	want := binary.LittleEndian.Uint32(full[16:])
	binary.LittleEndian.PutUint32(full[16:], 0)
	if crc32.ChecksumIEEE(full) != want {
		return Table{}, true, fmt.Errorf("probe: GPT header at offset %d: bad CRC", ss)
	}
	entriesLBA := int64(binary.LittleEndian.Uint64(h[72:]))
	count := binary.LittleEndian.Uint32(h[80:])
	esize := binary.LittleEndian.Uint32(h[84:])
	if esize < 128 || esize > 4096 || count > 1024 {
		return Table{}, true, fmt.Errorf("probe: GPT header at offset %d: %d entries of %d bytes", ss, count, esize)
	}
	arr := make([]byte, int(count)*int(esize))
	if !readAt(r, arr, entriesLBA*ss) {
		return Table{}, true, fmt.Errorf("probe: GPT entries at offset %d: short read", entriesLBA*ss)
	}
	if crc32.ChecksumIEEE(arr) != binary.LittleEndian.Uint32(h[88:]) {
		return Table{}, true, fmt.Errorf("probe: GPT entries at offset %d: bad CRC", entriesLBA*ss)
	}
	t := Table{Type: "gpt", UUID: guidString(h[56:72])}
	firstUsable, lastUsable := binary.LittleEndian.Uint64(h[40:]), binary.LittleEndian.Uint64(h[48:])
	for i := 0; i < int(count); i++ {
		e := arr[i*int(esize):][:128]
		if bytes.Equal(e[:16], zeroUUID) {
			continue // unused entry
		}
		first, last := binary.LittleEndian.Uint64(e[32:]), binary.LittleEndian.Uint64(e[40:])
		if first > last || first < firstUsable || last > lastUsable || last >= uint64(math.MaxInt64/ss) {
			return Table{}, true, fmt.Errorf("probe: GPT partition %d: sectors %d-%d, outside the usable %d-%d", i+1, first, last, firstUsable, lastUsable)
		}
		t.Partitions = append(t.Partitions, Partition{
			Number: i + 1, UUID: guidString(e[16:32]), Label: utf16String(e[56:128]),
			Start: int64(first) * ss, Size: int64(last-first+1) * ss,
		})
	}
	return t, true, t.check(diskSize)
}

// mbr reads a DOS partition table (block/partitions/msdos.c): four primary
// entries at 446 and the disk identifier at 440. PARTUUID is
// "%08x-%02x" of the identifier and the partition number, as the kernel
// sets it. Extended partitions are not followed.
func mbr(r io.ReaderAt) (Table, error) {
	s := make([]byte, 512)
	if !readAt(r, s, 0) || s[510] != 0x55 || s[511] != 0xAA {
		return Table{}, ErrNoTable
	}
	id := binary.LittleEndian.Uint32(s[440:])
	t := Table{Type: "dos", UUID: hexFields(be32(id))}
	for i := 0; i < 4; i++ {
		e := s[446+16*i:][:16]
		typ := e[4]
		if typ == 0 {
			continue
		}
		if typ == 0xEE {
			return Table{}, fmt.Errorf("probe: protective MBR but no valid GPT")
		}
		if e[0] != 0 && e[0] != 0x80 {
			return Table{}, ErrNoTable // a boot sector (FAT), not a table
		}
		t.Partitions = append(t.Partitions, Partition{
			Number: i + 1, UUID: hexFields(be32(id), []byte{byte(i + 1)}),
			Start: int64(binary.LittleEndian.Uint32(e[8:])) * 512,
			Size:  int64(binary.LittleEndian.Uint32(e[12:])) * 512,
		})
	}
	if len(t.Partitions) == 0 {
		return Table{}, ErrNoTable
	}
	return t, nil
}
