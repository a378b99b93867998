package vmexec_test

import (
	"context"
	"log"
	"os"
	"time"

	"github.com/initkit/initkit/boot"
	"github.com/initkit/initkit/kernel"
	"github.com/initkit/initkit/vmexec"
)

// One command in a fresh VM, its output streamed back, its status
// returned: initkit exec as a library.
func ExampleRun() {
	res, err := vmexec.Run(context.Background(), []string{"/usr/bin/uname", "-r"}, vmexec.Options{
		Boot: boot.Options{
			Kernel:  kernel.Request{Kernel: "/boot/vmlinuz-6.1.0-28-cloud-amd64"},
			Timeout: 2 * time.Minute,
		},
		Busybox: "/bin/busybox",
		Stdout:  os.Stdout,
		Stderr:  os.Stderr,
	})
	if err != nil {
		log.Fatalf("%v (%s)", err, res.Outcome)
	}
	os.Exit(res.Status)
}
