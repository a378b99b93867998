package qemu

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"
)

// probeTimeout bounds a probe. Under a working KVM the kernel reaches its
// root-mount panic in about a second; on the machines initkit is tested
// on, a KVM guest never gets that far (field notes).
const probeTimeout = 10 * time.Second

// probeAppend's root names no device: the kernel boots, cannot mount it and
// panics, which with panic=-1 and -no-reboot makes QEMU exit with status
// 0. rdinit= and init= name nothing either, so that an initramfs built
// into the kernel does not run instead.
const probeAppend = "panic=-1 rdinit=/initkit-probe init=/initkit-probe root=/dev/initkit-probe"

// Probe reports whether accel boots kernel: it starts the kernel with no
// initrd and no root, and waits for QEMU to exit after the kernel's
// panic. A whole boot, not a few instructions: on some hosts /dev/kvm
// runs a tiny guest (a 40-byte multiboot one here, about one time in
// two) while every Linux kernel hangs under it before its first line.
func Probe(ctx context.Context, binary, accel, kernel string) bool {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	cmd := Config{Binary: binary}.commandWith(ctx, []string{"-machine", "q35", "-accel", accel, "-m", "256M",
		"-nodefaults", "-display", "none", "-no-reboot", "-kernel", kernel, "-append", probeAppend})
	return cmd.Run() == nil && ctx.Err() == nil
}

// Prober is Probe's signature, so that the choice can be tested alone.
type Prober func(ctx context.Context, binary, accel, kernel string) bool

// ChooseAccel resolves "auto": KVM when /dev/kvm exists and kernel boots
// under it, TCG otherwise, saying so once on warn. Any other value is
// returned as it is. The probe guards against a /dev/kvm that exists but
// hangs every kernel, as it does on the machines initkit is tested on.
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
