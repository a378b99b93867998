package kernel

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/initkit/initkit/compress"
	"github.com/initkit/initkit/image"
)

// maxInitData bounds the .init.data section read from an untrusted
// kernel: a distribution's holds a few MB, and a built-in initramfs of
// a hundred MB would not boot.
const maxInitData = 256 << 20

// OpenInitramfs opens name as an initramfs: the file itself, or, when
// it is a kernel (an x86 bzImage, an ELF vmlinux, an arm64 Image, raw,
// Image.gz or EFI zboot), the initramfs
// built into it (CONFIG_INITRAMFS_SOURCE, else the kernel's default of
// /dev, /dev/console and /root), and true.
func OpenInitramfs(name string) (io.ReadCloser, bool, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, false, err
	}
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		f.Close()
		return nil, false, fmt.Errorf("%s: a directory, not an image (initkit pack DIR -o IMAGE makes one of it)", name)
	}
	h := make([]byte, 0x206)
	n, _ := f.ReadAt(h, 0)
	h = h[:n]
	isELF := bytes.HasPrefix(h, []byte("\x7fELF"))
	isImage := !isELF && !(n == 0x206 && string(h[0x202:]) == "HdrS")
	// Only a header an arm64 Image can have (raw, gzip, EFI zboot) is
	// probed further: an initramfs, the common case, is not opened again.
	mayBeImage := n >= 0x3c && string(h[0x38:0x3c]) == "ARM\x64" || compress.Detect(h) == compress.Gzip ||
		n >= 8 && string(h[:2]) == "MZ" && string(h[4:8]) == "zimg"
	if isImage && (!mayBeImage || ImageArch(name) != "aarch64") {
		return f, false, nil
	}
	defer f.Close()
	var data []byte
	if isImage {
		data, err = imageInitramfs(f)
	} else {
		data, err = builtinInitramfs(f, isELF)
	}
	if err != nil {
		return nil, true, fmt.Errorf("%s: a kernel image or an ELF file, read for its built-in initramfs: %w", name, err)
	}
	return io.NopCloser(bytes.NewReader(data)), true, nil
}

// builtinInitramfs finds the initramfs in the kernel's .init.data, where
// usr/initramfs_data.S puts it (4-aligned, include/asm-generic/
// vmlinux.lds.h: INIT_RAM_FS) followed, 8-aligned, by __initramfs_size,
// its length. A bzImage's vmlinux has no symbols (objcopy -S): the data
// is found by its shape (findInitramfs).
func builtinInitramfs(f *os.File, isELF bool) ([]byte, error) {
	ef, closer, err := kernelELF(f, isELF)
	if err != nil {
		return nil, err
	}
	defer closer()
	sec := ef.Section(".init.data")
	if sec == nil || sec.Type == elf.SHT_NOBITS {
		return nil, errors.New("no .init.data section: not a Linux kernel")
	}
	if sec.Size > maxInitData {
		return nil, fmt.Errorf(".init.data of %d bytes: more than %d", sec.Size, maxInitData)
	}
	data, err := io.ReadAll(io.LimitReader(sec.Open(), maxInitData))
	if err != nil {
		return nil, fmt.Errorf(".init.data: %w", err)
	}
	return findInitramfs(data)
}

// imageInitramfs finds the initramfs in an arm64 Image (raw, gzip or
// EFI zboot): the Image is vmlinux's sections laid out flat, without
// their names, so the whole of it is searched by shape.
func imageInitramfs(f *os.File) ([]byte, error) {
	r, stop, err := imageData(f)
	if err != nil {
		return nil, err
	}
	defer stop()
	data, err := io.ReadAll(io.LimitReader(r, maxInitData+1))
	if err != nil && len(data) == 0 {
		return nil, err // a payload may end in padding its reader complains of
	}
	if len(data) > maxInitData {
		return nil, fmt.Errorf("an Image of more than %d bytes", maxInitData)
	}
	return findInitramfs(data)
}

// maxTries bounds the stretches findInitramfs reads as images: a
// hostile .init.data could hold a magic number and a fitting length at
// every offset, and reading each would take time quadratic in its size.
const maxTries = 64

// findInitramfs returns the stretch of data that starts, 4-aligned, with
// a cpio or compression magic, is followed at the next 8-aligned offset
// by its length (64 or 32 bits, little-endian), and reads as an image.
// Each 8-aligned word is taken as a length once: at most two starts fit
// it, so the search is linear but for the images read.
func findInitramfs(data []byte) ([]byte, error) {
	tries := 0
	for j := 8; j+8 <= len(data); j += 8 {
		for _, l := range []uint64{binary.LittleEndian.Uint64(data[j:]), uint64(binary.LittleEndian.Uint32(data[j:]))} {
			if l == 0 || l > uint64(j) {
				continue
			}
			n := int(l)
			// start+n is in (j-8, j], start 4-aligned.
			for start := (j - n) &^ 3; start > j-8-n && start >= 0; start -= 4 {
				if start+compress.MagicLen > len(data) || compress.Detect(data[start:start+compress.MagicLen]) == compress.Unknown {
					continue
				}
				if tries++; tries > maxTries {
					return nil, fmt.Errorf("more than %d stretches of .init.data look like one: refused", maxTries)
				}
				if _, err := image.List(bytes.NewReader(data[start : start+n])); err == nil {
					return data[start : start+n], nil
				}
			}
		}
	}
	return nil, errors.New("none found in .init.data (a kernel without CONFIG_BLK_DEV_INITRD has none)")
}

// kernelELF opens the kernel as ELF: a vmlinux as it is, a bzImage's
// payload decompressed (bounded, as for its config) into a file already
// unlinked, so that nothing is left behind whatever ends initkit.
func kernelELF(f *os.File, isELF bool) (*elf.File, func(), error) {
	if isELF {
		ef, err := elf.NewFile(f)
		return ef, func() {}, err
	}
	payload, stop, err := imageData(f)
	if err != nil {
		return nil, nil, err
	}
	defer stop()
	tmp, err := os.CreateTemp("", "initkit-vmlinux-")
	if err != nil {
		return nil, nil, err
	}
	os.Remove(tmp.Name())
	// A payload may end in padding its reader complains of.
	if n, err := io.Copy(tmp, payload); err != nil && n == 0 {
		tmp.Close()
		return nil, nil, fmt.Errorf("the payload: %w", err)
	}
	ef, err := elf.NewFile(tmp)
	if err != nil {
		tmp.Close()
		return nil, nil, fmt.Errorf("the payload: %w", err)
	}
	return ef, func() { tmp.Close() }, nil
}
