package kernel_test

import (
	"context"
	"fmt"
	"log"

	"github.com/initkit/initkit/kernel"
)

// The kernel policy every command follows: --kernel, $INITKIT_KERNEL, the
// spec file's [boot] kernel, or the fetched one; with what belongs to it.
// A build directory counts as a kernel.
func ExampleChoose() {
	k, err := kernel.Choose(context.Background(), kernel.Request{Kernel: "/home/me/linux/obj", NoFetch: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(k.Image, k.Vmlinux, k.ModulesDir, k.Release)
	vmlinux, err := k.NeedVmlinux() // or an error that says how to get one
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("decode with", vmlinux)
}

// A .config for QEMU from the tree's own kconfig: tinyconfig plus what
// booting and kdump need, every option added with its reason.
func ExampleConfigure() {
	t := kernel.Tree{Src: "/usr/src/linux", Obj: "/tmp/obj"}
	res, err := kernel.Configure(context.Background(), t, "tinyconfig", []string{"boot", "kdump"})
	if err != nil {
		log.Fatal(err)
	}
	for _, a := range res.Added {
		fmt.Printf("CONFIG_%s=%s: %s\n", a.Name, a.Value, a.Why)
	}
}
