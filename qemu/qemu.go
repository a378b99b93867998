// Package qemu builds QEMU command lines for booting a kernel and runs them
// so that no QEMU process outlives its caller.
package qemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// Config describes a direct kernel boot.
type Config struct {
	Binary string // default qemu-system-x86_64
	Kernel string
	Initrd string
	Append string // kernel command line; console=ttyS0 is always added
	Memory string // default 512M
	SMP    int    // default 1
	Accel  string // default tcg: KVM hangs on the machines this is tested on
	Extra  []string
	// Stdin, when set, is typed into the serial console.
	Stdin io.Reader
}

// Args returns the QEMU arguments for c, without the binary.
func (c Config) Args() []string {
	mem := c.Memory
	if mem == "" {
		mem = "512M"
	}
	smp := c.SMP
	if smp <= 0 {
		smp = 1
	}
	accel := c.Accel
	if accel == "" {
		accel = "tcg"
	}
	args := []string{
		"-machine", "q35", "-accel", accel, "-m", mem, "-smp", strconv.Itoa(smp),
		// No default devices (no NIC, no VGA), the console on stdio, and a
		// reboot or panic ends QEMU instead of looping.
		"-nodefaults", "-display", "none", "-serial", "stdio", "-no-reboot",
		"-kernel", c.Kernel,
	}
	if c.Initrd != "" {
		args = append(args, "-initrd", c.Initrd)
	}
	args = append(args, "-append", "console=ttyS0 panic=-1 "+c.Append)
	return append(args, c.Extra...)
}

// Command returns the command that runs c. The process is killed when ctx
// ends or when the calling process dies (PR_SET_PDEATHSIG).
func (c Config) Command(ctx context.Context) *exec.Cmd {
	bin := c.Binary
	if bin == "" {
		bin = "qemu-system-x86_64"
	}
	cmd := exec.CommandContext(ctx, bin, c.Args()...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// ErrTimeout is returned by Run when ctx's deadline ends the boot.
var ErrTimeout = errors.New("qemu: boot timed out")

// Run boots c, copying the console to console, until QEMU exits (the guest
// powered off, rebooted or panicked) or ctx ends.
func Run(ctx context.Context, c Config, console io.Writer) error {
	cmd := c.Command(ctx)
	cmd.Stdin = c.Stdin
	cmd.Stdout = console
	cmd.Stderr = console
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return ErrTimeout
	}
	if err != nil {
		return fmt.Errorf("qemu: %w", err)
	}
	return nil
}
