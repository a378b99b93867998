package kernel

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"os/exec"
	"path/filepath"
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

// TestWrappedImage: an arm64 Image is read raw, as make Image.gz gzips it
// (gzip(1)), and as an EFI zboot image wraps it (drivers/firmware/efi/
// libstub/zboot-header.S: "MZ", "zimg", the payload's offset and size,
// the compression's name), with a gzip and a zstd payload, each made by
// its own tool: the architecture is the Image's and the initramfs built
// into it is found.
func TestWrappedImage(t *testing.T) {
	dir := t.TempDir()
	raw := make([]byte, 0x40)
	copy(raw[0x38:], "ARM\x64")
	raw = append(raw, initData(t, 4096, archive(t))...)
	rawPath := filepath.Join(dir, "Image")
	if err := os.WriteFile(rawPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	tool := func(name string, args ...string) []byte {
		out, err := exec.Command(name, args...).Output()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return out
	}
	zboot := func(payload []byte, comp string) []byte {
		h := make([]byte, 0x200)
		copy(h, "MZ\x00\x00zimg")
		binary.LittleEndian.PutUint32(h[8:], uint32(len(h)))
		binary.LittleEndian.PutUint32(h[12:], uint32(len(payload)))
		copy(h[24:], comp)
		return append(append(h, payload...), bytes.Repeat([]byte{0}, 512)...)
	}
	gz, zst := tool("gzip", "-9nc", rawPath), tool("zstd", "-qc", rawPath)
	for name, data := range map[string][]byte{"Image.gz": gz, "zboot-gzip.efi": zboot(gz, "gzip"), "zboot-zstd.efi": zboot(zst, "zstd"), "Image": raw} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if got := ImageArch(p); got != "aarch64" {
			t.Errorf("%s: ImageArch %q", name, got)
		}
		if err := Bootable(p); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		r, builtin, err := OpenInitramfs(p)
		if err != nil || !builtin {
			t.Errorf("%s: OpenInitramfs: %v %v", name, builtin, err)
			continue
		}
		got, _ := io.ReadAll(r)
		r.Close()
		if !bytes.Equal(got, archive(t)) {
			t.Errorf("%s: %d bytes, not the built-in image", name, len(got))
		}
	}
	// A gzip that holds no Image is no kernel: an initramfs, most likely.
	p := filepath.Join(dir, "initrd.gz")
	os.WriteFile(p, archive(t), 0o644)
	if err := Bootable(p); err == nil || !strings.Contains(err.Error(), "gzip-compressed data (an initramfs?") {
		t.Errorf("a gzipped initramfs as the kernel: %v", err)
	}
	if _, builtin, err := OpenInitramfs(p); builtin || err != nil {
		t.Errorf("a gzipped initramfs: builtin %v, %v", builtin, err)
	}
}
