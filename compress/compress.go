// Package compress writes and reads the compressed streams the Linux kernel
// accepts for an initramfs segment, detects them by magic, and finds exactly
// where one ends so that the segment after it can be read.
//
// The kernel picks a decompressor by the first bytes of a segment
// (lib/decompress.c, compressed_formats[]) and then goes on after the bytes
// the decompressor consumed (init/initramfs.c, unpack_to_rootfs). Two
// framings it rejects are never written here: xz must carry a CRC32 check,
// not CRC64 (lib/xz accepts only CRC32 or none), and lz4 must be the legacy
// frame (lib/decompress_unlz4.c reads only ARCHIVE_MAGICNUMBER 0x184C2102).
package compress

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
)

// Format is a compression format, or None for an uncompressed stream.
type Format int

// Formats, in the order the kernel's lib/decompress.c lists them.
const (
	Unknown  Format = iota
	None            // no compression: the stream is a cpio archive
	Gzip            // gzip member (RFC 1952)
	Bzip2           // bzip2 stream; read only
	LZMA            // legacy .lzma ("lzma alone"); read only
	XZ              // xz stream with a CRC32 or no check
	LZO             // lzop; recognised, not supported
	LZ4             // lz4 legacy frame, as lz4 -l writes it
	Zstd            // zstd frame (RFC 8878)
	LZ4Frame        // modern lz4 frame; recognised, rejected by the kernel
)

var names = map[Format]string{
	Unknown: "unknown", None: "none", Gzip: "gzip", Bzip2: "bzip2", LZMA: "lzma",
	XZ: "xz", LZO: "lzo", LZ4: "lz4", Zstd: "zstd", LZ4Frame: "lz4-frame",
}

func (f Format) String() string {
	if s, ok := names[f]; ok {
		return s
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// Writable reports whether NewWriter can produce f.
func (f Format) Writable() bool {
	switch f {
	case None, Gzip, XZ, LZ4, Zstd:
		return true
	}
	return false
}

// CheckLevel says whether level means something to the format's writer:
// 0 (the default) always does; gzip takes 1-9, zstd 1-22, lz4 1-9; none
// and xz take no level (initkit writes the one xz preset the kernel
// unpacks). A level out of range would otherwise be clamped or ignored
// without a word.
func (f Format) CheckLevel(level int) error {
	if level == 0 {
		return nil
	}
	top := map[Format]int{Gzip: 9, Zstd: 22, LZ4: 9}[f]
	switch {
	case top == 0:
		return fmt.Errorf("level %d: %s takes no level", level, f)
	case level < 1 || level > top:
		return fmt.Errorf("level %d: %s takes 1-%d", level, f, top)
	}
	return nil
}

// WritableNames lists the names ParseFormat accepts for writing.
func WritableNames() []string {
	var s []string
	for f, n := range names {
		if f.Writable() {
			s = append(s, n)
		}
	}
	sort.Strings(s)
	return s
}

// ParseFormat returns the format with the given name. "lz4" is the legacy
// frame; "zst" and "gz" are accepted as aliases.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "gz":
		return Gzip, nil
	case "zst":
		return Zstd, nil
	case "", "cat":
		return None, nil
	}
	for f, n := range names {
		if n == strings.ToLower(s) && f != Unknown {
			return f, nil
		}
	}
	return Unknown, fmt.Errorf("unknown compression %q (want one of %s)", s, strings.Join(WritableNames(), ", "))
}

var magics = []struct {
	f     Format
	magic []byte
}{
	{None, []byte("07070")},
	{Gzip, []byte{0x1f, 0x8b}},
	{Gzip, []byte{0x1f, 0x9e}}, // old gzip magic, still accepted by the kernel
	{Bzip2, []byte("BZh")},
	{LZMA, []byte{0x5d, 0x00, 0x00}},
	{XZ, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}},
	{LZO, []byte{0x89, 'L', 'Z', 'O', 0x00, '\r', '\n', 0x1a, '\n'}},
	{LZ4, []byte{0x02, 0x21, 0x4c, 0x18}},
	{Zstd, []byte{0x28, 0xb5, 0x2f, 0xfd}},
	{LZ4Frame, []byte{0x04, 0x22, 0x4d, 0x18}},
}

// MagicLen is the number of leading bytes Detect needs to tell every format apart.
const MagicLen = 9

// Detect returns the format whose magic number starts b, or Unknown.
func Detect(b []byte) Format {
	for _, m := range magics {
		if bytes.HasPrefix(b, m.magic) {
			return m.f
		}
	}
	return Unknown
}
