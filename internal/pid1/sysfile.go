package pid1

import (
	"bytes"
	"encoding/binary"
	"io"
	"io/fs"
	"strings"

	"golang.org/x/sys/unix"
)

// The init's boot path reads files, directories and devices with these
// plain system calls rather than package os. Under QEMU's TCG every Go
// function that runs for the first time is translated before it runs,
// and that, not the system calls, is most of the init's own time: with
// package os's file layer (its poller set-up among it), reading the
// 60-byte /proc/cmdline took about 10 ms at boot, against about 3 ms with
// open, read and close. The rescue, LUKS and exec paths keep package os:
// they are not on the way of a normal boot.

// readFile reads a whole file, as os.ReadFile does.
func readFile(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	b := make([]byte, 0, 512)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := unix.Read(fd, b[len(b):cap(b)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return b, nil
		}
		b = b[:len(b)+n]
	}
}

// readTrimmed reads a one-value file such as sysfs's "size" or "dev",
// without the trailing newline; "" when it cannot be read.
func readTrimmed(path string) string {
	b, err := readFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// lines calls fn for each line of b that is neither blank nor a comment,
// without surrounding spaces.
func lines(b []byte, fn func(string)) {
	for len(b) > 0 {
		l := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			l, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		l = bytes.TrimSpace(l)
		if len(l) > 0 && l[0] != '#' {
			fn(string(l))
		}
	}
}

// dirEnt is one directory entry.
type dirEnt struct {
	name string
	dir  bool
}

// readDir lists a directory (without . and ..) in the order the
// filesystem gives, as getdents64 returns it (include/linux/dirent.h:
// inode, offset, record length, type, NUL-terminated name).
func readDir(dir string) ([]dirEnt, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	var ents []dirEnt
	buf := make([]byte, 8192)
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return ents, &fs.PathError{Op: "getdents", Path: dir, Err: err}
		}
		if n <= 0 {
			return ents, nil
		}
		for b := buf[:n]; len(b) >= 19; {
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			if reclen < 19 || reclen > len(b) {
				break
			}
			name := b[19:reclen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			typ := b[18]
			b = b[reclen:]
			if s := string(name); s != "." && s != ".." {
				ents = append(ents, dirEnt{s, isDirEnt(dir+"/"+s, typ)})
			}
		}
	}
}

// isDirEnt tells a directory from d_type, asking lstat only when the
// filesystem leaves the type unknown.
func isDirEnt(path string, typ byte) bool {
	if typ != unix.DT_UNKNOWN {
		return typ == unix.DT_DIR
	}
	var st unix.Stat_t
	return unix.Lstat(path, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR
}

// devFile reads a block device by offset (the probe package's
// io.ReaderAt) through pread.
type devFile int

func openDev(path string) (devFile, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return devFile(fd), nil
}

func (f devFile) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		m, err := unix.Pread(int(f), p[n:], off+int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		if m == 0 {
			return n, io.EOF
		}
		n += m
	}
	return n, nil
}

func (f devFile) Close() error { return unix.Close(int(f)) }

// mkdir makes a directory unless it exists.
func mkdir(path string, mode uint32) error {
	if err := unix.Mkdir(path, mode); err != nil && err != unix.EEXIST {
		return &fs.PathError{Op: "mkdir", Path: path, Err: err}
	}
	return nil
}

// statMode returns the mode of path, symlinks followed.
func statMode(path string) (uint32, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	return st.Mode, nil
}

// readlink returns a symlink's target.
func readlink(path string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlink(path, buf)
		if err != nil {
			return "", &fs.PathError{Op: "readlink", Path: path, Err: err}
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}
