package disk

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
)

// fixInodes rewrites, in the ext2/3/4 filesystem at off in file, what
// mke2fs -d copies from the host's inodes and a disk image must not
// depend on: the owner (every file is root's, as in initkit's images)
// and the access and change times, which the host sets as it reads the
// tree and as it copies it. They become the file's modification time,
// clamped to epoch when clamp is set (SOURCE_DATE_EPOCH). The inode
// checksums of metadata_csum are recomputed (fs/ext4/inode.c:
// ext4_inode_csum). The layout is fs/ext4/ext4.h's: struct
// ext4_super_block, ext4_group_desc and ext4_inode.
//
// Doing this in one pass over the inode tables costs milliseconds; the
// same with debugfs set_inode_field costs as much as mke2fs itself.
func fixInodes(file string, off, epoch int64, clamp bool) error {
	return fixInodesOwners(file, off, epoch, clamp, false)
}

func fixInodesOwners(file string, off, epoch int64, clamp, keepOwners bool) error {
	f, err := os.OpenFile(file, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	sb := make([]byte, 1024)
	if _, err := f.ReadAt(sb, off+1024); err != nil {
		return fmt.Errorf("%s: superblock at offset %d: %w", file, off+1024, err)
	}
	le := binary.LittleEndian
	if le.Uint16(sb[0x38:]) != 0xEF53 {
		return fmt.Errorf("%s: no ext superblock at offset %d", file, off+1024)
	}
	fs := extFS{
		f: f, off: off,
		block:      int64(1024) << le.Uint32(sb[0x18:]),
		ipg:        int64(le.Uint32(sb[0x28:])),
		inodeSize:  int64(128),
		firstIno:   int64(11),
		descSize:   32,
		keepOwners: keepOwners,
	}
	if le.Uint32(sb[0x4C:]) > 0 { // EXT2_DYNAMIC_REV
		fs.inodeSize, fs.firstIno = int64(le.Uint16(sb[0x58:])), int64(le.Uint32(sb[0x54:]))
	}
	incompat, roCompat := le.Uint32(sb[0x60:]), le.Uint32(sb[0x64:])
	if incompat&0x80 != 0 { // INCOMPAT_64BIT
		fs.descSize = int64(le.Uint16(sb[0xFE:]))
	}
	fs.csum = roCompat&0x400 != 0 // RO_COMPAT_METADATA_CSUM
	fs.unusedValid = fs.csum || roCompat&0x10 != 0
	if fs.csum {
		fs.seed = crc32c(^uint32(0), sb[0x68:0x78])
		if incompat&0x2000 != 0 { // INCOMPAT_CSUM_SEED
			fs.seed = le.Uint32(sb[0x270:])
		}
	}
	blocks := int64(le.Uint32(sb[0x04:]))
	if incompat&0x80 != 0 {
		blocks |= int64(le.Uint32(sb[0x150:])) << 32
	}
	first, bpg := int64(le.Uint32(sb[0x14:])), int64(le.Uint32(sb[0x20:]))
	groups := (blocks - first + bpg - 1) / bpg
	descs := make([]byte, groups*fs.descSize)
	if _, err := f.ReadAt(descs, off+(first+1)*fs.block); err != nil {
		return fmt.Errorf("%s: group descriptors: %w", file, err)
	}
	for g := int64(0); g < groups; g++ {
		if err := fs.fixGroup(g, descs[g*fs.descSize:][:fs.descSize], epoch, clamp); err != nil {
			return fmt.Errorf("%s: group %d: %w", file, g, err)
		}
	}
	if !clamp {
		return nil
	}
	compat := le.Uint32(sb[0x5C:])
	for g := int64(0); g < groups; g++ {
		if !hasSuperBackup(g, compat, roCompat, sb) {
			continue
		}
		at := off + (g*bpg+first)*fs.block
		if g == 0 {
			at = off + 1024
		}
		if err := fs.fixSuper(at, epoch); err != nil {
			return fmt.Errorf("%s: superblock of group %d: %w", file, g, err)
		}
	}
	return nil
}

// hasSuperBackup reports whether group g holds a superblock: every group
// without sparse_super; else 0, 1 and the powers of 3, 5 and 7; with
// sparse_super2 the two groups s_backup_bgs names.
func hasSuperBackup(g int64, compat, roCompat uint32, sb []byte) bool {
	switch {
	case g == 0:
		return true
	case compat&0x200 != 0: // COMPAT_SPARSE_SUPER2
		le := binary.LittleEndian
		return g == int64(le.Uint32(sb[0x24C:])) || g == int64(le.Uint32(sb[0x250:]))
	case roCompat&0x1 == 0: // no RO_COMPAT_SPARSE_SUPER
		return true
	case g == 1:
		return true
	}
	for _, b := range []int64{3, 5, 7} {
		n := b
		for n < g {
			n *= b
		}
		if n == g {
			return true
		}
	}
	return false
}

// fixSuper sets a superblock's times, which mke2fs takes from the clock
// whatever E2FSPROGS_FAKE_TIME says, to epoch: s_wtime, s_lastcheck,
// s_mkfs_time and their high bytes; s_mtime stays 0 (never mounted).
func (fs extFS) fixSuper(at, epoch int64) error {
	sb := make([]byte, 1024)
	if _, err := fs.f.ReadAt(sb, at); err != nil {
		return err
	}
	le := binary.LittleEndian
	if le.Uint16(sb[0x38:]) != 0xEF53 {
		return fmt.Errorf("no superblock at offset %d", at)
	}
	for _, o := range []int{0x30, 0x40, 0x108} {
		le.PutUint32(sb[o:], uint32(epoch))
	}
	for _, o := range []int{0x274, 0x277, 0x276} { // s_wtime_hi, s_lastcheck_hi, s_mkfs_time_hi
		sb[o] = byte(epoch >> 32)
	}
	if fs.csum {
		le.PutUint32(sb[0x3FC:], crc32c(^uint32(0), sb[:0x3FC]))
	}
	_, err := fs.f.WriteAt(sb, at)
	return err
}

type extFS struct {
	f           *os.File
	off         int64
	block       int64
	ipg         int64 // inodes per group
	inodeSize   int64
	firstIno    int64
	descSize    int64
	csum        bool   // metadata_csum
	unusedValid bool   // bg_itable_unused can be trusted
	seed        uint32 // the checksum seed
	keepOwners  bool
}

// fixGroup fixes the group's inodes in use.
func (fs extFS) fixGroup(g int64, d []byte, epoch int64, clamp bool) error {
	le := binary.LittleEndian
	if le.Uint16(d[0x12:])&0x1 != 0 { // EXT4_BG_INODE_UNINIT: no inode in use
		return nil
	}
	bitmapAt, tableAt := int64(le.Uint32(d[0x04:])), int64(le.Uint32(d[0x08:]))
	n := fs.ipg
	if fs.unusedValid {
		n -= int64(le.Uint16(d[0x1C:]))
	}
	if fs.descSize >= 64 {
		bitmapAt |= int64(le.Uint32(d[0x24:])) << 32
		tableAt |= int64(le.Uint32(d[0x28:])) << 32
		if fs.unusedValid {
			n -= int64(le.Uint16(d[0x32:])) << 16
		}
	}
	if n <= 0 {
		return nil
	}
	bitmap := make([]byte, (n+7)/8)
	if _, err := fs.f.ReadAt(bitmap, fs.off+bitmapAt*fs.block); err != nil {
		return fmt.Errorf("inode bitmap: %w", err)
	}
	table := make([]byte, n*fs.inodeSize)
	at := fs.off + tableAt*fs.block
	if _, err := fs.f.ReadAt(table, at); err != nil {
		return fmt.Errorf("inode table at offset %d: %w", at, err)
	}
	for i := int64(0); i < n; i++ {
		num := g*fs.ipg + i + 1
		ino := table[i*fs.inodeSize:][:fs.inodeSize]
		if bitmap[i/8]&(1<<(i%8)) == 0 || le.Uint16(ino) == 0 {
			continue
		}
		fs.fixInode(ino, uint32(num), epoch, clamp)
	}
	_, err := fs.f.WriteAt(table, at)
	return err
}

// fixInode sets one inode's owner and times and its checksum.
func (fs extFS) fixInode(ino []byte, num uint32, epoch int64, clamp bool) {
	le := binary.LittleEndian
	for _, o := range []int{0x02, 0x18, 0x78, 0x7A} { // uid, gid and their high halves
		if !fs.keepOwners {
			le.PutUint16(ino[o:], 0)
		}
	}
	mtime := le.Uint32(ino[0x10:])
	extra := len(ino) > 128
	fits := func(o int) bool { return extra && 128+int(le.Uint16(ino[0x80:])) >= o+4 }
	var mtimeExtra uint32
	if fits(0x88) {
		mtimeExtra = le.Uint32(ino[0x88:])
	}
	if clamp && (int64(mtime) > epoch || mtimeExtra&3 != 0) {
		mtime, mtimeExtra = uint32(epoch), uint32(epoch>>32)&3
	}
	le.PutUint32(ino[0x08:], mtime) // atime
	le.PutUint32(ino[0x0C:], mtime) // ctime
	le.PutUint32(ino[0x10:], mtime)
	for _, o := range []int{0x84, 0x88, 0x8C} { // ctime, mtime, atime extra
		if fits(o) {
			le.PutUint32(ino[o:], mtimeExtra)
		}
	}
	if !fs.csum {
		return
	}
	var b [4]byte
	le.PutUint32(b[:], num)
	c := crc32c(fs.seed, b[:])
	le.PutUint32(b[:], le.Uint32(ino[0x64:])) // i_generation
	c = crc32c(c, b[:])
	le.PutUint16(ino[0x7C:], 0)
	hi := fits(0x82 - 2) // i_checksum_hi, 2 bytes at 0x82
	if hi {
		le.PutUint16(ino[0x82:], 0)
	}
	c = crc32c(c, ino)
	le.PutUint16(ino[0x7C:], uint16(c))
	if hi {
		le.PutUint16(ino[0x82:], uint16(c>>16))
	}
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crc32c is the kernel's crc32c_le: no inversion before or after, which
// Go's crc32.Update applies.
func crc32c(crc uint32, p []byte) uint32 { return ^crc32.Update(^crc, castagnoli, p) }
