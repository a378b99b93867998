package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/initkit/initkit/cpio"
	"github.com/initkit/initkit/image"
)

func newLs() *cobra.Command {
	var asJSON bool
	var segment int
	cmd := &cobra.Command{
		Use:   "ls IMAGE",
		Short: "List every segment of an image and its entries",
		Long: `List an initramfs image: first every segment (offset, compression, entry
count), then every entry like ls -l, with symlink targets and device numbers.
IMAGE may be - for standard input.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withInput(cmd, args[0], func(in io.Reader) error {
				entries, segs, err := list(in)
				if err != nil {
					return err
				}
				if segment >= len(segs) {
					return fmt.Errorf("no segment %d: the image has %d", segment, len(segs))
				}
				out := bufio.NewWriter(cmd.OutOrStdout())
				defer out.Flush()
				if asJSON {
					return writeJSON(out, entries, segs, segment)
				}
				writeListing(out, entries, segs, segment)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().IntVar(&segment, "segment", -1, "only segment `N` (counting from 0)")
	return cmd
}

func list(in io.Reader) ([]*image.Entry, []image.Segment, error) {
	r := image.NewReader(in)
	var entries []*image.Entry
	for {
		e, err := r.Next()
		if err == io.EOF {
			return entries, r.Segments(), nil
		}
		if err != nil {
			return nil, nil, err
		}
		entries = append(entries, e)
	}
}

func writeListing(out io.Writer, entries []*image.Entry, segs []image.Segment, only int) {
	for _, s := range segs {
		if only < 0 || s.Index == only {
			fmt.Fprintf(out, "segment %d: offset %d, end %d, %s, %d entries, %d bytes of cpio\n",
				s.Index, s.Offset, s.End, s.Compression, s.Entries, s.DataSize)
		}
	}
	for _, e := range entries {
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
		mtime := time.Unix(e.ModTime, 0).UTC().Format("2006-01-02 15:04")
		fmt.Fprintf(out, "%s %3d %5d/%-5d %10s %s %s\n", modeString(e.Mode), e.NLink, e.UID, e.GID, size, mtime, name)
	}
}

// modeString renders st_mode like ls -l.
func modeString(mode uint32) string {
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

func writeJSON(out io.Writer, entries []*image.Entry, segs []image.Segment, only int) error {
	doc := struct {
		Segments []jsonSegment `json:"segments"`
		Entries  []jsonEntry   `json:"entries"`
	}{Segments: []jsonSegment{}, Entries: []jsonEntry{}}
	for _, s := range segs {
		if only < 0 || s.Index == only {
			doc.Segments = append(doc.Segments, jsonSegment{s.Index, s.Offset, s.End, s.Compression.String(), s.Archives, s.Entries, s.DataSize})
		}
	}
	for _, e := range entries {
		if only >= 0 && e.Segment != only {
			continue
		}
		doc.Entries = append(doc.Entries, jsonEntry{e.Segment, e.Name, image.TypeName(e.Mode), fmt.Sprintf("%04o", e.Perm()),
			e.UID, e.GID, e.Size, e.ModTime, e.Ino, e.NLink, e.Linkname, e.RDevMajor, e.RDevMinor, e.Offset})
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

func newCat() *cobra.Command {
	return &cobra.Command{
		Use:   "cat IMAGE PATH",
		Short: "Print one file of an image",
		Long:  "Print the content of PATH as the kernel would unpack it: the last entry of that name wins.",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withInput(cmd, args[0], func(in io.Reader) error {
				data, err := image.ReadFile(in, args[1])
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(data)
				return err
			})
		},
	}
}

func newDiff() *cobra.Command {
	return &cobra.Command{
		Use:   "diff A B",
		Short: "Compare the trees two images unpack to",
		Long: `Compare the trees two images unpack to: added (+), removed (-) and changed (~)
paths, with what changed (type, mode, owner, size, content hash, link target,
device numbers). Exits 0 when they are the same, 1 when they differ, 2 on error.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var trees [2]map[string]*image.Node
			for i, name := range args {
				err := withInput(cmd, name, func(in io.Reader) (err error) {
					trees[i], _, err = image.Tree(in)
					return err
				})
				if err != nil {
					return err
				}
			}
			changes := image.Compare(trees[0], trees[1])
			out := bufio.NewWriter(cmd.OutOrStdout())
			for _, c := range changes {
				fmt.Fprintln(out, c)
			}
			if err := out.Flush(); err != nil {
				return err
			}
			if len(changes) > 0 {
				return exitCode(exitDiffers)
			}
			return nil
		},
	}
}
