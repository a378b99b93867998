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

// Write calls fill with a temporary file and, if it succeeds, syncs it and
// renames it to path with mode perm. On any error the temporary file is
// removed and path is left as it was.
func Write(path string, perm os.FileMode, fill func(w io.Writer) error) error {
	return write(path, perm, true, fill)
}

// WriteUnsynced is Write without the sync: for a scratch file that must
// never be seen half-written but need not survive a crash (initkit exec's
// image, deleted after the run). A sync of a few megabytes costs
// milliseconds to tens of milliseconds, depending on the disk.
func WriteUnsynced(path string, perm os.FileMode, fill func(w io.Writer) error) error {
	return write(path, perm, false, fill)
}

func write(path string, perm os.FileMode, sync bool, fill func(w io.Writer) error) (err error) {
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
	if sync {
		if err = f.Sync(); err != nil {
			return err
		}
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
