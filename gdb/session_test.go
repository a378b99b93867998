package gdb

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/initkit/initkit/guest"
	"github.com/initkit/initkit/qemu"
)

// The serial transport puts gdbserver on the second serial port through
// the guest contract's names, and waits for its ready line; tcp forwards
// from 127.0.0.1 only.
func TestTransport(t *testing.T) {
	s := &session{dir: t.TempDir()}
	target, err := s.transport(InitOptions{Transport: "serial"})
	if err != nil {
		t.Fatal(err)
	}
	if target != filepath.Join(s.dir, "ttyS1.sock") || !strings.Contains(s.cfg.Append, guest.KeyGDB+"=ttyS1") ||
		!strings.Contains(strings.Join(s.cfg.Extra, " "), "-serial chardev:dbg") || !s.ready.MatchString("Remote debugging using /dev/ttyS1") {
		t.Errorf("serial: target %s, %+v", target, s.cfg)
	}
	s = &session{dir: t.TempDir()}
	target, err = s.transport(InitOptions{Transport: "tcp"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(target, "127.0.0.1:") || !strings.Contains(strings.Join(s.cfg.Extra, " "), "hostfwd=tcp:127.0.0.1:") ||
		!strings.Contains(s.cfg.Append, "initkit.gdb=tcp:1234") || !s.ready.MatchString("Listening on port 1234") {
		t.Errorf("tcp: target %s, %+v", target, s.cfg)
	}
}

func TestSessionErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := DebugInit(ctx, InitOptions{Transport: "usb"}); err == nil || !strings.Contains(err.Error(), "want serial or tcp") {
		t.Errorf("bad transport: %v", err)
	}
	if _, err := DebugInit(ctx, InitOptions{}); err == nil || !strings.Contains(err.Error(), "give the init to debug") {
		t.Errorf("nothing to debug: %v", err)
	}
	notImage := filepath.Join(t.TempDir(), "x.img")
	os.WriteFile(notImage, []byte("not an image"), 0o644)
	if _, err := DebugInit(ctx, InitOptions{Options: Options{QEMU: qemuConfig(notImage)}}); err == nil || !strings.Contains(err.Error(), "x.img: image offset 0: no cpio or compression magic") {
		t.Errorf("bad image: %v", err)
	}
	if _, err := DebugKernel(ctx, KernelOptions{}); err == nil || !strings.Contains(err.Error(), "no vmlinux") {
		t.Errorf("no vmlinux: %v", err)
	}
	if _, err := DebugInit(ctx, InitOptions{Init: "/bin/true", Transport: "tcp"}); err == nil || !strings.Contains(err.Error(), "network driver") {
		t.Errorf("tcp without modules: %v", err)
	}
}

func qemuConfig(initrd string) qemu.Config { return qemu.Config{Initrd: initrd} }
