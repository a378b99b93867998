package image

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/initkit/initkit/compress"
	"github.com/initkit/initkit/cpio"
)

func segmentOf(t *testing.T, f compress.Format, name string) []byte {
	t.Helper()
	var b bytes.Buffer
	files := []File{{Header: cpio.Header{Name: name, Mode: cpio.TypeReg | 0o644}, Data: []byte("x")}}
	if err := WriteSegment(&b, files, WithCompression(f, compress.WriterOptions{})); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestCopyForAppend(t *testing.T) {
	base := append(segmentOf(t, compress.Gzip, "a"), 0) // an odd length
	var out bytes.Buffer
	n, err := CopyForAppend(&out, bytes.NewReader(base))
	if err != nil {
		t.Fatal(err)
	}
	if n%4 != 0 || n != int64(out.Len()) || !bytes.HasPrefix(out.Bytes(), base) {
		t.Fatalf("copied %d bytes (buffer %d), want the base padded to 4", n, out.Len())
	}
	out.Write(segmentOf(t, compress.Zstd, "b"))
	r := NewReader(&out)
	var names []string
	for {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, e.Name)
	}
	if len(names) != 2 || names[0] != "a" || names[1] != "b" {
		t.Errorf("appended image holds %q", names)
	}
}

func TestCopyForAppendRefusesLZ4Last(t *testing.T) {
	_, err := CopyForAppend(io.Discard, bytes.NewReader(segmentOf(t, compress.LZ4, "a")))
	if !errors.Is(err, ErrLZ4Last) {
		t.Fatalf("got %v, want ErrLZ4Last", err)
	}
}
