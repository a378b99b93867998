package probe_test

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/initkit/initkit/probe"
)

// Read a disk's partition table: here a DOS table made in memory, one
// Linux partition of 40 sectors from sector 2048, as sfdisk would write
// it. The PARTUUID is the kernel's: the disk identifier and the number.
func ExamplePartitions() {
	disk := make([]byte, 2088*512)
	binary.LittleEndian.PutUint32(disk[440:], 0x42c38753) // disk identifier
	e := disk[446:]
	e[4] = 0x83 // Linux
	binary.LittleEndian.PutUint32(e[8:], 2048)
	binary.LittleEndian.PutUint32(e[12:], 40)
	disk[510], disk[511] = 0x55, 0xAA
	t, err := probe.Partitions(bytes.NewReader(disk))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range t.Partitions {
		fmt.Println(t.Type, p.Number, p.UUID, p.Start, p.Size)
	}
	// Output: dos 1 42c38753-01 1048576 20480
}
