package image

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/initkit/initkit/cpio"
	"github.com/initkit/initkit/internal/printable"
)

// Listing is every segment of an image and every entry, without data.
type Listing struct {
	Segments []Segment
	Entries  []*Entry
}

// List reads an image to its end and returns its listing.
func List(in io.Reader) (*Listing, error) {
	r := NewReader(in)
	defer r.Close()
	l := &Listing{}
	for {
		e, err := r.Next()
		if err == io.EOF {
			l.Segments = r.Segments()
			return l, nil
		}
		if err != nil {
			return nil, err
		}
		l.Entries = append(l.Entries, e)
	}
}

// Write writes the listing as text or JSON, only segment only when it is
// >= 0 (-1: all); an image without that segment is an error.
func (l *Listing) Write(out io.Writer, only int, asJSON bool) error {
	if only >= len(l.Segments) || only < -1 {
		return fmt.Errorf("no segment %d: the image has %d", only, len(l.Segments))
	}
	if asJSON {
		return l.WriteJSON(out, only)
	}
	l.WriteText(out, only)
	return nil
}

// WriteText writes the listing as initkit ls prints it: a line a
// segment, then a line an entry like ls -l. only >= 0 keeps one segment.
func (l *Listing) WriteText(out io.Writer, only int) {
	for _, s := range l.Segments {
		if only < 0 || s.Index == only {
			fmt.Fprintf(out, "segment %d: offset %d, end %d, %s, %d entries, %d bytes of cpio\n",
				s.Index, s.Offset, s.End, s.Compression, s.Entries, s.DataSize)
		}
	}
	for _, e := range l.Entries {
		if only >= 0 && e.Segment != only {
			continue
		}
		size := fmt.Sprint(e.Size)
		if e.Type() == cpio.TypeChar || e.Type() == cpio.TypeBlock {
			size = fmt.Sprintf("%d, %d", e.RDevMajor, e.RDevMinor)
		}
		name := e.Name
		if e.Type() == cpio.TypeLink {
			name += " -> " + e.Linkname
		}
		name = printable.String(name) // an image's names are untrusted: no escape reaches the terminal
		mtime := time.Unix(e.ModTime, 0).UTC().Format("2006-01-02 15:04")
		fmt.Fprintf(out, "%s %3d %5d/%-5d %10s %s %s\n", ModeString(e.Mode), e.NLink, e.UID, e.GID, size, mtime, name)
	}
}

// ModeString renders st_mode like ls -l: "-rwsr-xr-x".
func ModeString(mode uint32) string {
	types := map[uint32]byte{cpio.TypeReg: '-', cpio.TypeDir: 'd', cpio.TypeLink: 'l', cpio.TypeChar: 'c',
		cpio.TypeBlock: 'b', cpio.TypeFIFO: 'p', cpio.TypeSocket: 's'}
	b := []byte("?rwxrwxrwx")
	if t, ok := types[mode&cpio.TypeMask]; ok {
		b[0] = t
	}
	for i := 0; i < 9; i++ {
		if mode&(1<<uint(8-i)) == 0 {
			b[i+1] = '-'
		}
	}
	special := func(bit uint32, pos int, set, unset byte) {
		if mode&bit != 0 {
			if b[pos] == '-' {
				b[pos] = unset
			} else {
				b[pos] = set
			}
		}
	}
	special(0o4000, 3, 's', 'S')
	special(0o2000, 6, 's', 'S')
	special(0o1000, 9, 't', 'T')
	return string(b)
}

type jsonSegment struct {
	Index       int    `json:"index"`
	Offset      int64  `json:"offset"`
	End         int64  `json:"end"`
	Compression string `json:"compression"`
	Archives    int    `json:"archives"`
	Entries     int    `json:"entries"`
	DataSize    int64  `json:"data_size"`
}

type jsonEntry struct {
	Segment   int    `json:"segment"`
	Name      string `json:"name"`
	Type      string `json:"type"`
	Mode      string `json:"mode"`
	UID       uint32 `json:"uid"`
	GID       uint32 `json:"gid"`
	Size      int64  `json:"size"`
	ModTime   int64  `json:"mtime"`
	Ino       uint32 `json:"ino"`
	NLink     uint32 `json:"nlink"`
	Linkname  string `json:"link_target,omitempty"`
	RDevMajor uint32 `json:"rdev_major,omitempty"`
	RDevMinor uint32 `json:"rdev_minor,omitempty"`
	Offset    int64  `json:"header_offset"`
}

// WriteJSON writes the listing as JSON (initkit ls --json). only >= 0
// keeps one segment.
func (l *Listing) WriteJSON(out io.Writer, only int) error {
	doc := struct {
		Segments []jsonSegment `json:"segments"`
		Entries  []jsonEntry   `json:"entries"`
	}{Segments: []jsonSegment{}, Entries: []jsonEntry{}}
	for _, s := range l.Segments {
		if only < 0 || s.Index == only {
			doc.Segments = append(doc.Segments, jsonSegment{s.Index, s.Offset, s.End, s.Compression.String(), s.Archives, s.Entries, s.DataSize})
		}
	}
	for _, e := range l.Entries {
		if only >= 0 && e.Segment != only {
			continue
		}
		doc.Entries = append(doc.Entries, jsonEntry{e.Segment, e.Name, TypeName(e.Mode), fmt.Sprintf("%04o", e.Perm()),
			e.UID, e.GID, e.Size, e.ModTime, e.Ino, e.NLink, e.Linkname, e.RDevMajor, e.RDevMinor, e.Offset})
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
