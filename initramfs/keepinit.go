package initramfs

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/initkit/initkit/cpio"
	"github.com/initkit/initkit/guest"
	"github.com/initkit/initkit/image"
)

// ExtractInit copies the program the image's /init is (followed through
// symlinks: every dracut and systemd image has /init ->
// usr/lib/systemd/systemd) to dir/init.real, for a segment that puts
// the initkit init at /init in front of it. link is where /init leads
// when it is a symlink, "" when it is the program.
func ExtractInit(initrd, dir string) (host, link string, err error) {
	f, err := os.Open(initrd)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	tree, _, err := image.Tree(f)
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", initrd, err)
	}
	at, n, err := image.Resolve(tree, "/init")
	if err != nil {
		return "", "", fmt.Errorf("%s: no /init: %w", initrd, err)
	}
	if n.Type() != cpio.TypeReg {
		return "", "", fmt.Errorf("%s: no /init program: %s is a %s", initrd, at, image.TypeName(n.Mode))
	}
	if at != "/init" {
		link = at
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", "", err
	}
	host = filepath.Join(dir, "init.real")
	out, err := os.OpenFile(host, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return "", "", err
	}
	defer out.Close()
	return host, link, image.CopyFile(out, f, at)
}

// RealInitEntry is the entry that keeps the image's own init at
// guest.RealInit: a symlink to the program /init leads to (run at its own
// path), or the program as it is (its #! interpreter is in the image
// already, so no closure from the host).
func RealInitEntry(host, link string) (image.File, error) {
	if link != "" {
		return image.File{Header: cpio.Header{Name: guest.RealInit, Mode: cpio.TypeLink | 0o777, Linkname: link}}, nil
	}
	st, err := os.Stat(host)
	if err != nil {
		return image.File{}, err
	}
	return image.File{Header: cpio.Header{Name: guest.RealInit, Mode: cpio.TypeReg | 0o755, Size: st.Size()}, Source: host}, nil
}
