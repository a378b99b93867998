package vmcore

import "fmt"

// physARM64 translates an arm64 kernel address without the page tables
// (arch/arm64/include/asm/memory.h, the layout since 5.4): the linear
// map is the bottom half of the kernel's space, from PAGE_OFFSET =
// -(1 << VA_BITS) to _PAGE_END = -(1 << (VA_BITS-1)), where a physical
// address is the address less PAGE_OFFSET plus PHYS_OFFSET
// (__lm_to_phys); the kernel image is mapped above it, where it is the
// address less kimage_voffset (__kimg_to_phys). VMCOREINFO carries the
// three (arch/arm64/kernel/crash_core.c). The printk ring buffer lives
// in one or the other; a vmalloc address, above _PAGE_END too, would
// need the page tables and reads as the image's would, wrongly: such an
// address is never read here.
func (v *File) physARM64(vaddr uint64) (uint64, error) {
	bits, ok := v.Info.Numbers["VA_BITS"]
	if !ok || bits < 36 || bits > 52 {
		return 0, fmt.Errorf("VMCOREINFO has no NUMBER(VA_BITS) of 36 to 52 (%d): cannot translate %#x", bits, vaddr)
	}
	voff, ok1 := v.Info.Numbers["kimage_voffset"]
	physOff, ok2 := v.Info.Numbers["PHYS_OFFSET"]
	if !ok1 || !ok2 {
		return 0, fmt.Errorf("VMCOREINFO lacks NUMBER(kimage_voffset) or NUMBER(PHYS_OFFSET): cannot translate %#x", vaddr)
	}
	pageOffset := -(uint64(1) << bits)
	pageEnd := -(uint64(1) << (bits - 1))
	switch {
	case vaddr >= pageOffset && vaddr < pageEnd:
		return vaddr - pageOffset + uint64(physOff), nil
	case vaddr >= pageEnd:
		return vaddr - uint64(voff), nil
	}
	return 0, &AddrError{Addr: vaddr, Virtual: true}
}
