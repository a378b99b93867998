package kernel

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/initkit/initkit/internal/atomicfile"
	"github.com/initkit/initkit/internal/cache"

	"github.com/initkit/initkit/compress"

	"github.com/initkit/initkit/image"
	"github.com/initkit/initkit/kconfig"
)

// CheckConfig returns what the kernel config at path (ConfigOf: a
// .config, or a kernel's) lacks for the purposes on arch ("": the
// kernel's, else x86_64), and to unpack every segment of each initramfs
// image given (its compression's RD_ option); an empty name is no image.
func CheckConfig(path string, purposes []string, arch string, images ...string) ([]kconfig.Purposed, error) {
	missing, _, err := CheckConfigOf(path, purposes, arch, images...)
	return missing, err
}

// CheckConfigOf is CheckConfig, and says which config it checked, as
// ConfigOf does.
func CheckConfigOf(path string, purposes []string, arch string, images ...string) ([]kconfig.Purposed, string, error) {
	c, from, kernelArch, err := configOf(path)
	if err != nil {
		return nil, "", err
	}
	missing, err := check(c, purposes, cmp.Or(arch, kernelArch, "x86_64"), images)
	return missing, from, err
}

// ConfigOf reads the config at path, and says where it came from: a
// .config as it is, or, when path is a kernel (an image, a vmlinux, a
// build directory), the config it was built with, found as boot finds
// it (Choice.KernelConfig: the build tree's .config, config-RELEASE
// beside vmlinuz-RELEASE, or the IKCONFIG it carries).
func ConfigOf(path string) (kconfig.Config, string, error) {
	c, from, _, err := configOf(path)
	return c, from, err
}

// configOf is ConfigOf, and the kernel's architecture ("" for a .config
// or a kernel that does not say), read once.
func configOf(path string) (kconfig.Config, string, string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, "", "", err
	}
	arch := ""
	if !st.IsDir() {
		if arch = ImageArch(path); arch == "" {
			c, err := kconfig.Read(path)
			return c, path, "", err
		}
	}
	k := &Choice{Image: path, From: "the argument"}
	if err := k.besideImage(); err != nil {
		return nil, "", "", err
	}
	c, ok := k.KernelConfig()
	if !ok {
		return nil, "", "", fmt.Errorf("%s: a kernel, and no config of it found: no .config in its build tree, no config-RELEASE beside it, none in it (CONFIG_IKCONFIG)", path)
	}
	return c, k.Config, arch, nil
}

func check(c kconfig.Config, purposes []string, arch string, images []string) ([]kconfig.Purposed, error) {
	needs, err := kconfig.Needs(purposes, KbuildArch(arch))
	if err != nil {
		return nil, err
	}
	for _, img := range images {
		if img == "" {
			continue
		}
		f, err := os.Open(img)
		if err != nil {
			return nil, err
		}
		l, err := image.List(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", img, err)
		}
		for _, s := range l.Segments {
			if n, ok := kconfig.ForCompression(s.Compression); ok {
				needs = append(needs, kconfig.Purposed{Need: n, Purpose: "the image " + img})
			}
		}
	}
	return c.Missing(needs), nil
}

// FindConfig returns the config a kernel image was built with, when it
// can be found: .config of the build tree it is in
// (arch/ARCH/boot/IMAGE), or config-RELEASE beside vmlinuz-RELEASE (a
// distribution's /boot). "" when there is none.
func FindConfig(img string) string {
	dir := filepath.Dir(img)
	cands := []string{filepath.Join(dir, "..", "..", "..", ".config"), filepath.Join(dir, ".config")}
	if rel, ok := strings.CutPrefix(filepath.Base(img), "vmlinuz-"); ok {
		cands = append([]string{filepath.Join(dir, "config-"+rel)}, cands...)
	}
	return first(cands)
}

// EmbeddedConfig returns the config a kernel image carries in itself
// (CONFIG_IKCONFIG: kernel/configs.c puts it, gzipped, between the
// markers IKCFG_ST and IKCFG_ED): inside the compressed payload of an x86
// bzImage (Documentation/x86/boot.rst: payload_offset and payload_length
// in the setup header), or in an image as it is (arm64's Image). The
// image is untrusted (a kernel downloaded for a bug): it is read as a
// stream, the payload decompressed only up to the end marker and at most
// maxVmlinux bytes, so a payload that claims gigabytes costs neither the
// memory nor the time.
func EmbeddedConfig(img string) (kconfig.Config, error) {
	f, err := os.Open(img)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, stop, err := imageData(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", img, err)
	}
	defer stop()
	gz, err := between(data, []byte("IKCFG_ST"), []byte("IKCFG_ED"))
	if errors.Is(err, errNoConfig) {
		return nil, fmt.Errorf("%s carries no config (CONFIG_IKCONFIG is not set): %w", img, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", img, err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("%s: the embedded config: %w", img, err)
	}
	return kconfig.Parse(zr)
}

// errNoConfig is an image without the markers of an embedded config.
var errNoConfig = errors.New("no IKCFG_ST..IKCFG_ED")

// Bounds on an untrusted image: the vmlinux searched (a distribution's
// is some 60 MB, a syzbot kernel's with KASAN a few hundred) and the
// gzipped config (some 60 KB).
var maxVmlinux int64 = 1 << 30 // a var: a test lowers it

const maxIKConfig = 4 << 20

// imageData is the bytes the config is searched in: the vmlinux or
// Image inside a kernel image, decompressed, or the file as it is. Three
// wrappings are opened: an x86 bzImage's payload (its setup header's
// payload_offset at 0x248 and payload_length at 0x24c,
// Documentation/arch/x86/boot.rst), an arm64 Image.gz (gzip, as make
// Image.gz writes it and distributions ship it), and an EFI zboot image
// ("zimg" at 4, the payload's offset and size at 8 and 12,
// drivers/firmware/efi/libstub/zboot-header.S). stop ends a
// decompressor.
func imageData(f *os.File) (io.Reader, func(), error) {
	nop := func() {}
	h := make([]byte, 0x250)
	n, _ := f.ReadAt(h, 0)
	h = h[:n]
	st, err := f.Stat()
	if err != nil {
		return nil, nop, err
	}
	var off, size int64
	switch {
	case n == len(h) && string(h[0x202:0x206]) == "HdrS":
		sects := int64(h[0x1f1])
		if sects == 0 {
			sects = 4
		}
		off = (sects+1)*512 + int64(binary.LittleEndian.Uint32(h[0x248:]))
		size = int64(binary.LittleEndian.Uint32(h[0x24c:]))
	case n >= 16 && string(h[:2]) == "MZ" && string(h[4:8]) == "zimg":
		off, size = int64(binary.LittleEndian.Uint32(h[8:])), int64(binary.LittleEndian.Uint32(h[12:]))
	case compress.Detect(h) == compress.Gzip:
		off, size = 0, st.Size()
	default:
		return io.LimitReader(f, maxVmlinux), nop, nil
	}
	if size <= 0 || off+size > st.Size() {
		return nil, nop, errors.New("the kernel's payload lies outside the file")
	}
	r, stop, err := decompressPayload(f, off, size)
	if err != nil {
		return nil, nop, err
	}
	return io.LimitReader(r, maxVmlinux), stop, nil
}

// decompressPayload streams a bzImage's vmlinux, the n bytes at off in
// f. The kernel's xz payload uses the x86 BCJ filter, which the Go xz
// reader does not have: xz(1) (xz-utils) decompresses it. A payload may
// end in padding that a reader complains of: what came out before is
// searched.
func decompressPayload(f *os.File, off, n int64) (io.Reader, func(), error) {
	payload := io.NewSectionReader(f, off, n)
	magic := make([]byte, 16)
	payload.ReadAt(magic, 0)
	format := compress.Detect(magic)
	if format == compress.XZ {
		return xzFrom(f, off)
	}
	r, err := compress.NewReader(payload, format)
	if err != nil {
		return nil, nil, fmt.Errorf("the %s payload: %w", format, err)
	}
	return r, func() { r.Close() }, nil
}

// xzFrom runs xz -dc on f from off. xz reads the file itself (f, its
// offset moved there, is its standard input): were its input copied
// through a pipe, killing it once the config is found would fail that
// copy with EPIPE, which reaches a command that watches SIGPIPE (repro,
// boot) as the signal and stops it. What follows the stream is trailing
// garbage to xz, after the output that matters.
func xzFrom(f *os.File, off int64) (io.Reader, func(), error) {
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, nil, err
	}
	cmd := exec.Command("xz", "-dc")
	cmd.Stdin = f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("the xz payload: xz -dc: %w (xz-utils decompresses it)", err)
	}
	// Killed once the config is found: the rest is not read.
	return out, func() { cmd.Process.Kill(); cmd.Wait() }, nil
}

// between returns the bytes of r between the first start marker and the
// end marker after it, holding at most a MB of r and maxIKConfig bytes
// between. A read error ends r: a payload's padding may be one.
func between(r io.Reader, start, end []byte) ([]byte, error) {
	chunk := make([]byte, 1<<20)
	var tail, found []byte // the last bytes before start is found; all after
	for {
		n, err := r.Read(chunk)
		if found == nil {
			tail = append(tail, chunk[:n]...)
			if i := bytes.Index(tail, start); i >= 0 {
				found = append([]byte{}, tail[i+len(start):]...)
			} else if keep := len(start) - 1; len(tail) > keep {
				tail = append(tail[:0], tail[len(tail)-keep:]...)
			}
		} else {
			found = append(found, chunk[:n]...)
		}
		if found != nil {
			if j := bytes.Index(found, end); j >= 0 {
				return found[:j], nil
			}
			if len(found) > maxIKConfig {
				return nil, fmt.Errorf("no IKCFG_ED within %d bytes of IKCFG_ST", maxIKConfig)
			}
		}
		if err != nil {
			return nil, errNoConfig
		}
	}
}

// embeddedConfigCached is EmbeddedConfig, remembered in the cache by the
// image's path, size and mtime: decompressing a bzImage's payload costs
// 150-200 ms, which a boot must not pay each time, least of all for an
// image with no config in it.
func embeddedConfigCached(img string) (kconfig.Config, error) {
	st, err := os.Stat(img)
	if err != nil {
		return nil, err
	}
	dir, err := cache.Dir()
	if err != nil {
		return EmbeddedConfig(img)
	}
	abs, _ := filepath.Abs(img)
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s\n%d\n%d", abs, st.Size(), st.ModTime().UnixNano())))
	memo := filepath.Join(dir, "ikconfig", hex.EncodeToString(sum[:12]))
	if b, err := os.ReadFile(memo); err == nil {
		if len(b) == 0 {
			return nil, fmt.Errorf("%s carries no config (CONFIG_IKCONFIG is not set)", img)
		}
		return kconfig.Parse(bytes.NewReader(b))
	}
	c, err := EmbeddedConfig(img)
	var text bytes.Buffer
	if err == nil {
		c.Write(&text)
	}
	// Only what the image holds is kept: not an xz that failed to start.
	if (err == nil || errors.Is(err, errNoConfig)) && os.MkdirAll(filepath.Dir(memo), 0o755) == nil {
		atomicfile.Write(memo, 0o644, func(w io.Writer) error { _, err := w.Write(text.Bytes()); return err })
	}
	return c, err
}
