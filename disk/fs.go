package disk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/initkit/initkit/initramfs"
	"github.com/initkit/initkit/internal/hosttool"
)

// luksReserve is what a LUKS2 container takes before its data: its
// header (16 MiB by default) with room to spare, as cryptsetup reencrypt
// --reduce-device-size needs it.
const luksReserve = 32 << 20

// volume is one filesystem to make: where, how big, with what.
type volume struct {
	what  string // how errors name it
	role  string // what its derived UUID is derived from
	fill  Fill
	bytes int64
	luks  *LUKS
}

// run runs a tool with env added; its error carries the tool's last
// lines of output.
func (c *creator) run(env []string, name string, args ...string) error {
	return c.runWith(nil, env, "", name, args...)
}

// command is the command that runs a tool: killed when ctx ends or when
// initkit dies (a tool left running would go on writing into a file
// that is no longer anyone's).
func command(ctx context.Context, name string, args ...string) *exec.Cmd {
	if p, err := hosttool.Path(name); err == nil {
		name = p // a normal user's PATH has no /usr/sbin
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// runTo runs a tool with its output to w.
func (c *creator) runTo(w io.Writer, env []string, name string, args ...string) error {
	cmd := command(c.ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		if c.ctx.Err() != nil {
			return c.ctx.Err()
		}
		return err
	}
	return nil
}

func (c *creator) runWith(stdin io.Reader, env []string, dir, name string, args ...string) error {
	cmd := command(c.ctx, name, args...)
	cmd.Env, cmd.Dir = append(os.Environ(), env...), dir
	cmd.Stdin = stdin
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if c.ctx.Err() != nil {
			return c.ctx.Err()
		}
		msg := toolMessage(out.String())
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("%s: %s", filepath.Base(name), msg)
	}
	return nil
}

// toolMessage is what a failed tool said, in one line: its last three
// lines, but those before its usage text when it printed one after its
// error, as mkfs.xfs does ("Filesystem must be larger than 300MB." and
// then 30 lines of options).
func toolMessage(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i, l := range lines {
		if i > 0 && strings.HasPrefix(strings.ToLower(strings.TrimSpace(l)), "usage:") {
			lines = lines[:i]
			break
		}
	}
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	return strings.Join(lines, "; ")
}

// content is the directory that fills v: its tree as it is, or, with a
// spec or files, a staging directory the image builder writes.
func (c *creator) content(v volume) (string, error) {
	f := v.fill
	if f.Spec == "" && len(f.Files) == 0 {
		return f.Tree, nil
	}
	s := &initramfs.Spec{Init: "none"}
	if f.Spec != "" {
		if f.Image == nil {
			return "", fmt.Errorf("%s: the image spec %s was not read (package spec reads it)", v.what, f.Spec)
		}
		cp := *f.Image // its lists grow below: a copy of its own
		cp.Files, cp.Trees = slices.Clone(cp.Files), slices.Clone(cp.Trees)
		s = &cp
	}
	s.AddFiles(f.Files...)
	if m := &s.Modules; m.Dir == "" && m.Kernel == "" {
		m.Dir = c.o.ModulesDir
	}
	if s.Log = c.o.VM.Boot.Notes; s.Log == nil {
		s.Log = os.Stderr // the SSH host key to pin
	}
	if f.Tree != "" {
		s.Trees = append(s.Trees, f.Tree+":/")
	}
	dir, err := os.MkdirTemp(c.tmp, "tree-")
	if err != nil {
		return "", err
	}
	s.Output = dir
	if err := s.WriteDir(); err != nil {
		return "", err
	}
	// The device nodes a tree without root cannot hold, as gen_init_cpio
	// "nod" lines: ext gets them by debugfs mknod after mke2fs.
	c.nodes[dir], err = os.ReadFile(dir + ".list")
	return dir, err
}

// addNodes makes the device nodes of a staged tree in the ext
// filesystem at off: debugfs mknod, then the mode and owner they have in
// the spec.
func (c *creator) addNodes(file string, off int64, dir string) error {
	var script strings.Builder
	for _, l := range strings.Split(string(c.nodes[dir]), "\n") {
		f := strings.Fields(l) // nod PATH MODE UID GID c|b MAJOR MINOR
		if len(f) != 8 || f[0] != "nod" {
			continue
		}
		mode, err := strconv.ParseUint(f[2], 8, 32)
		if err != nil {
			return fmt.Errorf("%s.list: %q: %w", dir, l, err)
		}
		kind := uint64(0o020000) // S_IFCHR
		if f[5] == "b" {
			kind = 0o060000
		}
		// debugfs's mknod makes a name in its working directory, not a path.
		name := path.Clean("/" + f[1])
		p := quote(name)
		fmt.Fprintf(&script, "cd %s\nmknod %s %s %s %s\ncd /\nsif %s mode 0%o\nsif %s uid %s\nsif %s gid %s\n",
			quote(path.Dir(name)), quote(path.Base(name)), f[5], f[6], f[7], p, kind|mode, p, f[3], p, f[4])
	}
	if script.Len() == 0 {
		return nil
	}
	_, err := debugfs(c.ctx, file, off, true, "-f", "-", script.String())
	return err
}

// makeVolume writes v's filesystem into img at off, through a scratch file
// unless the tool can write in place.
func (c *creator) makeVolume(img *os.File, off int64, v volume) error {
	fs := v.fill.fsOf()
	if fs == "raw" && v.luks == nil {
		return nil
	}
	dir := ""
	if v.fill.hasContent() {
		var err error
		if dir, err = c.content(v); err != nil {
			return fmt.Errorf("%s: %w", v.what, err)
		}
	}
	if v.luks == nil && (fs == "ext4" || fs == "ext2") {
		return c.wrap(v, c.ext(img.Name(), off, v.bytes, v, dir, false))
	}
	if v.luks == nil && fs == "vfat" {
		return c.wrap(v, c.vfat(img.Name(), off, v.bytes, v, dir))
	}
	scratch, err := os.CreateTemp(c.tmp, "volume-")
	if err != nil {
		return err
	}
	defer os.Remove(scratch.Name())
	err = scratch.Truncate(v.bytes)
	scratch.Close() // the tools write it by name (mksquashfs makes a new one)
	if err != nil {
		return err
	}
	inner := v.bytes
	if v.luks != nil {
		if inner -= luksReserve; inner <= 0 {
			return fmt.Errorf("%s: %s is too small for a LUKS2 container (it takes %s)", v.what, human(v.bytes), human(luksReserve))
		}
	}
	if err := c.wrap(v, c.scratchFS(scratch.Name(), inner, v, dir)); err != nil {
		return err
	}
	if v.luks != nil {
		if err := c.wrap(v, c.encrypt(scratch.Name(), v)); err != nil {
			return err
		}
	}
	made, err := os.Open(scratch.Name())
	if err != nil {
		return err
	}
	defer made.Close()
	return sparseCopy(img, off, made)
}

// wrap names the volume in a tool's error, and says what a full one means.
func (c *creator) wrap(v volume, err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	msg := err.Error()
	for _, full := range []string{"Could not allocate block", "No space left", "Disk full", "too large", "Not enough space", "exceeds"} {
		if strings.Contains(msg, full) {
			return fmt.Errorf("%s: its content does not fit in %s: %s", v.what, human(v.bytes), msg)
		}
	}
	return fmt.Errorf("%s: %s", v.what, msg)
}

// scratchFS makes v's filesystem in the first n bytes of a scratch file.
func (c *creator) scratchFS(file string, n int64, v volume, dir string) error {
	f := v.fill
	uuid := c.fsUUID(v)
	switch fs := f.fsOf(); fs {
	case "ext4", "ext2":
		return c.ext(file, 0, n, v, dir, true)
	case "vfat":
		return c.vfat(file, 0, n, v, dir)
	case "raw":
		return nil
	case "swap":
		args := []string{"-U", uuid}
		if f.Label != "" {
			args = append(args, "-L", f.Label)
		}
		return c.run(nil, "mkswap", append(args, file, strconv.FormatInt(n>>10, 10))...)
	case "squashfs":
		os.Remove(file)
		e := strconv.FormatInt(c.epoch, 10)
		if err := c.run(nil, "mksquashfs", dir, file, "-noappend", "-quiet", "-no-progress", "-all-root", "-mkfs-time", e, "-all-time", e); err != nil {
			return err
		}
		if st, err := os.Stat(file); err != nil {
			return err
		} else if st.Size() > n {
			return fmt.Errorf("the squashfs of its content is %s: does not fit", human(st.Size()))
		}
		return os.Truncate(file, n)
	case "btrfs":
		args := []string{"-q", "-f", "-U", uuid, "-b", strconv.FormatInt(n, 10)}
		if f.Label != "" {
			args = append(args, "-L", f.Label)
		}
		if dir != "" {
			args = append(args, "--rootdir", dir)
		}
		return c.run([]string{"SOURCE_DATE_EPOCH=" + strconv.FormatInt(c.epoch, 10)}, "mkfs.btrfs", append(args, file)...)
	case "xfs":
		args := []string{"-q", "-f", "-m", "uuid=" + uuid, "-d", "size=" + strconv.FormatInt(n, 10)}
		if f.Label != "" {
			args = append(args, "-L", f.Label)
		}
		if dir != "" {
			proto, err := c.protoFile(dir)
			if err != nil {
				return err
			}
			args = append(args, "-p", proto)
		}
		return c.run(nil, "mkfs.xfs", append(args, file)...)
	}
	return fmt.Errorf("unknown filesystem %q", f.FS)
}

// lazyInit tells mke2fs not to zero the journal: every file Create
// writes into is new and sparse, so it reads as zeros already. The inode
// tables are zeroed still: with lazy_itable_init the kernel would zero
// them itself after the first mount, in the guest, under TCG.
const lazyInit = "lazy_journal_init=1"

// ext makes ext2 or ext4 with mke2fs -d at off in file, then fixes what
// mke2fs takes from the host: owners and times (fixInodes). In a LUKS
// container the block size is 4096, the container's sector size.
func (c *creator) ext(file string, off, n int64, v volume, dir string, inLUKS bool) error {
	f := v.fill
	args := []string{"-q", "-F", "-t", f.fsOf(), "-U", c.fsUUID(v),
		"-E", "offset=" + strconv.FormatInt(off, 10) + ",hash_seed=" + c.uuid(v.role, "hash") + ",root_owner=0:0," + lazyInit}
	if f.Label != "" {
		args = append(args, "-L", f.Label)
	}
	if inLUKS || v.luks != nil {
		args = append(args, "-b", "4096")
	}
	if dir != "" {
		args = append(args, "-d", dir)
	}
	args = append(args, file, strconv.FormatInt(n>>10, 10)+"k")
	if err := c.run([]string{"E2FSPROGS_FAKE_TIME=" + strconv.FormatInt(c.epoch, 10)}, "mke2fs", args...); err != nil {
		return err
	}
	if err := c.addNodes(file, off, dir); err != nil {
		return err
	}
	return fixInodes(file, off, c.epoch, c.clamp)
}

// vfat makes FAT with mkfs.vfat at off in file and copies dir in with
// mtools, which write a FAT image at an offset without mounting it.
func (c *creator) vfat(file string, off, n int64, v volume, dir string) error {
	id := strings.ReplaceAll(c.fsUUID(v), "-", "")[:8]
	// The FAT size must be given: mkfs.vfat picks it from the size of the
	// whole file, not of the partition.
	bits := "32"
	switch {
	case n < 16<<20:
		bits = "12"
	case n < 512<<20:
		bits = "16"
	}
	args := []string{"-i", id, "-F", bits, "--offset", strconv.FormatInt(off/512, 10)}
	if v.fill.Label != "" {
		args = append(args, "-n", v.fill.Label)
	}
	env := []string{"SOURCE_DATE_EPOCH=" + strconv.FormatInt(c.epoch, 10), "MTOOLS_SKIP_CHECK=1"}
	if err := c.run(env, "mkfs.vfat", append(args, file, strconv.FormatInt(n>>10, 10))...); err != nil {
		return err
	}
	if dir == "" {
		return nil
	}
	if err := fatTree(dir); err != nil {
		return err // wrap names the volume
	}
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) == 0 {
		return err
	}
	cp := []string{"-s", "-m", "-Q"}
	for _, e := range ents {
		cp = append(cp, filepath.Join(dir, e.Name()))
	}
	return mtools(c.ctx, file, off, true, env, nil, "mcopy", append(cp, "::/")...)
}

// encrypt turns the filesystem at the start of file into a LUKS2
// container in place (cryptsetup reencrypt --encrypt on a file, which
// needs no device-mapper). --disable-locks: the locking directory is
// root's.
func (c *creator) encrypt(file string, v volume) error {
	args := []string{"reencrypt", "-q", "--encrypt", "--type", "luks2", "--disable-locks",
		"--reduce-device-size", strconv.Itoa(luksReserve>>20) + "M", "--uuid", c.luksUUID(v.role, v.luks)}
	args = append(args, pbkdfArgs(v.luks)...)
	key, err := c.keyFile(v.luks)
	if err != nil {
		return err
	}
	args = append(args, "--key-file", key)
	file, err = filepath.Abs(file)
	if err != nil {
		return err
	}
	// reencrypt writes its temporary header, named by the UUID, in the
	// working directory: the scratch one keeps it from the user's and
	// from another disk create's.
	return c.runWith(nil, nil, c.tmp, "cryptsetup", append(args, file)...)
}

// keyFile is an absolute path to l's key: its key file, or its
// passphrase written to a file in the scratch directory (no newline:
// cryptsetup takes a key file's every byte).
func (c *creator) keyFile(l *LUKS) (string, error) {
	if l.Keyfile != "" {
		return filepath.Abs(l.Keyfile)
	}
	key, err := os.CreateTemp(c.tmp, "key-")
	if err != nil {
		return "", err
	}
	defer key.Close()
	_, err = key.WriteString(l.Passphrase)
	return key.Name(), err
}

// pbkdfArgs are cryptsetup's key derivation options for l: argon2id
// with 64 MiB by default (the guests that unlock these disks have little
// RAM and no KVM), one thread, 200 ms on this host.
func pbkdfArgs(l *LUKS) []string {
	mem := l.PBKDFMemory
	if mem == 0 {
		mem = 65536
	}
	return []string{"--pbkdf", "argon2id", "--pbkdf-memory", strconv.Itoa(mem), "--pbkdf-parallel", "1", "--iter-time", "200"}
}

func (c *creator) luksUUID(role string, l *LUKS) string {
	if l.UUID != "" {
		return l.UUID
	}
	return c.uuid(role, "luks")
}

func (c *creator) fsUUID(v volume) string {
	if v.fill.UUID != "" {
		return v.fill.UUID
	}
	return c.uuid(v.role, "fs")
}

// sparseCopy writes src into dst at off, its data extents only: the
// holes of a scratch filesystem stay holes in the image.
func sparseCopy(dst *os.File, off int64, src *os.File) error {
	st, err := src.Stat()
	if err != nil {
		return err
	}
	fd := int(src.Fd())
	for pos := int64(0); pos < st.Size(); {
		data, err := unix.Seek(fd, pos, unix.SEEK_DATA)
		if err != nil {
			if errors.Is(err, unix.ENXIO) {
				return nil // only a hole is left
			}
			return err
		}
		hole, err := unix.Seek(fd, data, unix.SEEK_HOLE)
		if err != nil {
			return err
		}
		if _, err := io.Copy(io.NewOffsetWriter(dst, off+data), io.NewSectionReader(src, data, hole-data)); err != nil {
			return fmt.Errorf("%s: %w", dst.Name(), err)
		}
		pos = hole
	}
	return nil
}
