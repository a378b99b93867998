// Package atomicfile writes a file so that readers see either the old
// content or the complete new content, never a partial write: the data goes
// to a temporary file in the same directory, is synced, and renamed over
// the target.
package atomicfile

import (
	"io"
	"os"
	"path/filepath"
)

// Write calls fill with a temporary file and, if it succeeds, renames the
// file to path with mode perm. On any error the temporary file is removed
// and path is left as it was.
func Write(path string, perm os.FileMode, fill func(w io.Writer) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = fill(f); err != nil {
		return err
	}
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
