// Package cache names initkit's cache directory, which several packages
// keep files in: fetched kernels, the accelerator verdict, run
// directories, the symbolizer's index.
package cache

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"
)

// Dir returns $INITKIT_CACHE, or initkit under the user's cache directory.
func Dir() (string, error) {
	if d := os.Getenv("INITKIT_CACHE"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "initkit"), nil
}

// Run directories are kept for KeepRunsFor, and at most the newest
// KeepRuns of them: a dump is hundreds of megabytes, and a day of runs
// gigabytes. A run whose process is alive is never removed.
const (
	KeepRuns    = 50
	KeepRunsFor = 7 * 24 * time.Hour
)

// RunDir makes a new directory for one run's files (a console log, a
// built image, a dump of the guest's memory) under the cache's runs/,
// named by the time and the PID, private to the user; first it prunes
// the old ones (KeepRuns).
func RunDir() (string, error) {
	dir, err := Dir()
	if err != nil {
		return "", err
	}
	runs := filepath.Join(dir, "runs")
	if err := os.MkdirAll(runs, 0o755); err != nil {
		return "", err
	}
	prune(runs, time.Now())
	run := filepath.Join(runs, time.Now().Format("20060102-150405")+"-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(run, 0o700); err != nil && !os.IsExist(err) {
		return "", err
	}
	return run, os.Chmod(run, 0o700)
}

// prune removes the run directories under runs beyond the newest
// KeepRuns, those older than KeepRunsFor, and the empty ones a run
// killed at once left, but never one whose process (the PID its name
// ends with) is alive.
func prune(runs string, now time.Time) {
	ents, err := os.ReadDir(runs)
	if err != nil {
		return
	}
	var names []string
	for _, e := range ents {
		if n := e.Name(); e.IsDir() && len(n) >= 17 && n[15] == '-' {
			names = append(names, n)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(names))) // newest first: the names start with the time
	kept := 0
	for _, n := range names {
		t, err := time.ParseInLocation("20060102-150405", n[:15], time.Local)
		pid, perr := strconv.Atoi(n[16:])
		if err != nil || perr != nil {
			continue // not a run directory of ours
		}
		dead := pid != os.Getpid() && errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
		if ents, err := os.ReadDir(filepath.Join(runs, n)); dead && err == nil && len(ents) == 0 {
			os.Remove(filepath.Join(runs, n)) // a run killed before it wrote anything
			continue
		}
		if dead && (kept >= KeepRuns || now.Sub(t) >= KeepRunsFor) {
			os.RemoveAll(filepath.Join(runs, n))
			continue
		}
		kept++
	}
}
