// Package initramfs assembles an initramfs from a declarative spec: busybox
// and its applets, host programs with their shared-library closure, kernel
// modules with their dependencies, directories, symlinks and device nodes
// as archive entries, entries handed over in memory, and an init. A
// program fills a Spec itself or reads one from initkit.toml (Load). The
// result is a list of image.File that package image writes reproducibly.
package initramfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/initkit/initkit/cpio"
	"github.com/initkit/initkit/image"
)

// node is one path of the tree being built.
type node struct {
	file    image.File
	why     string
	implied bool // a directory made only to hold what is below it
}

// Tree is the content of an image under construction. Paths are absolute
// and clean; symlinks already in the tree are followed when a parent
// directory of a new path is one, as the kernel follows them on unpacking.
type Tree struct {
	nodes map[string]*node
	// replace lists paths where a later source replaces an earlier one
	// instead of being a conflict.
	replace map[string]bool
}

// NewTree returns an empty tree.
func NewTree() *Tree { return &Tree{nodes: map[string]*node{}, replace: map[string]bool{}} }

// Replace lets later sources of p replace earlier ones.
func (t *Tree) Replace(p string) { t.replace[path.Clean("/"+p)] = true }

// ConflictError reports two different contents for one path.
type ConflictError struct {
	Path       string
	First, Now string // why each was added
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("two different sources for %s: %s, and %s", e.Path, e.First, e.Now)
}

// place resolves the parent directories of p through symlinks already in
// the tree and creates the missing ones. It returns the path to use.
func (t *Tree) place(p string) (string, error) { return t.walk(p, true) }

// lookup resolves p's parent directories as place does, creating none; ok
// is false when one is missing.
func (t *Tree) lookup(p string) (string, bool) {
	q, err := t.walk(p, false)
	return q, err == nil
}

// errMissing is walk's answer, without create, for a missing parent.
var errMissing = errors.New("no such directory in the tree")

func (t *Tree) walk(p string, create bool) (string, error) {
	p = path.Clean("/" + p)
	if p == "/" {
		return "", fmt.Errorf("cannot add the root directory itself")
	}
	dir, base := path.Split(p)
	cur := "/"
	for hops, rest := 0, strings.Split(strings.Trim(dir, "/"), "/"); len(rest) > 0; {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..": // from a symlink's target: the kernel's walk goes up, and stops at /
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, c)
		n := t.nodes[next]
		switch {
		case n == nil && !create:
			return "", errMissing
		case n == nil:
			t.nodes[next] = &node{file: dirFile(next), why: "parent of " + p, implied: true}
			cur = next
		case n.file.Type() == cpio.TypeDir:
			cur = next
		case n.file.Type() == cpio.TypeLink:
			if hops++; hops > 40 {
				return "", fmt.Errorf("%s: too many symlinks", p)
			}
			target := n.file.Linkname
			if path.IsAbs(target) {
				cur = "/"
			}
			rest = append(strings.Split(strings.Trim(target, "/"), "/"), rest...)
		default:
			return "", fmt.Errorf("%s: %s is a %s (%s), not a directory", p, next, image.TypeName(n.file.Mode), n.why)
		}
	}
	return path.Join(cur, base), nil
}

func dirFile(p string) image.File {
	return image.File{Header: cpio.Header{Name: strings.TrimPrefix(p, "/"), Mode: cpio.TypeDir | 0o755}}
}

// add puts f at p unless an identical entry is there already.
func (t *Tree) add(p string, f image.File, why string) error {
	p, err := t.place(p)
	if err != nil {
		return err
	}
	f.Name = strings.TrimPrefix(p, "/")
	if old := t.nodes[p]; old != nil {
		if same(&old.file, &f) {
			return nil
		}
		if old.file.Type() == cpio.TypeDir && f.Type() == cpio.TypeDir {
			old.file.Mode, old.implied = f.Mode, false // an explicit directory sets the mode of an implied one
			return nil
		}
		if old.implied && f.Type() == cpio.TypeLink {
			return t.redirect(p, f, why)
		}
		if t.replace[p] {
			t.nodes[p] = &node{file: f, why: why + " (replacing " + old.why + ")"}
			return nil
		}
		return &ConflictError{Path: p, First: old.why, Now: why}
	}
	t.nodes[p] = &node{file: f, why: why}
	return nil
}

// redirect puts the symlink f at p, where so far only an implied
// directory stood, and moves what was placed below p through the link,
// as the kernel's unpacking would put it: /bin/gdbserver lands in
// /usr/bin once /bin is a merged /usr's link "bin -> usr/bin". Only two
// different contents for one final path conflict.
func (t *Tree) redirect(p string, f image.File, why string) error {
	var below []string
	for q := range t.nodes {
		if strings.HasPrefix(q, p+"/") {
			below = append(below, q)
		}
	}
	sort.Strings(below) // parents before what they hold
	moved := make([]*node, len(below))
	for i, q := range below {
		moved[i] = t.nodes[q]
		delete(t.nodes, q)
	}
	t.nodes[p] = &node{file: f, why: why}
	for i, q := range below {
		n := moved[i]
		if n.implied {
			continue // made again, where needed, by what it held
		}
		if err := t.add(q, n.file, n.why); err != nil {
			return err
		}
	}
	return nil
}

func same(a, b *image.File) bool {
	if a.Mode != b.Mode || a.Linkname != b.Linkname || a.RDevMajor != b.RDevMajor || a.RDevMinor != b.RDevMinor ||
		a.UID != b.UID || a.GID != b.GID {
		return false
	}
	if a.Source != "" || b.Source != "" {
		return a.Source == b.Source || sameContent(a.Source, b.Source)
	}
	return bytes.Equal(a.Data, b.Data)
}

// sameContent reports whether two host files hold the same bytes: sizes
// first, then both read side by side, never whole into memory.
func sameContent(x, y string) bool {
	if x == "" || y == "" {
		return false
	}
	a, err := os.Open(x)
	if err != nil {
		return false
	}
	defer a.Close()
	b, err := os.Open(y)
	if err != nil {
		return false
	}
	defer b.Close()
	sa, err1 := a.Stat()
	sb, err2 := b.Stat()
	if err1 != nil || err2 != nil || !sa.Mode().IsRegular() || !sb.Mode().IsRegular() || sa.Size() != sb.Size() {
		return false
	}
	ba, bb := make([]byte, 256<<10), make([]byte, 256<<10)
	for {
		n, errA := io.ReadFull(a, ba)
		m, errB := io.ReadFull(b, bb)
		if n != m || !bytes.Equal(ba[:n], bb[:m]) {
			return false
		}
		if errA != nil || errB != nil {
			return errA == errB && (errA == io.EOF || errA == io.ErrUnexpectedEOF)
		}
	}
}

// Dir adds a directory.
func (t *Tree) Dir(p string, perm uint32, why string) error {
	return t.add(p, image.File{Header: cpio.Header{Mode: cpio.TypeDir | perm}}, why)
}

// Symlink adds a symbolic link at p pointing to target.
func (t *Tree) Symlink(p, target, why string) error {
	return t.add(p, image.File{Header: cpio.Header{Mode: cpio.TypeLink | 0o777, Linkname: target}}, why)
}

// HostFile adds the host file src at p, with src's permissions.
func (t *Tree) HostFile(p, src, why string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", src)
	}
	return t.add(p, image.File{Header: cpio.Header{Mode: cpio.TypeReg | uint32(fi.Mode().Perm()), Size: fi.Size()}, Source: src}, why)
}

// Data adds a regular file holding data.
func (t *Tree) Data(p string, data []byte, perm uint32, why string) error {
	return t.add(p, image.File{Header: cpio.Header{Mode: cpio.TypeReg | perm}, Data: data}, why)
}

// Node adds a device node, FIFO or socket as an archive entry: no root needed.
func (t *Tree) Node(p string, typ uint32, major, minor, perm, uid, gid uint32, why string) error {
	return t.add(p, image.File{Header: cpio.Header{Mode: typ | perm, RDevMajor: major, RDevMinor: minor, UID: uid, GID: gid}}, why)
}

// Files returns the entries, sorted by path.
func (t *Tree) Files() []image.File {
	out := make([]image.File, 0, len(t.nodes))
	for _, p := range t.paths() {
		out = append(out, t.nodes[p].file)
	}
	return out
}

func (t *Tree) paths() []string {
	return slices.Sorted(maps.Keys(t.nodes))
}

// Explain returns one line per entry: its path, type and why it is there.
func (t *Tree) Explain() []string {
	var out []string
	for _, p := range t.paths() {
		n := t.nodes[p]
		what := image.TypeName(n.file.Mode)
		if n.file.Linkname != "" {
			what += " -> " + n.file.Linkname
		}
		out = append(out, fmt.Sprintf("%-50s %-24s %s", p, what, n.why))
	}
	return out
}
