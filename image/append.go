package image

import (
	"errors"
	"fmt"
	"io"

	"github.com/initkit/initkit/compress"
)

// ErrLZ4Last means an image ends with an lz4 segment: the legacy lz4
// frame, the only one the kernel reads, has no end mark, so the kernel
// (lib/decompress_unlz4.c) would take a segment appended after it for
// more lz4 blocks.
var ErrLZ4Last = errors.New("ends with an lz4 segment, after which the kernel reads nothing more: rebuild it with another compression")

// CopyForAppend copies the image base to w, ready for a segment to be
// written after it: it checks that the kernel would read one there
// (ErrLZ4Last), and pads the copy to a multiple of 4 bytes, the only
// offsets at which the kernel's unpack_to_rootfs (init/initramfs.c) looks
// for the next stored archive. It returns the bytes written.
func CopyForAppend(w io.Writer, base io.ReadSeeker) (int64, error) {
	if err := checkAppendable(base); err != nil {
		return 0, err
	}
	if _, err := base.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	n, err := io.Copy(w, base)
	if err != nil {
		return n, err
	}
	pad, err := w.Write(make([]byte, (4-n%4)%4))
	return n + int64(pad), err
}

func checkAppendable(base io.Reader) error {
	r := NewReader(base)
	defer r.Close()
	for {
		// One entry starts each segment; its frames give its end.
		if _, err := r.Next(); err == io.EOF {
			break
		} else if err != nil {
			return err
		}
		if err := r.SkipSegment(); err != nil {
			return err
		}
	}
	segs := r.Segments()
	if len(segs) == 0 {
		return fmt.Errorf("empty image")
	}
	if segs[len(segs)-1].Compression == compress.LZ4 {
		return ErrLZ4Last
	}
	return nil
}
