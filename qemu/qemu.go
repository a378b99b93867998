// Package qemu boots kernels in QEMU and turns what the console shows into
// an Outcome: powered off, every expectation met, a crash, a timeout.
// It builds the command line (Config), resolves the accelerator, watches
// the console (Console), stops the guest over QMP once the outcome is
// known, and never lets a QEMU process outlive its caller.
package qemu

import (
	"context"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/initkit/initkit/guest"
)

// Config describes a direct kernel boot.
type Config struct {
	Binary string // default qemu-system-x86_64 (qemu-system-aarch64 for Arch aarch64)
	Arch   string // x86_64 (default) or aarch64
	Kernel string
	Initrd string
	Append string // kernel command line; the console= for the arch is always added
	Memory string // default 512M
	SMP    int    // default 1
	// Accel is kvm, tcg, or auto (the default): KVM when the kernel
	// boots under it, else TCG, decided once per boot of the host (some
	// hosts have a /dev/kvm under which every kernel hangs). Start
	// resolves it; Args shows an unresolved auto as tcg.
	Accel string
	Disks []Disk
	// Persist writes disk changes back; by default disks are snapshots.
	Persist bool
	Net     string // "" for none, "user" for user networking
	SSHPort int    // with Net "user": forward 127.0.0.1:SSHPort to the guest's port 22
	GDBPort int    // QEMU's gdb stub on 127.0.0.1:GDBPort; adds nokaslr
	WaitGDB bool   // start halted until gdb continues (-S)
	Crash   bool   // reserve memory for a crash kernel (crashkernel=256M)
	Extra   []string
	// Stdin, when set, is typed into the serial console.
	Stdin io.Reader
	// Interactive multiplexes QEMU's monitor onto the console (mon:stdio),
	// so that Ctrl-A x quits and Ctrl-A c reaches the monitor.
	Interactive bool
}

// Disk is a disk image attached to the guest.
type Disk struct {
	Path      string
	Interface string // virtio (default), nvme or ide
	ReadOnly  bool   // the guest sees a read-only disk
}

// ParseDisk reads FILE or FILE:ro, as --disk takes it.
func ParseDisk(s string) Disk {
	if p, ok := strings.CutSuffix(s, ":ro"); ok {
		return Disk{Path: p, ReadOnly: true}
	}
	return Disk{Path: s}
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
	if accel == "" || accel == "auto" {
		accel = "tcg"
	}
	machine, console := []string{"-machine", "q35"}, guest.Console
	serial := "stdio"
	if c.Interactive {
		serial = "mon:stdio"
	}
	if c.Arch == "aarch64" {
		machine, console = []string{"-machine", "virt", "-cpu", "max"}, "ttyAMA0"
	}
	args := append(machine, "-accel", accel, "-m", mem, "-smp", strconv.Itoa(smp),
		// No default devices (no NIC, no VGA), the console on stdio, and a
		// reboot or panic ends QEMU instead of looping.
		"-nodefaults", "-display", "none", "-serial", serial, "-no-reboot",
		"-kernel", c.Kernel)
	if c.Initrd != "" {
		args = append(args, "-initrd", c.Initrd)
	}
	cmdline := "console=" + console + " panic=-1"
	if c.GDBPort > 0 {
		cmdline += " nokaslr"
	}
	if c.Crash {
		cmdline += " crashkernel=256M"
	}
	if c.Append != "" {
		cmdline += " " + c.Append
	}
	args = append(args, "-append", cmdline)
	for i, d := range c.Disks {
		args = append(args, c.diskArgs(i, d)...)
	}
	if c.Net == "user" {
		netdev := "user,id=net0"
		if c.SSHPort > 0 {
			// QEMU's default for hostfwd is every interface; bind loopback only.
			netdev += ",hostfwd=tcp:127.0.0.1:" + strconv.Itoa(c.SSHPort) + "-:22"
		}
		args = append(args, "-netdev", netdev, "-device", "virtio-net-pci,netdev=net0")
	}
	if c.GDBPort > 0 {
		args = append(args, "-gdb", "tcp:127.0.0.1:"+strconv.Itoa(c.GDBPort))
	}
	if c.WaitGDB {
		args = append(args, "-S")
	}
	return append(args, c.Extra...)
}

func (c Config) diskArgs(i int, d Disk) []string {
	id := "disk" + strconv.Itoa(i)
	format := "raw"
	if strings.HasSuffix(d.Path, ".qcow2") {
		format = "qcow2"
	}
	drive := "file=" + d.Path + ",if=none,id=" + id + ",format=" + format
	switch {
	case d.ReadOnly:
		drive += ",readonly=on"
	case !c.Persist:
		drive += ",snapshot=on"
	}
	var dev string
	switch d.Interface {
	case "nvme":
		dev = "nvme,drive=" + id + ",serial=" + id
	case "ide":
		dev = "ide-hd,drive=" + id
	default:
		dev = "virtio-blk-pci,drive=" + id
	}
	return []string{"-drive", drive, "-device", dev}
}

// Command returns the command that runs c. The process is killed when ctx
// ends or when the calling process dies (PR_SET_PDEATHSIG).
func (c Config) Command(ctx context.Context) *exec.Cmd { return c.commandWith(ctx, c.Args()) }

// BinaryName returns the QEMU program c runs, as given or by default.
func (c Config) BinaryName() string {
	switch {
	case c.Binary != "":
		return c.Binary
	case c.Arch == "aarch64":
		return "qemu-system-aarch64"
	}
	return "qemu-system-x86_64"
}

func (c Config) commandWith(ctx context.Context, args []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, c.BinaryName(), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if c.Interactive {
		// On a terminal QEMU must stay in the foreground process group: in
		// a group of its own, setting the terminal raw stops it (SIGTTOU).
		cmd.SysProcAttr.Setpgid = false
		cmd.Cancel = func() error { return cmd.Process.Kill() }
	}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}
