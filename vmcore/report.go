package vmcore

import (
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
)

// PanicLine is the last "Kernel panic - not syncing" message of the log,
// or "" when the kernel did not panic.
func PanicLine(recs []Record) string {
	for i := len(recs) - 1; i >= 0; i-- {
		if strings.Contains(recs[i].Text, "Kernel panic - not syncing") {
			return strings.TrimSpace(recs[i].Text)
		}
	}
	return ""
}

// CheckVmlinux says whether vmlinux is the kernel that wrote the dump:
// its GNU build-id against VMCOREINFO's BUILD-ID, else its banner's
// release against OSRELEASE.
func (v *File) CheckVmlinux(vmlinux string) error {
	if v.Info == nil {
		return ErrNoInfo
	}
	f, err := elf.Open(vmlinux)
	if err != nil {
		return err
	}
	defer f.Close()
	if id := buildID(f); id != "" && v.Info.BuildID != "" {
		if !strings.EqualFold(id, v.Info.BuildID) {
			return fmt.Errorf("%s is not the kernel of %s: its build-id is %s, the dump's %s (release %s)", vmlinux, v.Name, id, v.Info.BuildID, v.Info.Release)
		}
		return nil
	}
	if s := f.Section(".rodata"); s != nil {
		if b, err := s.Data(); err == nil {
			want := "Linux version " + v.Info.Release + " "
			if !strings.Contains(string(b), want) {
				return fmt.Errorf("%s is not the kernel of %s: its banner lacks %q", vmlinux, v.Name, strings.TrimSpace(want))
			}
		}
	}
	return nil
}

// buildID is the hex of the NT_GNU_BUILD_ID note of f, "" without one.
func buildID(f *elf.File) string {
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NOTE {
			continue
		}
		b, err := s.Data()
		if err != nil {
			continue
		}
		for len(b) >= 12 {
			namesz, descsz, typ := int(binary.LittleEndian.Uint32(b)), int(binary.LittleEndian.Uint32(b[4:])), binary.LittleEndian.Uint32(b[8:])
			desc := 12 + align4(namesz)
			if desc+descsz > len(b) {
				break
			}
			if typ == 3 && string(trimNUL(b[12:12+namesz])) == "GNU" {
				return hex.EncodeToString(b[desc : desc+descsz])
			}
			b = b[desc+align4(descsz):]
		}
	}
	return ""
}
