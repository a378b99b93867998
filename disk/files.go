package disk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/initkit/initkit/internal/atomicfile"
	"github.com/initkit/initkit/probe"
)

// Target is "IMAGE[:PART]", as disk cp and disk cat take it: a disk image
// and a partition's name or number in it.
func Target(s string) (image, part string) {
	if _, err := os.Stat(s); err == nil {
		return s, ""
	}
	if i := strings.LastIndexByte(s, ':'); i > 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// open finds the partition and what it holds.
func open(img, part string) (probe.Entry, error) {
	l, err := probe.List(img)
	if err != nil {
		return probe.Entry{}, err
	}
	e, err := l.Find(part)
	if err != nil {
		return probe.Entry{}, fmt.Errorf("%s: %w", img, err)
	}
	switch e.Type {
	case "ext2", "ext3", "ext4", "vfat":
		return e, nil
	case "":
		return e, fmt.Errorf("%s: partition %d holds no filesystem initkit can read", img, e.Number)
	}
	return e, fmt.Errorf("%s: partition %d holds %s: disk ls, cat, cp and copy-out read ext2/3/4 and vfat (use initkit exec --disk for the rest)", img, e.Number, e.Type)
}

// Copy copies host files and directories (recursively) into the ext2/3/4
// or vfat partition of an existing image, without mounting it: debugfs
// for ext, mtools for FAT. As cp does, several sources or a dst ending in
// '/' go into the directory dst; one source is copied to dst. Files
// become root's. The image is rewritten through a copy renamed into
// place (a clone where the host's filesystem can clone), so that an error
// leaves it as it was.
func Copy(ctx context.Context, img, part string, srcs []string, dst string) error {
	e, err := open(img, part)
	if err != nil {
		return err
	}
	st, err := os.Stat(img)
	if err != nil {
		return err
	}
	p, err := atomicfile.Create(img, st.Mode().Perm())
	if err != nil {
		return err
	}
	defer p.Abort()
	if err := cloneInto(p.File, img); err != nil {
		return err
	}
	if e.Type == "vfat" {
		err = vfatCopy(ctx, p.Name(), e, srcs, dst)
	} else {
		err = extCopy(ctx, p.Name(), e, srcs, dst)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", img, err)
	}
	return p.Commit()
}

// cloneInto fills dst with src: a reflink clone when the filesystem can,
// else a copy of the data extents.
func cloneInto(dst *os.File, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	if unix.IoctlFileClone(int(dst.Fd()), int(f.Fd())) == nil {
		return nil
	}
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if err := dst.Truncate(st.Size()); err != nil {
		return err
	}
	return sparseCopy(dst, 0, f)
}

// intoDir reports whether dst names a directory to copy into.
func intoDir(srcs []string, dst string, isDir func(string) bool) bool {
	return len(srcs) > 1 || strings.HasSuffix(dst, "/") || isDir(dst)
}

// parentDirs are the directories on the way to dst, outermost first,
// that a copy makes as mkdir -p would: dst too when the copy goes into
// it.
func parentDirs(dst string, into bool) []string {
	parent := path.Clean("/" + dst)
	if !into {
		parent = path.Dir(parent)
	}
	var dirs []string
	for d := parent; d != "/"; d = path.Dir(d) {
		dirs = append([]string{d}, dirs...)
	}
	return dirs
}

// extCopy writes a debugfs script: mkdir for directories, write for
// files, symlink for links, then the owner set to root.
func extCopy(ctx context.Context, file string, e probe.Entry, srcs []string, dst string) error {
	var script strings.Builder
	into := intoDir(srcs, dst, func(p string) bool {
		out, _ := debugfs(ctx, file, e.Start, false, "stat "+quote(p))
		return strings.Contains(out, "Type: directory")
	})
	if err := plainName("the destination", dst); err != nil {
		return err
	}
	for _, d := range parentDirs(dst, into) {
		fmt.Fprintf(&script, "mkdir %s\n", quote(d))
	}
	for _, src := range srcs {
		target := path.Clean("/" + dst)
		if into {
			target = path.Join(target, filepath.Base(src))
		}
		src, err := filepath.Abs(src) // a host path never starts with "-"
		if err != nil {
			return err
		}
		err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(src, p)
			t := path.Join(target, filepath.ToSlash(rel))
			if err := errors.Join(plainName(p, p), plainName(p, t)); err != nil {
				return err
			}
			switch {
			case d.IsDir():
				fmt.Fprintf(&script, "mkdir %s\n", quote(t))
			case d.Type()&fs.ModeSymlink != 0:
				l, err := os.Readlink(p)
				if err != nil {
					return err
				}
				if err := plainName(p+"'s target", l); err != nil {
					return err
				}
				fmt.Fprintf(&script, "symlink %s %s\n", quote(t), quote(l))
			case d.Type().IsRegular():
				fmt.Fprintf(&script, "rm %s\nwrite %s %s\n", quote(t), quote(p), quote(t))
			default:
				return fmt.Errorf("%s: not a file, directory or symlink", p)
			}
			fmt.Fprintf(&script, "sif %s uid 0\nsif %s gid 0\n", quote(t), quote(t))
			return nil
		})
		if err != nil {
			return err
		}
	}
	out, err := debugfs(ctx, file, e.Start, true, "-f", "-", script.String())
	if err != nil {
		return err
	}
	// debugfs exits 0 whatever its commands did: its complaints are the
	// lines that do not echo a command. A mkdir of a directory there
	// already and an rm of a file not there are what cp does anyway.
	for _, l := range strings.Split(out, "\n") {
		if l == "" || strings.HasPrefix(l, "debugfs") || strings.Contains(l, "Ext2 directory already exists") ||
			strings.HasPrefix(l, "rm: File not found") || strings.HasPrefix(l, "Allocated inode") {
			continue
		}
		if !strings.HasPrefix(l, "debugfs: ") {
			return fmt.Errorf("debugfs: %s", l)
		}
	}
	return nil
}

// debugfs runs debugfs on the ext filesystem at off in file; with a
// script, args end in "-f -" and the last is its standard input. The
// file reaches debugfs as /dev/fd/3: its own name is never parsed (a "?"
// in it would start the I/O options).
func debugfs(ctx context.Context, file string, off int64, write bool, args ...string) (string, error) {
	var stdin io.Reader
	if len(args) > 0 && args[0] == "-f" {
		stdin, args = strings.NewReader(args[len(args)-1]), args[:2]
	} else {
		args = append([]string{"-R"}, args...)
	}
	flag := os.O_RDONLY
	if write {
		args, flag = append([]string{"-w"}, args...), os.O_RDWR
	}
	f, err := os.OpenFile(file, flag, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	cmd := command(ctx, "debugfs", append(args, "/dev/fd/3?offset="+strconv.FormatInt(off, 10))...)
	cmd.Stdin, cmd.ExtraFiles = stdin, []*os.File{f}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("debugfs: %v: %s", err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// quote quotes a path for debugfs's command language (e2fsprogs'
// lib/ss/parse.c): in double quotes blanks are part of the word and ""
// is one quote. A newline ends a command: names that hold a control
// character never get here (plainName).
func quote(p string) string {
	return `"` + strings.ReplaceAll(p, `"`, `""`) + `"`
}

// plainName refuses a name, a link target or a path that holds a control
// character (a newline would start another debugfs command, an escape
// would reach the user's terminal): what names it says which entry.
func plainName(what, name string) error {
	for i, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%s: %q holds a control character (%#02x at byte %d): refused", what, name, r, i)
		}
	}
	return nil
}

func vfatCopy(ctx context.Context, file string, e probe.Entry, srcs []string, dst string) error {
	if err := fatName("the destination", dst); err != nil {
		return err
	}
	for _, src := range srcs {
		if err := fatTree(src); err != nil {
			return err
		}
	}
	isDir := func(p string) bool { return vfatIsDir(ctx, file, e, p) }
	into := intoDir(srcs, dst, isDir)
	for _, d := range parentDirs(dst, into) {
		switch exists, dir := vfatStat(ctx, file, e, d); {
		case exists && !dir:
			return fmt.Errorf("%s: a file, not a directory", d)
		case !exists:
			if err := mtools(ctx, file, e.Start, true, nil, nil, "mmd", "::"+d); err != nil {
				return err
			}
		}
	}
	target := "::" + path.Clean("/"+dst)
	if into {
		target += "/"
	}
	return mtools(ctx, file, e.Start, true, nil, nil, "mcopy", append(append([]string{"-s", "-o", "-m", "-Q"}, srcs...), target)...)
}

// vfatIsDir reports whether p is a directory of the FAT filesystem.
func vfatIsDir(ctx context.Context, file string, e probe.Entry, p string) bool {
	exists, dir := vfatStat(ctx, file, e, p)
	return exists && dir
}

// vfatStat reports whether p is in the FAT filesystem and whether it is
// a directory: mdir -b lists a directory's entries by their paths, and a
// file as itself alone (a directory of one entry is one line too).
func vfatStat(ctx context.Context, file string, e probe.Entry, p string) (exists, dir bool) {
	var out bytes.Buffer
	p = "::" + path.Clean("/"+p)
	if err := mtools(ctx, file, e.Start, false, nil, &out, "mdir", "-b", p); err != nil {
		return false, false
	}
	return true, !strings.EqualFold(strings.TrimSuffix(out.String(), "\n"), p)
}

// Cat writes the file at name in the partition to w.
func Cat(ctx context.Context, img, part, name string, w io.Writer) error {
	e, err := open(img, part)
	if err != nil {
		return err
	}
	if e.Type == "vfat" {
		if err := fatName(img+":"+name, name); err != nil {
			return err
		}
		if vfatIsDir(ctx, img, e, name) {
			return fmt.Errorf("%s:%s: is a directory", img, name)
		}
		if err := mtools(ctx, img, e.Start, false, nil, w, "mcopy", "-n", "::"+name, "-"); err != nil {
			return fmt.Errorf("%s:%s: %w", img, name, err)
		}
		return nil
	}
	if err := plainName(img+":"+name, name); err != nil {
		return err
	}
	file, err := extFile(ctx, img, e.Start, name)
	if err == nil {
		err = extCat(ctx, img, e.Start, file, w)
	}
	if err != nil {
		return fmt.Errorf("%s:%s: %w", img, name, err)
	}
	return nil
}

// extCat writes the data of the inode at name to w, as debugfs's cat
// reads it.
func extCat(ctx context.Context, img string, off int64, name string, w io.Writer) error {
	f, err := os.Open(img)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := command(ctx, "debugfs", "-R", "cat "+quote(name), "/dev/fd/3?offset="+strconv.FormatInt(off, 10))
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.ExtraFiles = w, &errb, []*os.File{f}
	err = cmd.Run()
	msg := strings.TrimSpace(errb.String())
	// debugfs says what went wrong on stderr, after its banner, and
	// exits 0.
	if i := strings.Index(msg, "\n"); i >= 0 && strings.HasPrefix(msg, "debugfs ") {
		msg = strings.TrimSpace(msg[i+1:])
	} else if strings.HasPrefix(msg, "debugfs ") {
		msg = ""
	}
	if err != nil || msg != "" {
		return errors.New(strings.TrimSpace(msg + " " + errString(err)))
	}
	return nil
}

// maxLinks is how many symbolic links a path may pass through, as
// Linux's MAXSYMLINKS (include/linux/namei.h).
const maxLinks = 40

// extResolve follows name, inside the filesystem, to what is not a
// link: debugfs follows the links on the way to the last name but not
// the last one, and cats a link or a directory as raw bytes. A link's
// target is taken in the partition, / its root, never the host's.
func extResolve(ctx context.Context, img string, off int64, name string) (string, extNode, error) {
	name = path.Clean("/" + name)
	for range maxLinks {
		st, err := extStat(ctx, img, off, name)
		if err != nil || st.kind != "symlink" {
			return name, st, err
		}
		if err := plainName(name+"'s target", st.link); err != nil {
			return "", st, err
		}
		if !path.IsAbs(st.link) {
			st.link = path.Join(path.Dir(name), st.link)
		}
		name = path.Clean("/" + st.link)
	}
	return "", extNode{}, errors.New("too many levels of symbolic links")
}

// extFile is the regular file name leads to, for cat.
func extFile(ctx context.Context, img string, off int64, name string) (string, error) {
	name, st, err := extResolve(ctx, img, off, name)
	switch {
	case err != nil:
		return "", err
	case st.kind == "directory":
		return "", errors.New("is a directory")
	case st.kind != "regular":
		return "", fmt.Errorf("not a regular file (%s)", st.kind)
	}
	return name, nil
}

// extNode is what debugfs's stat says of an inode.
type extNode struct {
	kind string // debugfs's Type: regular, directory, symlink, ...
	link string // a symlink's target
}

// extStat stats name with debugfs. A fast symlink's target is in stat's
// output (its Size bytes, whatever they hold); a slow one's is its data.
func extStat(ctx context.Context, img string, off int64, name string) (extNode, error) {
	out, err := debugfs(ctx, img, off, false, "stat "+quote(name))
	if err != nil {
		return extNode{}, err
	}
	var n extNode
	var size int
	for _, l := range strings.Split(out, "\n") {
		if i := strings.Index(l, "Type: "); strings.HasPrefix(l, "Inode: ") && i > 0 {
			n.kind, _, _ = strings.Cut(l[i+len("Type: "):], " ")
		}
		if i := strings.Index(l, "Size: "); i >= 0 && strings.HasPrefix(l, "User: ") {
			size, _ = strconv.Atoi(strings.Fields(l[i+len("Size: "):])[0])
		}
	}
	if n.kind == "" {
		if strings.Contains(out, "File not found") {
			return n, syscall.ENOENT
		}
		return n, fmt.Errorf("debugfs stat: %s", strings.TrimSpace(out))
	}
	if n.kind != "symlink" {
		return n, nil
	}
	const fast = "Fast link dest: \""
	if i := strings.Index(out, fast); i >= 0 {
		rest := out[i+len(fast):]
		if size > len(rest) {
			return n, fmt.Errorf("debugfs stat: a link of %d bytes whose target is shorter", size)
		}
		n.link = rest[:size]
		return n, nil
	}
	if size > 4096 {
		return n, fmt.Errorf("a link of %d bytes, longer than a path may be", size)
	}
	var t bytes.Buffer
	if err := extCat(ctx, img, off, name, &t); err != nil {
		return n, err
	}
	if n.link = t.String(); len(n.link) != size {
		return n, fmt.Errorf("%s: a link of %d bytes whose target reads as %d", name, size, len(n.link))
	}
	return n, nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return "(" + err.Error() + ")"
}
