package spec_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/initkit/initkit/kernel"
	"github.com/initkit/initkit/spec"
)

// Read initkit.toml once, every table of it: its paths resolve against
// the file, a typo is an error with its line and column, and a flag given
// on the command line wins over [boot].
func ExampleLoad() {
	dir, _ := os.MkdirTemp("", "spec")
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "initkit.toml")
	os.WriteFile(file, []byte("[image]\noutput = \"out.img\"\n[boot]\nkernel = \"bzImage\"\nmem = \"2G\"\n"), 0o644)
	sf, err := spec.Load(file)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(filepath.Base(sf.Image.Output), sf.Boot.Memory)
	// With --kernel given too, the request holds both; the kernel policy
	// takes the flag.
	r := sf.Kernel(kernel.Request{Kernel: "/boot/vmlinuz"})
	fmt.Println(r.Spec.Kernel == filepath.Join(dir, "bzImage"), r.Kernel)

	os.WriteFile(file, []byte("[boot]\nkernal = \"bzImage\"\n"), 0o644)
	_, err = spec.Load(file)
	fmt.Println(strings.TrimPrefix(err.Error(), file))
	// Output:
	// out.img 2G
	// true /boot/vmlinuz
	// :2:1: unknown key boot.kernal
}
