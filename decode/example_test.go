package decode_test

import (
	"log"
	"os"

	"github.com/initkit/initkit/decode"
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
