package kernel

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/initkit/initkit/image"
	"github.com/initkit/initkit/kconfig"
)

// CheckConfig returns what the kernel config at path lacks for the
// purposes on arch, and to unpack every segment of each initramfs image
// given (its compression's RD_ option).
func CheckConfig(path string, purposes []string, arch string, images ...string) ([]kconfig.Purposed, error) {
	c, err := kconfig.Read(path)
	if err != nil {
		return nil, err
	}
	needs, err := kconfig.Needs(purposes, arch)
	if err != nil {
		return nil, err
	}
	for _, img := range images {
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
	if m, err := ReadManifest(dir); err == nil {
		cands = append([]string{filepath.Join(filepath.Dir(filepath.Dir(filepath.Dir(m.Image))), ".config")}, cands...)
	}
	return first(cands)
}
