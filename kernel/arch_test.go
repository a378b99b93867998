package kernel

import (
	"os"
	"path/filepath"
	"testing"
)

// TestImageArch: the architecture a kernel image's own header names,
// and none for what does not say.
func TestImageArch(t *testing.T) {
	dir := t.TempDir()
	bz := make([]byte, 0x400)
	copy(bz[0x202:], "HdrS")
	arm := make([]byte, 0x400)
	copy(arm[0x38:], "ARM\x64")
	for name, data := range map[string][]byte{"bzImage": bz, "Image": arm, "Image.gz": {0x1f, 0x8b, 8, 0}, "short": []byte("HdrS")} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range map[string]string{"bzImage": "x86_64", "Image": "aarch64", "Image.gz": "", "short": "", "missing": ""} {
		if got := ImageArch(filepath.Join(dir, name)); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	// An ELF says it in its header: the test binary is one for the host.
	self, _ := os.Executable()
	if got := ImageArch(self); got != "x86_64" && got != "aarch64" {
		t.Errorf("an ELF of this host: %q", got)
	}
}
