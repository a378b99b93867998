package probe

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"strconv"
)

// The volume managers' members: an LVM2 physical volume and an md RAID
// member. Both name the volume they belong to (Info.Volume), which is
// what a person listing a disk wants to see beside them.

// lvm2 reads the LVM2 label (lib/label/label.h, struct label_header): the
// id "LABELONE" in one of the first four sectors, the type "LVM2 001" at
// 24, the offset of the PV header at 20, which starts with the PV UUID as
// 32 characters (blkid prints them 6-4-4-4-4-4-6). The volume group's
// name comes from the first metadata area's text (lib/format_text/
// layout.h: struct mda_header and raw_locn), which begins "NAME {".
func lvm2(r io.ReaderAt, head []byte) (Info, bool) {
	for s := 0; s < 4 && (s+1)*512 <= len(head); s++ {
		l := head[s*512 : (s+1)*512]
		if string(l[:8]) != "LABELONE" || string(l[24:32]) != "LVM2 001" {
			continue
		}
		off := int(binary.LittleEndian.Uint32(l[20:]))
		if off < 32 || off+40 > 512 {
			return Info{}, false
		}
		pv := l[off:]
		id := string(pv[:32])
		info := Info{Type: "LVM2_member", Version: "LVM2 001", UUID: dashed(id, 6, 4, 4, 4, 4, 4, 6)}
		info.Volume = lvmVGName(r, pv[40:])
		return info, true
	}
	return Info{}, false
}

// dashed joins the runs of s of the given lengths with '-'.
func dashed(s string, runs ...int) string {
	var b []byte
	for i, n := range runs {
		if len(s) < n {
			return s
		}
		if i > 0 {
			b = append(b, '-')
		}
		b, s = append(b, s[:n]...), s[n:]
	}
	return string(b)
}

// lvmVGName follows the PV header's area lists (data areas, then
// metadata areas, each ended by a zero entry) to the first metadata area.
func lvmVGName(r io.ReaderAt, areas []byte) string {
	var mda int64
	lists := 0
	for i := 0; i+16 <= len(areas) && lists < 2; i += 16 {
		off := int64(binary.LittleEndian.Uint64(areas[i:]))
		if off == 0 {
			lists++
			continue
		}
		if lists == 1 {
			mda = off
			break
		}
	}
	if mda == 0 {
		return ""
	}
	h := make([]byte, 64)
	if !readAt(r, h, mda) || string(h[4:20]) != " LVM2 x[5A%r0N*>" {
		return ""
	}
	text := int64(binary.LittleEndian.Uint64(h[40:]))
	if text == 0 {
		return ""
	}
	name := make([]byte, 128)
	if !readAt(r, name, mda+text) {
		return ""
	}
	if i := bytes.Index(name, []byte(" {")); i > 0 {
		return string(name[:i])
	}
	return ""
}

// mdMagic starts every md superblock (drivers/md/md.h, MD_SB_MAGIC).
const mdMagic = 0xa92b4efc

// md finds an md RAID member's superblock (include/uapi/linux/raid/
// md_p.h): version 1.1 at 0, 1.2 at 4 KiB, 1.0 at the end (8 KiB before
// it, 4 KiB aligned), 0.90 in the last 64 KiB-aligned 64 KiB. blkid calls
// it linux_raid_member, with the array's UUID and, for 1.x, its name as
// the label and the member's own UUID as UUID_SUB.
func md(r io.ReaderAt, head []byte) (Info, bool) {
	size := sizeOf(r)
	offsets := []int64{0, 4096}
	if size > 0 {
		offsets = append(offsets, (size-8192)&^4095)
	}
	for _, off := range offsets {
		sb := make([]byte, 256)
		if off < 0 || !readAt(r, sb, off) || binary.LittleEndian.Uint32(sb) != mdMagic || binary.LittleEndian.Uint32(sb[4:]) != 1 {
			continue
		}
		return Info{Type: "linux_raid_member", Version: "1." + strconv.Itoa(mdMinor(off, size)),
			UUID: uuidString(sb[16:32]), Label: cstring(sb[32:64]), SubUUID: uuidString(sb[168:184]),
			Volume: "raid" + strconv.Itoa(int(int32(binary.LittleEndian.Uint32(sb[72:]))))}, true
	}
	if size >= 128<<10 {
		off := size&^(64<<10-1) - 64<<10
		sb := make([]byte, 64)
		if readAt(r, sb, off) && binary.LittleEndian.Uint32(sb) == mdMagic && binary.LittleEndian.Uint32(sb[4:]) == 0 {
			// The four words of the UUID (set_uuid0 at 20, 1-3 at 52),
			// native-endian: blkid prints each as a big-endian number.
			var id []byte
			for _, o := range []int{20, 52, 56, 60} {
				id = append(id, reversed(sb[o:o+4])...)
			}
			return Info{Type: "linux_raid_member", Version: "0.90.0", UUID: uuidString(id),
				Volume: "raid" + strconv.Itoa(int(int32(binary.LittleEndian.Uint32(sb[28:]))))}, true
		}
	}
	return Info{}, false
}

func mdMinor(off, size int64) int {
	switch off {
	case 0:
		return 1
	case 4096:
		return 2
	}
	return 0
}

// sizeOf is the size of what r reads, when r can tell it: a section, or
// a file or block device (by seeking to its end); 0 otherwise.
func sizeOf(r io.ReaderAt) int64 {
	switch v := r.(type) {
	case interface{ Size() int64 }:
		return v.Size()
	case *os.File:
		n, err := v.Seek(0, io.SeekEnd)
		if err == nil {
			return n
		}
	}
	return 0
}
