// Package cache names initkit's cache directory, which several packages
// keep files in: fetched kernels, the accelerator verdict, run
// directories, the symbolizer's index.
package cache

import (
	"os"
	"path/filepath"
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
