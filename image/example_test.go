package image_test

import (
	"bytes"
	"fmt"
	"io"
	"log"

	"github.com/initkit/initkit/compress"
	"github.com/initkit/initkit/cpio"
	"github.com/initkit/initkit/image"
)

// An image of two segments, as distributions ship them: a stored early
// archive, then a compressed main archive. The kernel unpacks both.
func Example() {
	var img bytes.Buffer
	early := []image.File{{Header: cpio.Header{Name: "early", Mode: cpio.TypeReg | 0o644}, Data: []byte("microcode")}}
	main := []image.File{
		{Header: cpio.Header{Name: "dev", Mode: cpio.TypeDir | 0o755}},
		{Header: cpio.Header{Name: "dev/console", Mode: cpio.TypeChar | 0o600, RDevMajor: 5, RDevMinor: 1}},
		{Header: cpio.Header{Name: "init", Mode: cpio.TypeReg | 0o755}, Data: []byte("#!/bin/sh\n")},
	}
	if err := image.WriteSegment(&img, early); err != nil {
		log.Fatal(err)
	}
	if err := image.WriteSegment(&img, main, image.WithCompression(compress.Zstd, compress.WriterOptions{})); err != nil {
		log.Fatal(err)
	}

	r := image.NewReader(&img)
	for {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(e.Segment, e.FileMode(), e.Name)
	}
	for _, s := range r.Segments() {
		fmt.Printf("segment %d: %s at offset %d, %d entries\n", s.Index, s.Compression, s.Offset, s.Entries)
	}
	// Output:
	// 0 -rw-r--r-- early
	// 1 drwxr-xr-x dev
	// 1 Dcrw------- dev/console
	// 1 -rwxr-xr-x init
	// segment 0: none at offset 0, 1 entries
	// segment 1: zstd at offset 512, 3 entries
}
