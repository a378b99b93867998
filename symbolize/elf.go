// Package symbolize turns kernel addresses and func+off/len symbols into
// source lines with their inline chains, from the DWARF of a vmlinux or
// a module, the way llvm-symbolizer and addr2line -i report them.
//
// It is built for one process decoding a whole crash log quickly: the ELF
// file is memory-mapped and only what the addresses need is parsed: the
// .debug_aranges table to find a compilation unit, then that unit's line
// program and DIE tree. A vmlinux's line sequences are not sorted by
// address within a unit, so each unit's rows are sorted here rather than
// searched with debug/dwarf's SeekPC (which returns ErrUnknownPC on them).
package symbolize

import (
	"bytes"
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/initkit/initkit/internal/elfnote"
)

// File is an ELF file with DWARF, opened for symbolization.
type File struct {
	Path    string
	mm      []byte
	ef      *elf.File
	secs    map[string][]byte // the DWARF sections
	buildID string
	// rel is true for a relocatable module (.ko): its text sections all
	// start at 0 and are given distinct bases here (see relocate.go).
	rel   bool
	bases map[int]uint64 // section index -> synthetic base (modules)

	aranges []arange // parsed on first use
	syms    map[string][]Symbol
	units   map[uint64]*unit
	next    map[uint64]uint64 // symbol address -> the next symbol's, for lengths

	rootOnce sync.Once
	root     string // sourceRoot's answer
}

// ErrNoDWARF means the file has no debug information.
var ErrNoDWARF = errors.New("no DWARF debug information")

// Open maps an ELF file and reads its symbol and DWARF section headers.
func Open(path string) (*File, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() == 0 {
		return nil, fmt.Errorf("%s: empty file", path)
	}
	mm, err := unix.Mmap(int(fd.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("%s: mmap: %w", path, err)
	}
	f := &File{Path: path, mm: mm, units: map[uint64]*unit{}}
	if err := f.load(); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

func (f *File) load() error {
	if !bytes.HasPrefix(f.mm, []byte(elf.ELFMAG)) {
		return notELF(f.mm)
	}
	ef, err := elf.NewFile(bytes.NewReader(f.mm))
	if err != nil {
		return err
	}
	f.ef = ef
	f.rel = ef.Type == elf.ET_REL
	f.buildID = readBuildID(ef, f.mm)
	if ef.Section(".debug_info") == nil && ef.Section(".zdebug_info") == nil {
		return ErrNoDWARF
	}
	sec := func(name string) ([]byte, error) {
		s := ef.Section(name)
		if s == nil {
			return nil, nil
		}
		if f.rel {
			return f.relocated(s)
		}
		return f.data(s)
	}
	f.secs = map[string][]byte{}
	for _, n := range []string{".debug_abbrev", ".debug_aranges", ".debug_info", ".debug_line", ".debug_ranges",
		".debug_str", ".debug_addr", ".debug_line_str", ".debug_str_offsets", ".debug_rnglists"} {
		if f.secs[n], err = sec(n); err != nil {
			return err
		}
	}
	return nil
}

// unitData is a dwarf.Data over one unit of .debug_info: debug/dwarf
// parses the header and abbreviations of every unit it is given, which
// for a vmlinux (2172 units, 5 MB of abbreviations) costs more than the
// whole lookup; given one unit, it parses one. Offsets in the result
// count from the unit's header.
func (f *File) unitData(off uint64) (*dwarf.Data, error) {
	info := f.secs[".debug_info"]
	if off+4 > uint64(len(info)) {
		return nil, fmt.Errorf("unit offset %#x past .debug_info (%d bytes)", off, len(info))
	}
	n := uint64(binary.LittleEndian.Uint32(info[off:])) + 4
	if n == 0xffffffff+4 && off+12 <= uint64(len(info)) {
		n = binary.LittleEndian.Uint64(info[off+4:]) + 12
	}
	if off+n > uint64(len(info)) {
		return nil, fmt.Errorf("unit at %#x: length %d runs past .debug_info", off, n)
	}
	s := f.secs
	d, err := dwarf.New(s[".debug_abbrev"], nil, nil, info[off:off+n], s[".debug_line"], nil, s[".debug_ranges"], s[".debug_str"])
	if err != nil {
		return nil, fmt.Errorf("unit at %#x: %w", off, err)
	}
	for _, name := range []string{".debug_addr", ".debug_line_str", ".debug_str_offsets", ".debug_rnglists"} {
		if b := s[name]; b != nil {
			if err := d.AddSection(name, b); err != nil {
				return nil, err
			}
		}
	}
	return d, nil
}

// unitOffsets lists the header offset of every unit in .debug_info.
func (f *File) unitOffsets() []uint64 {
	info := f.secs[".debug_info"]
	var out []uint64
	for off := uint64(0); off+4 <= uint64(len(info)); {
		n := uint64(binary.LittleEndian.Uint32(info[off:])) + 4
		if n == 0xffffffff+4 && off+12 <= uint64(len(info)) {
			n = binary.LittleEndian.Uint64(info[off+4:]) + 12
		}
		out = append(out, off)
		off += n
	}
	return out
}

// data returns a section's bytes: a slice of the mapping, or for a
// compressed section its decompressed copy.
func (f *File) data(s *elf.Section) ([]byte, error) {
	if s == nil || s.Type == elf.SHT_NOBITS {
		return nil, nil
	}
	if s.Flags&elf.SHF_COMPRESSED != 0 {
		// s.Size is what the section claims it decompresses to.
		if s.Size > maxSection {
			return nil, fmt.Errorf("compressed section %s claims %d bytes, more than %d", s.Name, s.Size, maxSection)
		}
		return s.Data()
	}
	b, ok := span(f.mm, s)
	if !ok {
		return nil, fmt.Errorf("section %s at offset %d runs past the end of the file", s.Name, s.Offset)
	}
	return b, nil
}

// maxSection bounds a compressed DWARF section, decompressed into
// memory: a distribution's vmlinux has some 300 MB of .debug_info.
const maxSection = 2 << 30

// span is a section's bytes in the mapping, false when the section lies
// past its end, checked without adding offset and size: a hostile
// header's sum wraps.
func span(mm []byte, s *elf.Section) ([]byte, bool) {
	if size := uint64(len(mm)); s.Offset > size || s.FileSize > size-s.Offset {
		return nil, false
	}
	return mm[s.Offset : s.Offset+s.FileSize], true
}

// Close unmaps the file.
func (f *File) Close() error {
	if f.mm == nil {
		return nil
	}
	err := unix.Munmap(f.mm)
	f.mm = nil
	return err
}

// BuildID is the hex GNU build-id, "" when the file has none.
func (f *File) BuildID() string { return f.buildID }

func readBuildID(ef *elf.File, mm []byte) string {
	for _, s := range ef.Sections {
		b, ok := span(mm, s)
		if s.Type != elf.SHT_NOTE || !ok {
			continue
		}
		if id := noteBuildID(b); id != "" {
			return id
		}
	}
	return ""
}

// noteBuildID is the hex of the NT_GNU_BUILD_ID note among the notes b
// holds (an SHT_NOTE section), "" without one.
func noteBuildID(b []byte) string {
	if id, ok := elfnote.Find(b, binary.LittleEndian, "GNU", 3); ok {
		return hex.EncodeToString(id)
	}
	return ""
}

// Symbol is one ELF symbol.
type Symbol struct {
	Name    string
	Addr    uint64
	Size    uint64
	Section int
}

// Lookup finds the address of name+off. When several symbols share the
// name (static functions of the same name in different files), the one
// whose length matches size (the kernel prints the distance to the next
// symbol, as kallsyms stores no sizes) is taken, as scripts/faddr2line
// does; size 0 takes the only one or fails.
func (f *File) Lookup(name string, off, size uint64) (uint64, error) {
	addrs, err := f.LookupAll(name, off, size)
	if err != nil {
		return 0, err
	}
	if len(addrs) > 1 {
		return 0, fmt.Errorf("symbol %s is ambiguous in %s: %d candidates of length %#x", name, f.Path, len(addrs), size)
	}
	return addrs[0], nil
}

// LookupAll is Lookup returning every candidate that fits: a static
// inline function emitted out of line in several units appears once per
// unit, often with the same length.
func (f *File) LookupAll(name string, off, size uint64) ([]uint64, error) {
	cands := f.symbols(name)
	if len(cands) == 0 {
		return nil, fmt.Errorf("no symbol %s in %s", name, f.Path)
	}
	var out, fit []uint64
	var lengths []string
	for _, c := range cands {
		// The length the kernel prints is the distance to the next
		// symbol (kallsyms), and a frame's offset lies within it (a
		// return address may end it exactly); as scripts/faddr2line
		// does, anything else is a frame of another build.
		n := f.length(c)
		if off <= n {
			fit = append(fit, c.Addr+off)
			if size == 0 || n == size {
				out = append(out, c.Addr+off)
			}
		}
		lengths = append(lengths, fmt.Sprintf("%#x", n))
	}
	// In a module (ET_REL) the kernel lays the sections out itself: the
	// last symbol of one runs to wherever the next section was put, a
	// length the file cannot know. The offset still has to fit.
	if len(out) == 0 && f.ef.Type == elf.ET_REL && len(fit) == 1 {
		out = fit
	}
	if len(out) == 0 {
		return nil, &MismatchError{Symbol: name, Off: off, Size: size, Lengths: lengths, Path: f.Path}
	}
	return out, nil
}

// MismatchError is a frame that no definition of its symbol can hold: its
// offset lies past the symbol's end, or its /LEN is not the symbol's
// length. The log is from another build than the file.
type MismatchError struct {
	Symbol    string
	Off, Size uint64
	Lengths   []string // of each definition in the file
	Path      string
}

func (e *MismatchError) Error() string {
	what := fmt.Sprintf("offset %#x", e.Off)
	if e.Size != 0 {
		what += fmt.Sprintf(" and length %#x", e.Size)
	}
	return fmt.Sprintf("mismatch: %s do not fit %s in %s, %s bytes long: the log is from another build", what, e.Symbol, e.Path, strings.Join(e.Lengths, " or "))
}

// Preload finds the symbols of all names in one pass over the symbol
// table (a vmlinux has 119,000 entries: one pass per frame would cost
// more than the DWARF lookups).
func (f *File) Preload(names []string) {
	want := map[string]bool{}
	for _, n := range names {
		if _, done := f.syms[n]; !done {
			want[n] = true
		}
	}
	if len(want) == 0 {
		return
	}
	if f.syms == nil {
		f.syms = map[string][]Symbol{}
	}
	for n := range want {
		f.syms[n] = nil
	}
	var addrs []uint64
	f.scan(func(name []byte) bool { return want[string(name)] }, func(s Symbol) {
		f.syms[s.Name] = append(f.syms[s.Name], s)
		addrs = append(addrs, s.Addr)
	})
	f.findNext(addrs)
}

// symbols returns name's functions and untyped text symbols, at distinct
// addresses.
func (f *File) symbols(name string) []Symbol {
	if s, ok := f.syms[name]; ok {
		return s
	}
	f.Preload([]string{name})
	return f.syms[name]
}

// scan calls found for each function or untyped symbol whose name match
// accepts, once per address.
func (f *File) scan(match func([]byte) bool, found func(Symbol)) {
	st := f.ef.Section(".symtab")
	strs := f.ef.Section(".strtab")
	if st == nil || strs == nil {
		return
	}
	tab, err1 := f.data(st)
	str, err2 := f.data(strs)
	if err1 != nil || err2 != nil {
		return
	}
	type key struct {
		name string
		addr uint64
	}
	seen := map[key]bool{}
	for i := 24; i+24 <= len(tab); i += 24 {
		e := tab[i : i+24]
		typ := elf.ST_TYPE(e[4])
		if typ != elf.STT_FUNC && typ != elf.STT_NOTYPE {
			continue
		}
		n := int(binary.LittleEndian.Uint32(e))
		if n >= len(str) {
			continue
		}
		end := bytes.IndexByte(str[n:], 0)
		if end < 0 || !match(str[n:n+end]) {
			continue
		}
		shndx := int(binary.LittleEndian.Uint16(e[6:]))
		if shndx == int(elf.SHN_UNDEF) {
			continue
		}
		s := Symbol{Name: string(str[n : n+end]), Addr: binary.LittleEndian.Uint64(e[8:]) + f.bases[shndx],
			Size: binary.LittleEndian.Uint64(e[16:]), Section: shndx}
		if k := (key{s.Name, s.Addr}); !seen[k] {
			seen[k] = true
			found(s)
		}
	}
}

// length is the distance from s to the next symbol address, kallsyms'
// notion of a symbol's size. The next addresses of every symbol Preload
// found are taken in one pass over the symbol table, without sorting its
// 120,000 addresses (that alone would double a decode's time); a symbol
// found otherwise gets a pass of its own.
func (f *File) length(s Symbol) uint64 {
	next, ok := f.next[s.Addr]
	if !ok {
		f.findNext([]uint64{s.Addr})
		next = f.next[s.Addr]
	}
	if next == 0 {
		return s.Size // the last symbol
	}
	return next - s.Addr
}

// findNext records, for each of addrs, the lowest symbol address above it
// (0 when there is none).
func (f *File) findNext(addrs []uint64) {
	if f.next == nil {
		f.next = map[uint64]uint64{}
	}
	addrs = slices.Clone(addrs)
	slices.Sort(addrs)
	addrs = slices.Compact(addrs)
	next := make([]uint64, len(addrs))
	st, _ := f.data(f.ef.Section(".symtab"))
	for i := 24; i+24 <= len(st); i += 24 {
		e := st[i : i+24]
		typ := elf.ST_TYPE(e[4])
		shndx := int(binary.LittleEndian.Uint16(e[6:]))
		if (typ != elf.STT_FUNC && typ != elf.STT_NOTYPE && typ != elf.STT_OBJECT) || shndx == int(elf.SHN_UNDEF) || shndx >= int(elf.SHN_LORESERVE) {
			continue
		}
		a := binary.LittleEndian.Uint64(e[8:]) + f.bases[shndx]
		// Only the highest wanted address below a can have a as its next
		// symbol: any lower one has that wanted symbol in between.
		j := sort.Search(len(addrs), func(k int) bool { return addrs[k] >= a }) - 1
		if j >= 0 && (next[j] == 0 || a < next[j]) {
			next[j] = a
		}
	}
	for i, a := range addrs {
		f.next[a] = next[i]
	}
}

// notELF says what a file given as a vmlinux is instead, from its first
// bytes: a kernel image (a bzImage's "HdrS" at 0x202, an arm64 Image's
// "ARM\x64" at 0x38) is the common mistake, and the vmlinux is beside it.
func notELF(head []byte) error {
	if len(head) >= 0x206 && string(head[0x202:0x206]) == "HdrS" || len(head) >= 0x3c && string(head[0x38:0x3c]) == "ARM\x64" {
		return errors.New("a kernel image, not its vmlinux: give the vmlinux with DWARF (the build tree's, or the -dbg package's: initkit kernel fetch --debug-info)")
	}
	return errors.New("not an ELF file (a vmlinux with DWARF, or a module)")
}
