// Package cpio reads and writes the "newc" cpio archive format (magic 070701)
// and its checksummed variant (070702), the only formats the Linux kernel
// unpacks into its initial root filesystem.
//
// The format is described in the kernel's Documentation/driver-api/early-userspace/buffer-format.rst
// and implemented by init/initramfs.c (reader) and usr/gen_init_cpio.c (writer).
// A header is 110 bytes: the 6-byte magic and thirteen 8-digit hexadecimal
// fields, followed by the NUL-terminated name, padding to a multiple of four,
// the file data, and padding to a multiple of four again. An entry named
// TRAILER!!! ends the archive.
//
// The Reader never allocates memory in proportion to a size field it has not
// verified: names and symlink targets are bounded by PATH_MAX, and file data
// is streamed, so a crafted header cannot make it allocate gigabytes.
package cpio

import (
	"fmt"
	"io/fs"
)

// Magic numbers of the formats handled by this package.
const (
	MagicNewc = "070701" // SVR4 portable format without checksums
	MagicCRC  = "070702" // SVR4 portable format with a checksum of the data
)

// Trailer is the name of the entry that ends an archive.
const Trailer = "TRAILER!!!"

// HeaderLen is the length of a newc header before the name.
const HeaderLen = 110

// MaxNameLen bounds the length of a name, including its NUL, and of a
// symlink target. The kernel refuses names longer than PATH_MAX (4096).
const MaxNameLen = 4096

// File type bits of Header.Mode, as in st_mode.
const (
	TypeMask   = 0o170000
	TypeSocket = 0o140000
	TypeLink   = 0o120000 // symbolic link; the target is the entry's data
	TypeReg    = 0o100000
	TypeBlock  = 0o060000
	TypeDir    = 0o040000
	TypeChar   = 0o020000
	TypeFIFO   = 0o010000
)

// Header describes one archive entry. Field names follow struct stat.
type Header struct {
	Name      string // path inside the archive, without a leading "/"
	Mode      uint32 // file type bits and permissions, as st_mode
	UID, GID  uint32
	NLink     uint32
	ModTime   int64 // seconds since the epoch
	Size      int64 // length of the data; for symlinks, of the target
	Ino       uint32
	DevMajor  uint32 // device holding the file; with Ino, identifies hardlinks
	DevMinor  uint32
	RDevMajor uint32 // device number of a character or block device node
	RDevMinor uint32
	Check     uint32 // sum of the data bytes (070702 only)
	Linkname  string // symlink target: the Reader fills it, the Writer writes it as data

	// Offset is where the header starts in the stream the Reader reads.
	// The Writer ignores it.
	Offset int64
}

// Type returns the file type bits of Mode.
func (h *Header) Type() uint32 { return h.Mode & TypeMask }

// Perm returns the permission bits of Mode, including setuid, setgid and sticky.
func (h *Header) Perm() uint32 { return h.Mode & 0o7777 }

// FileMode converts Mode to an fs.FileMode.
func (h *Header) FileMode() fs.FileMode {
	m := fs.FileMode(h.Mode & 0o777)
	if h.Mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if h.Mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if h.Mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	switch h.Type() {
	case TypeDir:
		m |= fs.ModeDir
	case TypeLink:
		m |= fs.ModeSymlink
	case TypeChar:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case TypeBlock:
		m |= fs.ModeDevice
	case TypeFIFO:
		m |= fs.ModeNamedPipe
	case TypeSocket:
		m |= fs.ModeSocket
	}
	return m
}

// ModeOf converts an fs.FileMode to st_mode bits for Header.Mode.
func ModeOf(m fs.FileMode) uint32 {
	v := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		v |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		v |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		v |= 0o1000
	}
	switch {
	case m.IsDir():
		v |= TypeDir
	case m&fs.ModeSymlink != 0:
		v |= TypeLink
	case m&fs.ModeCharDevice != 0:
		v |= TypeChar
	case m&fs.ModeDevice != 0:
		v |= TypeBlock
	case m&fs.ModeNamedPipe != 0:
		v |= TypeFIFO
	case m&fs.ModeSocket != 0:
		v |= TypeSocket
	default:
		v |= TypeReg
	}
	return v
}

// FormatError reports malformed input and where in the stream it was found.
type FormatError struct {
	Offset int64  // byte offset in the stream of the faulty field or header
	Name   string // the entry's name, when already known
	Msg    string
}

func (e *FormatError) Error() string {
	if e.Name != "" {
		return fmt.Sprintf("cpio: offset %d: entry %q: %s", e.Offset, e.Name, e.Msg)
	}
	return fmt.Sprintf("cpio: offset %d: %s", e.Offset, e.Msg)
}

func pad4(n int64) int64 { return (4 - n%4) % 4 }
