package symbolize_test

import (
	"fmt"
	"log"

	"github.com/initkit/initkit/symbolize"
)

// Which build a vmlinux is, without reading its DWARF: the build-id a
// vmcore's VMCOREINFO must match, and the release its banner prints.
func ExampleIdentify() {
	id, err := symbolize.Identify("/usr/lib/debug/boot/vmlinux-6.1.0-28-cloud-amd64")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(id.Release, id.BuildID)
}

// A frame of a crash report resolved to its source lines, the inline
// chain included, as initkit decode does for every frame.
func ExampleFile_Lookup() {
	f, err := symbolize.Open("/usr/lib/debug/boot/vmlinux-6.1.0-28-cloud-amd64")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	addr, err := f.Lookup("sysrq_handle_crash", 0x16, 0x20)
	if err != nil {
		log.Fatal(err)
	}
	frames, err := f.PC(addr, "sysrq_handle_crash")
	if err != nil {
		log.Fatal(err)
	}
	for _, fr := range frames {
		fmt.Printf("%s %s:%d\n", fr.Function, fr.File, fr.Line)
	}
}
