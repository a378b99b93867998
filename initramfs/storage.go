package initramfs

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// storageKinds are what [image] storage takes: for each, the tool the
// init runs (with its library closure) and the modules loaded at boot
// (no device asks for them by modalias). LUKS with aes-xts needs xts and
// ecb beside dm-crypt: the kernel's crypto lookup does not load them.
var storageKinds = map[string]struct {
	tool    string
	modules []string
}{
	"lvm":  {"lvm", []string{"dm-mod"}},
	"md":   {"mdadm", []string{"md-mod", "raid0", "raid1", "raid456", "dm-mod"}},
	"luks": {"cryptsetup", []string{"dm-mod", "dm-crypt", "xts", "ecb"}},
}

// expand adds what storage and ssh_keys need to Files and to the
// modules, once, before the tree is assembled.
func (s *Spec) expand() error {
	if s.expanded {
		return nil
	}
	s.expanded = true
	if err := s.expandSSH(); err != nil {
		return err
	}
	return s.expandStorage()
}

// expandStorage adds what each storage kind needs to Files and to the
// modules loaded at boot.
func (s *Spec) expandStorage() error {
	for _, kind := range s.Storage {
		k, ok := storageKinds[kind]
		if !ok {
			return s.errorAt(kind, "storage: %q: want lvm, md or luks", kind)
		}
		tool, err := s.findTool(k.tool)
		if err != nil {
			return s.errorAt(kind, "storage %s: %v", kind, err)
		}
		s.AddFiles(tool)
		for _, m := range k.modules {
			if !slices.Contains(s.Modules.Names, m) {
				s.Modules.Names = append(s.Modules.Names, m)
			}
		}
	}
	return nil
}

// findTool finds a program in the sbin and bin directories of the
// sysroot (or of the host).
func (s *Spec) findTool(name string) (string, error) {
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(filepath.Join(s.Sysroot, p)); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no %s in /usr/sbin, /sbin, /usr/bin or /bin of %s", name, map[bool]string{true: "the host", false: s.Sysroot}[s.Sysroot == ""])
}

// rescueInittab is busybox init's configuration for Rescue: the API
// filesystems, then a shell on the console, started again whenever it
// exits.
const rescueInittab = `::sysinit:/bin/busybox mount -t proc proc /proc
::sysinit:/bin/busybox mount -t sysfs sysfs /sys
::sysinit:/bin/busybox mount -t devtmpfs devtmpfs /dev
::sysinit:/bin/busybox echo "initkit rescue: busybox init; the shell comes back when it exits"
::respawn:-/bin/sh
::ctrlaltdel:/bin/busybox reboot -f
::shutdown:/bin/busybox umount -a -r
`

func (s *Spec) addRescue(t *Tree) error {
	if !s.Rescue {
		return nil
	}
	if s.busybox() == "" {
		return s.errorAt("rescue", "rescue: busybox init is the rescue system's init: give busybox")
	}
	// Busybox's applet links hold /sbin/init already, unless applets
	// leaves it out.
	if q, ok := t.lookup("/sbin/init"); !ok || t.nodes[q] == nil {
		if err := t.Symlink("/sbin/init", "/bin/busybox", "rescue: busybox init"); err != nil {
			return err
		}
	}
	return t.Data("/etc/inittab", []byte(rescueInittab), 0o644, "rescue: busybox init's inittab")
}
