package vmcore

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// x86-64 kernel addresses (Documentation/arch/x86/x86_64/mm.rst): the
// kernel image is mapped at __START_KERNEL_map, where a symbol's
// physical address is its address less the map's start plus phys_base
// (__pa_symbol); everything else (the direct map, vmalloc, percpu) goes
// through the page tables, walked from init_top_pgt.
const (
	startKernelMap = 0xffffffff80000000
	kernelMapSize  = 1 << 30
	pteAddrMask    = 0x000ffffffffff000
	ptePresent     = 1
	ptePageSize    = 1 << 7
)

// ErrNoInfo is returned when reading needs VMCOREINFO the dump lacks.
var ErrNoInfo = errors.New("the dump holds no VMCOREINFO (for QEMU's dumps: boot with -device vmcoreinfo and the qemu_fw_cfg module loaded)")

// Phys translates a kernel virtual address to a physical one.
func (v *File) Phys(vaddr uint64) (uint64, error) {
	if v.Info == nil {
		return 0, ErrNoInfo
	}
	if v.Arch == "aarch64" {
		return v.physARM64(vaddr)
	}
	if vaddr >= startKernelMap && vaddr < startKernelMap+kernelMapSize {
		return vaddr - startKernelMap + uint64(v.Info.Numbers["phys_base"]), nil
	}
	top, ok := v.Info.Symbols["init_top_pgt"]
	if !ok {
		return 0, fmt.Errorf("VMCOREINFO has no SYMBOL(init_top_pgt): cannot walk the page tables for %#x", vaddr)
	}
	if top < startKernelMap || top >= startKernelMap+kernelMapSize {
		// The kernel's own page table is a symbol of the kernel image:
		// anywhere else it would need the page tables to find.
		return 0, fmt.Errorf("VMCOREINFO's SYMBOL(init_top_pgt)=%#x is outside the kernel map", top)
	}
	table := top - startKernelMap + uint64(v.Info.Numbers["phys_base"])
	levels := []uint{39, 30, 21, 12}
	if v.Info.Numbers["pgtable_l5_enabled"] == 1 {
		levels = append([]uint{48}, levels...)
	}
	var e [8]byte
	for i, shift := range levels {
		at := table + (vaddr>>shift&511)*8
		if err := v.ReadPhys(e[:], at); err != nil {
			return 0, fmt.Errorf("page table entry for %#x at %#x: %w", vaddr, at, err)
		}
		pte := binary.LittleEndian.Uint64(e[:])
		if pte&ptePresent == 0 {
			return 0, &AddrError{Addr: vaddr, Virtual: true}
		}
		last := i == len(levels)-1
		if !last && pte&ptePageSize != 0 && (shift == 30 || shift == 21) {
			mask := uint64(1)<<shift - 1
			return pte&pteAddrMask&^mask | vaddr&mask, nil
		}
		table = pte & pteAddrMask
	}
	return table | vaddr&0xfff, nil
}

// ReadVirt reads len(p) bytes at a kernel virtual address.
func (v *File) ReadVirt(p []byte, vaddr uint64) error {
	for len(p) > 0 {
		n := min(uint64(len(p)), 4096-vaddr%4096)
		pa, err := v.Phys(vaddr)
		if err != nil {
			return err
		}
		if err := v.ReadPhys(p[:n], pa); err != nil {
			return fmt.Errorf("reading %#x (physical %#x): %w", vaddr, pa, err)
		}
		p, vaddr = p[n:], vaddr+n
	}
	return nil
}

func (v *File) u64(vaddr uint64) (uint64, error) {
	var b [8]byte
	err := v.ReadVirt(b[:], vaddr)
	return binary.LittleEndian.Uint64(b[:]), err
}

func (v *File) u32(vaddr uint64) (uint32, error) {
	var b [4]byte
	err := v.ReadVirt(b[:], vaddr)
	return binary.LittleEndian.Uint32(b[:]), err
}
