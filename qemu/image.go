package qemu

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// ImageInfo is what a disk image file is, as QEMU would open it.
type ImageInfo struct {
	Format string // raw or qcow2
	// Backing and DataFile are the host files a qcow2 image names: its
	// backing file, and its external data file. QEMU opens them, by
	// their names, with the user's rights.
	Backing, DataFile string
}

// qcow2's header (docs/interop/qcow2.txt in QEMU's tree): the magic, the
// version, the backing file's name (offset, length), and from version 3
// the incompatible feature bits (bit 2: an external data file) and the
// header's length, after which header extensions follow (type, length,
// data padded to 8), the data file's name among them.
const (
	qcowMagic         = "QFI\xfb"
	qcowExtDataFile   = 0x44415441
	qcowIncompatData  = 1 << 2
	qcowMaxHeaderRead = 64 << 10
)

// InspectImage reads what path is: a qcow2 image (by its magic, whatever
// its name) with the files it names, or raw. A header that lies (names
// out of the file, a name too long) is an error naming the offset.
func InspectImage(path string) (ImageInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return ImageInfo{}, err
	}
	defer f.Close()
	return inspect(f, path)
}

// inspect reads the image's first bytes from r; path names it in errors.
func inspect(r io.Reader, path string) (ImageInfo, error) {
	head := make([]byte, qcowMaxHeaderRead)
	n, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return ImageInfo{}, err
	}
	head = head[:n]
	if !bytes.HasPrefix(head, []byte(qcowMagic)) {
		return ImageInfo{Format: "raw"}, nil
	}
	info := ImageInfo{Format: "qcow2"}
	bad := func(off int, msg string) error { return fmt.Errorf("%s: qcow2 header offset %d: %s", path, off, msg) }
	if len(head) < 72 {
		return info, bad(len(head), "truncated header")
	}
	be := binary.BigEndian
	version := be.Uint32(head[4:])
	if off, size := be.Uint64(head[8:]), be.Uint32(head[16:]); off != 0 {
		if size == 0 || size > 1023 || off > uint64(len(head)) || off+uint64(size) > uint64(len(head)) {
			return info, bad(8, fmt.Sprintf("backing file name at %d, %d bytes, not in the header", off, size))
		}
		info.Backing = string(head[off : off+uint64(size)])
	}
	if version < 3 {
		return info, nil
	}
	if len(head) < 104 {
		return info, bad(len(head), "truncated version 3 header")
	}
	hlen := int(be.Uint32(head[100:]))
	if hlen < 104 || hlen > len(head) {
		return info, bad(100, fmt.Sprintf("header length %d", hlen))
	}
	for off := hlen; off+8 <= len(head); {
		typ, l := be.Uint32(head[off:]), int(be.Uint32(head[off+4:]))
		if typ == 0 {
			break
		}
		if l > len(head)-off-8 {
			return info, bad(off, fmt.Sprintf("header extension of %d bytes past the header", l))
		}
		if typ == qcowExtDataFile {
			info.DataFile = string(head[off+8 : off+8+l])
		}
		off += 8 + (l+7)&^7
	}
	if be.Uint64(head[72:])&qcowIncompatData != 0 && info.DataFile == "" {
		info.DataFile = "(the file QEMU is given as data-file)"
	}
	return info, nil
}
