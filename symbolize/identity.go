package symbolize

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"os"
)

// Identity names one kernel build: its GNU build-id (the NT_GNU_BUILD_ID
// note, which a vmcore's VMCOREINFO and a crash's "Build ID" repeat) and
// its release, as the banner linux_banner (init/version.c) prints it.
type Identity struct {
	BuildID string `json:"build_id,omitempty"` // hex; "" when the file has none
	Release string `json:"release,omitempty"`  // uname -r; "" when the banner is not found
}

// Identify reads the identity of an ELF file (a vmlinux, a module)
// without its DWARF: its notes and its .rodata alone.
func Identify(path string) (Identity, error) {
	f, err := os.Open(path)
	if err != nil {
		return Identity{}, err
	}
	defer f.Close()
	head := make([]byte, 0x206)
	n, _ := io.ReadFull(f, head)
	if !bytes.HasPrefix(head[:n], []byte(elf.ELFMAG)) {
		return Identity{}, fmt.Errorf("%s: %w", path, notELF(head[:n]))
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		return Identity{}, fmt.Errorf("%s: %w", path, err)
	}
	var id Identity
	for _, s := range ef.Sections {
		if s.Type == elf.SHT_NOTE && id.BuildID == "" {
			if b, err := io.ReadAll(io.LimitReader(s.Open(), 1<<20)); err == nil {
				id.BuildID = noteBuildID(b)
			}
		}
	}
	if s := ef.Section(".rodata"); s != nil && s.Type != elf.SHT_NOBITS {
		if b, err := s.Data(); err == nil {
			id.Release = bannerRelease(b)
		}
	}
	return id, nil
}

// bannerRelease finds "Linux version RELEASE " in b.
func bannerRelease(b []byte) string {
	i := bytes.Index(b, []byte("Linux version "))
	if i < 0 {
		return ""
	}
	rest := b[i+len("Linux version "):]
	if j := bytes.IndexAny(rest, " \x00"); j > 0 && ValidRelease(string(rest[:j])) {
		return string(rest[:j])
	}
	return ""
}

// ValidRelease reports whether s can be a kernel release (uname -r):
// 1 to 64 printable ASCII characters (utsname's release field holds 65
// with its NUL), no '/', and neither "." nor "..". A release read from an
// image, a vmlinux or a build tree becomes a path (/lib/modules/RELEASE),
// and these are untrusted: "../../home" is no release.
func ValidRelease(s string) bool {
	if s == "" || len(s) > 64 || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' || c == '/' {
			return false
		}
	}
	return true
}
