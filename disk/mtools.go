package disk

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// mtools runs an mtools command (mcopy, mdir) on the FAT filesystem at
// off in the image file, with env added, its output to stdout (nil:
// returned in the error only). The image reaches mtools as /dev/fd/3, which it opens as
// any path: the image's own name is never parsed by mtools, where "@@"
// would name another offset and a ":" a drive.
func mtools(ctx context.Context, file string, off int64, write bool, env []string, stdout io.Writer, tool string, args ...string) error {
	flag := os.O_RDONLY
	if write {
		flag = os.O_RDWR
	}
	f, err := os.OpenFile(file, flag, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := command(ctx, tool, append([]string{"-i", "/dev/fd/3@@" + strconv.FormatInt(off, 10)}, args...)...)
	cmd.ExtraFiles = []*os.File{f}
	cmd.Env = append(append(os.Environ(), "MTOOLS_SKIP_CHECK=1"), env...)
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = stdout, &errb
	if stdout == nil {
		cmd.Stdout = &errb
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %s", tool, strings.TrimSpace(errb.String()+" "+errString(err)))
	}
	return nil
}

// fatName refuses a path inside a FAT filesystem that mtools would read
// as more than a name (a control character, its wildcards * ? [) or
// that VFAT cannot hold (" : < > | \\).
func fatName(what, name string) error {
	if err := plainName(what, name); err != nil {
		return err
	}
	if strings.ContainsAny(name, `*?[":<>|\`) {
		return fmt.Errorf("%s: %q holds a character vfat cannot hold or mtools reads as a wildcard (\" * : < > ? [ \\ |): refused", what, name)
	}
	return nil
}

// fatTree checks a host tree bound for a FAT filesystem: FAT has no
// symbolic links (mcopy would copy what one points at, anywhere on the
// host), no device nodes and no FIFOs; names must be plain.
func fatTree(src string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := plainName(p, p); err != nil {
			return err
		}
		if err := fatName(p, d.Name()); err != nil && p != src {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			t, _ := os.Readlink(p)
			return fmt.Errorf("%s: a symbolic link (to %s): vfat has none, and copying what it points at could copy any host file", p, t)
		case !d.IsDir() && !d.Type().IsRegular():
			return fmt.Errorf("%s: not a file or a directory: vfat cannot hold it", p)
		}
		return nil
	})
}
