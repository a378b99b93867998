package kernel

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/initkit/initkit/internal/atomicfile"
	"github.com/initkit/initkit/internal/cache"

	"github.com/initkit/initkit/compress"

	"github.com/initkit/initkit/image"
	"github.com/initkit/initkit/kconfig"
)

// CheckConfig returns what the kernel config at path lacks for the
// purposes on arch, and to unpack every segment of each initramfs image
// given (its compression's RD_ option); an empty name is no image.
func CheckConfig(path string, purposes []string, arch string, images ...string) ([]kconfig.Purposed, error) {
	c, err := kconfig.Read(path)
	if err != nil {
		return nil, err
	}
	return check(c, purposes, arch, images)
}

func check(c kconfig.Config, purposes []string, arch string, images []string) ([]kconfig.Purposed, error) {
	needs, err := kconfig.Needs(purposes, arch)
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
// in the setup header), or in an image as it is (arm64's Image).
func EmbeddedConfig(img string) (kconfig.Config, error) {
	b, err := os.ReadFile(img)
	if err != nil {
		return nil, err
	}
	data := b
	if len(b) > 0x250 && string(b[0x202:0x206]) == "HdrS" {
		sects := int(b[0x1f1])
		if sects == 0 {
			sects = 4
		}
		off := (sects+1)*512 + int(binary.LittleEndian.Uint32(b[0x248:]))
		n := int(binary.LittleEndian.Uint32(b[0x24c:]))
		if off < 0 || n <= 0 || off+n > len(b) {
			return nil, fmt.Errorf("%s: the setup header's payload lies outside the file", img)
		}
		if data, err = decompressPayload(b[off : off+n]); err != nil {
			return nil, fmt.Errorf("%s: %w", img, err)
		}
	}
	start := bytes.Index(data, []byte("IKCFG_ST"))
	end := bytes.Index(data, []byte("IKCFG_ED"))
	if start < 0 || end < start {
		return nil, fmt.Errorf("%s carries no config (CONFIG_IKCONFIG is not set)", img)
	}
	zr, err := gzip.NewReader(bytes.NewReader(data[start+8 : end]))
	if err != nil {
		return nil, fmt.Errorf("%s: the embedded config: %w", img, err)
	}
	return kconfig.Parse(zr)
}

// decompressPayload returns a bzImage's vmlinux. The kernel's xz payload
// uses the x86 BCJ filter, which the Go xz reader does not have: xz(1)
// (xz-utils) decompresses it. A payload may end in padding that a reader
// complains of: what came out before is kept.
func decompressPayload(payload []byte) ([]byte, error) {
	f := compress.Detect(payload)
	if f == compress.XZ {
		cmd := exec.Command("xz", "-dc")
		cmd.Stdin = bytes.NewReader(payload)
		out, err := cmd.Output()
		if len(out) == 0 {
			return nil, fmt.Errorf("the xz payload: xz -dc: %v (xz-utils decompresses it)", err)
		}
		return out, nil
	}
	r, err := compress.NewReader(bytes.NewReader(payload), f)
	if err != nil {
		return nil, fmt.Errorf("the %s payload: %w", f, err)
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, 512<<20))
	if len(data) == 0 && err != nil {
		return nil, fmt.Errorf("the %s payload: %w", f, err)
	}
	return data, nil
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
	if os.MkdirAll(filepath.Dir(memo), 0o755) == nil {
		atomicfile.Write(memo, 0o644, func(w io.Writer) error { _, err := w.Write(text.Bytes()); return err })
	}
	return c, err
}
