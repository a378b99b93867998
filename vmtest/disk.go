package vmtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
	// The marker says: PID 1, the words of the command line, and the
	// signals a child of the real init finds ignored (none is right).
	script := "#!/bin/busybox sh\n/bin/busybox echo \"" + marker + ":$$:$(/bin/busybox cat /proc/cmdline | /bin/busybox wc -w):$(/bin/busybox grep SigIgn /proc/self/status)\"\n/bin/busybox poweroff -f\n"
	os.WriteFile(filepath.Join(dir, "sbin", "init"), []byte(script), 0o755)
	return dir
}

// VirtioDisk returns the QEMU arguments attaching img as a virtio disk,
// whose driver is a module in the Debian cloud kernel. snapshot=on keeps
// the file unchanged.
func VirtioDisk(img string) []string {
	return []string{"-drive", "file=" + img + ",if=virtio,format=raw,snapshot=on"}
}

// Partition is one partition of GPTImage: a name (PARTLABEL), a unique
// GUID (PARTUUID), and an ext4 filesystem made from Dir (empty when Dir
// is ""), of SizeMiB.
type Partition struct {
	Name, UUID, Dir string
	SizeMiB         int
	Mkfs            []string // extra mke2fs arguments
}

// GPTImage writes a GPT disk image with sfdisk on a plain file and an ext4
// filesystem into each partition with mke2fs -E offset=, as a user.
func GPTImage(t testing.TB, parts ...Partition) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "gpt.img")
	total := 2 // MiB: the tables at both ends and the alignment gap
	var script strings.Builder
	script.WriteString("label: gpt\n")
	for _, p := range parts {
		total += p.SizeMiB
		fmt.Fprintf(&script, "size=%dMiB, name=%q, uuid=%s\n", p.SizeMiB, p.Name, p.UUID)
	}
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Truncate(img, int64(total)<<20)
	cmd := exec.Command("sfdisk", "-q", img)
	cmd.Stdin = strings.NewReader(script.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	start := int64(1) << 20 // sfdisk aligns the first partition to 1 MiB
	for _, p := range parts {
		if p.Dir != "" {
			// Always give the size: without it mke2fs runs to the end of
			// the file, over the backup GPT.
			args := append([]string{"-q", "-t", "ext4", "-d", p.Dir, "-E", fmt.Sprintf("offset=%d", start)}, p.Mkfs...)
			args = append(args, img, fmt.Sprintf("%dk", p.SizeMiB*1024))
			if out, err := exec.Command("mke2fs", args...).CombinedOutput(); err != nil {
				t.Fatalf("mke2fs: %v\n%s", err, out)
			}
		}
		start += int64(p.SizeMiB) << 20
	}
	return img
}

// LUKSImage makes an ext4 filesystem from dir inside a LUKS2 container
// whose UUID is luksUUID and whose passphrase is the content of keyFile,
// without root: mke2fs -d into a file, then cryptsetup reencrypt
// --encrypt on the file (cryptsetup open would need device-mapper).
func LUKSImage(t testing.TB, dir, luksUUID, keyFile string, mkfsArgs ...string) string {
	t.Helper()
	img := Ext4Image(t, dir, "32M", append([]string{"-b", "4096"}, mkfsArgs...)...)
	// Room for the LUKS2 header: the filesystem is shifted by 32 MiB.
	if err := os.Truncate(img, 64<<20); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("cryptsetup", "reencrypt", "-q", "--encrypt", "--type", "luks2", "--disable-locks",
		"--reduce-device-size", "32M", "--uuid", luksUUID, "--key-file", keyFile,
		"--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", img).CombinedOutput()
	if err != nil {
		t.Fatalf("cryptsetup reencrypt: %v\n%s", err, out)
	}
	return img
}
