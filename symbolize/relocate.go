package symbolize

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
)

// A module (.ko, ET_REL) has every section at address 0, and its DWARF
// refers to code through relocations against section symbols: applied as
// they are, the line tables of .text, .init.text and .text.unlikely
// overlap. Each allocated section is given its own base
// here and the relocations of the debug sections are applied with those
// bases, so that a module address is unique: base of the section + offset.

// moduleBases lays the allocated sections out one after another.
func moduleBases(ef *elf.File) map[int]uint64 {
	bases := map[int]uint64{}
	next := uint64(0x1000)
	for i, s := range ef.Sections {
		if s.Flags&elf.SHF_ALLOC == 0 || s.Size == 0 {
			continue
		}
		align := s.Addralign
		if align < 16 {
			align = 16
		}
		next = (next + align - 1) &^ (align - 1)
		bases[i] = next
		next += s.Size
	}
	return bases
}

// relocated returns a copy of debug section s with its RELA relocations
// applied against the section bases (x86-64: R_X86_64_64, _32, _32S).
func (f *File) relocated(s *elf.Section) ([]byte, error) {
	if f.bases == nil {
		f.bases = moduleBases(f.ef)
	}
	raw, err := s.Data()
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), raw...)
	idx := -1
	for i, t := range f.ef.Sections {
		if t == s {
			idx = i
		}
	}
	symtab := f.ef.Section(".symtab")
	if symtab == nil {
		return out, nil
	}
	syms, err := symtab.Data()
	if err != nil {
		return nil, err
	}
	for _, r := range f.ef.Sections {
		if r.Type != elf.SHT_RELA || int(r.Info) != idx {
			continue
		}
		rel, err := r.Data()
		if err != nil {
			return nil, err
		}
		for i := 0; i+24 <= len(rel); i += 24 {
			off := binary.LittleEndian.Uint64(rel[i:])
			info := binary.LittleEndian.Uint64(rel[i+8:])
			addend := int64(binary.LittleEndian.Uint64(rel[i+16:]))
			sym := int(info >> 32)
			if (sym+1)*24 > len(syms) {
				return nil, fmt.Errorf("%s: relocation %d names symbol %d of %d", r.Name, i/24, sym, len(syms)/24)
			}
			e := syms[sym*24:]
			value := binary.LittleEndian.Uint64(e[8:]) + f.bases[int(binary.LittleEndian.Uint16(e[6:]))]
			v := uint64(int64(value) + addend)
			// off is compared with what is left, never added to: a
			// hostile offset near 2^64 wraps.
			switch elf.R_X86_64(info & 0xffffffff) {
			case elf.R_X86_64_64:
				if len(out) >= 8 && off <= uint64(len(out)-8) {
					binary.LittleEndian.PutUint64(out[off:], v)
				}
			case elf.R_X86_64_32, elf.R_X86_64_32S:
				if len(out) >= 4 && off <= uint64(len(out)-4) {
					binary.LittleEndian.PutUint32(out[off:], uint32(v))
				}
			}
		}
	}
	return out, nil
}
