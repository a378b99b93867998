package qemu

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestProbeImageRunsUnderTCG proves the probe guest is valid: under TCG,
// which works everywhere, it must make QEMU exit with the probe status.
func TestProbeImageRunsUnderTCG(t *testing.T) {
	if !Probe(context.Background(), "", "tcg") {
		t.Fatal("the probe image did not run under TCG")
	}
}

// TestAutoPicksWorkingAccel runs the real choice on this machine: the
// answer must be one whose probe guest runs, and must come in bounded time
// (on the machines this is tested on /dev/kvm exists and KVM hangs).
func TestAutoPicksWorkingAccel(t *testing.T) {
	start := time.Now()
	var warn bytes.Buffer
	got := ChooseAccel(context.Background(), "auto", "", "/dev/kvm", Probe, &warn)
	if time.Since(start) > probeTimeout+2*time.Second {
		t.Errorf("choosing took %v", time.Since(start))
	}
	if !Probe(context.Background(), "", got) {
		t.Errorf("auto chose %s, whose probe guest does not run", got)
	}
	if _, err := os.Stat("/dev/kvm"); err == nil && got == "tcg" && !strings.Contains(warn.String(), "using TCG") {
		t.Errorf("fell back to TCG without saying so")
	}
	t.Logf("auto chose %s; %s", got, warn.String())
}

func TestChooseAccelLogic(t *testing.T) {
	dev := filepath.Join(t.TempDir(), "kvm")
	never := func(context.Context, string, string) bool { t.Fatal("probed"); return false }
	if got := ChooseAccel(context.Background(), "kvm", "", dev, never, nil); got != "kvm" {
		t.Errorf("explicit kvm: %s", got)
	}
	if got := ChooseAccel(context.Background(), "auto", "", dev, never, nil); got != "tcg" {
		t.Errorf("no /dev/kvm: %s", got)
	}
	os.WriteFile(dev, nil, 0o644)
	var warn bytes.Buffer
	hangs := func(context.Context, string, string) bool { return false }
	if got := ChooseAccel(context.Background(), "auto", "", dev, hangs, &warn); got != "tcg" || !strings.Contains(warn.String(), "using TCG") {
		t.Errorf("hanging kvm: %s, %q", got, warn.String())
	}
	works := func(_ context.Context, _, accel string) bool { return accel == "kvm" }
	if got := ChooseAccel(context.Background(), "auto", "", dev, works, &warn); got != "kvm" {
		t.Errorf("working kvm: %s", got)
	}
}
