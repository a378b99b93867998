package kconfig_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/initkit/initkit/kconfig"
)

// Check a .config for what booting it in QEMU with an initkit initramfs
// needs, then set what is missing, as initkit kernel config does before
// the tree's own make olddefconfig resolves the rest.
func Example() {
	c, err := kconfig.Parse(strings.NewReader("CONFIG_64BIT=y\n# CONFIG_BLK_DEV_INITRD is not set\n"))
	if err != nil {
		fmt.Println(err)
		return
	}
	needs, err := kconfig.Needs([]string{"boot"}, "x86_64")
	if err != nil {
		fmt.Println(err)
		return
	}
	missing := c.Missing(needs)
	fmt.Println("initrd missing:", !c.Has(kconfig.Need{Name: "BLK_DEV_INITRD", Value: "y"}), len(missing) > 0)
	c.Apply(missing)
	fmt.Println("after Apply:", c.Value("BLK_DEV_INITRD"), len(c.Missing(needs)))
	c = kconfig.Config{"BLK_DEV_INITRD": "y", "CMDLINE": `"console=ttyS0"`, "MODULES": "n"}
	c.Write(os.Stdout)
	// Output:
	// initrd missing: true true
	// after Apply: y 0
	// CONFIG_BLK_DEV_INITRD=y
	// CONFIG_CMDLINE="console=ttyS0"
	// # CONFIG_MODULES is not set
}
