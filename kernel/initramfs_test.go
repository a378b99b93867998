package kernel

import (
	"encoding/binary"
	"strings"
	"testing"
)

// TestSizedAt: the built-in initramfs is the data its length follows at
// the next 8-aligned offset (usr/initramfs_data.S, __initramfs_size);
// a magic number that is not followed by its length is not it.
func TestSizedAt(t *testing.T) {
	data := make([]byte, 64)
	copy(data[4:], "070701")
	binary.LittleEndian.PutUint64(data[24:], 17) // 4+17 = 21, aligned up: 24
	if end, ok := sizedAt(data, 4); !ok || end != 21 {
		t.Errorf("end %d, %v; want 21", end, ok)
	}
	if _, ok := sizedAt(data, 8); ok {
		t.Error("a start whose length is not after it")
	}
	binary.LittleEndian.PutUint64(data[24:], 1<<40) // a length past the data
	if _, ok := sizedAt(data, 4); ok {
		t.Error("a length past the data")
	}
}

// TestOpenInitramfsNotAKernel: an ELF program is no kernel, and a file
// that is neither an ELF nor a bzImage is opened as it is.
func TestOpenInitramfsNotAKernel(t *testing.T) {
	if _, builtin, err := OpenInitramfs("/bin/true"); !builtin || err == nil || !strings.Contains(err.Error(), "not a Linux kernel") {
		t.Errorf("/bin/true: %v, %v", builtin, err)
	}
	r, builtin, err := OpenInitramfs("/etc/hostname")
	if err != nil || builtin {
		t.Fatalf("/etc/hostname: %v, %v", builtin, err)
	}
	r.Close()
}
