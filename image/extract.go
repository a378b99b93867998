package image

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/initkit/initkit/cpio"
	"github.com/initkit/initkit/internal/atomicfile"
	"github.com/initkit/initkit/internal/printable"
)

// ExtractOptions control Extract.
type ExtractOptions struct {
	Segment int  // only this segment; -1 for all, in order, as the kernel does
	Nodes   bool // create character and block device nodes (needs root)
	Owners  bool // apply owners from the archive (needs root)
	SetID   bool // keep setuid and setgid bits
}

// DefaultExtractOptions returns the options safe for an untrusted image:
// every segment, owners applied when running as root, but neither device
// nodes nor setuid and setgid bits, which an image could use to give
// whoever reads the tree a root shell or a raw disk. They are listed in
// ExtractResult instead.
func DefaultExtractOptions() ExtractOptions {
	return ExtractOptions{Segment: -1, Owners: os.Geteuid() == 0}
}

// ExtractResult says what Extract did.
type ExtractResult struct {
	Entries  int
	Segments []Segment
	// Skipped lists the device nodes not created (see ExtractOptions.Nodes).
	Skipped []cpio.Header
	// NoSetID lists the files whose setuid or setgid bits were not
	// applied (see ExtractOptions.SetID).
	NoSetID []cpio.Header
	// Kept lists the non-empty directories an entry of another type would
	// have replaced: the kernel's unpacking cannot remove them either
	// (init/initramfs.c clean_path: rmdir), so the directory stays.
	Kept []cpio.Header
}

// Extract unpacks the image read from r into dir, creating dir if needed.
// Every path is resolved inside dir through an os.Root: absolute names,
// names with ".." and symlinks that lead out of dir are refused with an
// error naming the entry. Each file is written to a temporary name and
// renamed into place, so an error never leaves a partial file, and the
// directories made for dir are removed again when the error left them
// empty (not an image at all, say).
func Extract(r io.Reader, dir string, o ExtractOptions) (res *ExtractResult, err error) {
	if o.Segment < -1 {
		return nil, fmt.Errorf("no segment %d: segments count from 0 (-1: all)", o.Segment)
	}
	made, err := mkdirAll(dir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			removeEmpty(made)
		}
	}()
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	x := &extractor{root: root, opt: o, links: map[linkKey]*linkSet{}, open: map[string]*os.Root{}}
	defer x.closeDirs()
	ir := NewReader(r)
	res = &ExtractResult{}
	seg := -1
	for {
		e, err := ir.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return res, err
		}
		if e.Segment != seg {
			if err := x.flushLinks(); err != nil {
				return res, err
			}
			seg = e.Segment
		}
		if o.Segment >= 0 && e.Segment != o.Segment {
			continue
		}
		if err := x.entry(e, ir); err != nil {
			return res, ir.EntryError(e, err)
		}
		res.Entries++
	}
	res.Segments = ir.Segments()
	if o.Segment >= len(res.Segments) {
		return res, fmt.Errorf("no segment %d: the image has %d", o.Segment, len(res.Segments))
	}
	res.Skipped, res.NoSetID, res.Kept = x.skipped, x.nosetid, x.kept
	if err := x.flushLinks(); err != nil {
		return res, err
	}
	return res, x.finishDirs()
}

// mkdirAll is os.MkdirAll, and returns the directories it made, the
// deepest first.
func mkdirAll(dir string) ([]string, error) {
	var made []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil || !errors.Is(err, fs.ErrNotExist) || d == filepath.Dir(d) {
			break
		}
		made = append(made, d)
	}
	return made, os.MkdirAll(dir, 0o755)
}

// removeEmpty removes the directories mkdirAll made, while they are
// empty: os.Remove fails on one that is not.
func removeEmpty(made []string) {
	for _, d := range made {
		if os.Remove(d) != nil {
			return
		}
	}
}

// linkKey identifies a hardlink set: the kernel matches the names of one
// by device and inode, and forgets them at each trailer, so the segment
// is part of the key (init/initramfs.c, find_link and free_hash).
type linkKey struct {
	seg, major, minor, ino uint32
}

func keyOf(e *Entry) linkKey { return linkKey{uint32(e.Segment), e.DevMajor, e.DevMinor, e.Ino} }

// linkSet tracks one hardlink set while its names arrive.
type linkSet struct {
	path    string   // name holding the data, once written
	pending []string // names seen before the data
}

type extractor struct {
	root    *os.Root
	open    map[string]*os.Root // directories already resolved inside root
	opt     ExtractOptions
	links   map[linkKey]*linkSet
	dirs    []cpio.Header
	skipped []cpio.Header
	nosetid []cpio.Header
	kept    []cpio.Header
}

// errKept means that an entry's name is held by a non-empty directory,
// which stays, as it does when the kernel unpacks the image.
var errKept = errors.New("a non-empty directory stands there")

// CleanName returns the path an entry name denotes inside the target, or
// an error for a name that would leave it. "" means the target itself.
func CleanName(name string) (string, error) {
	if strings.HasPrefix(name, "/") {
		return "", errors.New("absolute name refused")
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", errors.New(`name with ".." refused`)
		}
	}
	p := path.Clean(name)
	if p == "." {
		return "", nil
	}
	return p, nil
}

func (x *extractor) entry(e *Entry, data io.Reader) error {
	name, err := CleanName(e.Name)
	if err != nil || name == "" {
		return err
	}
	dir, base, err := x.parent(name)
	if err != nil {
		return err
	}
	// A regular file replaces what stands at its name by rename, so that
	// the old file survives a failure; anything else needs the name free.
	var cerr error
	if e.Type() != cpio.TypeReg {
		cerr = x.clear(name, e.Type() == cpio.TypeDir)
	} else if fi, err := dir.Lstat(base); err == nil && fi.IsDir() {
		cerr = x.clear(name, false)
	}
	if errors.Is(cerr, errKept) {
		h := e.Header
		h.Name = name
		x.kept = append(x.kept, h)
		return nil
	} else if cerr != nil {
		return cerr
	}
	switch e.Type() {
	case cpio.TypeDir:
		x.dirs = append(x.dirs, e.Header)
		x.dirs[len(x.dirs)-1].Name = name
		err := dir.Mkdir(base, 0o700)
		if errors.Is(err, fs.ErrExist) {
			return nil
		}
		return err
	case cpio.TypeReg:
		return x.regular(e, name, data)
	case cpio.TypeLink:
		if err := dir.Symlink(e.Linkname, base); err != nil {
			return err
		}
		if x.opt.Owners {
			return dir.Lchown(base, int(e.UID), int(e.GID))
		}
		return nil
	case cpio.TypeChar, cpio.TypeBlock:
		if !x.opt.Nodes {
			h := e.Header
			h.Name = name
			x.skipped = append(x.skipped, h)
			return nil
		}
		return x.mknod(name, &e.Header)
	case cpio.TypeFIFO, cpio.TypeSocket:
		return x.mknod(name, &e.Header)
	}
	return fmt.Errorf("unknown file type %#o", e.Type())
}

// parent returns the directory holding name, created if missing, and
// name's last element. Directory handles are kept, so that each entry costs
// one lookup in its parent rather than one per path component.
func (x *extractor) parent(name string) (*os.Root, string, error) {
	dir, base := path.Split(name)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		return x.root, base, nil
	}
	if r := x.open[dir]; r != nil {
		return r, base, nil
	}
	if err := x.root.MkdirAll(dir, 0o755); err != nil {
		return nil, "", err
	}
	r, err := x.root.OpenRoot(dir)
	if err != nil {
		return nil, "", err
	}
	if len(x.open) >= maxOpenDirs {
		x.closeDirs()
	}
	x.open[dir] = r
	return r, base, nil
}

// maxOpenDirs bounds the directory handles kept open.
const maxOpenDirs = 256

func (x *extractor) closeDirs() {
	for d, r := range x.open {
		r.Close()
		delete(x.open, d)
	}
}

// clear removes what stands at name unless both it and the new entry are
// directories, as the kernel's clean_path does.
func (x *extractor) clear(name string, dir bool) error {
	fi, err := x.root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() && dir {
		return nil
	}
	if fi.IsDir() {
		// Handles kept for this directory or below it would now point at
		// a directory that is no longer in the tree.
		x.closeDirs()
		if err := x.root.Remove(name); err != nil {
			if errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST) {
				return errKept
			}
			return err
		}
		return nil
	}
	return x.root.Remove(name)
}

func (x *extractor) regular(e *Entry, name string, data io.Reader) error {
	if e.NLink < 2 {
		return x.writeFile(name, &e.Header, data)
	}
	key := keyOf(e)
	set := x.links[key]
	if set == nil {
		set = &linkSet{}
		x.links[key] = set
	}
	switch {
	case e.Size == 0 && set.path == "":
		set.pending = append(set.pending, name)
		return nil
	case e.Size == 0:
		// A link lands on whatever stands at its name, as the kernel's
		// clean_path makes room for it.
		if err := x.clear(name, false); err != nil {
			return err
		}
		return x.root.Link(set.path, name)
	}
	if err := x.writeFile(name, &e.Header, data); err != nil {
		return err
	}
	if set.path != "" && set.path != name {
		set.pending = append(set.pending, set.path)
	}
	set.path = name
	for _, p := range set.pending {
		if err := x.clear(p, false); err != nil {
			return err
		}
		if err := x.root.Link(name, p); err != nil {
			return err
		}
	}
	set.pending = nil
	return nil
}

// flushLinks creates the hardlink sets whose data never came: empty files.
func (x *extractor) flushLinks() error {
	for k, set := range x.links {
		if set.path == "" && len(set.pending) > 0 {
			first := set.pending[0]
			if err := x.writeFile(first, &cpio.Header{Mode: cpio.TypeReg | 0o644}, eofReader{}); err != nil {
				return err
			}
			for _, p := range set.pending[1:] {
				if err := x.clear(p, false); err != nil {
					return err
				}
				if err := x.root.Link(first, p); err != nil {
					return err
				}
			}
		}
		delete(x.links, k)
	}
	return nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// writeFile writes a regular file at name. A new name is created with
// O_EXCL and removed again if writing fails; where something already
// stands, the data goes to a temporary name renamed over it, so that the
// old file survives a failure. Either way no partial file is left.
func (x *extractor) writeFile(name string, h *cpio.Header, data io.Reader) error {
	dir, base, err := x.parent(name)
	if err != nil {
		return err
	}
	tmp := base
	f, err := dir.OpenFile(base, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		tmp = ".initkit-tmp-" + randomSuffix()
		f, err = dir.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	}
	if err != nil {
		return err
	}
	_, err = io.Copy(f, data)
	if err == nil && x.opt.Owners {
		err = f.Chown(int(h.UID), int(h.GID))
	}
	if err == nil {
		// After chown, which clears setuid and setgid bits.
		err = f.Chmod(x.mode(h))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		t := time.Unix(h.ModTime, 0)
		err = dir.Chtimes(tmp, t, t)
	}
	if err == nil && tmp != base {
		err = dir.Rename(tmp, base)
	}
	if err != nil {
		dir.Remove(tmp)
	}
	return err
}

// mode is h's mode as Extract applies it: a file without setuid and
// setgid unless ExtractOptions.SetID, noting the files that lost them (a
// directory's setgid only passes its group on, and stays).
func (x *extractor) mode(h *cpio.Header) fs.FileMode {
	m := h.FileMode()
	if !x.opt.SetID && h.Type() != cpio.TypeDir && m&(fs.ModeSetuid|fs.ModeSetgid) != 0 {
		m &^= fs.ModeSetuid | fs.ModeSetgid
		x.nosetid = append(x.nosetid, *h)
	}
	return m
}

func randomSuffix() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (x *extractor) owner(name string, h *cpio.Header) error {
	if !x.opt.Owners {
		return nil
	}
	return x.root.Lchown(name, int(h.UID), int(h.GID))
}

// mknod creates a node through a descriptor of its parent opened inside the
// root, so that no path outside it is ever resolved.
func (x *extractor) mknod(name string, h *cpio.Header) error {
	parent, err := x.root.Open(path.Dir(name))
	if err != nil {
		return err
	}
	defer parent.Close()
	dev := unix.Mkdev(h.RDevMajor, h.RDevMinor)
	base := path.Base(name)
	if err := unix.Mknodat(int(parent.Fd()), base, h.Mode&^(unix.S_ISUID|unix.S_ISGID), int(dev)); err != nil {
		return fmt.Errorf("mknod: %w", err)
	}
	if err := x.owner(name, h); err != nil {
		return err
	}
	// The exact mode, not the one the umask left; a node is no symlink.
	return unix.Fchmodat(int(parent.Fd()), base, h.Mode&0o1777, 0)
}

// finishDirs applies directory modes and times last, deepest first, so that
// a read-only directory does not stop its own extraction and writing into a
// directory does not change its recorded mtime.
func (x *extractor) finishDirs() error {
	sort.SliceStable(x.dirs, func(i, j int) bool { return x.dirs[i].Name > x.dirs[j].Name })
	for _, d := range x.dirs {
		// A later entry may have replaced the directory: a symlink's
		// target must not get the directory's mode, owner or times.
		if fi, err := x.root.Lstat(d.Name); err != nil || !fi.IsDir() {
			continue
		}
		if err := x.root.Chmod(d.Name, x.mode(&d)); err != nil {
			return err
		}
		if err := x.owner(d.Name, &d); err != nil {
			return err
		}
		t := time.Unix(d.ModTime, 0)
		if err := x.root.Chtimes(d.Name, t, t); err != nil {
			return err
		}
	}
	return nil
}

// NodeList returns nodes as lines of the kernel's gen_init_cpio list
// (usr/gen_init_cpio.c: "nod NAME MODE UID GID c|b MAJOR MINOR"), which
// initkit build's gen_init_cpio key and CONFIG_INITRAMFS_SOURCE read.
func NodeList(nodes []cpio.Header) []byte {
	var b bytes.Buffer
	for _, n := range nodes {
		kind := "c"
		if n.Type() == cpio.TypeBlock {
			kind = "b"
		}
		fmt.Fprintf(&b, "nod /%s %04o %d %d %s %d %d\n", n.Name, n.Perm(), n.UID, n.GID, kind, n.RDevMajor, n.RDevMinor)
	}
	return b.Bytes()
}

// Notes writes what a user of an extraction into dir must know, a line
// each, to w: directories kept as the kernel keeps them, set-id bits not
// applied, and the device nodes not created, listed (as NodeList lines)
// in manifest, by default DIR.initkit-nodes beside dir, where no entry of
// the image can be.
func (r *ExtractResult) Notes(w io.Writer, dir, manifest string) error {
	for _, k := range r.Kept {
		fmt.Fprintf(w, "initkit: /%s: kept the non-empty directory a %s would replace, as the kernel does\n", printable.String(k.Name), TypeName(k.Mode))
	}
	if n := len(r.NoSetID); n > 0 {
		fmt.Fprintf(w, "initkit: setuid and setgid bits not applied to %d files, /%s first (--same-permissions applies them)\n", n, printable.String(r.NoSetID[0].Name))
	}
	if len(r.Skipped) == 0 {
		return nil
	}
	if manifest == "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return err
		}
		manifest = abs + ".initkit-nodes"
	}
	if err := atomicfile.Write(manifest, 0o644, func(f io.Writer) error { _, err := f.Write(NodeList(r.Skipped)); return err }); err != nil {
		return err
	}
	nodes := "device nodes"
	if len(r.Skipped) == 1 {
		nodes = "device node"
	}
	fmt.Fprintf(w, "initkit: %d %s not created; listed in %s\n", len(r.Skipped), nodes, manifest)
	return nil
}
