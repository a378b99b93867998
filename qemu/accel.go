package qemu

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/initkit/initkit/internal/cache"
	"github.com/initkit/initkit/internal/machine"
	"golang.org/x/sys/unix"
)

// probeTimeout bounds a probe. Under a working KVM the kernel reaches its
// root-mount panic in about a second; under a KVM that hangs it never
// gets there.
const probeTimeout = 10 * time.Second

// probeAppend's root names no device: the kernel boots, cannot mount it and
// panics, which with panic=-1 and -no-reboot makes QEMU exit with status
// 0. rdinit= and init= name nothing either, so that an initramfs built
// into the kernel does not run instead.
const probeAppend = "panic=-1 rdinit=/initkit-probe init=/initkit-probe root=/dev/initkit-probe"

// BootsUnder reports whether accel boots kernel: it starts the kernel with no
// initrd and no root, and waits for QEMU to exit after the kernel's
// panic. A whole boot, not a few instructions: on some hosts /dev/kvm
// runs a tiny guest (a 40-byte multiboot one here, about one time in
// two) while every Linux kernel hangs under it before its first line.
func BootsUnder(ctx context.Context, binary, accel, kernel string) bool {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	cmd := Config{Binary: binary}.commandWith(ctx, []string{"-machine", "q35", "-accel", accel, "-m", "256M",
		"-nodefaults", "-display", "none", "-no-reboot", "-kernel", kernel, "-append", probeAppend})
	return cmd.Run() == nil && ctx.Err() == nil
}

// Prober is BootsUnder's signature, so that the choice can be tested alone.
type Prober func(ctx context.Context, binary, accel, kernel string) bool

// ChooseAccel resolves "auto": KVM when /dev/kvm exists and kernel boots
// under it, TCG otherwise, saying so once on warn. Any other value is
// returned as it is. The probe guards against a /dev/kvm that exists but
// hangs every kernel (nested virtualisation without the support it needs
// does that).
func ChooseAccel(ctx context.Context, accel, binary, kernel, kvmDev string, probe Prober, warn io.Writer) string {
	if accel != "auto" && accel != "" {
		return accel
	}
	if _, err := os.Stat(kvmDev); err != nil {
		return "tcg"
	}
	if probe(ctx, binary, "kvm", kernel) {
		return "kvm"
	}
	fmt.Fprintf(warn, "initkit: %s exists but the kernel does not boot under KVM; using TCG (software emulation)\n", kvmDev)
	return "tcg"
}

// resolveAccel returns the accelerator c runs with: c.Accel unless it is
// "auto" or empty, which ChooseAccel resolves once per boot of the host.
// The verdict is remembered in the cache, so that only the first run pays
// for the probe (up to probeTimeout where KVM hangs), and runs started
// together wait on a lock for the first one's verdict instead of each
// probing. With probe false (a dry run) it answers from the memo alone:
// TCG when there is no verdict yet.
func resolveAccel(ctx context.Context, c Config, notes io.Writer, probe bool) string {
	if c.Accel != "auto" && c.Accel != "" {
		return c.Accel
	}
	if cmp.Or(c.Arch, "x86_64") != machine.Host().Name {
		return "tcg" // KVM runs only the host's own architecture
	}
	choose := func() string {
		if !probe {
			return "tcg"
		}
		return ChooseAccel(ctx, "auto", c.Binary, c.Kernel, "/dev/kvm", BootsUnder, notes)
	}
	memo := memoPath()
	if memo == "" {
		return choose()
	}
	read := func() (string, bool) {
		b, _ := os.ReadFile(memo)
		switch v := strings.TrimSpace(string(b)); v {
		case "kvm", "tcg":
			return v, true
		}
		return "", false // none yet, or not one: probe again
	}
	// The lock only when there is no verdict yet: every other run reads
	// the memo and goes on.
	if v, ok := read(); ok || !probe {
		return cmp.Or(v, "tcg")
	}
	if lock, err := os.OpenFile(memo+".lock", os.O_CREATE|os.O_RDWR, 0o644); err == nil {
		defer lock.Close() // and with it the lock
		unix.Flock(int(lock.Fd()), unix.LOCK_EX)
	}
	if v, ok := read(); ok {
		return v
	}
	got := choose()
	if ctx.Err() == nil { // a probe cut short proves nothing
		os.WriteFile(memo, []byte(got+"\n"), 0o644)
	}
	return got
}

// memoPath is the file that keeps the accelerator verdict for this boot
// of the host, or "" when there is no cache to keep it in.
func memoPath() string {
	bootID, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	dir, err := cache.Dir()
	if err != nil || len(bootID) == 0 || os.MkdirAll(dir, 0o755) != nil {
		return ""
	}
	return filepath.Join(dir, "accel-kernel-"+strings.TrimSpace(string(bootID)))
}
