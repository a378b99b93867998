package image

import (
	"bufio"
	"bytes"
)

// otherKind names what a file that is no initramfs is, from the bytes
// at offset at (the first one that is not NUL) on: a disk, a filesystem
// or a kernel handed to ls or extract by mistake. "" when it is none of
// these. The offsets are those of the formats' own headers: the MBR's
// 0x55AA at 510 and GPT's "EFI PART" at 512 (UEFI 2.10, 5.2-5.3), ext2's
// magic at 1024+56 (fs/ext4/ext4.h), FAT's type at 0x36 or 0x52, squashfs's "hsqs" at 0, a bzImage's
// "HdrS" at 0x202 (Documentation/arch/x86/boot.rst), ELF's magic at 0.
func otherKind(at int64, br *bufio.Reader) string {
	b, _ := br.Peek(1200)
	return kindAt(at, b)
}

// Describe names what a file is from its first bytes (1200 of them for a
// disk's or a filesystem's header), as otherKind does for an image: ""
// when it is none of the formats otherKind knows.
func Describe(head []byte) string { return kindAt(0, head) }

// kindAt is otherKind over b, the bytes from offset at.
func kindAt(at int64, b []byte) string {
	byteAt := func(off int64, want string) bool {
		i := off - at
		return i >= 0 && i+int64(len(want)) <= int64(len(b)) && string(b[i:i+int64(len(want))]) == want
	}
	switch {
	case byteAt(512, "EFI PART"):
		return "a disk image with a GPT partition table (initkit disk ls lists it)"
	case byteAt(0x36, "FAT") || byteAt(0x52, "FAT32"):
		return "a FAT filesystem image (initkit disk ls and disk cat read it)"
	case byteAt(510, "\x55\xaa"):
		return "a disk image with an MBR partition table (initkit disk ls lists it)"
	case byteAt(1024+56, "\x53\xef"):
		return "an ext2/3/4 filesystem image (initkit disk ls and disk cat read it)"
	case byteAt(0, "hsqs"):
		return "a squashfs image"
	case byteAt(0x202, "HdrS"):
		return "a Linux kernel image (bzImage), not an initramfs"
	case byteAt(0, "\x7fELF"):
		return "an ELF file (a vmlinux?), not an initramfs"
	case at == 0 && bytes.HasPrefix(b, []byte("ARMd")) || byteAt(0x38, "ARM\x64"):
		return "an arm64 Linux kernel image, not an initramfs"
	}
	return ""
}
