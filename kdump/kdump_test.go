package kdump

import (
	"strings"
	"testing"
)

func TestFirstKernel(t *testing.T) {
	log := "[    2.5] Kernel panic - not syncing: sysrq triggered crash\n[    2.6] Call Trace:\n[    0.000000] Linux version 6.1.0 (x)\n[    0.1] more\n"
	if got := FirstKernel(log); got != "[    2.5] Kernel panic - not syncing: sysrq triggered crash\n[    2.6] Call Trace:\n" {
		t.Errorf("%q", got)
	}
	if got := FirstKernel("[ 1.0] Oops\n"); got != "[ 1.0] Oops\n" {
		t.Errorf("%q", got)
	}
}

func TestPanicArgs(t *testing.T) {
	got, err := PanicArgs([]string{"oops", "warn", "hung"})
	if err != nil || got != "oops=panic panic_on_warn=1 hung_task_panic=1" {
		t.Errorf("%q %v", got, err)
	}
	if _, err := PanicArgs([]string{"bogus"}); err == nil || !strings.Contains(err.Error(), "want oops") {
		t.Errorf("%v", err)
	}
}

func TestReserve(t *testing.T) {
	// An 8 MB kernel image with a 6.5 MB capture image: 96 + 32 + 13 MB.
	if got := reserve(6680<<10, 8<<20); got != "144M" {
		t.Errorf("reserve: %s", got)
	}
}
