package image

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/initkit/initkit/cpio"
)

// FilesFromDir returns the files under dir as entries named relative to it,
// as `cd dir && find . | cpio -o -H newc` would archive them: modes, owners,
// mtimes, symlink targets, device numbers, and hardlink sets by (device,
// inode). The directory itself is not included.
func FilesFromDir(dir string) ([]File, error) {
	// A file, or a link to one, would make an image of nothing.
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s: not a directory", dir)
	}
	// A link to a directory is walked into: WalkDir does not follow its
	// root, unless the name ends in a slash.
	root := strings.TrimSuffix(dir, "/") + "/"
	var files []File
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == root {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		f, err := FileFromHost(path, filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		files = append(files, f)
		return nil
	})
	return files, err
}

// FileFromHost describes the host file at path as an entry named name.
func FileFromHost(path, name string) (File, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return File{}, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return File{}, fmt.Errorf("%s: no stat information", path)
	}
	f := File{Header: cpio.Header{
		Name:    strings.TrimPrefix(name, "/"),
		Mode:    st.Mode,
		UID:     st.Uid,
		GID:     st.Gid,
		ModTime: st.Mtim.Sec,
	}}
	switch f.Type() {
	case cpio.TypeReg:
		f.Source = path
		f.Size = fi.Size()
		if st.Nlink > 1 {
			f.LinkGroup = fmt.Sprintf("%d:%d", st.Dev, st.Ino)
		}
	case cpio.TypeLink:
		if f.Linkname, err = os.Readlink(path); err != nil {
			return File{}, err
		}
	case cpio.TypeChar, cpio.TypeBlock:
		f.RDevMajor, f.RDevMinor = major(st.Rdev), minor(st.Rdev)
	}
	return f, nil
}

// major and minor decode a Linux dev_t (include/linux/kdev_t.h, new_decode_dev).
func major(dev uint64) uint32 { return uint32((dev>>8)&0xfff) | uint32((dev>>32)&^0xfff) }
func minor(dev uint64) uint32 { return uint32(dev&0xff) | uint32((dev>>12)&^0xff) }
