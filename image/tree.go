package image

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/initkit/initkit/cpio"
	"github.com/initkit/initkit/internal/printable"
)

// Node is one path of the tree an image unpacks to.
type Node struct {
	cpio.Header
	Segment int
	SHA256  [32]byte // of the data of a regular file
	dataAt  int      // the index in the image of the entry that carries its data
}

// Tree reads an image and returns the tree the kernel would unpack: every
// segment in order, a later entry replacing an earlier one of the same
// path. A hardlink whose data came with another name of its set gets that
// data's hash. Names are cleaned as Extract cleans them.
func Tree(r io.Reader) (map[string]*Node, []Segment, error) {
	ir := NewReader(r)
	tree := map[string]*Node{}
	sets := map[linkKey][]*Node{}
	for i := 0; ; i++ {
		e, err := ir.Next()
		if err == io.EOF {
			return tree, ir.Segments(), nil
		}
		if err != nil {
			return nil, nil, err
		}
		name, err := CleanName(e.Name)
		if err != nil {
			return nil, nil, ir.EntryError(e, err)
		}
		n := &Node{Header: e.Header, Segment: e.Segment, dataAt: i}
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
						m.SHA256, m.Size, m.dataAt = n.SHA256, n.Size, i
					}
				} else if len(sets[k]) > 1 {
					n.SHA256, n.Size, n.dataAt = sets[k][0].SHA256, sets[k][0].Size, sets[k][0].dataAt
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
	s := fmt.Sprintf("%c %s", c.Kind, c.Path)
	if c.Kind == '~' {
		s += ": " + strings.Join(c.Diffs, ", ")
	}
	return printable.String(s) // paths and link targets come from the images
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
// image unpacks to: the last entry of that name wins, symlinks on the way
// are followed as the kernel's path walk follows them, and a name of a
// hardlink set gets the set's data, wherever in the set it was stored.
// Memory is bounded by the file's size, whatever the image holds.
func ReadFile(r io.Reader, name string) ([]byte, error) {
	var b bytes.Buffer
	err := CopyFile(&b, r, name)
	return b.Bytes(), err
}

// CopyFile writes the content of name, as ReadFile finds it, to w. It
// reads the image twice: once for the tree, then for the data. An r that
// cannot seek is spooled to a temporary file on the way.
func CopyFile(w io.Writer, r io.Reader, name string) error {
	rs, ok := r.(io.ReadSeeker)
	var tree map[string]*Node
	var err error
	if ok {
		tree, _, err = Tree(rs)
		if err == nil {
			_, err = rs.Seek(0, io.SeekStart)
		}
	} else {
		var spool *os.File
		if spool, err = os.CreateTemp("", "initkit-image-*"); err != nil {
			return err
		}
		defer spool.Close()
		os.Remove(spool.Name()) // gone when closed, whatever happens
		tree, _, err = Tree(io.TeeReader(r, spool))
		if err == nil {
			_, err = spool.Seek(0, io.SeekStart)
		}
		rs = spool
	}
	if err != nil {
		return err
	}
	_, n, err := Resolve(tree, name)
	if err != nil {
		return err
	}
	if n.Type() != cpio.TypeReg {
		return fmt.Errorf("%s: a %s, not a file", name, TypeName(n.Mode))
	}
	ir := NewReader(rs)
	defer ir.Close()
	for i := 0; i <= n.dataAt; i++ {
		if _, err := ir.Next(); err != nil {
			return fmt.Errorf("%s: the image changed while read: %w", name, err)
		}
	}
	_, err = io.Copy(w, ir)
	return err
}

// maxHops bounds the symlinks one path walk follows, as the kernel's
// MAXSYMLINKS (40) does.
const maxHops = 40

// Resolve follows name through the tree's symlinks as the kernel's path
// walk does (an absolute target starts again at the image's root) and
// returns the path it ends at and its node.
func Resolve(tree map[string]*Node, name string) (string, *Node, error) {
	cur := "/"
	rest := strings.Split(strings.Trim(path.Clean("/"+name), "/"), "/")
	for hops := 0; len(rest) > 0; {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, c)
		n := tree[next]
		switch {
		case n == nil:
			return "", nil, fmt.Errorf("%s: not in the image", name)
		case n.Type() == cpio.TypeLink:
			if hops++; hops > maxHops {
				return "", nil, fmt.Errorf("%s: too many levels of symlinks", name)
			}
			if path.IsAbs(n.Linkname) {
				cur = "/"
			}
			rest = append(strings.Split(n.Linkname, "/"), rest...)
		case len(rest) > 0 && n.Type() != cpio.TypeDir:
			return "", nil, fmt.Errorf("%s: %s is a %s, not a directory", name, next, TypeName(n.Mode))
		default:
			cur = next
		}
	}
	n := tree[cur]
	if n == nil {
		return "", nil, fmt.Errorf("%s: not in the image", name)
	}
	return cur, n, nil
}
