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

	"golang.org/x/sys/unix"
)

// live holds the temporary files being written, for Cleanup.
var live sync.Map

// Cleanup removes every temporary file a Write in this process has not
// finished: for a signal handler about to exit, so that an interrupted
// write leaves nothing behind.
func Cleanup() {
	live.Range(func(name, _ any) bool {
		os.RemoveAll(name.(string))
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
			os.RemoveAll(o) // a file, or a scratch directory (ScratchDir)
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

func write(path string, perm os.FileMode, sync bool, fill func(w io.Writer) error) error {
	p, err := Create(path, perm)
	if err != nil {
		return err
	}
	p.NoSync = !sync
	var w io.Writer = p.File
	if sync {
		w = &writeBehind{f: p.File}
	}
	if err := fill(w); err != nil {
		p.Abort()
		return err
	}
	return p.Commit()
}

// writeBehind starts the writeback of each few megabytes written, so
// that the disk writes while the rest is made and the sync at the end
// waits for the last few only: a rebuilt image of tens of megabytes
// otherwise spends tens of milliseconds in that one sync.
type writeBehind struct {
	f             *os.File
	written, kick int64
}

const writeBehindEvery = 4 << 20

func (w *writeBehind) Write(b []byte) (int, error) {
	n, err := w.f.Write(b)
	w.written += int64(n)
	if w.written-w.kick >= writeBehindEvery {
		// Only a hint: the sync in Commit is what makes the data safe.
		unix.SyncFileRange(int(w.f.Fd()), w.kick, w.written-w.kick, unix.SYNC_FILE_RANGE_WRITE)
		w.kick = w.written
	}
	return n, err
}

// ReadFrom keeps io.Copy's copy_file_range and sendfile: the pieces
// written so are kicked all at once in Commit's sync.
func (w *writeBehind) ReadFrom(r io.Reader) (int64, error) {
	n, err := w.f.ReadFrom(r)
	w.written += n
	return n, err
}

// Pending is a file being written in place of Path: what a writer needs
// when tools write the file by name (a disk image: sfdisk, mke2fs), or
// when several files must appear together. Commit or Abort it.
type Pending struct {
	Path   string
	File   *os.File // the temporary file, in Path's directory
	NoSync bool     // Commit without syncing the data
	perm   os.FileMode
}

// Create starts a Pending write of path, to be given mode perm; a
// temporary file of path that a killed process left is removed first.
func Create(path string, perm os.FileMode) (*Pending, error) {
	removeStale(path)
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, tempPrefix(path, os.Getpid())+"*")
	if err != nil {
		// The temporary file's name means nothing to the user: the
		// directory is what is missing or not writable.
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = &os.PathError{Op: "create in", Path: dir, Err: pe.Err}
		}
		return nil, err
	}
	live.Store(f.Name(), true)
	return &Pending{Path: path, File: f, perm: perm}, nil
}

// Name is the temporary file's name.
func (p *Pending) Name() string { return p.File.Name() }

// Commit syncs the temporary file and renames it to Path. On an error
// the temporary file is removed and Path is left as it was.
func (p *Pending) Commit() (err error) {
	defer func() {
		if err != nil {
			p.Abort()
		}
	}()
	if err = p.File.Chmod(p.perm); err != nil {
		return err
	}
	if !p.NoSync {
		if err = p.File.Sync(); err != nil {
			return err
		}
	}
	if err = p.File.Close(); err != nil {
		return err
	}
	if err = os.Rename(p.File.Name(), p.Path); err != nil {
		return err
	}
	live.Delete(p.File.Name())
	return nil
}

// Abort removes the temporary file; Path is left as it was. It may be
// called after Commit, and does nothing then.
func (p *Pending) Abort() {
	if _, ok := live.LoadAndDelete(p.File.Name()); ok {
		p.File.Close()
		os.Remove(p.File.Name())
	}
}

// ScratchDir makes a scratch directory beside path, named as path's
// temporary files are: a later write of path removes it if a killed
// process left it, and Cleanup removes it on a signal. It is for work
// too big for $TMPDIR (scratch filesystems of a disk image). Call the
// returned function to remove it.
func ScratchDir(path string) (string, func(), error) {
	// Absolute: the tools it is for may run elsewhere (mmdebstrap's
	// hooks).
	path, err := filepath.Abs(path)
	if err != nil {
		return "", nil, err
	}
	removeStale(path)
	dir, err := os.MkdirTemp(filepath.Dir(path), tempPrefix(path, os.Getpid())+"*")
	if err != nil {
		return "", nil, err
	}
	live.Store(dir, true)
	return dir, func() { live.Delete(dir); os.RemoveAll(dir) }, nil
}

// TempDir makes a temporary directory for one run of kind ("qmp",
// "exec"), named by this process's PID, as os.MkdirTemp would; first it
// removes those of the same kind whose process no longer exists (killed
// by SIGKILL, which gave it no chance to clean up).
func TempDir(kind string) (string, error) {
	return tempDirIn(os.TempDir(), "initkit-"+kind+"-")
}

// HiddenTempDir is TempDir in parent, its name starting with a dot: for
// files renamed into parent once complete.
func HiddenTempDir(parent, kind string) (string, error) {
	return tempDirIn(parent, ".initkit-"+kind+"-")
}

func tempDirIn(parent, prefix string) (string, error) {
	old, _ := filepath.Glob(filepath.Join(parent, prefix+"*-*"))
	for _, o := range old {
		pidText, _, _ := strings.Cut(strings.TrimPrefix(filepath.Base(o), prefix), "-")
		if pid, err := strconv.Atoi(pidText); err == nil && pid > 0 && pid != os.Getpid() && errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			os.RemoveAll(o)
		}
	}
	return os.MkdirTemp(parent, prefix+strconv.Itoa(os.Getpid())+"-")
}
