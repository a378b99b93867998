package boot

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/initkit/initkit/initramfs"
	"github.com/initkit/initkit/internal/apt"
	"github.com/initkit/initkit/internal/cache"

	"github.com/initkit/initkit/image"
	"github.com/initkit/initkit/internal/machine"
)

// foreignInit refuses an initramfs whose /init the guest cannot run: a
// program built for another machine (the host's initkit-init or busybox
// in an arm64 guest), or a script whose interpreter is one. The kernel
// would say only "Failed to execute /init (error -8)" and panic. The
// image is read only when the guest is not the host's machine, the one
// case where it is likely: /init is the last entry of that name, so the
// whole image is read.
func foreignInit(initrd, arch string) error {
	m, ok := machine.Lookup(arch)
	if initrd == "" || m == machine.Host() || !ok {
		return nil
	}
	name := "/init"
	for hop := 0; hop < 2; hop++ {
		head, err := fileHead(initrd, name)
		if err != nil {
			return nil // no /init, or none to read: the kernel's own words tell
		}
		if interp, ok := bytes.CutPrefix(head, []byte("#!")); ok {
			line, _, _ := bytes.Cut(interp, []byte("\n"))
			fields := strings.Fields(string(line))
			if len(fields) == 0 {
				return nil
			}
			name = fields[0]
			continue
		}
		if got, ok := elfMachine(head); ok && got != m.ELF {
			what := "/init is"
			if name != "/init" {
				what = "/init's interpreter " + name + " is"
			}
			return fmt.Errorf("the initramfs's %s a program for %s, and the guest is %s: the kernel would panic with \"Failed to execute /init (error -8)\" (build the image for that kernel, initkit build --kernel KERNEL: its init is initkit-init-%s; a busybox must be for %s too)", what, machine.Name(got), m.Name, m.Name, m.Name)
		}
		return nil
	}
	return nil
}

// fileHead is the first 64 bytes of name in the image at path.
func fileHead(path, name string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var w headWriter
	err = image.CopyFile(&w, f, name)
	return w.b, err
}

// headWriter keeps the first 64 bytes written to it.
type headWriter struct{ b []byte }

func (w *headWriter) Write(p []byte) (int, error) {
	if n := 64 - len(w.b); n > 0 {
		w.b = append(w.b, p[:min(n, len(p))]...)
	}
	return len(p), nil
}

// elfMachine reads e_machine from an ELF header (the ELF spec: EI_DATA
// at 5 says the byte order, e_machine is at 18).
func elfMachine(h []byte) (elf.Machine, bool) {
	if len(h) < 20 || !bytes.HasPrefix(h, []byte(elf.ELFMAG)) {
		return 0, false
	}
	var order binary.ByteOrder = binary.LittleEndian
	if elf.Data(h[elf.EI_DATA]) == elf.ELFDATA2MSB {
		order = binary.BigEndian
	}
	return elf.Machine(order.Uint16(h[18:])), true
}

// GuestBusybox gives an image for a guest of another machine than its
// busybox's (the host's /bin/busybox, which --busybox alone names, in
// an image for an arm64 kernel) that machine's: Debian's busybox-static,
// fetched for it as the user (internal/apt), and says so on s.Log. The
// guest could not run the host's: the shell init would die with "error
// -8", and every applet with it.
func GuestBusybox(ctx context.Context, s *initramfs.Spec) error {
	bb := s.BusyboxPath()
	want, ok := machine.Lookup(s.Arch)
	if bb == "" || !ok || want == machine.Host() {
		return nil
	}
	f, err := elf.Open(bb)
	if err != nil {
		return nil // not a program: the build says so
	}
	got := machine.Name(f.Machine)
	f.Close()
	if got == want.Name {
		return nil
	}
	dir, err := cache.Dir()
	if err != nil {
		return err
	}
	a, err := apt.For(ctx, dir, want.Debian)
	if err == nil {
		dir, err = a.Unpacked(ctx, dir, "busybox-static")
	}
	if err != nil {
		return fmt.Errorf("busybox %s is for %s and the guest is %s; Debian's busybox-static for %s could not be had: %w (give busybox = \"PATH\" of one)", bb, got, want.Name, want.Debian, err)
	}
	s.Busybox = filepath.Join(dir, "bin", "busybox")
	if s.Log != nil {
		fmt.Fprintf(s.Log, "initkit: busybox %s is for %s: the %s guest gets Debian's busybox-static for %s, %s\n", bb, got, want.Name, want.Debian, s.Busybox)
	}
	return nil
}
