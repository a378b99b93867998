package kernel

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// TestBootable: the real kernel, its vmlinux-like ELF and the images QEMU
// places without a header ImageArch reads pass; what is no kernel is
// named as what it is, each made by its own tool.
func TestBootable(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	run := func(name string, args ...string) {
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", name, err, out)
		}
	}
	zboot := append([]byte("MZ\x00\x00zimg"), make([]byte, 64)...)
	for _, ok := range []string{realKernel(t).Image, write("zboot.efi", zboot),
		write("uImage", []byte{0x27, 0x05, 0x19, 0x56, 0, 0})} {
		if err := Bootable(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	run("sh", "-c", "cd "+dir+" && echo f | cpio -o -H newc --quiet > initrd.cpio && zstd -q initrd.cpio -o initrd.zst && truncate -s 8M disk.img && echo ,,L | sfdisk -q disk.img")
	run("mke2fs", "-q", "-t", "ext4", filepath.Join(dir, "ext4.img"), "8M")
	for name, want := range map[string]string{
		filepath.Join(dir, "initrd.cpio"):   "a cpio archive (an initramfs: give it as the initrd), not a kernel image",
		filepath.Join(dir, "initrd.zst"):    "zstd-compressed data (an initramfs? give it as the initrd), not a kernel image",
		filepath.Join(dir, "disk.img"):      "a disk image with an MBR partition table (initkit disk ls lists it), not a kernel image",
		filepath.Join(dir, "ext4.img"):      "an ext2/3/4 filesystem image (initkit disk ls and disk cat read it), not a kernel image",
		"/bin/sh":                           "an ELF program (it has an interpreter), not a kernel image",
		write("empty", nil):                 "an empty file, not a kernel image",
		write("text", []byte("hello")):      "not a kernel image (a bzImage, an arm64 Image or an ELF vmlinux): bytes 68 65 6c 6c 6f",
		write("elf", []byte("\x7fELF\x02")): "a damaged ELF file, not a kernel image: ",
	} {
		if err := Bootable(name); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: %v, want %q", name, err, want)
		}
	}
}
