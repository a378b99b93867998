package disk

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"

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
	return e, fmt.Errorf("%s: partition %d holds %s: disk cp and cat read ext2/3/4 and vfat (use initkit exec --disk for the rest)", img, e.Number, e.Type)
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

// extCopy writes a debugfs script: mkdir for directories, write for
// files, symlink for links, then the owner set to root.
func extCopy(ctx context.Context, file string, e probe.Entry, srcs []string, dst string) error {
	dev := file + "?offset=" + strconv.FormatInt(e.Start, 10)
	var script strings.Builder
	into := intoDir(srcs, dst, func(p string) bool {
		out, _ := debugfs(ctx, dev, false, "stat "+quote(p))
		return strings.Contains(out, "Type: directory")
	})
	// The directories on the way are made, as mkdir -p would.
	parent := path.Clean("/" + dst)
	if !into {
		parent = path.Dir(parent)
	}
	var parents []string
	for d := parent; d != "/"; d = path.Dir(d) {
		parents = append([]string{d}, parents...)
	}
	for _, d := range parents {
		fmt.Fprintf(&script, "mkdir %s\n", quote(d))
	}
	for _, src := range srcs {
		target := path.Clean("/" + dst)
		if into {
			target = path.Join(target, filepath.Base(src))
		}
		err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(src, p)
			t := path.Join(target, filepath.ToSlash(rel))
			switch {
			case d.IsDir():
				fmt.Fprintf(&script, "mkdir %s\n", quote(t))
			case d.Type()&fs.ModeSymlink != 0:
				l, err := os.Readlink(p)
				if err != nil {
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
	out, err := debugfs(ctx, dev, true, "-f", "-", script.String())
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

// debugfs runs debugfs on dev; with script, args end in "-f -" and the
// last is its standard input.
func debugfs(ctx context.Context, dev string, write bool, args ...string) (string, error) {
	var stdin io.Reader
	if len(args) > 0 && args[0] == "-f" {
		stdin, args = strings.NewReader(args[len(args)-1]), args[:2]
	} else {
		args = append([]string{"-R"}, args...)
	}
	if write {
		args = append([]string{"-w"}, args...)
	}
	cmd := command(ctx, "debugfs", append(args, dev)...)
	cmd.Stdin = stdin
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("debugfs: %v: %s", err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// quote quotes a path for debugfs, which splits on blanks and takes
// double quotes.
func quote(p string) string {
	if !strings.ContainsAny(p, " \t\"") {
		return p
	}
	return `"` + strings.ReplaceAll(p, `"`, `\"`) + `"`
}

func mtoolsTarget(file string, e probe.Entry) string {
	return file + "@@" + strconv.FormatInt(e.Start, 10)
}

var mtoolsEnv = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")

func vfatCopy(ctx context.Context, file string, e probe.Entry, srcs []string, dst string) error {
	img := mtoolsTarget(file, e)
	isDir := func(p string) bool {
		cmd := command(ctx, "mdir", "-i", img, "-b", "::"+p)
		cmd.Env = mtoolsEnv
		out, err := cmd.Output()
		return err == nil && strings.Count(string(out), "\n") != 1
	}
	target := "::" + path.Clean("/"+dst)
	if intoDir(srcs, dst, isDir) {
		target += "/"
	}
	cmd := command(ctx, "mcopy", append(append([]string{"-i", img, "-s", "-o", "-m", "-Q"}, srcs...), target)...)
	cmd.Env = mtoolsEnv
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("mcopy: %s", bytes.TrimSpace(out))
	}
	return nil
}

// Cat writes the file at name in the partition to w.
func Cat(ctx context.Context, img, part, name string, w io.Writer) error {
	e, err := open(img, part)
	if err != nil {
		return err
	}
	var cmd *exec.Cmd
	if e.Type == "vfat" {
		cmd = command(ctx, "mcopy", "-n", "-i", mtoolsTarget(img, e), "::"+name, "-")
		cmd.Env = mtoolsEnv
	} else {
		cmd = command(ctx, "debugfs", "-R", "cat "+quote(name), img+"?offset="+strconv.FormatInt(e.Start, 10))
	}
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = w, &errb
	err = cmd.Run()
	msg := strings.TrimSpace(errb.String())
	// debugfs says a file is not there on stderr, and exits 0.
	if i := strings.Index(msg, "\n"); i >= 0 && strings.HasPrefix(msg, "debugfs ") {
		msg = strings.TrimSpace(msg[i+1:])
	} else if strings.HasPrefix(msg, "debugfs ") {
		msg = ""
	}
	if err != nil || msg != "" {
		return fmt.Errorf("%s:%s: %s", img, name, strings.TrimSpace(msg+" "+errString(err)))
	}
	return nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return "(" + err.Error() + ")"
}
