package image

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/initkit/initkit/compress"
	"github.com/initkit/initkit/cpio"
)

func seg(t *testing.T, f compress.Format, files ...File) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteSegment(&buf, files, WithCompression(f, compress.WriterOptions{}), WithModTime(0)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func text(name, s string) File {
	return File{Header: cpio.Header{Name: name, Mode: cpio.TypeReg | 0o644}, Data: []byte(s)}
}

// streamOnly hides every method but Read, so that the Reader takes the
// path it takes for a pipe.
type streamOnly struct{ io.Reader }

// readAll reads img through both input paths, checks that they agree, and
// returns what the seekable one read.
func readAll(t *testing.T, img []byte) ([]*Entry, []Segment, error) {
	t.Helper()
	e1, s1, err1 := readAllFrom(NewReader(bytes.NewReader(img)))
	e2, s2, err2 := readAllFrom(NewReader(streamOnly{bytes.NewReader(img)}))
	if fmt.Sprint(err1) != fmt.Sprint(err2) || len(e1) != len(e2) || fmt.Sprint(s1) != fmt.Sprint(s2) {
		t.Errorf("seekable and stream reads differ:\n %v %d %+v\n %v %d %+v", err1, len(e1), s1, err2, len(e2), s2)
	}
	return e1, s1, err1
}

func readAllFrom(r *Reader) ([]*Entry, []Segment, error) {
	var out []*Entry
	for {
		e, err := r.Next()
		if err == io.EOF {
			return out, r.Segments(), nil
		}
		if err != nil {
			return out, r.Segments(), err
		}
		out = append(out, e)
	}
}

// TestMultiSegment lays out an image like a distribution's, plus every
// other compression, and checks each segment's place and content.
func TestMultiSegment(t *testing.T) {
	a := seg(t, compress.None, text("kernel/x86/microcode/AuthenticAMD.bin", "amd"))
	b := seg(t, compress.None, text(".enuineIntel.align.0123456789abc", ""), text("kernel/x86/microcode/GenuineIntel.bin", "intel"))
	parts := [][]byte{a, b, seg(t, compress.Zstd, text("init", "1")), seg(t, compress.Gzip, text("init", "2")),
		seg(t, compress.XZ, text("init", "3")), make([]byte, 8), seg(t, compress.LZ4, text("init", "4"), text("x", "y"))}
	img := bytes.Join(parts, nil)
	entries, segs, err := readAll(t, img)
	if err != nil {
		t.Fatal(err)
	}
	want := []compress.Format{compress.None, compress.None, compress.Zstd, compress.Gzip, compress.XZ, compress.LZ4}
	if len(segs) != len(want) {
		t.Fatalf("%d segments, want %d: %+v", len(segs), len(want), segs)
	}
	var offs []int64
	off := int64(0)
	for i, p := range parts {
		if i != 5 { // NUL padding, not a segment
			offs = append(offs, off)
		}
		off += int64(len(p))
	}
	for i, s := range segs {
		if s.Compression != want[i] || s.Offset != offs[i] {
			t.Errorf("segment %d: %s at %d, want %s at %d", i, s.Compression, s.Offset, want[i], offs[i])
		}
		if i < 4 && s.Compression != compress.None && s.End != s.Offset+int64(len(parts[i])) {
			t.Errorf("segment %d ends at %d, want %d", i, s.End, s.Offset+int64(len(parts[i])))
		}
	}
	if segs[5].Entries != 2 || len(entries) != 8 {
		t.Errorf("entries: %d in all, %d in the last segment", len(entries), segs[5].Entries)
	}
}

func TestBadImages(t *testing.T) {
	good := seg(t, compress.None, text("a", "b"))
	z := seg(t, compress.Zstd, text("big", strings.Repeat("data ", 50000)))
	junkInside := func() []byte {
		var buf bytes.Buffer
		zw, _ := compress.NewWriter(&buf, compress.Gzip, compress.WriterOptions{})
		zw.Write(good)
		zw.Write([]byte("junk"))
		zw.Close()
		return buf.Bytes()
	}()
	cases := []struct {
		name string
		img  []byte
		want string
	}{
		{"empty", nil, "empty image"},
		{"only padding", make([]byte, 1024), "empty image"},
		{"garbage between segments", append(append(append([]byte{}, good...), "GARBAGE!"...), good...), "image offset 512: no cpio or compression magic"},
		{"unaligned archive", append(append(append([]byte{}, good...), 0, 0), good...), "image offset 514: cpio archive does not start at a multiple of 4"},
		{"truncated compressed", z[:len(z)/2], "segment 0 (zstd, starting at image offset 0), image offset "},
		{"truncated stored", good[:200], "segment 0 (stored, starting at image offset 0), image offset 116: archive truncated"},
		{"junk inside compressed", junkInside, "junk after the archive"},
		{"lzo", append(append([]byte{}, good...), 0x89, 'L', 'Z', 'O', 0, '\r', '\n', 0x1a, '\n'), "lzo"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := readAll(t, c.img)
			var ie *Error
			if !errors.As(err, &ie) {
				t.Fatalf("error %v (%T), want *image.Error", err, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestReproducible(t *testing.T) {
	dir := fixtureTree(t)
	var outs [][]byte
	for i := 0; i < 2; i++ {
		files, err := FilesFromDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := WriteSegment(&buf, files, WithCompression(compress.Zstd, compress.WriterOptions{Concurrency: i + 1}), WithModTime(0)); err != nil {
			t.Fatal(err)
		}
		outs = append(outs, buf.Bytes())
		os.Chtimes(filepath.Join(dir, "etc/f1"), time0, time0) // mtimes must not matter
	}
	if !bytes.Equal(outs[0], outs[1]) {
		t.Fatal("two builds of the same tree differ")
	}
}

func run(t *testing.T, dir string, stdin io.Reader, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Stdin = dir, stdin
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v: %s", name, args, err, stderr.String())
	}
	return out
}

// TestGNUCpioExtractsOurs: what we write, GNU cpio extracts to the same tree
// as the source, hardlink sets included.
func TestGNUCpioExtractsOurs(t *testing.T) {
	src := fixtureTree(t)
	files, err := FilesFromDir(src)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteSegment(&buf, files, WithOwners()); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	run(t, dst, bytes.NewReader(buf.Bytes()), "cpio", "-idmu", "--quiet")
	// GNU cpio -m sets a directory's time as it makes it: the files made
	// in it after that move it on, to a later second now and then. Our
	// extractor sets them last (TestWeExtractGNUCpio compares those).
	for _, d := range []string{"usr/bin", "usr", "etc/ro", "etc"} {
		st, err := os.Stat(filepath.Join(src, d))
		if err != nil {
			t.Fatal(err)
		}
		os.Chtimes(filepath.Join(dst, d), st.ModTime(), st.ModTime())
	}
	sameTree(t, src, dst)
}

// TestWeExtractGNUCpio: what find | cpio -o -H newc writes (hardlink data
// on the last link), we list and extract to the same tree.
func TestWeExtractGNUCpio(t *testing.T) {
	src := fixtureTree(t)
	list := run(t, src, nil, "find", ".")
	archive := run(t, src, bytes.NewReader(list), "cpio", "-o", "-H", "newc", "--quiet")
	entries, _, err := readAll(t, archive)
	if err != nil {
		t.Fatal(err)
	}
	gnuNames := strings.Fields(string(run(t, src, bytes.NewReader(archive), "cpio", "-it", "--quiet")))
	var ours []string
	for _, e := range entries {
		ours = append(ours, e.Name)
	}
	sort.Strings(gnuNames)
	sort.Strings(ours)
	if strings.Join(gnuNames, " ") != strings.Join(ours, " ") {
		t.Errorf("listing differs from cpio -t:\n ours %v\n gnu  %v", ours, gnuNames)
	}
	dst := t.TempDir()
	if _, err := Extract(bytes.NewReader(archive), dst, DefaultExtractOptions()); err != nil {
		t.Fatal(err)
	}
	sameTree(t, src, dst)
}

// TestLinkTargetNUL: the kernel's own gen_init_cpio writes a link's
// target with its NUL (usr/gen_init_cpio.c: strlen + 1), and the kernel
// reads it as a C string: the target ends at the NUL, in the listing and
// in what extract makes, as GNU cpio makes it.
func TestLinkTargetNUL(t *testing.T) {
	img := seg(t, compress.None, File{Header: cpio.Header{Name: "bin", Mode: cpio.TypeLink | 0o777, Linkname: "usr/bin\x00"}})
	entries, _, err := readAll(t, img)
	if err != nil || len(entries) != 1 || entries[0].Linkname != "usr/bin" {
		t.Fatalf("%+v, %v", entries, err)
	}
	ours, gnu := t.TempDir(), t.TempDir()
	if _, err := Extract(bytes.NewReader(img), ours, DefaultExtractOptions()); err != nil {
		t.Fatal(err)
	}
	run(t, gnu, bytes.NewReader(img), "cpio", "-idm", "--quiet")
	for _, dir := range []string{ours, gnu} {
		if l, err := os.Readlink(filepath.Join(dir, "bin")); err != nil || l != "usr/bin" {
			t.Errorf("%s: bin -> %q, %v", dir, l, err)
		}
	}
}

// TestHardlinkDataFirst: an archive with the data on the first link (as the
// kernel also accepts) extracts with every link holding the data.
func TestHardlinkDataFirst(t *testing.T) {
	var buf bytes.Buffer
	w := cpio.NewWriter(&buf)
	for i, name := range []string{"a", "b", "c"} {
		h := &cpio.Header{Name: name, Mode: cpio.TypeReg | 0o755, NLink: 3, Ino: 42}
		if i == 0 {
			h.Size = 5
		}
		w.WriteHeader(h)
		if i == 0 {
			w.Write([]byte("data\n"))
		}
	}
	w.Close()
	dst := t.TempDir()
	if _, err := Extract(&buf, dst, DefaultExtractOptions()); err != nil {
		t.Fatal(err)
	}
	_, groups := snapshot(t, dst)
	if len(groups) != 1 || groups[0] != "a=b=c" {
		t.Fatalf("hardlink sets %v, want [a=b=c]", groups)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "c")); string(b) != "data\n" {
		t.Fatalf("c holds %q", b)
	}
}

func TestExtractDeviceNodesRootless(t *testing.T) {
	img := seg(t, compress.Gzip,
		File{Header: cpio.Header{Name: "dev", Mode: cpio.TypeDir | 0o755}},
		File{Header: cpio.Header{Name: "dev/console", Mode: cpio.TypeChar | 0o600, RDevMajor: 5, RDevMinor: 1}},
		File{Header: cpio.Header{Name: "dev/vda", Mode: cpio.TypeBlock | 0o660, RDevMajor: 254}})
	dst := t.TempDir()
	res, err := Extract(bytes.NewReader(img), dst, ExtractOptions{Segment: -1})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Skipped) != 2 || res.Skipped[0].Name != "dev/console" || res.Skipped[0].RDevMajor != 5 {
		t.Fatalf("skipped %+v", res.Skipped)
	}
	if _, err := os.Lstat(filepath.Join(dst, "dev/console")); !os.IsNotExist(err) {
		t.Fatalf("dev/console was created: %v", err)
	}
}

// TestExtractTruncatedLeavesNoPartialFile: a stream cut inside a file's data
// errors, and neither the half file nor a temporary file remains.
func TestExtractTruncatedLeavesNoPartialFile(t *testing.T) {
	img := seg(t, compress.None, text("done", "complete"), text("half", strings.Repeat("z", 10000)))
	dst := t.TempDir()
	os.WriteFile(filepath.Join(dst, "half"), []byte("old content"), 0o644)
	_, err := Extract(bytes.NewReader(img[:5000]), dst, DefaultExtractOptions())
	if err == nil || !strings.Contains(err.Error(), `"half"`) {
		t.Fatalf("error %v, want one naming the entry", err)
	}
	names, _ := os.ReadDir(dst)
	var got []string
	for _, n := range names {
		got = append(got, n.Name())
	}
	if strings.Join(got, " ") != "done half" {
		t.Fatalf("directory holds %v", got)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "half")); string(b) != "old content" {
		t.Fatalf("the old file was damaged: %q", b)
	}
}

// TestExtractNotAnImage: what is no image leaves no directory behind:
// neither DIR nor the parents Extract made for it. A DIR that was there
// stays, and so does one an entry was written to before the error.
func TestExtractNotAnImage(t *testing.T) {
	base := t.TempDir()
	junk := []byte("\xb1\xf4\x57\x8b\x30\x75 no magic here")
	dst := filepath.Join(base, "a", "b", "out")
	if _, err := Extract(bytes.NewReader(junk), dst, DefaultExtractOptions()); err == nil || !strings.Contains(err.Error(), "offset 0") {
		t.Fatalf("error %v, want one at offset 0", err)
	}
	if names, _ := os.ReadDir(base); len(names) != 0 {
		t.Errorf("%s holds %v after a failed extract", base, names)
	}
	there := filepath.Join(base, "there")
	os.Mkdir(there, 0o755)
	Extract(bytes.NewReader(junk), there, DefaultExtractOptions())
	if _, err := os.Stat(there); err != nil {
		t.Errorf("a directory that was there went: %v", err)
	}
	img := seg(t, compress.None, text("done", "complete"), text("half", strings.Repeat("z", 10000)))
	part := filepath.Join(base, "part")
	if _, err := Extract(bytes.NewReader(img[:5000]), part, DefaultExtractOptions()); err == nil {
		t.Fatal("no error for a cut image")
	}
	if b, err := os.ReadFile(filepath.Join(part, "done")); string(b) != "complete" {
		t.Errorf("the entry before the error: %q, %v", b, err)
	}
}

// TestSkipSegment: skipping every segment after its first entry finds the
// same segments, at the same places, as reading every entry, on seekable
// and stream input alike.
func TestSkipSegment(t *testing.T) {
	big := strings.Repeat("data ", 100000)
	img := bytes.Join([][]byte{
		seg(t, compress.None, text("a", "1"), text("b", big)), make([]byte, 8),
		seg(t, compress.Zstd, text("c", big), text("d", "2")),
		seg(t, compress.Gzip, text("e", big), text("f", "3")),
		seg(t, compress.XZ, text("g", big), text("h", "4")),
		seg(t, compress.LZ4, text("i", big), text("j", "5")),
	}, nil)
	_, want, err := readAll(t, img)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []io.Reader{bytes.NewReader(img), streamOnly{bytes.NewReader(img)}} {
		r := NewReader(in)
		for {
			if _, err := r.Next(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			if err := r.SkipSegment(); err != nil {
				t.Fatal(err)
			}
		}
		got := r.Segments()
		if len(got) != len(want) {
			t.Fatalf("%d segments, want %d", len(got), len(want))
		}
		for i := range want {
			if got[i].Offset != want[i].Offset || got[i].End != want[i].End || got[i].Compression != want[i].Compression {
				t.Errorf("segment %d: %+v, want %+v", i, got[i], want[i])
			}
		}
	}
}

// Every offset an error prints is what its words say: the image offset
// of the bad header in a stored segment after another one, the
// decompressed offset in a compressed one.
func TestErrorOffsets(t *testing.T) {
	seg := func(f compress.Format, names ...string) []byte {
		var b bytes.Buffer
		var files []File
		for _, n := range names {
			files = append(files, File{Header: cpio.Header{Name: n, Mode: cpio.TypeReg | 0o644}, Data: []byte("data")})
		}
		if err := WriteSegment(&b, files, WithCompression(f, compress.WriterOptions{})); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	first := seg(compress.None, "a")
	second := seg(compress.None, "b", "c")
	img := append(append([]byte{}, first...), second...)
	bad := len(first) + 116 // the second header of the second segment: after 110+2 bytes of header and name and 4 of data
	copy(img[bad:], "XXXXXX")
	_, err := List(bytes.NewReader(img))
	want := fmt.Sprintf("segment 1 (stored, starting at image offset %d), image offset %d: ", len(first), bad)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
	if string(img[bad:bad+6]) != "XXXXXX" {
		t.Fatal("the test's own offset is wrong")
	}
	z := seg(compress.Gzip, "b", "c")
	var raw bytes.Buffer
	zr, _ := compress.NewReader(bytes.NewReader(z), compress.Gzip)
	io.Copy(&raw, zr)
	data := raw.Bytes()
	copy(data[116:], "XXXXXX")
	var rez bytes.Buffer
	zw, _ := compress.NewWriter(&rez, compress.Gzip, compress.WriterOptions{})
	zw.Write(data)
	zw.Close()
	_, err = List(bytes.NewReader(append(append([]byte{}, first...), rez.Bytes()...)))
	want = fmt.Sprintf("segment 1 (gzip, starting at image offset %d), decompressed offset 116: ", len(first))
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
}

// NUL bytes without end are not an image: a bounded error, not a read
// that never ends (ls - < /dev/zero) or "empty image" (ls /dev/zero).
func TestEndlessZeros(t *testing.T) {
	for name, open := range map[string]func() (io.Reader, func()){
		"stream": func() (io.Reader, func()) { return zeroStream{}, func() {} },
		"device": func() (io.Reader, func()) {
			f, err := os.Open("/dev/zero")
			if err != nil {
				t.Fatal(err)
			}
			return f, func() { f.Close() }
		},
	} {
		r, done := open()
		_, err := List(r)
		done()
		if err == nil || !strings.Contains(err.Error(), "image offset 0: more than 16 MiB of NUL bytes and nothing else: not an image") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

type zeroStream struct{}

func (zeroStream) Read(p []byte) (int, error) { clear(p); return len(p), nil }
