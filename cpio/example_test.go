package cpio_test

import (
	"bytes"
	"fmt"
	"io"
	"log"

	"github.com/initkit/initkit/cpio"
)

func Example() {
	var buf bytes.Buffer
	w := cpio.NewWriter(&buf)
	script := "#!/bin/sh\necho hello\n"
	for _, h := range []*cpio.Header{
		{Name: "dev", Mode: cpio.TypeDir | 0o755, NLink: 2, Ino: 1},
		{Name: "dev/console", Mode: cpio.TypeChar | 0o600, NLink: 1, Ino: 2, RDevMajor: 5, RDevMinor: 1},
		{Name: "init", Mode: cpio.TypeReg | 0o755, NLink: 1, Ino: 3, Size: int64(len(script))},
	} {
		if err := w.WriteHeader(h); err != nil {
			log.Fatal(err)
		}
		if h.Name == "init" {
			io.WriteString(w, script)
		}
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}

	r := cpio.NewReader(&buf)
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s %v %d:%d %d bytes at offset %d\n", h.Name, h.FileMode(), h.RDevMajor, h.RDevMinor, h.Size, h.Offset)
	}
	// Output:
	// dev drwxr-xr-x 0:0 0 bytes at offset 0
	// dev/console Dcrw------- 5:1 0 bytes at offset 116
	// init -rwxr-xr-x 0:0 21 bytes at offset 240
}
