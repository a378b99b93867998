// Package probe identifies what a block device holds, the way blkid does
// for an init: filesystem superblocks (ext2/3/4, xfs, btrfs, vfat,
// squashfs), LUKS1/2 headers, LVM2 physical volumes and md RAID members,
// and the partition tables (GPT, MBR) that
// give partitions their PARTUUID and PARTLABEL. It reads a few sectors
// and runs nothing.
//
// The on-disk layouts are cited from the kernel sources that mount them:
// fs/ext4/ext4.h (struct ext4_super_block), fs/xfs/libxfs/xfs_format.h
// (struct xfs_sb), fs/btrfs/ctree.h (struct btrfs_super_block),
// fs/fat/fat.h and include/uapi/linux/msdos_fs.h (struct fat_boot_sector),
// fs/squashfs/squashfs_fs.h, include/uapi/linux/raid/md_p.h,
// block/partitions/efi.h and msdos.c; the LUKS on-disk format
// specifications of cryptsetup and LVM2's lib/label and lib/format_text.
package probe

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf16"
)

// Info is what a probe found. Fields not applicable to the type are empty.
type Info struct {
	Type  string // "ext4", "xfs", "crypto_LUKS", ... as blkid names them
	UUID  string // as blkid prints it, lower-case where blkid prints lower case
	Label string
	// Version is the LUKS header version ("1" or "2") for crypto_LUKS,
	// the metadata version of an md member ("1.2", "0.90.0"), "LVM2 001".
	Version string
	SubUUID string // an md member's own UUID (blkid's UUID_SUB)
	// Volume is what a member belongs to: an LVM2 PV's volume group, an
	// md member's RAID level ("raid1").
	Volume string
}

// ErrUnknown means no known signature was found.
var ErrUnknown = errors.New("no known filesystem or LUKS signature")

// readAt reads exactly len(p) bytes at off, reporting a short device as
// no signature rather than an error: a small device simply holds nothing
// that far out.
func readAt(r io.ReaderAt, p []byte, off int64) bool {
	n, err := r.ReadAt(p, off)
	return n == len(p) && (err == nil || err == io.EOF)
}

// Filesystem probes r for a filesystem or LUKS header.
func Filesystem(r io.ReaderAt) (Info, error) {
	head := make([]byte, 4096)
	n, err := r.ReadAt(head, 0)
	if n < 512 {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Info{}, fmt.Errorf("probe: reading the first sector: %w", err)
	}
	head = head[:n]
	for _, p := range []func(io.ReaderAt, []byte) (Info, bool){luks, lvm2, md, xfs, squashfs, ext, btrfs, vfat} {
		if info, ok := p(r, head); ok {
			return info, nil
		}
	}
	return Info{}, ErrUnknown
}

// cstring returns b up to its first NUL.
func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// uuidString formats 16 bytes in the usual 8-4-4-4-12 form. The
// formatting here is done by hand, not with fmt: the initkit init probes
// at boot, where fmt's code costs time to translate under TCG.
func uuidString(b []byte) string {
	return hexFields(b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// guidString formats a GPT GUID, whose first three fields are stored
// little-endian (the "mixed-endian" EFI layout).
func guidString(b []byte) string {
	return hexFields(reversed(b[0:4]), reversed(b[4:6]), reversed(b[6:8]), b[8:10], b[10:16])
}

// hexFields writes each field in lower-case hex, joined by '-'.
func hexFields(fields ...[]byte) string {
	var s []byte
	for i, f := range fields {
		if i > 0 {
			s = append(s, '-')
		}
		s = hex.AppendEncode(s, f)
	}
	return string(s)
}

func reversed(b []byte) []byte {
	r := make([]byte, len(b))
	for i, c := range b {
		r[len(b)-1-i] = c
	}
	return r
}

// be32 is v as 4 big-endian bytes, for printing a number in hex.
func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

var zeroUUID = make([]byte, 16)

func optionalUUID(b []byte) string {
	if bytes.Equal(b, zeroUUID) {
		return ""
	}
	return uuidString(b)
}

// luks reads the LUKS1/LUKS2 binary header: magic "LUKS\xba\xbe", a
// big-endian version, the LUKS2 label at 24 and the UUID as text at 168.
func luks(_ io.ReaderAt, head []byte) (Info, bool) {
	if !bytes.HasPrefix(head, []byte("LUKS\xba\xbe")) || len(head) < 208 {
		return Info{}, false
	}
	v := binary.BigEndian.Uint16(head[6:8])
	info := Info{Type: "crypto_LUKS", UUID: cstring(head[168:208]), Version: strconv.Itoa(int(v))}
	if v == 2 {
		info.Label = cstring(head[24:72])
	}
	return info, v == 1 || v == 2
}

// xfs reads struct xfs_sb at offset 0: magic "XFSB", sb_uuid at 32,
// sb_fname (12 bytes) at 108.
func xfs(_ io.ReaderAt, head []byte) (Info, bool) {
	if !bytes.HasPrefix(head, []byte("XFSB")) || len(head) < 120 {
		return Info{}, false
	}
	return Info{Type: "xfs", UUID: uuidString(head[32:48]), Label: cstring(head[108:120])}, true
}

// squashfs: magic "hsqs" (little-endian 0x73717368); no UUID or label.
func squashfs(_ io.ReaderAt, head []byte) (Info, bool) {
	return Info{Type: "squashfs"}, bytes.HasPrefix(head, []byte("hsqs"))
}

// ext feature bits that ext3 does not support (fs/ext4/ext4.h and
// blkid's ext logic): any of them makes the filesystem ext4.
const (
	extCompatJournal     = 0x4
	ext3IncompatSupp     = 0x2 | 0x4 | 0x10 // FILETYPE, RECOVER, META_BG
	ext3ROCompatSupp     = 0x1 | 0x2 | 0x4  // SPARSE_SUPER, LARGE_FILE, BTREE_DIR
	extIncompatJournalDv = 0x8
)

// ext reads struct ext4_super_block at 1024: s_magic 0xEF53 at 0x38,
// s_uuid at 0x68, s_volume_name at 0x78.
func ext(_ io.ReaderAt, head []byte) (Info, bool) {
	if len(head) < 2048 {
		return Info{}, false
	}
	sb := head[1024:2048]
	if binary.LittleEndian.Uint16(sb[0x38:]) != 0xEF53 {
		return Info{}, false
	}
	compat := binary.LittleEndian.Uint32(sb[0x5c:])
	incompat := binary.LittleEndian.Uint32(sb[0x60:])
	roCompat := binary.LittleEndian.Uint32(sb[0x64:])
	typ := "ext2"
	switch {
	case incompat&extIncompatJournalDv != 0:
		typ = "jbd"
	case incompat&^ext3IncompatSupp != 0 || roCompat&^ext3ROCompatSupp != 0:
		typ = "ext4"
	case compat&extCompatJournal != 0:
		typ = "ext3"
	}
	return Info{Type: typ, UUID: optionalUUID(sb[0x68:0x78]), Label: cstring(sb[0x78:0x88])}, true
}

// btrfs reads struct btrfs_super_block at 64 KiB: fsid at 0x20, magic
// "_BHRfS_M" at 0x40, label (256 bytes) at 0x12b.
func btrfs(r io.ReaderAt, _ []byte) (Info, bool) {
	sb := make([]byte, 0x22b)
	if !readAt(r, sb, 0x10000) || string(sb[0x40:0x48]) != "_BHRfS_M" {
		return Info{}, false
	}
	return Info{Type: "btrfs", UUID: uuidString(sb[0x20:0x30]), Label: cstring(sb[0x12b:0x22b])}, true
}

// vfat reads struct fat_boot_sector: the 0x55AA signature, then the
// extended boot record of FAT32 (at 0x40) or FAT12/16 (at 0x24), each
// holding a signature byte 0x29, the volume id and the volume label.
// blkid prints the id as XXXX-XXXX.
func vfat(_ io.ReaderAt, head []byte) (Info, bool) {
	if head[510] != 0x55 || head[511] != 0xAA {
		return Info{}, false
	}
	var ebr []byte
	switch {
	case string(head[0x52:0x5a]) == "FAT32   ":
		ebr = head[0x40:]
	case strings.HasPrefix(string(head[0x36:0x3e]), "FAT1"):
		ebr = head[0x24:]
	default:
		return Info{}, false
	}
	info := Info{Type: "vfat"}
	if ebr[2] == 0x29 || ebr[2] == 0x28 {
		id := binary.LittleEndian.Uint32(ebr[3:7])
		b := be32(id)
		info.UUID = strings.ToUpper(hexFields(b[0:2], b[2:4]))
	}
	if ebr[2] == 0x29 {
		if l := strings.TrimRight(string(ebr[7:18]), " \x00"); l != "NO NAME" {
			info.Label = l
		}
	}
	return info, true
}

// utf16String decodes a NUL-terminated UTF-16LE name.
func utf16String(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}
