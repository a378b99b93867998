package qemu

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/initkit/initkit/internal/testenv"
)

// testKernel is the kernel make test fetches into the cache, for the
// tests that boot it (make unit's -short leaves them to make test).
func testKernel(t *testing.T) string {
	if testing.Short() {
		t.Skip("boots a kernel in QEMU: make test runs this")
	}
	return testenv.Kernel(t).Image
}

// TestBootsUnderTCG proves the probe is valid: under TCG, which
// works everywhere, the kernel reaches its root-mount panic and QEMU
// exits; a file that is no kernel does not pass.
func TestBootsUnderTCG(t *testing.T) {
	if !BootsUnder(context.Background(), "", "tcg", testKernel(t)) {
		t.Fatal("the kernel did not boot to its panic under TCG")
	}
	junk := filepath.Join(t.TempDir(), "not-a-kernel")
	os.WriteFile(junk, []byte("not a kernel\n"), 0o644)
	if BootsUnder(context.Background(), "", "tcg", junk) {
		t.Fatal("a file that is no kernel passed the probe")
	}
}

// TestAutoPicksWorkingAccel runs the real choice on this machine: the
// answer must be one the kernel boots under, and must come in bounded
// time (some hosts have a /dev/kvm under which a tiny guest sometimes
// runs and every kernel hangs).
func TestAutoPicksWorkingAccel(t *testing.T) {
	k := testKernel(t)
	start := time.Now()
	var warn bytes.Buffer
	got := ChooseAccel(context.Background(), "auto", "", k, "/dev/kvm", BootsUnder, &warn)
	if time.Since(start) > probeTimeout+5*time.Second {
		t.Errorf("choosing took %v", time.Since(start))
	}
	if !BootsUnder(context.Background(), "", got, k) {
		t.Errorf("auto chose %s, under which the kernel does not boot", got)
	}
	if _, err := os.Stat("/dev/kvm"); err == nil && got == "tcg" && !strings.Contains(warn.String(), "using TCG") {
		t.Errorf("fell back to TCG without saying so")
	}
	t.Logf("auto chose %s; %s", got, warn.String())
}

func TestChooseAccelLogic(t *testing.T) {
	dev := filepath.Join(t.TempDir(), "kvm")
	never := func(context.Context, string, string, string) bool { t.Fatal("probed"); return false }
	if got := ChooseAccel(context.Background(), "kvm", "", "k", dev, never, nil); got != "kvm" {
		t.Errorf("explicit kvm: %s", got)
	}
	if got := ChooseAccel(context.Background(), "auto", "", "k", dev, never, nil); got != "tcg" {
		t.Errorf("no /dev/kvm: %s", got)
	}
	os.WriteFile(dev, nil, 0o644)
	var warn bytes.Buffer
	hangs := func(context.Context, string, string, string) bool { return false }
	if got := ChooseAccel(context.Background(), "auto", "", "k", dev, hangs, &warn); got != "tcg" || !strings.Contains(warn.String(), "using TCG") {
		t.Errorf("hanging kvm: %s, %q", got, warn.String())
	}
	works := func(_ context.Context, _, accel, kernel string) bool { return accel == "kvm" && kernel == "k" }
	if got := ChooseAccel(context.Background(), "auto", "", "k", dev, works, &warn); got != "kvm" {
		t.Errorf("working kvm: %s", got)
	}
}

// The verdict is remembered for the host's boot: a dry run reads it and
// never probes; with no verdict a dry run shows tcg.
func TestResolveAccelMemo(t *testing.T) {
	t.Setenv("INITKIT_CACHE", t.TempDir())
	c := Config{Kernel: "no-such-kernel"}
	if got := resolveAccel(context.Background(), c, nil, false); got != "tcg" {
		t.Errorf("no verdict, dry run: %s", got)
	}
	memo := memoPath()
	if memo == "" {
		t.Fatal("no memo path")
	}
	// A memo that is not a verdict (a damaged cache) is none, never
	// passed on to QEMU's -accel.
	os.WriteFile(memo, []byte("tcg,thread=multi\n"), 0o644)
	if got := resolveAccel(context.Background(), c, nil, false); got != "tcg" {
		t.Errorf("memo %q, dry run: %s", "tcg,thread=multi", got)
	}
	os.WriteFile(memo, []byte("kvm\n"), 0o644)
	for _, probe := range []bool{false, true} {
		if got := resolveAccel(context.Background(), c, nil, probe); got != "kvm" {
			t.Errorf("memo kvm, probe %v: %s", probe, got)
		}
	}
	if got := resolveAccel(context.Background(), Config{Accel: "tcg"}, nil, true); got != "tcg" {
		t.Errorf("explicit tcg: %s", got)
	}
	if got := resolveAccel(context.Background(), Config{Arch: "aarch64"}, nil, true); got != "tcg" {
		t.Errorf("aarch64 guest on an x86 host: %s", got)
	}
}
