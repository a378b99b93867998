package vmcore_test

import (
	"fmt"
	"log"

	"github.com/initkit/initkit/vmcore"
)

// The kernel log of a dump, from the printk ring buffer, with the facts
// the dump gives of itself: no crash(8), no vmlinux needed.
func ExampleOpen() {
	d, err := vmcore.Open("vmcore")
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	recs, err := d.Log()
	if err != nil {
		log.Fatal(err)
	}
	s := d.Summarize(recs)
	fmt.Println(s.Release, s.Panic)
	fmt.Print(vmcore.FormatLog(recs))
}
