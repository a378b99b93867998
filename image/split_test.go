package image

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/initkit/initkit/compress"
	"github.com/initkit/initkit/cpio"
)

// splitFiles: 40 files of 3-12 KiB of half-random data in a few
// directories, and a hardlink set whose names sort far apart.
func splitFiles() []File {
	rng := rand.New(rand.NewSource(1))
	files := []File{{Header: cpio.Header{Name: "d0", Mode: cpio.TypeDir | 0o755}}}
	for i := range 40 {
		data := make([]byte, 3<<10+rng.Intn(9<<10))
		rng.Read(data[:len(data)/2])
		files = append(files, File{Header: cpio.Header{Name: fmt.Sprintf("d%d/f%02d", i/10, i), Mode: cpio.TypeReg | 0o644}, Data: data})
		if i%10 == 9 {
			files = append(files, File{Header: cpio.Header{Name: fmt.Sprintf("d%d", i/10+1), Mode: cpio.TypeDir | 0o755}})
		}
	}
	for _, name := range []string{"d0/link-a", "d3/link-b"} {
		files = append(files, File{Header: cpio.Header{Name: name, Mode: cpio.TypeReg | 0o755}, Data: []byte("linked\n"), LinkGroup: "g"})
	}
	return files
}

type readEntry struct {
	cpio.Header
	data string
}

func readEntries(t *testing.T, img []byte) ([]readEntry, []Segment) {
	t.Helper()
	r := NewReader(bytes.NewReader(img))
	var out []readEntry
	for {
		e, err := r.Next()
		if err == io.EOF {
			return out, r.Segments()
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		h := e.Header
		h.Offset = 0 // within its segment
		out = append(out, readEntry{h, string(data)})
	}
}

// TestSplit: a split image holds the same entries as one segment, in
// several segments, whatever the number of cores; a hardlink set stays
// in one segment.
func TestSplit(t *testing.T) {
	files := splitFiles()
	for _, f := range []compress.Format{compress.Zstd, compress.XZ, compress.Gzip} {
		t.Run(f.String(), func(t *testing.T) {
			write := func(jobs int, split int64) []byte {
				var buf bytes.Buffer
				err := WriteSegment(&buf, files, WithCompression(f, compress.WriterOptions{Concurrency: jobs}), WithModTime(0), WithSplit(split))
				if err != nil {
					t.Fatal(err)
				}
				return buf.Bytes()
			}
			one, oneSegs := readEntries(t, write(1, 0))
			img := write(4, 64<<10)
			if !bytes.Equal(img, write(1, 64<<10)) {
				t.Error("the output depends on the number of goroutines")
			}
			got, segs := readEntries(t, img)
			if len(oneSegs) != 1 || len(segs) < 4 {
				t.Fatalf("%d and %d segments, want 1 and at least 4", len(oneSegs), len(segs))
			}
			// The same entries; a hardlink set's names may have moved
			// next to its last name, and inodes are numbered in each
			// piece.
			byName := func(es []readEntry) []readEntry {
				es = slices.Clone(es)
				for i := range es {
					es[i].Ino = 0
				}
				return slices.SortedFunc(slices.Values(es), func(a, b readEntry) int { return strings.Compare(a.Name, b.Name) })
			}
			if a, b := byName(got), byName(one); fmt.Sprint(a) != fmt.Sprint(b) {
				t.Errorf("split entries differ from one segment's")
			}
			linkSeg, linkIno := map[int]bool{}, map[uint32]bool{}
			r := NewReader(bytes.NewReader(img))
			for {
				e, err := r.Next()
				if err != nil {
					break
				}
				if e.Name == "d0/link-a" || e.Name == "d3/link-b" {
					linkSeg[e.Segment], linkIno[e.Ino] = true, true
				}
			}
			if len(linkSeg) != 1 || len(linkIno) != 1 {
				t.Errorf("the hardlink set spans segments %v, inodes %v", linkSeg, linkIno)
			}
		})
	}
}

// TestSplitExtract: extracting a split image gives the tree back, with
// its hardlink, like one segment does.
func TestSplitExtract(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteSegment(&buf, splitFiles(), WithCompression(compress.Zstd, compress.WriterOptions{}), WithSplit(32<<10)); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if _, err := Extract(bytes.NewReader(buf.Bytes()), dst, DefaultExtractOptions()); err != nil {
		t.Fatal(err)
	}
	_, groups := snapshot(t, dst)
	if len(groups) != 1 || groups[0] != "d0/link-a=d3/link-b" {
		t.Errorf("hardlink sets %v", groups)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "d3/f39")); err != nil || len(b) < 3<<10 {
		t.Errorf("d3/f39: %d bytes, %v", len(b), err)
	}
}

// TestSplitNotFor: none and lz4 stay one segment (lz4's legacy stream has
// no end the kernel can find).
func TestSplitNotFor(t *testing.T) {
	for _, f := range []compress.Format{compress.None, compress.LZ4} {
		var buf bytes.Buffer
		if err := WriteSegment(&buf, splitFiles(), WithCompression(f, compress.WriterOptions{}), WithSplit(16<<10)); err != nil {
			t.Fatal(err)
		}
		if _, segs := readEntries(t, buf.Bytes()); len(segs) != 1 {
			t.Errorf("%s: %d segments, want 1", f, len(segs))
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "4096": 4096, "16M": 16 << 20, "2k": 2048, "1G": 1 << 30} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "M", "-1", "1T", "9999999999G", "1.5M"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) accepted", in)
		}
	}
}

// chunks keeps a piece until max, then sends what it kept and the rest to
// w in order; with through, w gets every byte as it comes and the piece
// is kept only while it fits.
func TestChunks(t *testing.T) {
	var in []byte
	for i := range 3000 {
		in = append(in, byte(i), byte(i>>8), byte(i*7))
	}
	sizes := []int{1, 700, chunkSize + 3, 5, 64 << 10, 2, chunkSize, 9000}
	for _, max := range []int{math.MaxInt, 3 * chunkSize, 100} {
		for _, through := range []bool{false, true} {
			var w bytes.Buffer
			c := &chunks{w: &w, max: max, through: through}
			var all []byte
			for i, n := range sizes {
				b := bytes.Repeat(in[i*10:i*10+1+i], n/(i+1)+1)[:n]
				all = append(all, b...)
				if k, err := c.Write(b); k != n || err != nil {
					t.Fatalf("Write = %d, %v", k, err)
				}
			}
			kept := bytes.Join(c.chunks, nil)
			over := len(all) > max
			switch {
			case c.over != over || c.n != len(all):
				t.Errorf("max %d: over %v, n %d; want %v, %d", max, c.over, c.n, over, len(all))
			case over && (len(c.chunks) != 0 || !bytes.Equal(w.Bytes(), all)):
				t.Errorf("max %d through %v: over, kept %d, w has %d of %d", max, through, len(kept), w.Len(), len(all))
			case !over && !bytes.Equal(kept, all):
				t.Errorf("max %d: kept %d bytes, not the %d written", max, len(kept), len(all))
			case !over && through != (w.Len() > 0) || through && !bytes.Equal(w.Bytes(), all):
				t.Errorf("max %d through %v: w has %d bytes", max, through, w.Len())
			}
		}
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 1023: "1023", 1024: "1K", 64 << 20: "64M", 17536655: "16.7M", 3 << 30: "3G", 1536: "1.5K"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
		if back, err := ParseSize(FormatSize(n)); !strings.Contains(FormatSize(n), ".") && (err != nil || back != n) {
			t.Errorf("ParseSize(FormatSize(%d)) = %d, %v", n, back, err)
		}
	}
}
