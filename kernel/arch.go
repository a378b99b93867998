package kernel

import (
	"debug/elf"
	"os"
)

// ImageArch says which architecture a kernel image is for, in QEMU's
// names: "x86_64" for a bzImage (the boot protocol's "HdrS" at 0x202,
// Documentation/arch/x86/boot.rst) or an x86-64 ELF vmlinux, "aarch64"
// for an arm64 Image (the magic "ARM\x64" at 0x38 of its header,
// Documentation/arch/arm64/booting.rst) or an arm64 ELF; "" when the
// image does not say (an Image.gz, an EFI zboot image, not a kernel).
func ImageArch(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	hdr := make([]byte, 0x206)
	n, _ := f.ReadAt(hdr, 0)
	hdr = hdr[:n]
	switch {
	case len(hdr) >= 0x206 && string(hdr[0x202:0x206]) == "HdrS":
		return "x86_64"
	case len(hdr) >= 0x3c && string(hdr[0x38:0x3c]) == "ARM\x64":
		return "aarch64"
	}
	if ef, err := elf.NewFile(f); err == nil {
		switch ef.Machine {
		case elf.EM_X86_64:
			return "x86_64"
		case elf.EM_AARCH64:
			return "aarch64"
		}
	}
	return ""
}
