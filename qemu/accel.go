package qemu

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// probeImage is a multiboot (v1) kernel of 40 bytes: a header with the
// a.out-kludge addresses (load at 1 MiB, enter at 1 MiB + 32) followed by
//
//	cli; mov al, 0x31; out 0xf4, al; hlt; jmp $-1
//
// Writing 0x31 to an isa-debug-exit device at port 0xf4 makes QEMU exit
// with status (0x31<<1)|1 = 99, which only happens if the guest really ran.
func probeImage() []byte {
	const magic, flags = 0x1BADB002, 0x00010000
	b := make([]byte, 32, 40)
	for i, v := range []uint32{magic, flags, -(magic + flags) & 0xFFFFFFFF, 0x100000, 0x100000, 0, 0, 0x100020} {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(v))
	}
	return append(b, 0xfa, 0xb0, 0x31, 0xe6, 0xf4, 0xf4, 0xeb, 0xfd)
}

const probeExit = 99

// probeTimeout bounds a probe: a working accelerator answers in well under
// a second; on the machines this is tested on, KVM never answers.
const probeTimeout = 3 * time.Second

// Probe reports whether accel runs guest code: it boots the probe image
// with it and waits for the exit status the image produces.
func Probe(ctx context.Context, binary, accel string) bool {
	if binary == "" {
		binary = "qemu-system-x86_64"
	}
	dir, err := os.MkdirTemp("", "initkit-probe-")
	if err != nil {
		return false
	}
	defer os.RemoveAll(dir)
	img := filepath.Join(dir, "probe.bin")
	if err := os.WriteFile(img, probeImage(), 0o644); err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	cmd := Config{Binary: binary}.commandWith(ctx, []string{"-machine", "pc", "-accel", accel, "-m", "16M",
		"-nodefaults", "-display", "none", "-no-reboot", "-kernel", img, "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"})
	err = cmd.Run()
	var ee *exec.ExitError
	return errors.As(err, &ee) && ee.ExitCode() == probeExit
}

// Prober is Probe's signature, so that the choice can be tested alone.
type Prober func(ctx context.Context, binary, accel string) bool

// ChooseAccel resolves "auto": KVM when /dev/kvm exists and a probe guest
// runs under it, TCG otherwise, saying so once on warn. Any other value is
// returned as it is. The probe guards against a /dev/kvm that exists but
// hangs every guest, as it does on the machines initkit is tested on.
func ChooseAccel(ctx context.Context, accel, binary, kvmDev string, probe Prober, warn io.Writer) string {
	if accel != "auto" && accel != "" {
		return accel
	}
	if _, err := os.Stat(kvmDev); err != nil {
		return "tcg"
	}
	if probe(ctx, binary, "kvm") {
		return "kvm"
	}
	fmt.Fprintf(warn, "initkit: %s exists but a KVM guest does not run; using TCG (software emulation)\n", kvmDev)
	return "tcg"
}
