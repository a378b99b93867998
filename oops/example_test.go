package oops_test

import (
	"fmt"
	"strings"

	"github.com/initkit/initkit/oops"
)

// Every report in a pasted console log, with its kind and its frames:
// timestamps and the "? " of unreliable frames are understood.
func ExampleParse() {
	log := `[   12.345678] BUG: kernel NULL pointer dereference, address: 0000000000000000
[   12.345700] Oops: 0002 [#1] PREEMPT SMP NOPTI
[   12.345800] RIP: 0010:crashme_init+0x14/0x1000 [crashme]
[   12.345900] Call Trace:
[   12.346000]  <TASK>
[   12.346100]  do_one_initcall+0x44/0x220
[   12.346200]  ? kmalloc_trace+0x26/0x90
[   12.346300]  do_init_module+0x4c/0x1f0
[   12.346400]  </TASK>
`
	reports, err := oops.Parse(strings.NewReader(log))
	if err != nil {
		panic(err)
	}
	for _, r := range reports {
		fmt.Printf("%s at line %d, RIP %s [%s]\n", r.Kind, r.Line, r.RIP.Func, r.RIP.Module)
		for _, f := range r.Frames {
			fmt.Printf("  %s+%#x unreliable=%v\n", f.Func, f.Off, f.Unreliable)
		}
	}
	// Output:
	// BUG at line 1, RIP crashme_init [crashme]
	//   do_one_initcall+0x44 unreliable=false
	//   kmalloc_trace+0x26 unreliable=true
	//   do_init_module+0x4c unreliable=false
}
