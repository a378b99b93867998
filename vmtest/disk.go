package vmtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Ext4Image makes an ext4 filesystem image of size from the tree at dir,
// as a user: mke2fs -d copies the tree, no mount, no root.
func Ext4Image(t testing.TB, dir, size string, mkfsArgs ...string) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "disk.img")
	args := append([]string{"-q", "-t", "ext4", "-d", dir}, mkfsArgs...)
	args = append(args, img, size)
	if out, err := exec.Command("mke2fs", args...).CombinedOutput(); err != nil {
		t.Fatalf("mke2fs: %v\n%s", err, out)
	}
	return img
}

// NVMeDisk returns the QEMU arguments attaching img as an NVMe disk, the
// one disk controller the Debian cloud kernel has built in. snapshot=on
// keeps the file unchanged.
func NVMeDisk(img string) []string {
	return []string{"-drive", "file=" + img + ",if=none,id=root,format=raw,snapshot=on", "-device", "nvme,drive=root,serial=initkit"}
}

// RootTree returns a root filesystem tree whose /sbin/init (a static
// busybox script) prints marker and powers off.
func RootTree(t testing.TB, marker string) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"bin", "sbin", "dev", "proc", "sys", "run"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	data, err := os.ReadFile(Busybox(t))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "bin", "busybox"), data, 0o755)
	script := "#!/bin/busybox sh\n/bin/busybox echo \"" + marker + ":$$:$(/bin/busybox cat /proc/cmdline | /bin/busybox wc -w)\"\n/bin/busybox poweroff -f\n"
	os.WriteFile(filepath.Join(dir, "sbin", "init"), []byte(script), 0o755)
	return dir
}
