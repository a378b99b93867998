package pid1

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/initkit/initkit/guest"
	"golang.org/x/sys/unix"
)

// mountRoot mounts the root device at NewRoot (read-only unless rw) and
// checks that init= is an executable there.
func (in *initProc) mountRoot() error { return in.mountRootFS(true) }

// mountRootFS mounts the root device at NewRoot, read-only unless rw,
// and checks init= there when withInit says (an exec run's root needs
// no init).
func (in *initProc) mountRootFS(withInit bool) error {
	d := in.root
	fstype := in.cmd.RootFSType
	if fstype == "" {
		fstype = d.FS.Type
	}
	if fstype == "" {
		return errors.New(d.Path + " (root=" + in.cmd.Root + ") holds no filesystem the init recognizes; give rootfstype=")
	}
	var flags uintptr = unix.MS_RDONLY
	if in.cmd.RW {
		flags = 0
	}
	if err := mkdir(NewRoot, 0o755); err != nil {
		return fmt.Errorf("%w: the early filesystem needs a %s directory to mount the root on (initkit build makes one)", err, NewRoot)
	}
	types := []string{fstype}
	if fstype == "ext2" || fstype == "ext3" {
		types = append(types, "ext4") // the ext4 driver mounts both when their own is not built
	}
	var err error
	for _, t := range types {
		if err = unix.Mount(d.Path, NewRoot, t, flags, in.cmd.RootFlags); err == nil {
			break
		}
	}
	if err != nil {
		in.tried = append(in.tried, "mount -t "+strings.Join(types, ",")+" "+d.Path+" "+NewRoot)
		return fmt.Errorf("mounting %s (%s) on %s: %w", d.Path, fstype, NewRoot, err)
	}
	if !withInit {
		return nil
	}
	if err := checkInit(NewRoot, in.cmd.Init); err != nil {
		unix.Unmount(NewRoot, unix.MNT_DETACH)
		return fmt.Errorf("root=%s (%s): %w", in.cmd.Root, d.Path, err)
	}
	return nil
}

// checkInit reports whether init names an executable file inside root,
// following symlinks as they resolve after the chroot (an absolute target
// such as /lib/systemd/systemd is inside root).
func checkInit(root, init string) error {
	p, err := resolveIn(root, init)
	if err != nil {
		return fmt.Errorf("init=%s: %w", init, err)
	}
	mode, err := statMode(root + p)
	if err != nil {
		return errors.New("init=" + init + " is missing on the root")
	}
	if mode&unix.S_IFMT != unix.S_IFREG || mode&0o111 == 0 {
		return errors.New("init=" + init + " (" + p + ") is not an executable file")
	}
	return nil
}

// resolveIn resolves name's symlinks as if root were /.
func resolveIn(root, name string) (string, error) {
	rest := strings.Split(strings.Trim(path.Clean(name), "/"), "/")
	cur := "/"
	for hops := 0; len(rest) > 0; {
		next := path.Join(cur, rest[0])
		rest = rest[1:]
		target, err := readlink(root + next)
		if err != nil {
			cur = next
			continue
		}
		if hops++; hops > 40 {
			return "", errors.New("too many levels of symbolic links")
		}
		if !path.IsAbs(target) {
			target = path.Join(cur, target)
		}
		rest = append(strings.Split(strings.Trim(path.Clean(target), "/"), "/"), rest...)
		cur = "/"
	}
	return cur, nil
}

// switchRoot hands over to init on newroot, as busybox's switch_root and
// systemd do: move the API filesystems into the new root, delete the
// initramfs contents (its memory is freed only then; directories on other
// mounts are skipped), move newroot onto /, chroot, and exec init with the
// console as stdin, stdout and stderr. It returns only on failure.
func switchRoot(newroot, init string, args []string, logf func(string, ...any)) error {
	var sfs unix.Statfs_t
	if err := unix.Statfs("/", &sfs); err != nil {
		return err
	}
	if sfs.Type != unix.RAMFS_MAGIC && sfs.Type != unix.TMPFS_MAGIC {
		return fmt.Errorf("/ is not an initramfs but a filesystem (magic %#x): refusing to delete it; booted from a disk, name the real root with %s= (the init then pivot_roots into it)", sfs.Type, guest.KeyRoot)
	}
	if err := moveMounts(newroot, logf); err != nil {
		return err
	}
	if err := unix.Chdir(newroot); err != nil {
		return err
	}
	var st unix.Stat_t
	unix.Lstat("/", &st)
	removeTree("/", st.Dev)
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("moving %s onto /: %w", newroot, err)
	}
	return chrootExec(init, args)
}

// moveMounts moves /dev, /proc, /sys and /run into newroot; one the new
// root has no directory for is unmounted instead.
func moveMounts(newroot string, logf func(string, ...any)) error {
	for _, m := range []string{"/dev", "/proc", "/sys", "/run"} {
		if _, err := statMode(newroot + m); err != nil {
			logf("%s has no %s: leaving it unmounted there", newroot, m)
			unix.Unmount(m, unix.MNT_DETACH)
			continue
		}
		if err := unix.Mount(m, newroot+m, "", unix.MS_MOVE, ""); err != nil {
			return fmt.Errorf("moving %s into the new root: %w", m, err)
		}
	}
	return nil
}

// chrootExec makes the working directory the root and execs init with
// the console as stdin, stdout and stderr.
func chrootExec(init string, args []string) error {
	if err := unix.Chroot("."); err != nil {
		return err
	}
	unix.Chdir("/")
	if fd, err := unix.Open("/dev/console", unix.O_RDWR|unix.O_NOCTTY, 0); err == nil {
		for i := 0; i < 3; i++ {
			unix.Dup3(fd, i, 0)
		}
		if fd > 2 {
			unix.Close(fd)
		}
	}
	argv := append([]string{init}, args...)
	return execReleased(init, argv, os.Environ())
}

// pivotRoot hands over to init on newroot when the init runs from a
// disk's early filesystem, as the shell inits of such setups do (mount
// --move /dev, pivot_root . boot, exec chroot . init): the API
// filesystems move into the new root and the early filesystem goes to
// its /boot, where it stays mounted (its files still there), or, when the
// new root has no /boot, is detached. Nothing is deleted. It returns only
// on failure.
func pivotRoot(newroot, init string, args []string, logf func(string, ...any)) error {
	if err := moveMounts(newroot, logf); err != nil {
		return err
	}
	if err := unix.Chdir(newroot); err != nil {
		return err
	}
	if mode, err := statMode("boot"); err == nil && mode&unix.S_IFMT == unix.S_IFDIR {
		if err := unix.PivotRoot(".", "boot"); err != nil {
			return fmt.Errorf("pivot_root . boot in %s: %w", newroot, err)
		}
	} else {
		logf("%s has no /boot: the early filesystem is detached", newroot)
		if err := unix.PivotRoot(".", "."); err != nil {
			return fmt.Errorf("pivot_root . . in %s: %w", newroot, err)
		}
		unix.Unmount(".", unix.MNT_DETACH)
	}
	return chrootExec(init, args)
}

// removeTree deletes what is under dir on device dev, not descending into
// other mounts (the new root among them).
func removeTree(dir string, dev uint64) {
	ents, err := readDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		p := strings.TrimSuffix(dir, "/") + "/" + e.name
		if e.dir {
			var st unix.Stat_t
			if unix.Lstat(p, &st) != nil || st.Dev != dev {
				continue
			}
			removeTree(p, dev)
			unix.Rmdir(p)
			continue
		}
		unix.Unlink(p)
	}
}
