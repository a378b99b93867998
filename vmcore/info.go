package vmcore

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Info is VMCOREINFO: KEY=VALUE lines the kernel writes for dump readers
// (kernel/crash_core.c, kernel/printk/printk.c, arch/x86/kernel/crash.c
// and machine_kexec_64.c): the release, the page size, the addresses of
// symbols (SYMBOL(name), already relocated by KASLR), structure sizes
// (SIZE(name)), member offsets (OFFSET(struct.member)), NUMBER(name)
// constants, and the crash time.
type Info struct {
	Release      string
	BuildID      string
	PageSize     int64
	KernelOffset uint64    // KERNELOFFSET: the KASLR slide
	CrashTime    time.Time // zero for a dump not taken on a crash (QEMU's)
	Symbols      map[string]uint64
	Sizes        map[string]int64
	Offsets      map[string]int64
	Numbers      map[string]int64
	Raw          map[string]string
}

// MaxInfo bounds a VMCOREINFO text: the kernel's is one page
// (VMCOREINFO_BYTES, kernel/crash_core.c).
const MaxInfo = 64 << 10

// maxTime is the last second a JSON time can say (9999-12-31).
const maxTime = 253402300799

// ParseInfo parses a VMCOREINFO text.
func ParseInfo(b []byte) (*Info, error) {
	if len(trimNUL(b)) > MaxInfo {
		return nil, fmt.Errorf("%d bytes: a VMCOREINFO is at most %d", len(trimNUL(b)), MaxInfo)
	}
	in := &Info{Symbols: map[string]uint64{}, Sizes: map[string]int64{}, Offsets: map[string]int64{}, Numbers: map[string]int64{}, Raw: map[string]string{}}
	for _, line := range strings.Split(string(trimNUL(b)), "\n") {
		k, val, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		in.Raw[k] = val
		name, kind := "", ""
		if i := strings.IndexByte(k, '('); i > 0 && strings.HasSuffix(k, ")") {
			kind, name = k[:i], k[i+1:len(k)-1]
		}
		var err error
		switch kind {
		case "SYMBOL":
			in.Symbols[name], err = strconv.ParseUint(val, 16, 64)
		case "SIZE":
			in.Sizes[name], err = strconv.ParseInt(val, 10, 64)
		case "OFFSET":
			in.Offsets[name], err = strconv.ParseInt(val, 10, 64)
		case "NUMBER":
			in.Numbers[name], err = parseNumber(val)
		}
		if err != nil {
			return nil, fmt.Errorf("line %q: %v", line, err)
		}
		switch k {
		case "OSRELEASE":
			in.Release = val
		case "BUILD-ID":
			in.BuildID = val
		case "PAGESIZE":
			in.PageSize, err = strconv.ParseInt(val, 10, 64)
		case "KERNELOFFSET":
			in.KernelOffset, err = strconv.ParseUint(val, 16, 64)
		case "CRASHTIME":
			// A time no clock gives stays unknown (the raw value is in
			// Raw): it would not even print as JSON. 0 is a time: a
			// kernel without an RTC driver crashing in its first second.
			var t int64
			if t, err = strconv.ParseInt(val, 10, 64); err == nil && t >= 0 && t <= maxTime {
				in.CrashTime = time.Unix(t, 0).UTC()
			}
		}
		if err != nil {
			return nil, fmt.Errorf("line %q: %v", line, err)
		}
	}
	if in.Release == "" {
		return nil, fmt.Errorf("no OSRELEASE")
	}
	return in, nil
}

// parseNumber reads a NUMBER(name) value: decimal or 0x-hex, or hex
// without 0x (phys_base on some kernels); one above the int64s, such as
// arm64's kimage_voffset (0xffff7fff...), keeps its 64 bits.
func parseNumber(val string) (int64, error) {
	for _, base := range []int{0, 16} {
		if n, err := strconv.ParseInt(val, base, 64); err == nil {
			return n, nil
		}
		if u, err := strconv.ParseUint(val, base, 64); err == nil {
			return int64(u), nil
		}
	}
	return 0, fmt.Errorf("NUMBER %q: not a number", val)
}

// findInfo looks for VMCOREINFO in the dump's memory, for a dump whose
// writer did not add the note (QEMU without -device vmcoreinfo, or with
// a guest that did not load qemu_fw_cfg): the kernel keeps the text in a
// page of its own (vmcoreinfo_data), starting "OSRELEASE=".
func (v *File) findInfo() *Info {
	const chunk = 4 << 20
	buf := make([]byte, chunk+4096)
	for _, r := range v.mem.ranges() {
		for off := uint64(0); off < r[1]-r[0]; off += chunk {
			at := r[0] + off
			n := min(uint64(len(buf)), r[1]-at)
			if !v.mem.backed(at, n) || v.mem.readPhys(buf[:n], at) != nil {
				continue
			}
			b := buf[:n]
			for {
				i := bytes.Index(b, []byte("OSRELEASE="))
				if i < 0 {
					break
				}
				page := b[i:]
				if j := bytes.IndexByte(page, 0); j >= 0 {
					page = page[:j]
				}
				if bytes.Contains(page, []byte("SYMBOL(prb)=")) && bytes.Contains(page, []byte("PAGESIZE=")) {
					if in, err := ParseInfo(page); err == nil {
						return in
					}
				}
				b = b[i+1:]
			}
		}
	}
	return nil
}

// need returns the sizes and offsets keys, or an error naming the first
// the dump lacks.
func (in *Info) offset(key string) (int64, error) {
	v, ok := in.Offsets[key]
	if !ok {
		return 0, fmt.Errorf("VMCOREINFO has no OFFSET(%s)", key)
	}
	return v, nil
}

func (in *Info) size(key string) (int64, error) {
	v, ok := in.Sizes[key]
	if !ok {
		return 0, fmt.Errorf("VMCOREINFO has no SIZE(%s)", key)
	}
	return v, nil
}
