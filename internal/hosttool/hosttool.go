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
