// Package vmcore reads Linux kernel memory dumps: the ELF core a capture
// kernel exposes as /proc/vmcore (and QEMU's dump-guest-memory writes),
// and the kdump-compressed ("diskdump") format of makedumpfile and of
// QEMU's kdump-zlib. It finds VMCOREINFO (the note the kernel leaves for
// dump readers, kernel/crash_core.c), translates x86-64 and arm64 kernel
// addresses to physical ones, and reads the printk ring buffer into the kernel log.
//
// Nothing in the dump is trusted: every length, count and pointer is
// checked against the file, and errors name the file and the offset.
package vmcore

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/initkit/initkit/compress"
	"github.com/initkit/initkit/internal/shell"
)

// File is an open dump.
type File struct {
	Name   string
	Format string // "elf" or "kdump-compressed"
	Arch   string // the machine, in QEMU's names: x86_64 or aarch64
	Info   *Info  // nil when the dump holds no VMCOREINFO and none was found in its memory
	// CPUs is how many CPUs' registers the dump holds (NT_PRSTATUS
	// notes), 0 when it holds none.
	CPUs int

	f  *os.File
	r  io.ReaderAt // the dump's bytes: the file, or a flattened stream's index
	sz int64       // the dump's size (a flattened stream's: what its records place)
	// real is how many bytes the file really holds: what a dump claims
	// to hold beyond them (a flattened stream placing a record at 1 TB)
	// is zeros, never worth memory or time.
	real int64
	mem  memory
}

// memory reads physical memory from a dump.
type memory interface {
	// readPhys fills p from physical address addr; an address the dump
	// does not hold is an *AddrError.
	readPhys(p []byte, addr uint64) error
	// ranges lists the physical ranges the dump holds, in order.
	ranges() [][2]uint64
	// backed reports whether the file holds any byte of the range.
	backed(addr, n uint64) bool
}

// FormatError is a dump that is not what it claims to be, at an offset
// of the file.
type FormatError struct {
	File   string
	Offset int64
	Msg    string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("%s: offset %d: %s", e.File, e.Offset, e.Msg)
}

// AddrError is an address the dump does not hold (filtered out by
// makedumpfile, or never RAM).
type AddrError struct {
	Addr    uint64
	Virtual bool
}

func (e *AddrError) Error() string {
	kind := "physical"
	if e.Virtual {
		kind = "virtual"
	}
	return fmt.Sprintf("%s address %#x is not in the dump", kind, e.Addr)
}

// ErrNotDump is returned by Open for a file in neither format.
var ErrNotDump = errors.New("not a vmcore (neither an ELF core nor kdump-compressed)")

// compressedHint says how to decompress a dump stored compressed (a bug
// report's vmcore.xz): a dump is read in place, by its offsets, and a
// stream would have to be inflated whole first, to a file as large as
// the guest's memory.
func compressedHint(r io.ReaderAt, name string) string {
	magic := make([]byte, compress.MagicLen)
	n, _ := r.ReadAt(magic, 0)
	tools := map[compress.Format][]string{compress.Gzip: {"gzip", "-dk"}, compress.Bzip2: {"bzip2", "-dk"}, compress.XZ: {"xz", "-dk"},
		compress.Zstd: {"zstd", "-d"}, compress.LZ4: {"lz4", "-d"}, compress.LZ4Frame: {"lz4", "-d"}}
	f := compress.Detect(magic[:n])
	if tool, ok := tools[f]; ok {
		return fmt.Sprintf(": compressed with %s; decompress it first (%s), then read the dump", f, shell.Quote(append(tool, name)))
	}
	return ""
}

// Open opens a dump in either format.
func Open(name string) (*File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	v := &File{Name: name, f: f, r: f, sz: st.Size(), real: st.Size()}
	if err := v.open(); err != nil {
		f.Close()
		return nil, err
	}
	return v, nil
}

func (v *File) open() error {
	var magic [8]byte
	if _, err := v.f.ReadAt(magic[:], 0); err != nil {
		return fmt.Errorf("%s: %w", v.Name, ErrNotDump)
	}
	if string(magic[:]) == "makedump" {
		if err := v.unflatten(); err != nil {
			return err
		}
		if _, err := v.r.ReadAt(magic[:], 0); err != nil {
			return &FormatError{v.Name, 0, "a flattened stream with no dump in it"}
		}
	}
	var err error
	switch {
	case string(magic[:4]) == "\x7fELF":
		v.Format = "elf"
		err = v.openELF()
	case string(magic[:]) == "KDUMP   ":
		v.Format = "kdump-compressed"
		err = v.openKdump()
	default:
		return fmt.Errorf("%s: %w%s", v.Name, ErrNotDump, compressedHint(v.f, v.Name))
	}
	if err != nil {
		return err
	}
	if v.Info == nil {
		v.Info = v.findInfo()
	}
	return nil
}

// Close closes the file.
func (v *File) Close() error { return v.f.Close() }

// ReadPhys reads len(p) bytes of physical memory at addr.
func (v *File) ReadPhys(p []byte, addr uint64) error { return v.mem.readPhys(p, addr) }

// Ranges are the physical address ranges [start, end) the dump holds.
func (v *File) Ranges() [][2]uint64 { return v.mem.ranges() }

// size is the dump's size, for bounds checks.
func (v *File) size() int64 { return v.sz }

// readAt reads exactly len(p) bytes at off, or says where the file ends.
func (v *File) readAt(p []byte, off int64, what string) error {
	n, err := v.r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == io.EOF || err == nil {
		return &FormatError{v.Name, off, fmt.Sprintf("%s: the file ends at %d (truncated?)", what, off+int64(n))}
	}
	return fmt.Errorf("%s: %w", v.Name, err)
}
