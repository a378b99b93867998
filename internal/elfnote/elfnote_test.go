package elfnote

import (
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"os/exec"
	"regexp"
	"testing"
)

// The build-id of a program on the host, found in its .note.gnu.build-id
// section, is the one readelf -n prints.
func TestBuildIDMatchesReadelf(t *testing.T) {
	f, err := elf.Open("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got string
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NOTE {
			continue
		}
		b, err := s.Data()
		if err != nil {
			t.Fatal(err)
		}
		if desc, ok := Find(b, f.ByteOrder, "GNU", 3); ok {
			got = hex.EncodeToString(desc)
			break
		}
	}
	out, err := exec.Command("readelf", "-n", "/bin/true").Output()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`Build ID: ([0-9a-f]+)`).FindSubmatch(out)
	if m == nil || got != string(m[1]) {
		t.Errorf("build-id %q, readelf's %q", got, m)
	}
}

// Notes are walked past others, a name must match whole, and a note cut
// short ends the search.
func TestFind(t *testing.T) {
	note := func(name string, typ uint32, desc ...byte) []byte {
		b := binary.LittleEndian.AppendUint32(nil, uint32(len(name)+1))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(desc)))
		b = binary.LittleEndian.AppendUint32(b, typ)
		b = append(b, name...)
		for b = append(b, 0); len(b)%4 != 0; {
			b = append(b, 0)
		}
		for b = append(b, desc...); len(b)%4 != 0; {
			b = append(b, 0)
		}
		return b
	}
	b := append(append(note("Linux", 18, 1, 2), note("Xe", 18, 3)...), note("Xen", 18, 4, 5, 6, 7)...)
	if desc, ok := Find(b, binary.LittleEndian, "Xen", 18); !ok || hex.EncodeToString(desc) != "04050607" {
		t.Errorf("Xen 18: %x %v", desc, ok)
	}
	if _, ok := Find(b, binary.LittleEndian, "Xen", 3); ok {
		t.Error("Xen 3 found")
	}
	if _, ok := Find(b[:len(b)-1], binary.LittleEndian, "Xen", 18); ok {
		t.Error("found in a note cut short")
	}
}
