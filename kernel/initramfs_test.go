package kernel

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/initkit/initkit/compress"
	"github.com/initkit/initkit/cpio"
	"github.com/initkit/initkit/image"
)

// initData is .init.data as the kernel lays it out: pad bytes, the
// image 4-aligned at start, its length 8-aligned after it, more data.
func initData(t testing.TB, pad int, img []byte) []byte {
	t.Helper()
	data := make([]byte, pad)
	data = append(data, img...)
	for len(data)%8 != 0 {
		data = append(data, 0)
	}
	data = binary.LittleEndian.AppendUint64(data, uint64(len(img)))
	return append(data, bytes.Repeat([]byte{0xcc}, 64)...)
}

func archive(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	err := image.WriteSegment(&b, []image.File{{Header: cpio.Header{Name: "init", Mode: cpio.TypeReg | 0o755}, Data: []byte("#!/bin/sh\n")}}, image.WithCompression(compress.Gzip, compress.WriterOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestFindInitramfs: the image is found by its length after it, wherever
// it starts, and a magic number with no length after it is not taken.
func TestFindInitramfs(t *testing.T) {
	img := archive(t)
	for _, pad := range []int{0, 4, 12, 4096} {
		got, err := findInitramfs(initData(t, pad, img))
		if err != nil || !bytes.Equal(got, img) {
			t.Errorf("pad %d: %d bytes, %v", pad, len(got), err)
		}
	}
	decoy := append([]byte("070701"), make([]byte, 58)...)
	if _, err := findInitramfs(append(decoy, make([]byte, 64)...)); err == nil || !strings.Contains(err.Error(), "none found") {
		t.Errorf("a magic with no length: %v", err)
	}
}

// A hostile .init.data full of magic numbers and lengths that fit them
// is refused after a bounded number of reads, not read for ever.
func TestFindInitramfsBounded(t *testing.T) {
	var data []byte
	for len(data) < 1<<20 {
		data = append(data, "0707010000"...)
		for len(data)%8 != 0 {
			data = append(data, 0)
		}
		data = binary.LittleEndian.AppendUint64(data, 10)
	}
	if _, err := findInitramfs(data); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("%v", err)
	}
}

// FuzzFindInitramfs: whatever .init.data holds, the search ends, and
// what it finds is a stretch of it that reads as an image.
func FuzzFindInitramfs(f *testing.F) {
	f.Add(initData(f, 4, archive(f)))
	f.Add([]byte("070701"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := findInitramfs(data)
		if err != nil {
			return
		}
		if !bytes.Contains(data, got) {
			t.Fatal("found bytes that are not in the data")
		}
		if _, err := image.List(bytes.NewReader(got)); err != nil {
			t.Fatalf("found what does not read: %v", err)
		}
	})
}

// TestOpenInitramfsNotAKernel: an ELF program is no kernel, and a file
// that is neither an ELF nor a bzImage is opened as it is.
func TestOpenInitramfsNotAKernel(t *testing.T) {
	if _, builtin, err := OpenInitramfs("/bin/true"); !builtin || err == nil || !strings.Contains(err.Error(), "not a Linux kernel") {
		t.Errorf("/bin/true: %v, %v", builtin, err)
	}
	r, builtin, err := OpenInitramfs("/etc/hostname")
	if err != nil || builtin {
		t.Fatalf("/etc/hostname: %v, %v", builtin, err)
	}
	r.Close()
}
