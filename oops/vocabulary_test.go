package oops

import (
	"strings"
	"testing"
)

func TestFatalLine(t *testing.T) {
	for line, want := range map[string]bool{
		"[    2.100000] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000700": true,
		"hanging[    2.1] Kernel panic - not syncing: sysrq triggered crash":                     true,
		"[    1.0] BUG: kernel NULL pointer dereference, address: 0000000000000000":              true,
		"\x1b[0m[    1.0] Oops: 0002 [#1] PREEMPT SMP NOPTI\r":                                   true,
		"general protection fault, probably for non-canonical address 0xdead":                    true,
		"BUG: KASAN: slab-out-of-bounds in foo+0x1/0x2":                                          true,
		"UBSAN: shift-out-of-bounds in lib/x.c:1:2":                                              true,
		"watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [sh:1]":                               true,
		"WARNING: CPU: 0 PID: 1 at kernel/x.c:1 f+0x1/0x2":                                       false,
		"INFO: task sh:1 blocked for more than 120 seconds.":                                     false,
		"echo BUG: not at the start":                                                             false,
		"boot-ok:42":                                                                             false,
	} {
		if got := FatalLine(line); got != want {
			t.Errorf("FatalLine(%q) = %v, want %v", line, got, want)
		}
	}
}

func TestStripEscapes(t *testing.T) {
	if got := string(StripEscapes([]byte("\x1b[1;31mred\x1b[0m line\r"))); got != "red line" {
		t.Errorf("StripEscapes = %q", got)
	}
}

func TestExcerpt(t *testing.T) {
	log := "before\n[ 1.0] Kernel panic - not syncing: x\nCall Trace:\n f+0x1/0x2\n[ 1.1] ---[ end Kernel panic - not syncing: x ]---\nafter\n"
	got := Excerpt(log, "[ 1.0] Kernel panic - not syncing: x")
	if !strings.HasPrefix(got, "[ 1.0] Kernel panic") || !strings.HasSuffix(got, "]---") || strings.Contains(got, "after") {
		t.Errorf("Excerpt:\n%s", got)
	}
	long := "Oops: 1\n" + strings.Repeat("line\n", maxBlock+40)
	if n := strings.Count(Excerpt(long, "Oops: 1"), "\n") + 1; n != maxBlock {
		t.Errorf("an unended report gave %d lines, want %d", n, maxBlock)
	}
	if got := Excerpt("other", "Oops: 9"); got != "Oops: 9" {
		t.Errorf("Excerpt of a missing line = %q", got)
	}
}

// A kdump boot's crash excerpt ends where the capture kernel starts.
func TestFirstKernel(t *testing.T) {
	log := "[    2.5] Kernel panic - not syncing: sysrq triggered crash\n[    2.6] Call Trace:\n[    0.000000] Linux version 6.1.0 (x)\n[    0.1] more\n"
	if got := FirstKernel(log); got != "[    2.5] Kernel panic - not syncing: sysrq triggered crash\n[    2.6] Call Trace:\n" {
		t.Errorf("%q", got)
	}
	if got := FirstKernel("[ 1.0] Oops\n"); got != "[ 1.0] Oops\n" {
		t.Errorf("%q", got)
	}
}

func TestPanicLine(t *testing.T) {
	lines := []string{"Kernel panic - not syncing: first", "x", " Kernel panic - not syncing: last \n", "y"}
	if got := PanicLine(lines); got != "Kernel panic - not syncing: last" {
		t.Errorf("PanicLine = %q", got)
	}
	if got := PanicLine([]string{"all fine"}); got != "" {
		t.Errorf("PanicLine of a clean log = %q", got)
	}
}

func TestHalted(t *testing.T) {
	if !Halted([]byte("[    1.2] reboot: System halted")) || Halted([]byte("reboot: System halted soon, said the user")) {
		t.Error("Halted")
	}
}
