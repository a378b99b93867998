// Package machine names the architectures initkit boots, once: QEMU's
// names (x86_64, aarch64) are initkit's, and each has its ELF machine,
// its Go GOARCH and its Debian architecture.
package machine

import (
	"debug/elf"
	"runtime"
)

// Arch is one architecture initkit boots.
type Arch struct {
	Name   string      // QEMU's: x86_64, aarch64
	ELF    elf.Machine // e_machine of its programs
	GOARCH string      // Go's: amd64, arm64
	Debian string      // Debian's: amd64, arm64
}

// Arches are the architectures initkit boots.
var Arches = []Arch{
	{Name: "x86_64", ELF: elf.EM_X86_64, GOARCH: "amd64", Debian: "amd64"},
	{Name: "aarch64", ELF: elf.EM_AARCH64, GOARCH: "arm64", Debian: "arm64"},
}

// Lookup finds an architecture by any of its names (aarch64 or arm64).
func Lookup(name string) (Arch, bool) {
	for _, a := range Arches {
		if name == a.Name || name == a.GOARCH || name == a.Debian {
			return a, true
		}
	}
	return Arch{}, false
}

// ByELF finds an architecture by its programs' ELF machine.
func ByELF(m elf.Machine) (Arch, bool) {
	for _, a := range Arches {
		if a.ELF == m {
			return a, true
		}
	}
	return Arch{}, false
}

// Host is the host's architecture: what exec's programs, initkit's own
// init and the host's crash(8) are built for.
func Host() Arch {
	a, ok := Lookup(runtime.GOARCH)
	if !ok {
		return Arches[0]
	}
	return a
}

// Name names an ELF machine as initkit does (x86_64, aarch64), or as
// debug/elf does one initkit does not boot.
func Name(m elf.Machine) string {
	if a, ok := ByELF(m); ok {
		return a.Name
	}
	return m.String()
}
