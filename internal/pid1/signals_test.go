package pid1

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// sigIgnMask reads the SigIgn mask of /proc/PID/status (or of the text).
func sigIgnMask(t *testing.T, status string) uint64 {
	t.Helper()
	for _, l := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(l, "SigIgn:"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return m
		}
	}
	t.Fatalf("no SigIgn in %q", status)
	return 0
}

func heldMask() uint64 {
	var m uint64
	for _, s := range heldSignals {
		m |= 1 << (uint(s) - 1)
	}
	return m
}

// TestHoldSignals: after holdSignals the process ignores heldSignals, a
// child started by Go does not (the runtime resets them before exec), and
// releaseSignals ends the ignoring. The test's own Go handlers are put
// back afterwards.
func TestHoldSignals(t *testing.T) {
	saved := make([]sigaction, len(heldSignals))
	for i, s := range heldSignals {
		rtSigaction(s, nil, &saved[i])
	}
	t.Cleanup(func() {
		for i, s := range heldSignals {
			rtSigaction(s, &saved[i], nil)
		}
	})
	self := func() uint64 {
		b, err := os.ReadFile("/proc/self/status")
		if err != nil {
			t.Fatal(err)
		}
		return sigIgnMask(t, string(b))
	}
	// Ignored when the test started (nohup ignores SIGHUP): Go keeps
	// those ignored in its children, as it should.
	inherited := self()
	holdSignals()
	if got := self(); got&heldMask() != heldMask() {
		t.Fatalf("after holdSignals SigIgn is %#x, want %#x set", got, heldMask())
	}
	out, err := exec.Command("cat", "/proc/self/status").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := sigIgnMask(t, string(out)); got&heldMask()&^inherited != 0 {
		t.Fatalf("a child inherited SigIgn %#x", got)
	}
	releaseSignals()
	if got := self(); got&heldMask()&^inherited != 0 {
		t.Fatalf("after releaseSignals SigIgn is %#x", got)
	}
}
