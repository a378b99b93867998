package kernel

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/initkit/initkit/compress"
	"github.com/initkit/initkit/image"
	"github.com/initkit/initkit/internal/elfnote"
	"github.com/initkit/initkit/internal/machine"
)

// HostArch is the host's architecture in QEMU's names: what exec's
// programs, initkit's own init and the host's crash(8) are built for.
func HostArch() string { return machine.Host().Name }

// ImageArch says which architecture a kernel image is for, in QEMU's
// names: "x86_64" for a bzImage (the boot protocol's "HdrS" at 0x202,
// Documentation/arch/x86/boot.rst) or an x86-64 ELF vmlinux, "aarch64"
// for an arm64 Image (the magic "ARM\x64" at 0x38 of its header,
// Documentation/arch/arm64/booting.rst), an arm64 ELF, or an Image
// wrapped as Image.gz or EFI zboot (imageData opens them: the header is
// the payload's); "" when the image does not say (not a kernel).
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
		return ""
	}
	return wrappedArch(f)
}

// wrappedArch is "aarch64" for an arm64 Image inside an Image.gz or an
// EFI zboot image: the first 64 bytes of its payload hold the Image's
// header.
func wrappedArch(f *os.File) string {
	r, stop, err := imageData(f)
	if err != nil {
		return ""
	}
	defer stop()
	h := make([]byte, 0x40)
	if _, err := io.ReadFull(r, h); err == nil && string(h[0x38:0x3c]) == "ARM\x64" {
		return "aarch64"
	}
	return ""
}

// Bootable refuses a file QEMU's -kernel could not boot, saying what it
// is instead: an initramfs given as the kernel (the two swapped), a disk,
// a program. Accepted beside what ImageArch knows are the kernels it
// cannot place: a PE image ("MZ"), a U-Boot uImage (magic 0x27051956)
// and an ELF of another machine. Without this QEMU says "linux kernel
// too old to load a ram disk" of any file.
func Bootable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, 1200)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && err != io.EOF {
		return err
	}
	head = head[:n]
	if bytes.HasPrefix(head, []byte("\x7fELF")) {
		return elfKernel(f)
	}
	if ImageArch(path) != "" {
		return nil
	}
	switch {
	case n == 0:
		return errors.New("an empty file, not a kernel image")
	case bytes.HasPrefix(head, []byte("MZ")), bytes.HasPrefix(head, []byte{0x27, 0x05, 0x19, 0x56}):
		return nil
	}
	switch c := compress.Detect(head); c {
	case compress.None:
		return errors.New("a cpio archive (an initramfs: give it as the initrd), not a kernel image")
	case compress.Unknown:
	default:
		return fmt.Errorf("%s-compressed data (an initramfs? give it as the initrd), not a kernel image", c)
	}
	if kind := image.Describe(head); kind != "" {
		return fmt.Errorf("%s, not a kernel image", kind)
	}
	return fmt.Errorf("not a kernel image (a bzImage, an arm64 Image or an ELF vmlinux): bytes % x", head[:min(n, 6)])
}

// ChooseBootable is Choose for a kernel about to boot: a file that is
// no kernel (an initramfs given as one, a disk) is refused, named with
// where it was chosen from (Bootable).
func ChooseBootable(ctx context.Context, req Request) (*Choice, error) {
	c, err := Choose(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := Bootable(c.Image); err != nil {
		return nil, fmt.Errorf("kernel %s (from %s): %w", c.Image, c.From, err)
	}
	return c, nil
}

// elfKernel refuses an ELF file that is a program: one with an
// interpreter (PT_INTERP), such as /bin/ls, which no vmlinux has; and an
// x86-64 vmlinux QEMU cannot boot, one with no PVH entry (QEMU's
// "Error loading uncompressed kernel without PVH ELF Note").
func elfKernel(f *os.File) error {
	ef, err := elf.NewFile(f)
	if err != nil {
		return fmt.Errorf("a damaged ELF file, not a kernel image: %w", err)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("an ELF program (it has an interpreter), not a kernel image")
		}
	}
	return elfUnbootable(ef)
}

// elfUnbootable says why QEMU cannot boot a vmlinux: an x86-64 one boots
// only through a PVH entry (without one QEMU says "Error loading
// uncompressed kernel without PVH ELF Note"), and an arm64 one not at all
// (QEMU loads it at its link addresses, and the guest stays silent).
func elfUnbootable(ef *elf.File) error {
	switch {
	case ef.Machine == elf.EM_X86_64 && !hasPVHEntry(ef):
		return errors.New("an x86-64 vmlinux without a PVH entry (CONFIG_PVH): QEMU boots an ELF kernel only through it; give the bzImage (arch/x86/boot/bzImage), or the build directory")
	case ef.Machine == elf.EM_AARCH64:
		return errors.New("an arm64 vmlinux: QEMU cannot boot it; give the Image (arch/arm64/boot/Image), or the build directory")
	}
	return nil
}

// unbootableELF says whether path is a vmlinux QEMU cannot boot.
func unbootableELF(path string) bool {
	ef, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer ef.Close()
	return elfUnbootable(ef) != nil
}

// hasPVHEntry says whether an x86 vmlinux has the note QEMU boots an ELF
// kernel through: XEN_ELFNOTE_PHYS32_ENTRY (18) of owner "Xen", which
// CONFIG_PVH adds (arch/x86/platform/pvh/head.S).
func hasPVHEntry(ef *elf.File) bool {
	for _, p := range ef.Progs {
		if p.Type != elf.PT_NOTE || p.Filesz > 1<<20 {
			continue
		}
		data := make([]byte, p.Filesz)
		if _, err := p.ReadAt(data, 0); err != nil {
			continue
		}
		if _, ok := elfnote.Find(data, ef.ByteOrder, "Xen", 18); ok {
			return true
		}
	}
	return false
}
