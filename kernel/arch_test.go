package kernel

import (
	"context"
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

// elfVmlinux links an x86-64 ELF with no interpreter, as a vmlinux is,
// with the PVH entry note CONFIG_PVH adds when pvh is set.
func elfVmlinux(t *testing.T, path string, pvh bool) string {
	return elfVmlinuxWith(t, "gcc", path, pvh)
}

// elfVmlinuxWith links it with the compiler cc.
func elfVmlinuxWith(t *testing.T, cc, path string, pvh bool) string {
	t.Helper()
	src := ".globl _start\n_start: nop\n"
	if pvh {
		src += ".section .note.Xen,\"a\",@note\n.balign 4\n.long 4, 4, 18\n.asciz \"Xen\"\n.long 0x1000000\n"
	}
	as := filepath.Join(t.TempDir(), "k.S")
	if err := os.WriteFile(as, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(cc, "-nostdlib", "-static", "-o", path, as).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v: %s", err, out)
	}
	return path
}

// QEMU boots an x86-64 ELF kernel only through its PVH entry: one without
// it is refused before QEMU says "Error loading uncompressed kernel
// without PVH ELF Note"; given in a build directory, the directory's
// bzImage boots and the vmlinux decodes.
func TestVmlinuxPVH(t *testing.T) {
	dir := t.TempDir()
	if err := Bootable(elfVmlinux(t, filepath.Join(dir, "pvh"), true)); err != nil {
		t.Errorf("with a PVH entry: %v", err)
	}
	obj := filepath.Join(dir, "obj")
	vm := elfVmlinux(t, filepath.Join(obj, "vmlinux"), false)
	if err := Bootable(vm); err == nil || !strings.Contains(err.Error(), "without a PVH entry (CONFIG_PVH)") {
		t.Errorf("without: %v", err)
	}
	bz := filepath.Join(obj, "arch/x86/boot/bzImage")
	os.MkdirAll(filepath.Dir(bz), 0o755)
	if err := os.Link(realKernel(t).Image, bz); err != nil {
		data, _ := os.ReadFile(realKernel(t).Image)
		os.WriteFile(bz, data, 0o644)
	}
	c, err := ChooseBootable(context.Background(), Request{Kernel: vm})
	if err != nil || c.Image != bz || c.Vmlinux != vm {
		t.Errorf("in a build directory: %v %+v", err, c)
	}
	// An arm64 vmlinux: QEMU loads it at its link addresses, and the
	// guest stayed silent.
	arm := elfVmlinuxWith(t, "aarch64-linux-gnu-gcc", filepath.Join(dir, "arm64"), false)
	if err := Bootable(arm); err == nil || !strings.Contains(err.Error(), "an arm64 vmlinux: QEMU cannot boot it") {
		t.Errorf("arm64: %v", err)
	}
}
