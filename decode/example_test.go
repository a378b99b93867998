package decode_test

import (
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/initkit/initkit/decode"
	"github.com/initkit/initkit/oops"
)

// A console log annotated with each frame's file:line and inline chain.
func ExampleDecoder_Annotate() {
	dec, err := decode.Open("/usr/lib/debug/boot/vmlinux-6.1.0-28-cloud-amd64", nil, true, decode.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer dec.Close()
	crash, err := os.ReadFile("console.log")
	if err != nil {
		log.Fatal(err)
	}
	reports, err := dec.Annotate(crash, os.Stdout)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("%d crash reports", len(reports))
}

// A report's Code: line disassembled, as scripts/decodecode shows it: no
// vmlinux needed.
func ExampleDisassemble() {
	reports, err := oops.Parse(strings.NewReader(`BUG: kernel NULL pointer dereference, address: 0000000000000000
RIP: 0010:crash_here+0x5/0x10 [crashme]
Code: 90 90 90 90 90 <c7> 04 25 00 00 00 00 2a 00 00 00 c3 cc
`))
	if err != nil {
		log.Fatal(err)
	}
	for _, in := range decode.Disassemble(reports[0]) {
		fmt.Println(strings.TrimRight(in.String(), " "))
	}
	// Output:
	//    0: 	90                   	nop
	//    1: 	90                   	nop
	//    2: 	90                   	nop
	//    3: 	90                   	nop
	//    4: 	90                   	nop
	//    5:*	c7 04 25 00 00 00 00 2a 00 00 00	movl $0x2a,0x0		<-- trapping instruction
	//   10: 	c3                   	ret
	//   11: 	cc                   	int3
}
