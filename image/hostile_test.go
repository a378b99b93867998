package image

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/initkit/initkit/compress"
	"github.com/initkit/initkit/cpio"
)

func segments(t *testing.T, segs ...[]File) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, files := range segs {
		if err := WriteSegment(&b, files, WithCompression(compress.None, compress.WriterOptions{}), WithOwners()); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

func dirEntry(name string, mode uint32) File {
	return File{Header: cpio.Header{Name: name, Mode: cpio.TypeDir | mode}}
}

func fileEntry(name string, mode uint32, data string) File {
	return File{Header: cpio.Header{Name: name, Mode: cpio.TypeReg | mode}, Data: []byte(data)}
}

// A directory replaced by a symlink in a later segment: its recorded mode
// and times must not go through the link to what it points at (a file
// archived 0644 came out -rwsrwsrwx), even when the link is absolute.
func TestReplacedDirectoryModeNotThroughSymlink(t *testing.T) {
	for _, target := range []string{"file", "/file"} {
		dir := t.TempDir()
		img := segments(t,
			[]File{fileEntry("file", 0o644, "x"), dirEntry("d", 0o7777)},
			[]File{linkFile("d", target)})
		if _, err := Extract(bytes.NewReader(img), dir, DefaultExtractOptions()); err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		st, err := os.Stat(filepath.Join(dir, "file"))
		if err != nil || st.Mode().Perm() != 0o644 || st.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 {
			t.Errorf("link to %s: file mode %v, %v", target, st.Mode(), err)
		}
	}
}

// An untrusted image's setuid and setgid bits are not applied unless
// asked for, and are listed.
func TestSetIDOnlyWhenAsked(t *testing.T) {
	img := segments(t, []File{fileEntry("su", 0o4755, "x"), fileEntry("wall", 0o2755, "y"), dirEntry("mail", 0o2775)})
	dir := t.TempDir()
	res, err := Extract(bytes.NewReader(img), dir, DefaultExtractOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"su", "wall"} {
		if st, _ := os.Stat(filepath.Join(dir, n)); st.Mode()&(fs.ModeSetuid|fs.ModeSetgid) != 0 {
			t.Errorf("%s: %v", n, st.Mode())
		}
	}
	if len(res.NoSetID) != 2 {
		t.Errorf("listed %d set-id files, want 2", len(res.NoSetID))
	}
	if st, _ := os.Stat(filepath.Join(dir, "mail")); st.Mode()&fs.ModeSetgid == 0 {
		t.Errorf("a directory's setgid was dropped: %v", st.Mode())
	}
	o := DefaultExtractOptions()
	o.SetID = true
	dir = t.TempDir()
	if _, err := Extract(bytes.NewReader(img), dir, o); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(filepath.Join(dir, "su")); st.Mode()&fs.ModeSetuid == 0 {
		t.Errorf("SetID: su is %v", st.Mode())
	}
}

// Images the kernel unpacks: a hardlink landing on a name that exists
// replaces it; a non-empty directory stays where a later segment puts a
// symlink or a file (the kernel's rmdir fails the same way); an empty one
// is replaced.
func TestKernelReplacements(t *testing.T) {
	link := func(name string, size int, data string) File {
		return File{Header: cpio.Header{Name: name, Mode: cpio.TypeReg | 0o644, NLink: 2, Ino: 99, Size: int64(size)}, Data: []byte(data)}
	}
	img := segments(t,
		[]File{fileEntry("exists", 0o644, "old"), dirEntry("full", 0o755), fileEntry("full/x", 0o644, "x"), dirEntry("empty", 0o755)},
		[]File{linkFile("full", "elsewhere"), linkFile("empty", "elsewhere"), fileEntry("full", 0o644, "file")},
	)
	// The hardlink pair by hand: data on the first name, the second
	// landing on "exists" from the segment before.
	var b bytes.Buffer
	w := cpio.NewWriter(&b)
	for _, f := range []File{link("a", 4, "data"), link("exists", 0, "")} {
		h := f.Header
		w.WriteHeader(&h)
		w.Write(f.Data)
	}
	w.Close()
	img = append(img, b.Bytes()...)
	dir := t.TempDir()
	res, err := Extract(bytes.NewReader(img), dir, DefaultExtractOptions())
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "exists")); string(got) != "data" {
		t.Errorf("the hardlink did not replace the file: %q", got)
	}
	if st, err := os.Lstat(filepath.Join(dir, "full")); err != nil || !st.IsDir() {
		t.Errorf("the non-empty directory did not stay: %v %v", st.Mode(), err)
	}
	if st, err := os.Lstat(filepath.Join(dir, "empty")); err != nil || st.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("the empty directory was not replaced: %v", err)
	}
	if len(res.Kept) != 2 {
		t.Errorf("kept %d, want the symlink and the file over full/", len(res.Kept))
	}
}

// TestNamesEscaped: an image's names and link targets are untrusted; ls,
// diff and extract's notes show their control characters as \xNN, so an
// escape sequence (here OSC 0, which retitles the window) never reaches
// the terminal.
func TestNamesEscaped(t *testing.T) {
	evil := "a\x1b]0;PWNED\x07b"
	link := File{Header: cpio.Header{Name: "l", Mode: cpio.TypeLink | 0o777, Linkname: evil}}
	data := segments(t, []File{fileEntry(evil, 0o644, "x"), link})
	l, err := List(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	l.WriteText(&out, -1)
	a, _, _ := Tree(bytes.NewReader(data))
	b, _, _ := Tree(bytes.NewReader(segments(t, []File{fileEntry("b", 0o644, "x")})))
	for _, c := range Compare(a, b) {
		out.WriteString(c.String() + "\n")
	}
	if bytes.ContainsAny(out.Bytes(), "\x1b\x07") || !bytes.Contains(out.Bytes(), []byte(`a\x1b]0;PWNED\x07b`)) {
		t.Errorf("control characters reach the terminal:\n%q", out.String())
	}
}

// TestDecompressionBomb: what an image's compressed segments unpack to is
// bounded, all of them together, whatever the format and whether the
// input seeks: ls and extract stop with the segment named instead of
// reading on for hours.
func TestDecompressionBomb(t *testing.T) {
	defer func(max int64) { MaxUnpacked = max }(MaxUnpacked)
	MaxUnpacked = 4 << 20
	zeros := File{Header: cpio.Header{Name: "zeros", Mode: cpio.TypeReg | 0o644}, Data: make([]byte, 3<<20)}
	for _, f := range []compress.Format{compress.Zstd, compress.Gzip, compress.XZ, compress.LZ4} {
		var one, two bytes.Buffer
		for _, b := range []*bytes.Buffer{&one, &two, &two} {
			if err := WriteSegment(b, []File{zeros}, WithCompression(f, compress.WriterOptions{})); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := List(bytes.NewReader(one.Bytes())); err != nil {
			t.Errorf("%s: one segment under the bound: %v", f, err)
		}
		inputs := map[string]func() io.Reader{
			"seekable": func() io.Reader { return bytes.NewReader(two.Bytes()) },
			"stream":   func() io.Reader { return io.MultiReader(bytes.NewReader(two.Bytes())) },
		}
		for name, in := range inputs {
			_, err := List(in())
			var ie *Error
			// (Legacy lz4 has no end mark: the kernel, and initkit, read
			// concatenated lz4 segments as one.)
			if !errors.As(err, &ie) || ie.Segment < 0 || !strings.Contains(err.Error(), "unpack to more than 4 MiB") {
				t.Errorf("%s, %s: ls of two segments past the bound: %v", f, name, err)
			}
			if _, err := Extract(in(), t.TempDir(), DefaultExtractOptions()); err == nil || !strings.Contains(err.Error(), "unpack to more than 4 MiB") {
				t.Errorf("%s, %s: extract: %v", f, name, err)
			}
		}
	}
}

// TestTooManyEntries: a listing or a tree holds every entry, so their
// number is bounded: past it the error names the entry and its offset.
func TestTooManyEntries(t *testing.T) {
	defer func(max int) { MaxEntries = max }(MaxEntries)
	MaxEntries = 100
	var files []File
	for i := range 101 {
		files = append(files, fileEntry(fmt.Sprintf("f%03d", i), 0o644, ""))
	}
	img := segments(t, files[:60], files[60:])
	_, err := List(bytes.NewReader(img))
	if err == nil || !strings.Contains(err.Error(), `entry "f100": more than 100 entries`) || !strings.Contains(err.Error(), "segment 1") {
		t.Errorf("List of 101 entries: %v", err)
	}
	if _, _, err := Tree(bytes.NewReader(img)); err == nil {
		t.Error("Tree of 101 entries: no error")
	}
	if _, err := List(bytes.NewReader(segments(t, files[:100]))); err != nil {
		t.Errorf("List of 100 entries: %v", err)
	}
}
