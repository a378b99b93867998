// Package kdump sets up a boot whose panics are captured: a capture
// initramfs (the initkit init in capture mode, with makedumpfile and its
// closure when the host has it), the crash kernel added to the image for
// the initkit init to load with kexec_file_load, memory reserved with
// crashkernel= for both, and a virtio-serial port to a file on the host
// that the capture kernel writes the dump to.
package kdump

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/initkit/initkit/cpio"
	"github.com/initkit/initkit/guest"
	"github.com/initkit/initkit/image"
	"github.com/initkit/initkit/initramfs"
	"github.com/initkit/initkit/internal/hosttool"
	"github.com/initkit/initkit/internal/machine"
	"github.com/initkit/initkit/qemu"
)

// Options says what to capture with.
type Options struct {
	// Kernel is the crash kernel: the kernel that boots, by default.
	Kernel string
	// ModulesDir is its /lib/modules/RELEASE tree: the capture image
	// ships virtio_pci and virtio_console from it.
	ModulesDir string
	// NoMakedumpfile leaves makedumpfile out: the dump is then the ELF
	// core /proc/vmcore is, unfiltered.
	NoMakedumpfile bool
	// Dir holds the images and the dump (the run directory).
	Dir string
	// Arch is the guest's machine, in QEMU's names ("": the host's): the
	// capture image's init is the initkit init built for it.
	Arch string
	// Console is the capture kernel's console (default: the machine's,
	// qemu.ConsoleName).
	Console string
	// Memory is the guest's memory, bytes: the dump is at most that and
	// its headers, and a guest that writes more is stopped.
	Memory int64
}

// Plan is a prepared capture.
type Plan struct {
	Initrd      string // the image to boot: the user's, with the crash kernel added
	Capture     string // the capture initramfs
	CaptureSize int64  // its unpacked size, bytes
	Filtered    bool   // makedumpfile is in it
	Reserve     string // the crashkernel= size
	partial     string
	vmcore      string
	max         int64 // the most the dump may be
}

// Devices are what the first kernel's guest needs: the memory reserved
// for the crash kernel, and the virtio-serial port the capture kernel
// writes the dump to, a file on the host.
func (p *Plan) Devices() []qemu.Device {
	return []qemu.Device{qemu.CrashKernel{Size: p.Reserve}, qemu.PortToFile{Name: guest.KdumpPort, Path: p.partial, Max: p.max}}
}

// Prepare builds the capture image and the image to boot from initrd.
// An initrd whose /init is not the initkit init is wrapped: the initkit
// init runs first, loads the crash kernel, and execs the image's /init,
// kept unchanged at guest.RealInit.
func Prepare(initrd string, o Options) (*Plan, error) {
	if initrd == "" {
		return nil, fmt.Errorf("kdump: the crash kernel is loaded by the initkit init of an initramfs: give one (--initrd or --spec)")
	}
	if o.Console == "" {
		o.Console = qemu.ConsoleName(o.Arch)
	}
	if o.Memory <= 0 {
		return nil, fmt.Errorf("kdump: the guest's memory is needed to bound its dump")
	}
	// An ELF vmcore is the guest's memory and a header of a page or so a
	// region: 64 MiB more covers it. A guest that writes more is not
	// sending a dump.
	p := &Plan{Capture: filepath.Join(o.Dir, "capture.img"), vmcore: filepath.Join(o.Dir, "vmcore"), max: o.Memory + 64<<20}
	p.partial = p.vmcore + ".partial"
	if err := p.buildCapture(o); err != nil {
		return nil, err
	}
	st, err := os.Stat(o.Kernel)
	if err != nil {
		return nil, fmt.Errorf("kdump: the crash kernel: %w", err)
	}
	p.Reserve = reserve(p.CaptureSize, st.Size())
	// The dump is the guest's memory, the user's alone: QEMU keeps the
	// mode of the file that is there when it opens it.
	if err := os.WriteFile(p.partial, nil, 0o600); err != nil {
		return nil, err
	}
	cmdline := fmt.Sprintf("console=%s %s=capture irqpoll nr_cpus=1 reset_devices panic=-1 no_timer_check", o.Console, guest.KeyKdump)
	if err := p.addCrashKernel(initrd, o, cmdline); err != nil {
		return nil, err
	}
	return p, nil
}

// reserve sizes crashkernel=: the capture kernel decompressed (some four
// times its image), the capture image unpacked twice over (the archive
// and its files), and room for the kernel's own allocations and
// makedumpfile's bitmaps, in 16 MiB steps.
func reserve(capture, kernel int64) string {
	need := 96<<20 + 4*kernel + 2*capture
	mb := (need>>20 + 15) &^ 15
	return fmt.Sprintf("%dM", mb)
}

func (p *Plan) buildCapture(o Options) error {
	s := &initramfs.Spec{Output: p.Capture, Init: "initkit", Compress: "zstd", Arch: o.Arch,
		Modules: initramfs.Modules{Dir: o.ModulesDir, Names: []string{"virtio_pci", "virtio_console"}}}
	if !o.NoMakedumpfile && !foreign(o.Arch) {
		if md, err := hosttool.Path("makedumpfile"); err == nil {
			s.AddFiles(md + ":/usr/sbin/makedumpfile")
			p.Filtered = true
		}
	}
	res, err := s.Build("", 0)
	if err != nil {
		return fmt.Errorf("kdump: the capture image: %w", err)
	}
	p.CaptureSize = initramfs.InputBytes(res.Tree.Files())
	return nil
}

// foreign says whether arch is another machine than the host's: the
// host's makedumpfile cannot run there, and the capture writes the ELF
// core as it is.
func foreign(arch string) bool {
	a, ok := machine.Lookup(arch)
	return ok && a != machine.Host()
}

// addCrashKernel appends a segment to initrd with the crash kernel, the
// capture image and its command line, the initkit init as /init and the
// image's own /init kept at guest.RealInit.
func (p *Plan) addCrashKernel(initrd string, o Options, cmdline string) error {
	real, link, err := initramfs.ExtractInit(initrd, o.Dir)
	if err != nil {
		return fmt.Errorf("kdump: %w", err)
	}
	keep, err := initramfs.RealInitEntry(real, link)
	if err != nil {
		return err
	}
	entries := []image.File{keep, {Header: cpio.Header{Name: guest.KdumpCmdline, Mode: cpio.TypeReg | 0o644}, Data: []byte(cmdline + "\n")}}
	for name, src := range map[string]string{guest.KdumpKernel: o.Kernel, guest.KdumpInitrd: p.Capture} {
		st, err := os.Stat(src)
		if err != nil {
			return err
		}
		entries = append(entries, image.File{Header: cpio.Header{Name: name, Mode: cpio.TypeReg | 0o644, Size: st.Size()}, Source: src})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	p.Initrd = filepath.Join(o.Dir, "kdump.img")
	s := &initramfs.Spec{Output: p.Initrd, Compress: "none", Init: "initkit", Entries: entries, Arch: o.Arch}
	if _, err := s.Build(initrd, 0); err != nil {
		return fmt.Errorf("kdump: adding the crash kernel to %s: %w", initrd, err)
	}
	return nil
}

// Finish returns the dump the capture kernel wrote, renamed into place,
// or "" when none arrived (no crash, or the capture failed).
func (p *Plan) Finish() (string, error) {
	st, err := os.Stat(p.partial)
	if err != nil || st.Size() == 0 {
		os.Remove(p.partial)
		return "", nil
	}
	if err := os.Chmod(p.partial, 0o600); err != nil {
		return "", err
	}
	if err := os.Rename(p.partial, p.vmcore); err != nil {
		return "", err
	}
	return p.vmcore, nil
}

// PanicArgs is the command line that turns the kinds of report races
// are chased with into panics (and so into dumps): oops, warn, hung
// (hung tasks), lockup (soft lockups), rcu (RCU stalls).
func PanicArgs(kinds []string) (qemu.Cmdline, error) {
	args := map[string]string{"oops": "oops=panic", "warn": "panic_on_warn=1", "hung": "hung_task_panic=1",
		"lockup": "softlockup_panic=1", "rcu": "sysctl.kernel.panic_on_rcu_stall=1"}
	var out qemu.Cmdline
	for _, k := range kinds {
		a, ok := args[k]
		if !ok {
			return nil, fmt.Errorf("--panic-on %s: want oops, warn, hung, lockup or rcu", k)
		}
		out = append(out, a)
	}
	return out, nil
}

// String says what the capture is, for the user.
func (p *Plan) String() string {
	filter := "makedumpfile -d 31"
	if !p.Filtered {
		filter = "no makedumpfile: the ELF core as it is"
	}
	return fmt.Sprintf("capture image %s (%d KB unpacked; %s), crashkernel=%s", p.Capture, p.CaptureSize>>10, filter, p.Reserve)
}
