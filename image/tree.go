package image

import (
	"crypto/sha256"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/initkit/initkit/cpio"
)

// Node is one path of the tree an image unpacks to.
type Node struct {
	cpio.Header
	Segment int
	SHA256  [32]byte // of the data of a regular file
}

// Tree reads an image and returns the tree the kernel would unpack: every
// segment in order, a later entry replacing an earlier one of the same
// path. A hardlink whose data came with another name of its set gets that
// data's hash. Names are cleaned as Extract cleans them.
func Tree(r io.Reader) (map[string]*Node, []Segment, error) {
	ir := NewReader(r)
	tree := map[string]*Node{}
	sets := map[linkKey][]*Node{}
	for {
		e, err := ir.Next()
		if err == io.EOF {
			return tree, ir.Segments(), nil
		}
		if err != nil {
			return nil, nil, err
		}
		name, err := CleanName(e.Name)
		if err != nil {
			return nil, nil, &Error{Segment: e.Segment, Offset: e.Offset, Err: fmt.Errorf("entry %q: %w", e.Name, err)}
		}
		n := &Node{Header: e.Header, Segment: e.Segment}
		n.Name = "/" + name
		if e.Type() == cpio.TypeReg {
			h := sha256.New()
			if _, err := io.Copy(h, ir); err != nil {
				return nil, nil, err
			}
			h.Sum(n.SHA256[:0])
			if e.NLink > 1 {
				k := keyOf(e)
				sets[k] = append(sets[k], n)
				if e.Size > 0 {
					for _, m := range sets[k] {
						m.SHA256, m.Size = n.SHA256, n.Size
					}
				} else if len(sets[k]) > 1 {
					n.SHA256, n.Size = sets[k][0].SHA256, sets[k][0].Size
				}
			}
		}
		tree[n.Name] = n
	}
}

// Change is a difference between two trees.
type Change struct {
	Path  string
	Kind  byte     // '+' added, '-' removed, '~' changed
	Diffs []string // for '~': what changed, e.g. "mode 0644 -> 0755"
}

func (c Change) String() string {
	if c.Kind == '~' {
		return fmt.Sprintf("~ %s: %s", c.Path, strings.Join(c.Diffs, ", "))
	}
	return fmt.Sprintf("%c %s", c.Kind, c.Path)
}

// Compare returns the changes from tree a to tree b, sorted by path.
// Inode numbers, link counts and mtimes are not compared: they differ
// between any two builders of the same content.
func Compare(a, b map[string]*Node) []Change {
	var out []Change
	for p, na := range a {
		nb, ok := b[p]
		if !ok {
			out = append(out, Change{Path: p, Kind: '-'})
			continue
		}
		if d := nodeDiffs(na, nb); len(d) > 0 {
			out = append(out, Change{Path: p, Kind: '~', Diffs: d})
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			out = append(out, Change{Path: p, Kind: '+'})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

func nodeDiffs(a, b *Node) []string {
	var d []string
	add := func(what string, x, y any) {
		if x != y {
			d = append(d, fmt.Sprintf("%s %v -> %v", what, x, y))
		}
	}
	if a.Type() != b.Type() {
		return []string{fmt.Sprintf("type %s -> %s", TypeName(a.Mode), TypeName(b.Mode))}
	}
	add("mode", fmt.Sprintf("%04o", a.Perm()), fmt.Sprintf("%04o", b.Perm()))
	add("owner", fmt.Sprintf("%d:%d", a.UID, a.GID), fmt.Sprintf("%d:%d", b.UID, b.GID))
	switch a.Type() {
	case cpio.TypeReg:
		add("size", a.Size, b.Size)
		if a.SHA256 != b.SHA256 {
			d = append(d, fmt.Sprintf("content sha256 %x -> %x", a.SHA256[:6], b.SHA256[:6]))
		}
	case cpio.TypeLink:
		add("target", a.Linkname, b.Linkname)
	case cpio.TypeChar, cpio.TypeBlock:
		add("device", fmt.Sprintf("%d:%d", a.RDevMajor, a.RDevMinor), fmt.Sprintf("%d:%d", b.RDevMajor, b.RDevMinor))
	}
	return d
}

// TypeName names the file type of an st_mode value.
func TypeName(mode uint32) string {
	switch mode & cpio.TypeMask {
	case cpio.TypeReg:
		return "file"
	case cpio.TypeDir:
		return "directory"
	case cpio.TypeLink:
		return "symlink"
	case cpio.TypeChar:
		return "char-device"
	case cpio.TypeBlock:
		return "block-device"
	case cpio.TypeFIFO:
		return "fifo"
	case cpio.TypeSocket:
		return "socket"
	}
	return fmt.Sprintf("type-%#o", mode&cpio.TypeMask)
}

// ReadFile returns the content of the regular file at name in the tree the
// image unpacks to (the last entry of that name wins). A name of a hardlink
// set gets the set's data, wherever in the set it was stored.
func ReadFile(r io.Reader, name string) ([]byte, error) {
	want, err := CleanName(strings.TrimPrefix(name, "/"))
	if err != nil {
		return nil, err
	}
	setData := map[linkKey][]byte{}
	var found *Entry
	var foundKey linkKey
	var data []byte
	ir := NewReader(r)
	for {
		e, err := ir.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		n, _ := CleanName(e.Name)
		linked := e.Type() == cpio.TypeReg && e.NLink > 1
		if n != want && !(linked && e.Size > 0) {
			continue
		}
		d, err := io.ReadAll(ir)
		if err != nil {
			return nil, err
		}
		k := keyOf(e)
		if linked && e.Size > 0 {
			setData[k] = d
			if found != nil && foundKey == k {
				data = d
			}
		}
		if n == want {
			found, foundKey, data = e, k, d
			if linked && e.Size == 0 {
				data = setData[k]
			}
		}
	}
	switch {
	case found == nil:
		return nil, fmt.Errorf("%s: not in the image", name)
	case found.Type() == cpio.TypeLink:
		return nil, fmt.Errorf("%s: a symlink to %s", name, found.Linkname)
	case found.Type() != cpio.TypeReg:
		return nil, fmt.Errorf("%s: a %s, not a file", name, TypeName(found.Mode))
	}
	return data, nil
}
