package vmcore

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"sort"
)

// notesMax bounds the notes of a core: a CPU's are some 300 bytes, and
// VMCOREINFO a page.
const notesMax = 16 << 20

// segment is a PT_LOAD: physical [paddr, paddr+filesz) at file offset off.
type segment struct {
	paddr, filesz uint64
	off           int64
}

type elfMemory struct {
	v    *File
	segs []segment // by paddr
}

// openELF reads the program headers of an ELF core: its PT_LOADs (by
// physical address: /proc/vmcore and QEMU both fill p_paddr) and its
// notes (VMCOREINFO, NT_PRSTATUS).
func (v *File) openELF() error {
	ef, err := elf.NewFile(v.r)
	if err != nil {
		return &FormatError{v.Name, 0, "ELF: " + err.Error()}
	}
	if ef.Type != elf.ET_CORE {
		return &FormatError{v.Name, 16, fmt.Sprintf("an ELF %s, not a core dump", ef.Type)}
	}
	switch {
	case ef.Class == elf.ELFCLASS64 && ef.Machine == elf.EM_X86_64:
		v.Arch = "x86_64"
	case ef.Class == elf.ELFCLASS64 && ef.Machine == elf.EM_AARCH64 && ef.Data == elf.ELFDATA2LSB:
		v.Arch = "aarch64"
	default:
		return &FormatError{v.Name, 4, fmt.Sprintf("a %s %s core: only x86-64 and arm64 dumps are read", ef.Class, ef.Machine)}
	}
	size := v.size()
	m := &elfMemory{v: v}
	// Notes are read once however many program headers name them, and
	// no more of them than the file holds and notesMax.
	seen := map[[2]uint64]bool{}
	var notes uint64
	for i, p := range ef.Progs {
		switch p.Type {
		case elf.PT_LOAD:
			if p.Filesz == 0 {
				continue
			}
			if p.Paddr+p.Filesz < p.Paddr {
				return &FormatError{v.Name, int64(p.Off), fmt.Sprintf("program header %d: %d bytes at physical address %#x run past the end of the address space", i, p.Filesz, p.Paddr)}
			}
			if int64(p.Off) < 0 || int64(p.Off+p.Filesz) > size || p.Off+p.Filesz < p.Off {
				return &FormatError{v.Name, int64(p.Off), fmt.Sprintf("program header %d: %d bytes at offset %d, past the end of the file (%d bytes): truncated?", i, p.Filesz, p.Off, size)}
			}
			m.segs = append(m.segs, segment{paddr: p.Paddr, filesz: p.Filesz, off: int64(p.Off)})
		case elf.PT_NOTE:
			if seen[[2]uint64{p.Off, p.Filesz}] {
				continue
			}
			seen[[2]uint64{p.Off, p.Filesz}] = true
			if notes += p.Filesz; int64(p.Off+p.Filesz) > size || p.Off+p.Filesz < p.Off || int64(p.Filesz) > v.real || notes > notesMax {
				return &FormatError{v.Name, int64(p.Off), fmt.Sprintf("notes of %d bytes at offset %d, past the end of the file or more than a dump has", p.Filesz, p.Off)}
			}
			buf := make([]byte, p.Filesz)
			if err := v.readAt(buf, int64(p.Off), "notes"); err != nil {
				return err
			}
			if err := v.notes(buf, int64(p.Off)); err != nil {
				return err
			}
		}
	}
	if len(m.segs) == 0 {
		return &FormatError{v.Name, 32, "no memory in the core (no PT_LOAD among its program headers)"}
	}
	sort.Slice(m.segs, func(i, j int) bool { return m.segs[i].paddr < m.segs[j].paddr })
	v.mem = m
	return nil
}

// notes walks ELF notes (name size, desc size, type, name and desc, each
// padded to 4 bytes), taking VMCOREINFO and counting NT_PRSTATUS.
func (v *File) notes(b []byte, base int64) error {
	for off := 0; off+12 <= len(b); {
		namesz := int(binary.LittleEndian.Uint32(b[off:]))
		descsz := int(binary.LittleEndian.Uint32(b[off+4:]))
		typ := binary.LittleEndian.Uint32(b[off+8:])
		nameAt := off + 12
		descAt := nameAt + align4(namesz)
		end := descAt + align4(descsz)
		if namesz < 0 || descsz < 0 || descAt > len(b) || descAt+descsz > len(b) {
			return &FormatError{v.Name, base + int64(off), fmt.Sprintf("a note of %d+%d bytes runs past its segment", namesz, descsz)}
		}
		name := string(trimNUL(b[nameAt : nameAt+namesz]))
		switch {
		case name == "VMCOREINFO":
			info, err := ParseInfo(b[descAt : descAt+descsz])
			if err != nil {
				return fmt.Errorf("%s: offset %d: VMCOREINFO: %w", v.Name, base+int64(descAt), err)
			}
			v.Info = info
		case name == "CORE" && elf.NType(typ) == elf.NT_PRSTATUS:
			v.CPUs++
		}
		if namesz == 0 && descsz == 0 && typ == 0 {
			break // padding
		}
		off = end
	}
	return nil
}

func align4(n int) int { return (n + 3) &^ 3 }

func trimNUL(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}

func (m *elfMemory) readPhys(p []byte, addr uint64) error {
	for len(p) > 0 {
		i := sort.Search(len(m.segs), func(i int) bool { return m.segs[i].paddr+m.segs[i].filesz > addr })
		if i == len(m.segs) || m.segs[i].paddr > addr {
			return &AddrError{Addr: addr}
		}
		s := m.segs[i]
		n := min(uint64(len(p)), s.paddr+s.filesz-addr)
		if err := m.v.readAt(p[:n], s.off+int64(addr-s.paddr), "memory"); err != nil {
			return err
		}
		p, addr = p[n:], addr+n
	}
	return nil
}

// backed reports whether the file holds any byte of [addr, addr+n): a
// flattened stream may place nothing there, and its zeros are not worth
// reading.
func (m *elfMemory) backed(addr, n uint64) bool {
	fr, ok := m.v.r.(*flatReader)
	if !ok {
		return true
	}
	i := sort.Search(len(m.segs), func(i int) bool { return m.segs[i].paddr+m.segs[i].filesz > addr })
	if i == len(m.segs) || m.segs[i].paddr > addr {
		return false
	}
	s := m.segs[i]
	return fr.covers(s.off+int64(addr-s.paddr), int64(min(n, s.paddr+s.filesz-addr)))
}

func (m *elfMemory) ranges() [][2]uint64 {
	var r [][2]uint64
	for _, s := range m.segs {
		r = append(r, [2]uint64{s.paddr, s.paddr + s.filesz})
	}
	return r
}
