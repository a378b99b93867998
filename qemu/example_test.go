package qemu_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/initkit/initkit/qemu"
)

// The command line of a boot with a disk and a gdb stub: the disk a
// snapshot, named as a plain file, its format read from it; listeners on
// 127.0.0.1.
func ExampleConfig_Args() {
	dir, _ := os.MkdirTemp("", "example-")
	defer os.RemoveAll(dir)
	os.WriteFile(dir+"/root.img", make([]byte, 1<<20), 0o644)
	c := qemu.Config{Kernel: "bzImage", Initrd: "initrd.img", Accel: "tcg", Append: "quiet",
		Devices: []qemu.Device{qemu.Disk{Path: dir + "/root.img", Interface: "nvme", Snapshot: true}, qemu.GDBStub{Port: 1234}}}
	args, err := c.Args()
	if err != nil {
		panic(err)
	}
	fmt.Println(strings.ReplaceAll(strings.Join(args, " "), dir, "DIR"))
	// Output: -machine q35 -accel tcg -m 512M -smp 1 -nodefaults -display none -serial stdio -no-reboot -kernel bzImage -initrd initrd.img -append console=ttyS0 panic=-1 no_timer_check nvme_core.io_timeout=600 nokaslr quiet -drive if=none,id=disk0,format=raw,file.driver=file,file.filename=DIR/root.img,snapshot=on -device nvme,drive=disk0,serial=disk0 -gdb tcp:127.0.0.1:1234
}

// A boot turned into a verdict, as a script or git bisect run wants it.
func ExampleBoot() {
	o := qemu.Boot(context.Background(),
		qemu.Config{Kernel: "arch/x86/boot/bzImage", Initrd: "initrd.img"},
		qemu.Watch{Expect: []*regexp.Regexp{regexp.MustCompile(`boot-ok`)}, Timeout: time.Minute, LogPath: "console.log"})
	fmt.Println(o)
	if o.Kind != qemu.ExpectMet {
		os.Exit(1)
	}
}
