package guest_test

import (
	"fmt"

	"github.com/initkit/initkit/guest"
)

// A module file's name is the name the kernel knows it by: '-' and '_'
// alike, the compression suffix gone.
func ExampleModuleName() {
	fmt.Println(guest.ModuleName("kernel/drivers/md/dm-crypt.ko.zst"))
	// Output: dm_crypt
}

// The status line exec's guest writes, and the host finding it among
// what a command may have written to the same port itself.
func ExampleParseStatus() {
	port := "initkit-exit:forged:0\n" + string(guest.StatusLine("s3cr3t", 42))
	fmt.Println(guest.ParseStatus(port, "s3cr3t"))
	// Output: 42 true
}
