package kdump

import (
	"strings"
	"testing"
)

func TestPanicArgs(t *testing.T) {
	got, err := PanicArgs([]string{"oops", "warn", "hung"})
	if err != nil || strings.Join(got, " ") != "oops=panic panic_on_warn=1 hung_task_panic=1" {
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
