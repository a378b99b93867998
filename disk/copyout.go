package disk

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/initkit/initkit/internal/atomicfile"
	"github.com/initkit/initkit/probe"
)

// CopyOut copies files and directories (recursively) of the ext2/3/4 or
// vfat partition part of img into the host directory dir, made if
// missing, without root or a VM, as virt-copy-out does. Each name is
// followed inside the partition when it is a link; inside a directory,
// links are copied as links. The image is hostile: every file is written
// through dir's os.Root, so that no name, no link made on the way and no
// duplicate entry reaches outside dir, and the data copied is bounded by
// the partition's size, whatever sizes the entries claim. Permissions
// are kept, but setuid, setgid and owners, as cp without -p does.
func CopyOut(ctx context.Context, img, part string, names []string, dir string) error {
	e, err := open(img, part)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	// The files are dumped beside their places and renamed into them,
	// through the root: written once.
	tmp, err := atomicfile.HiddenTempDir(dir, "copy-out")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	c := &copier{ctx: ctx, img: img, e: e, root: root, tmp: tmp, budget: e.Size, seen: map[uint64]bool{}}
	for _, name := range names {
		if err := c.copy(name); err != nil {
			return fmt.Errorf("%s:%s: %w", img, name, err)
		}
	}
	return nil
}

// copier copies out of one partition.
type copier struct {
	ctx    context.Context
	img    string
	e      probe.Entry
	root   *os.Root
	tmp    string
	budget int64           // bytes left to copy: the partition's size
	n      int             // files dumped into tmp so far
	seen   map[uint64]bool // the directories listed, by inode: a corrupt one may hold its parent
}

// item is an entry to copy: its path in the partition and on the host.
type item struct {
	src, dst string
	File
}

// copy copies one name given on the command line: a file, or a directory
// with everything in it, into the root under its base name.
func (c *copier) copy(name string) error {
	top, err := c.stat(name)
	if err != nil {
		return err
	}
	base := path.Base(path.Clean("/" + name))
	if base == "/" {
		base = "." // the partition's root: its entries go into dir itself
	}
	items, err := c.walk(item{src: top.src, dst: base, File: top.File})
	if err != nil {
		return err
	}
	if err := c.links(items); err != nil {
		return err
	}
	return c.write(items)
}

// walk returns top and, when it is a directory, everything under it,
// level by level: the directories of a level listed by one debugfs.
func (c *copier) walk(top item) ([]item, error) {
	items := []item{top}
	for level := items; len(level) > 0; {
		var dirs []item
		for _, it := range level {
			if it.Type != "dir" {
				continue
			}
			if it.Inode != 0 && c.seen[it.Inode] {
				return nil, fmt.Errorf("%s: directory inode %d listed twice: a loop in the filesystem", it.src, it.Inode)
			}
			c.seen[it.Inode] = true
			dirs = append(dirs, it)
		}
		lists, err := c.readDirs(dirs)
		if err != nil {
			return nil, err
		}
		level = nil
		for d, files := range lists {
			for i, f := range files { // sorted by name
				if err := plainName(dirs[d].src, f.Name); err != nil {
					return nil, err
				}
				if i > 0 && files[i-1].Name == f.Name {
					return nil, fmt.Errorf("%s: %q twice in one directory: a corrupt filesystem", dirs[d].src, f.Name)
				}
				level = append(level, item{src: path.Join(dirs[d].src, f.Name), dst: path.Join(dirs[d].dst, f.Name), File: f})
			}
		}
		items = append(items, level...)
	}
	return items, nil
}

// readDirs lists dirs, sorted by name: ext's with one debugfs.
func (c *copier) readDirs(dirs []item) ([][]File, error) {
	lists := make([][]File, len(dirs))
	if c.e.Type == "vfat" {
		for i, d := range dirs {
			files, err := vfatReadDir(c.ctx, c.img, c.e, d.src)
			if err != nil {
				return nil, err
			}
			lists[i] = files
		}
		return lists, nil
	}
	var names []string
	for _, d := range dirs {
		names = append(names, d.src)
	}
	lists, err := extListDirs(c.ctx, c.img, c.e.Start, names)
	for _, l := range lists {
		slices.SortFunc(l, func(a, b File) int { return strings.Compare(a.Name, b.Name) })
	}
	return lists, err
}

// links reads the targets of the links among items, all at once.
func (c *copier) links(items []item) error {
	if c.e.Type == "vfat" {
		return nil
	}
	var paths []string
	var files []File
	var at []int
	for i, it := range items {
		if it.Type == "link" {
			paths, files, at = append(paths, it.src), append(files, it.File), append(at, i)
		}
	}
	if err := extLinks(c.ctx, c.img, c.e.Start, paths, files); err != nil {
		return err
	}
	for n, i := range at {
		items[i].Link = files[n].Link
	}
	return nil
}

// stat is what name leads to, links followed, as its directory lists it.
func (c *copier) stat(name string) (item, error) {
	if c.e.Type == "vfat" {
		if err := fatName(name, name); err != nil {
			return item{}, err
		}
		src := path.Clean("/" + name)
		switch exists, dir := vfatStat(c.ctx, c.img, c.e, name); {
		case !exists:
			return item{}, syscall.ENOENT
		case dir: // listed by walk, once
			return item{src: src, File: File{Type: "dir", Mode: 0o755}}, nil
		}
		files, err := vfatReadDir(c.ctx, c.img, c.e, name)
		if err != nil {
			return item{}, err
		}
		if len(files) != 1 {
			return item{}, errors.New("not found in its directory")
		}
		return item{src: src, File: files[0]}, nil
	}
	if err := plainName(name, name); err != nil {
		return item{}, err
	}
	src, st, err := extResolve(c.ctx, c.img, c.e.Start, name)
	if err != nil {
		return item{}, err
	}
	if st.kind == "directory" {
		return item{src: src, File: File{Type: "dir", Mode: 0o755}}, nil
	}
	files, err := extReadDir(c.ctx, c.img, c.e.Start, src)
	if err != nil {
		return item{}, err
	}
	if len(files) != 1 {
		return item{}, errors.New("not found in its directory")
	}
	return item{src: src, File: files[0]}, nil
}

// write makes the directories and links, dumps the files' data into tmp
// with one debugfs (mcopy for each file of a FAT), and copies each into
// place through the root.
func (c *copier) write(items []item) error {
	var files []item
	for _, it := range items {
		switch it.Type {
		case "dir":
			if it.dst != "." {
				if err := c.root.Mkdir(it.dst, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
					return err
				}
			}
		case "link":
			c.root.Remove(it.dst) // cp replaces what is there
			if err := c.root.Symlink(it.Link, it.dst); err != nil {
				return err
			}
		case "file":
			if c.budget -= it.Size; c.budget < 0 {
				return fmt.Errorf("%s: %d bytes: more than the partition holds (%d), with what came before", it.src, it.Size, c.e.Size)
			}
			files = append(files, it)
		default:
			return fmt.Errorf("%s: a %s: only files, directories and links are copied out", it.src, it.Type)
		}
	}
	if err := c.dump(files); err != nil {
		return err
	}
	for i, it := range files {
		if err := c.place(filepath.Join(c.tmp, strconv.Itoa(c.n-len(files)+i)), it); err != nil {
			return err
		}
	}
	for i := len(items) - 1; i >= 0; i-- { // a directory's mode once it is filled
		if it := items[i]; it.Type == "dir" {
			if err := c.root.Chmod(it.dst, os.FileMode(it.Mode&0o777|0o700)); err != nil {
				return err
			}
		}
	}
	return nil
}

// dump writes the data of files into tmp, numbered from c.n.
func (c *copier) dump(files []item) error {
	var script strings.Builder
	for _, it := range files {
		out := filepath.Join(c.tmp, strconv.Itoa(c.n))
		c.n++
		if c.e.Type == "vfat" {
			if err := fatName(it.src, it.src); err != nil {
				return err
			}
			if err := mtools(c.ctx, c.img, c.e.Start, false, nil, nil, "mcopy", "-n", "::"+it.src, out); err != nil {
				return fmt.Errorf("%s: %w", it.src, err)
			}
			continue
		}
		fmt.Fprintf(&script, "dump %s %s\n", quote(it.src), quote(out))
	}
	if script.Len() == 0 {
		return nil
	}
	_, err := debugfsScript(c.ctx, c.img, c.e.Start, script.String())
	return err
}

// place renames a dumped file to its place under the root, with its
// permissions; what was there (a file, a link) is replaced, never
// written through.
func (c *copier) place(dumped string, it item) error {
	st, err := os.Lstat(dumped)
	if err != nil {
		return fmt.Errorf("%s: not dumped: %w", it.src, err)
	}
	if !st.Mode().IsRegular() || st.Size() != it.Size {
		return fmt.Errorf("%s: %d bytes read of %d", it.src, st.Size(), it.Size)
	}
	rel, err := filepath.Rel(c.root.Name(), dumped)
	if err != nil {
		return err
	}
	if err := c.root.Chmod(rel, os.FileMode(it.Mode&0o777)); err != nil {
		return err
	}
	return c.root.Rename(rel, it.dst)
}
