// Package qemu boots kernels in QEMU and turns what the console shows into
// an Outcome: powered off, every expectation met, a crash, a timeout.
// It builds the command line (Config), resolves the accelerator, watches
// the console (Console), stops the guest over QMP once the outcome is
// known, and never lets a QEMU process outlive its caller.
package qemu

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"unicode"

	"github.com/initkit/initkit/guest"
	"github.com/initkit/initkit/internal/machine"
	"github.com/initkit/initkit/internal/procgroup"
)

// Config describes a direct kernel boot.
type Config struct {
	Binary string // default qemu-system-x86_64 (qemu-system-aarch64 for Arch aarch64)
	Arch   string // x86_64 (default) or aarch64
	Kernel string
	Initrd string
	// Append is the user's kernel command line: it comes last, after
	// console= and what the devices add, so that a later value wins.
	Append string
	Memory string // default 512M
	SMP    int    // default 1
	// Accel is kvm, tcg, or auto (the default): KVM when the kernel
	// boots under it, else TCG, decided once per boot of the host (some
	// hosts have a /dev/kvm under which every kernel hangs). Start
	// resolves it; Args shows an unresolved auto as tcg.
	Accel string
	// Devices are added in order after the console (ttyS0): disks,
	// network cards, serial ports, the gdb stub.
	Devices []Device
	// Extra are QEMU arguments passed as they are, last: the user's.
	Extra []string
	// Stdin, when set, is typed into the serial console.
	Stdin io.Reader
	// Interactive multiplexes QEMU's monitor onto the console (mon:stdio),
	// so that Ctrl-A x quits and Ctrl-A c reaches the monitor.
	Interactive bool
}

// Args returns the QEMU arguments for c, without the binary, or the
// error of a device that cannot be added as asked.
func (c Config) Args() ([]string, error) {
	args, _, err := c.build()
	return args, err
}

// DefaultMemory is the guest's memory when Config.Memory is empty.
const DefaultMemory = "512M"

// ConsoleName is the guest's console on the machine of arch (QEMU's name, ""
// for x86_64): the 16550 UART of q35, the PL011 of virt.
func ConsoleName(arch string) string {
	if arch == "aarch64" {
		return "ttyAMA0"
	}
	return guest.Console
}

// build returns the arguments and the machine the devices filled in.
func (c Config) build() ([]string, *Machine, error) {
	if err := c.Check(); err != nil {
		return nil, nil, err
	}
	mem := c.Memory
	if mem == "" {
		mem = DefaultMemory
	}
	smp := c.SMP
	if smp <= 0 {
		smp = 1
	}
	accel := c.Accel
	if accel == "" || accel == "auto" {
		accel = "tcg"
	}
	machine, console := []string{"-machine", "q35"}, ConsoleName(c.Arch)
	serial := "stdio"
	if c.Interactive {
		serial = "mon:stdio"
	}
	if c.Arch == "aarch64" {
		machine = []string{"-machine", "virt", "-cpu", armCPU(accel)}
	}
	args := append(machine, "-accel", accel, "-m", mem, "-smp", strconv.Itoa(smp),
		// No default devices (no NIC, no VGA), the console on stdio, and a
		// reboot or panic ends QEMU instead of looping.
		"-nodefaults", "-display", "none", "-serial", serial, "-no-reboot",
		"-kernel", c.Kernel)
	if c.Initrd != "" {
		args = append(args, "-initrd", c.Initrd)
	}
	m := &Machine{Arch: c.Arch, serials: 1}
	for _, d := range c.Devices {
		d.Add(m)
	}
	if m.err != nil {
		return nil, nil, m.err
	}
	cmdline := []string{"console=" + console, "panic=-1"}
	if c.Arch != "aarch64" {
		// Under TCG on a busy host the IO-APIC timer check at boot
		// (arch/x86/kernel/apic/io_apic.c, check_timer) can miss its
		// ticks and panic "IO-APIC + timer doesn't work!" (seen here at a
		// load of 5 on 2 cores): a run lost to the host, not the kernel.
		cmdline = append(cmdline, "no_timer_check")
	}
	cmdline = append(cmdline, m.kargs...)
	if c.Append != "" {
		cmdline = append(cmdline, c.Append)
	}
	args = append(args, "-append", strings.Join(cmdline, " "))
	args = append(args, m.args...)
	return append(args, c.Extra...), m, nil
}

// Check refuses a value that QEMU would read as more than it is: -m and
// -accel take key=value lists, so "1G,maxmem=64G" or "tcg,thread=multi"
// would set options nobody asked for.
func (c Config) Check() error {
	if c.Memory != "" {
		if _, err := ParseMemory(c.Memory); err != nil {
			return err
		}
	}
	switch c.Accel {
	case "", "auto", "kvm", "tcg":
	default:
		return fmt.Errorf("accelerator %q: want auto, kvm or tcg", c.Accel)
	}
	switch c.Arch {
	case "", "x86_64", "aarch64":
	default:
		return fmt.Errorf("architecture %q: want x86_64 or aarch64", c.Arch)
	}
	if c.SMP < 0 {
		return fmt.Errorf("smp %d: want 1 or more CPUs", c.SMP)
	}
	return nil
}

// ParseMemory reads a guest memory size as QEMU's -m does
// (qemu_strtosz_MiB in QEMU's util/cutils.c): a number, perhaps with a
// fraction, in MiB unless a suffix B, K, M, G or T says otherwise. It
// returns bytes.
func ParseMemory(s string) (int64, error) {
	bad := fmt.Errorf("memory %q: want a size such as 512M, 2G or 1024 (MiB)", s)
	num, shift := s, 20
	if n := len(s); n > 0 {
		if i := strings.IndexByte("BKMGT", byte(unicode.ToUpper(rune(s[n-1])))); i >= 0 {
			num, shift = s[:n-1], 10*i
		}
	}
	if num == "" || strings.Trim(num, "0123456789.") != "" || strings.Count(num, ".") > 1 {
		return 0, bad
	}
	v, err := strconv.ParseFloat(num, 64)
	bytes := v * float64(int64(1)<<shift)
	if err != nil || bytes < 1 || bytes > 1<<50 {
		return 0, bad
	}
	return int64(bytes), nil
}

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

// commandWith returns the command that runs QEMU with args. The process
// is killed when ctx ends or when the calling process dies
// (PR_SET_PDEATHSIG). Only Start runs a guest: it bounds the files the
// devices ask it to (Machine.LimitFile).
func (c Config) commandWith(ctx context.Context, args []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, c.BinaryName(), args...)
	procgroup.Own(cmd)
	if c.Interactive {
		// On a terminal QEMU must stay in the foreground process group: in
		// a group of its own, setting the terminal raw stops it (SIGTTOU).
		cmd.SysProcAttr.Setpgid = false
		cmd.Cancel = func() error { return cmd.Process.Kill() }
	}
	return cmd
}

// armCPU is the CPU of an arm64 guest: every feature QEMU emulates, and
// under TCG pointer authentication by QEMU's own algorithm
// (pauth-impdef) rather than the architected QARMA5, whose emulation
// tripled the boot of Debian's kernel (10-11 s to 3.2-3.7 s to its init,
// measured here). The guest still signs and checks its pointers; only the
// signatures differ. Under KVM (an arm64 host) max is the host's CPU.
func armCPU(accel string) string {
	if accel == "tcg" || machine.Host().Name != "aarch64" {
		return "max,pauth-impdef=on"
	}
	return "max"
}
