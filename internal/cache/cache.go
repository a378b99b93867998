// Package cache names initkit's cache directory, which several packages
// keep files in: fetched kernels, the accelerator verdict, run
// directories, the symbolizer's index.
package cache

import (
	"os"
	"path/filepath"
	"strconv"
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

// RunDir makes a new directory for one run's files (a console log, a
// built image) under the cache's runs/, named by the time and the PID.
func RunDir() (string, error) {
	dir, err := Dir()
	if err != nil {
		return "", err
	}
	run := filepath.Join(dir, "runs", time.Now().Format("20060102-150405")+"-"+strconv.Itoa(os.Getpid()))
	return run, os.MkdirAll(run, 0o755)
}
