// Package elfnote finds a note among the notes of an ELF section or
// segment: name size, desc size and type, then the name and the desc,
// each padded to 4 bytes (the System V ABI's note format; the kernel's
// own notes, include/linux/elfnote.h, are laid out alike).
package elfnote

import "encoding/binary"

// Find returns the desc of the first note of type typ named name (its
// bytes without the NUL that ends them) among the notes b holds, and
// whether there is one. A note that runs past b ends the search.
func Find(b []byte, bo binary.ByteOrder, name string, typ uint32) ([]byte, bool) {
	for len(b) >= 12 {
		nsz, dsz, t := bo.Uint32(b), bo.Uint32(b[4:]), bo.Uint32(b[8:])
		nameEnd := 12 + align4(nsz)
		descEnd := nameEnd + align4(dsz)
		if descEnd > uint64(len(b)) {
			break
		}
		if t == typ && uint64(nsz) == uint64(len(name))+1 && string(b[12:12+len(name)]) == name {
			return b[nameEnd : nameEnd+uint64(dsz)], true
		}
		b = b[descEnd:]
	}
	return nil, false
}

func align4(n uint32) uint64 { return (uint64(n) + 3) &^ 3 }
