package gdb

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/initkit/initkit/boot"
	"github.com/initkit/initkit/guest"
	"github.com/initkit/initkit/internal/testenv"
	"github.com/initkit/initkit/kernel"
	"github.com/initkit/initkit/qemu"
)

// The serial transport puts gdbserver on a serial port, tells the init
// which, and waits for its ready line; tcp forwards from 127.0.0.1 only.
func TestTransport(t *testing.T) {
	args := func(b boot.Options) string {
		a, err := qemu.Config{Kernel: "k", Devices: b.Devices}.Args()
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(a, " ")
	}
	s := &session{dir: t.TempDir()}
	var b boot.Options
	target, err := s.transport(InitOptions{Transport: "serial"}, &b)
	if err != nil {
		t.Fatal(err)
	}
	if a := args(b); target != filepath.Join(s.dir, "gdb.sock") || !strings.Contains(a, guest.KeyGDB+"=ttyS1") ||
		!strings.Contains(a, "-serial chardev:sock0") || !s.ready.MatchString("Remote debugging using /dev/ttyS1") {
		t.Errorf("serial: target %s, %s", target, a)
	}
	s, b = &session{dir: t.TempDir()}, boot.Options{}
	target, err = s.transport(InitOptions{Transport: "tcp"}, &b)
	if err != nil {
		t.Fatal(err)
	}
	if a := args(b); !strings.HasPrefix(target, "127.0.0.1:") || !strings.Contains(a, "hostfwd=tcp:127.0.0.1:") ||
		!strings.Contains(a, "initkit.gdb=tcp:1234") || !s.ready.MatchString("Listening on port 1234") {
		t.Errorf("tcp: target %s, %s", target, a)
	}
}

func TestSessionErrors(t *testing.T) {
	ctx := context.Background()
	k := &kernel.Choice{Image: "bzImage"} // chosen: nothing is fetched
	with := func(initrd string) Options { return Options{Boot: boot.Options{Chosen: k, Initrd: initrd}} }
	if _, err := DebugInit(ctx, InitOptions{Transport: "usb"}); err == nil || !strings.Contains(err.Error(), "want serial or tcp") {
		t.Errorf("bad transport: %v", err)
	}
	if _, err := DebugInit(ctx, InitOptions{Options: with("")}); err == nil || !strings.Contains(err.Error(), "give the init to debug") {
		t.Errorf("nothing to debug: %v", err)
	}
	notImage := filepath.Join(t.TempDir(), "x.img")
	os.WriteFile(notImage, []byte("not an image"), 0o644)
	if _, err := DebugInit(ctx, InitOptions{Options: with(notImage)}); err == nil || !strings.Contains(err.Error(), "x.img: image offset 0: no cpio or compression magic") {
		t.Errorf("bad image: %v", err)
	}
	if _, err := DebugKernel(ctx, with("")); err == nil || !strings.Contains(err.Error(), "no vmlinux") {
		t.Errorf("no vmlinux: %v", err)
	}
	if _, err := DebugInit(ctx, InitOptions{Options: with(""), Init: "/bin/true", Transport: "tcp"}); err == nil || !strings.Contains(err.Error(), "network driver") {
		t.Errorf("tcp without modules: %v", err)
	}
	twoLines := with("")
	twoLines.Break = "main\nshell touch /tmp/x"
	if _, err := DebugKernel(ctx, twoLines); err == nil || !strings.Contains(err.Error(), "a location is one line") {
		t.Errorf("a break of two lines: %v", err)
	}
	// A guest of another machine cannot run the host's gdbserver hook:
	// said so, not "build the image with an init_binary".
	other := map[string]string{"x86_64": "aarch64", "aarch64": "x86_64"}[kernel.HostArch()]
	stub := filepath.Join(t.TempDir(), "Image")
	if err := testenv.WriteStubKernel(stub, other); err != nil {
		t.Fatal(err)
	}
	foreign := InitOptions{Options: Options{Boot: boot.Options{Chosen: &kernel.Choice{Image: stub, Arch: other}}}, Init: "/bin/true"}
	if _, err := DebugInit(ctx, foreign); err == nil || !strings.Contains(err.Error(), "debug init runs the host's gdbserver and initkit init") {
		t.Errorf("a guest of another machine: %v", err)
	}
	negative := with("")
	negative.Grace = -time.Second
	if _, err := DebugKernel(ctx, negative); err == nil || !strings.Contains(err.Error(), "grace -1s: cannot be negative") {
		t.Errorf("a negative grace: %v", err)
	}
}
