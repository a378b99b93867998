package image

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/initkit/initkit/compress"
)

// FuzzReader: any input lists or fails with an *Error, never panics, and
// every segment found lies within the input.
func FuzzReader(f *testing.F) {
	f.Add([]byte{})
	for _, fm := range []compress.Format{compress.None, compress.Gzip, compress.Zstd, compress.XZ, compress.LZ4} {
		var buf bytes.Buffer
		WriteSegment(&buf, []File{text("init", "#!/bin/sh\n")}, WithCompression(fm, compress.WriterOptions{Concurrency: 1}))
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		for i := 0; i < 1000; i++ {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				var ie *Error
				if !errors.As(err, &ie) {
					t.Fatalf("error of type %T: %v", err, err)
				}
				break
			}
			io.Copy(io.Discard, io.LimitReader(r, 1<<20))
		}
		for _, s := range r.Segments() {
			if s.Offset < 0 || s.Offset > int64(len(data)) || s.End > int64(len(data)) {
				t.Fatalf("segment %+v outside input of %d bytes", s, len(data))
			}
		}
	})
}
