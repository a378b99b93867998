package image

import (
	"bytes"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/initkit/initkit/compress"
	"github.com/initkit/initkit/cpio"
)

func linkFile(name, target string) File {
	return File{Header: cpio.Header{Name: name, Mode: cpio.TypeLink | 0o777, Linkname: target}}
}

func TestReadFileFollowsSymlinks(t *testing.T) {
	var b bytes.Buffer
	err := WriteSegment(&b, []File{
		{Header: cpio.Header{Name: "usr", Mode: cpio.TypeDir | 0o755}},
		{Header: cpio.Header{Name: "usr/lib", Mode: cpio.TypeDir | 0o755}},
		{Header: cpio.Header{Name: "usr/lib/systemd", Mode: cpio.TypeDir | 0o755}},
		{Header: cpio.Header{Name: "usr/lib/systemd/systemd", Mode: cpio.TypeReg | 0o755}, Data: []byte("ELF systemd")},
		linkFile("lib", "usr/lib"),
		linkFile("init", "lib/systemd/systemd"),
		linkFile("abs", "/init"),
		linkFile("up", "usr/lib/../lib/./systemd/systemd"),
		linkFile("loop", "loop"),
		linkFile("dangling", "nowhere"),
	}, WithCompression(compress.Gzip, compress.WriterOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"init", "/abs", "up", "lib/systemd/systemd"} {
		got, err := ReadFile(bytes.NewReader(b.Bytes()), name)
		if err != nil || string(got) != "ELF systemd" {
			t.Errorf("%s: %q, %v", name, got, err)
		}
	}
	for name, want := range map[string]string{"loop": "too many levels", "dangling": "not in the image", "usr": "a directory, not a file", "init/x": "not a directory"} {
		if _, err := ReadFile(bytes.NewReader(b.Bytes()), name); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", name, err, want)
		}
	}
	// Standard input cannot seek: spooled, the same answer.
	got, err := ReadFile(io.MultiReader(bytes.NewReader(b.Bytes())), "init")
	if err != nil || string(got) != "ELF systemd" {
		t.Errorf("from a pipe: %q, %v", got, err)
	}
}

// A small image can claim huge hardlinked files; reading another file
// must not keep their data (it once grew to gigabytes).
func TestReadFileMemoryBounded(t *testing.T) {
	const big = 256 << 20
	var b bytes.Buffer
	zw, err := compress.NewWriter(&b, compress.Zstd, compress.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cw := cpio.NewWriter(zw)
	for i, name := range []string{"a", "b"} {
		h := &cpio.Header{Name: name, Mode: cpio.TypeReg | 0o644, NLink: 2, Ino: 7, Size: big}
		if i == 0 {
			h.Size = 0
		}
		cw.WriteHeader(h)
		io.CopyN(cw, zeros{}, h.Size)
	}
	cw.WriteHeader(&cpio.Header{Name: "small", Mode: cpio.TypeReg | 0o644, NLink: 1, Ino: 8, Size: 5})
	io.WriteString(cw, "hello")
	cw.Close()
	zw.Close()
	if b.Len() > 1<<20 {
		t.Fatalf("the image is %d bytes", b.Len())
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	got, err := ReadFile(bytes.NewReader(b.Bytes()), "small")
	runtime.ReadMemStats(&after)
	if err != nil || string(got) != "hello" {
		t.Fatalf("small: %q, %v", got, err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
		t.Errorf("reading a 5-byte file allocated %d MB", grew>>20)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
