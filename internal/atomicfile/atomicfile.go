// Package atomicfile writes a file so that readers see either the old
// content or the complete new content, never a partial write: the data goes
// to a temporary file in the same directory, is synced, and renamed over
// the target.
package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// live holds the temporary files being written, for Cleanup.
var live sync.Map

// Cleanup removes every temporary file a Write in this process has not
// finished: for a signal handler about to exit, so that an interrupted
// write leaves nothing behind.
func Cleanup() {
	live.Range(func(name, _ any) bool {
		os.Remove(name.(string))
		return true
	})
}

// tempPrefix names the temporary files of path: ".BASE.tmp-PID-", so that
// a later run can tell a stale one (its writer gone, killed with SIGKILL)
// from one being written.
func tempPrefix(path string, pid int) string {
	return "." + filepath.Base(path) + ".tmp-" + strconv.Itoa(pid) + "-"
}

// removeStale removes the temporary files of path whose writing process
// no longer exists.
func removeStale(path string) {
	old, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*-*"))
	for _, o := range old {
		rest := strings.TrimPrefix(filepath.Base(o), "."+filepath.Base(path)+".tmp-")
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			os.Remove(o)
		}
	}
}

// Write calls fill with a temporary file and, if it succeeds, syncs it and
// renames it to path with mode perm. On any error the temporary file is
// removed and path is left as it was; a temporary file of path that a
// killed process left is removed first.
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
	removeStale(path)
	f, err := os.CreateTemp(filepath.Dir(path), tempPrefix(path, os.Getpid())+"*")
	if err != nil {
		return err
	}
	live.Store(f.Name(), true)
	defer live.Delete(f.Name())
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
