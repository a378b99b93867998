package qemu

import (
	"context"
	"strings"
	"testing"
)

func TestArgs(t *testing.T) {
	got := strings.Join(Config{Kernel: "vmlinuz", Initrd: "initrd.img", Append: "quiet", Extra: []string{"-cpu", "max"}}.Args(), " ")
	want := "-machine q35 -accel tcg -m 512M -smp 1 -nodefaults -display none -serial stdio -no-reboot " +
		"-kernel vmlinuz -initrd initrd.img -append console=ttyS0 panic=-1 quiet -cpu max"
	if got != want {
		t.Errorf("Args:\n got %s\nwant %s", got, want)
	}
	noInitrd := strings.Join(Config{Kernel: "k", Memory: "2G", SMP: 4, Accel: "kvm"}.Args(), " ")
	if strings.Contains(noInitrd, "-initrd") || !strings.Contains(noInitrd, "-m 2G -smp 4") || !strings.Contains(noInitrd, "-accel kvm") {
		t.Errorf("Args without initrd: %s", noInitrd)
	}
}

func TestConsole(t *testing.T) {
	var c Console
	for _, chunk := range []string{"[    1.0] Run /init as init process\r\n\x1b[1;31mhel", "lo\x1b[0m\r\n", "[    2.1] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100\r\n", "Oops: second\n", "tail"} {
		c.Write([]byte(chunk))
	}
	if got, want := c.Crash(), "[    2.1] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100"; got != want {
		t.Errorf("Crash() = %q, want the first report line %q", got, want)
	}
	log := c.Log()
	if strings.ContainsAny(log, "\r\x1b") || !strings.Contains(log, "\nhello\n") || !strings.HasSuffix(log, "tail") {
		t.Errorf("Log() = %q", log)
	}
	var quiet Console
	quiet.Write([]byte("all fine\nBUG_ON is a macro name, not a report\n"))
	if quiet.Crash() != "" {
		t.Errorf("crash found in a clean log: %q", quiet.Crash())
	}
}

// TestBootMissingBinary: a QEMU that cannot start is an outcome, not a hang.
func TestBootMissingBinary(t *testing.T) {
	o := Boot(context.Background(), Config{Binary: "/nonexistent/qemu", Kernel: "k", Accel: "tcg"}, Watch{})
	if o.Kind != Failed || o.Err == nil || !strings.Contains(o.Err.Error(), "qemu") {
		t.Fatalf("Boot = %+v", o)
	}
}

// A kernel that halts (no ACPI to power off with) ends the run: the
// console's outcome is known without waiting for QEMU.
func TestConsoleHalted(t *testing.T) {
	var c Console
	c.Watch(nil, nil)
	c.Write([]byte("[    1.2] reboot: System halted\r\n"))
	select {
	case <-c.Done():
	default:
		t.Fatal("a halted kernel did not end the run")
	}
	if c.Crash() != "" {
		t.Errorf("a halt is no crash: %q", c.Crash())
	}
}
