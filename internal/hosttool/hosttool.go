// Package hosttool finds the host's programs initkit runs where Debian
// installs them, for any user: a normal user's PATH has no /usr/sbin,
// where sfdisk, debugfs, the mkfs tools, cryptsetup and makedumpfile are.
package hosttool

import (
	"fmt"
	"os/exec"
	"path/filepath"
)

// Dirs are searched after PATH, in order.
var Dirs = []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"}

// Path returns the path of the program name: name itself when it holds
// a '/', else the first in PATH, else in Dirs. The error says where it
// was looked for.
func Path(name string) (string, error) {
	if filepath.Base(name) != name {
		return exec.LookPath(name)
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range Dirs {
		if p, err := exec.LookPath(filepath.Join(d, name)); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no %s in PATH or %v: %w", name, Dirs, exec.ErrNotFound)
}

// Program returns the absolute path of the host program that a command
// line's first word names, found as a shell finds it: a name with a '/'
// is a path, relative to the working directory (it need not exist yet:
// what reads it says so); a bare name is found as Path finds it, PATH
// first, then root's directories, since the guest runs it as root. The
// path is absolute because the guest runs it at the same path.
func Program(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("an empty program name")
	}
	if filepath.Base(name) == name {
		p, err := Path(name)
		if err != nil {
			return "", err
		}
		name = p
	}
	return filepath.Abs(name)
}
