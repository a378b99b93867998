package cache

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// deadPID is the PID of a process that has exited.
func deadPID(t *testing.T) int {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// Old runs go, beyond the newest KeepRuns or KeepRunsFor, unless their
// process still runs; what is not a run directory stays.
func TestPrune(t *testing.T) {
	runs := t.TempDir()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.Local)
	dead, alive := strconv.Itoa(deadPID(t)), strconv.Itoa(os.Getppid())
	mk := func(age time.Duration, pid string) string {
		n := now.Add(-age).Format("20060102-150405") + "-" + pid
		os.MkdirAll(filepath.Join(runs, n, "x"), 0o700)
		return n
	}
	old, oldAlive, recent := mk(8*24*time.Hour, dead), mk(9*24*time.Hour, alive), mk(time.Hour, dead)
	var many []string
	for i := range KeepRuns + 2 {
		many = append(many, mk(2*time.Hour+time.Duration(i)*time.Minute, dead))
	}
	os.MkdirAll(filepath.Join(runs, "mine"), 0o700)
	empty := now.Add(-time.Minute).Format("20060102-150405") + "-" + dead
	os.Mkdir(filepath.Join(runs, empty), 0o700)
	prune(runs, now)
	for n, want := range map[string]bool{old: false, oldAlive: true, recent: true, "mine": true, empty: false,
		many[0]: true, many[KeepRuns-2]: true, many[KeepRuns-1]: false, many[KeepRuns+1]: false} {
		if _, err := os.Stat(filepath.Join(runs, n)); (err == nil) != want {
			t.Errorf("%s: kept %v, want %v", n, err == nil, want)
		}
	}
}

// A run directory is private: it holds dumps of the guest's memory.
func TestRunDirMode(t *testing.T) {
	t.Setenv("INITKIT_CACHE", t.TempDir())
	d, err := RunDir()
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(d); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("%s: %v %v", d, st.Mode(), err)
	}
}
