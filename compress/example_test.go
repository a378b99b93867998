package compress_test

import (
	"bytes"
	"fmt"
	"io"

	"github.com/initkit/initkit/compress"
)

// Compress with one of the formats the kernel unpacks an initramfs in,
// tell the format from the bytes, and read it back.
func Example() {
	var z bytes.Buffer
	w, err := compress.NewWriter(&z, compress.Zstd, compress.WriterOptions{Level: 3})
	if err != nil {
		fmt.Println(err)
		return
	}
	io.WriteString(w, "070701...")
	w.Close()

	f := compress.Detect(z.Bytes())
	r, err := compress.NewReader(&z, f)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	b, _ := io.ReadAll(r)
	fmt.Println(f, string(b))
	// Output: zstd 070701...
}
