package main

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRefusesUnlessPID1: run on a host by mistake, the init changes
// nothing (it would mount over /dev, /proc and /run) and says why.
func TestRefusesUnlessPID1(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "initkit-init")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	before, _ := os.ReadFile("/proc/self/mountinfo")
	var stderr bytes.Buffer
	cmd := exec.Command(bin)
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Fatalf("exit: %v, want status 2", err)
	}
	if !strings.Contains(stderr.String(), "runs only as PID 1") {
		t.Errorf("stderr: %q", stderr.String())
	}
	if after, _ := os.ReadFile("/proc/self/mountinfo"); !bytes.Equal(before, after) {
		t.Errorf("the mounts changed:\n%s\n---\n%s", before, after)
	}
}

// TestSize holds the init to its budget (issue 5): static, stripped, at
// most 2.5 MB, built as make build builds it.
func TestSize(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "initkit-init")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	st, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 2_500_000 {
		t.Errorf("initkit-init is %d bytes, over the 2.5 MB budget", st.Size())
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("initkit-init is dynamically linked")
		}
	}
}
