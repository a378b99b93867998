package boot_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/initkit/initkit/boot"
	"github.com/initkit/initkit/disk"
	"github.com/initkit/initkit/kconfig"
	"github.com/initkit/initkit/probe"
)

// rootDisk makes a GPT disk with a vfat "boot" and an ext4 "root"
// partition, as disk create makes it (sfdisk, mke2fs -d, mkfs.vfat).
func rootDisk(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	out := filepath.Join(dir, "disk.img")
	tree := filepath.Join(dir, "tree")
	os.MkdirAll(filepath.Join(tree, "etc"), 0o755)
	os.WriteFile(filepath.Join(tree, "etc/msg"), []byte("root\n"), 0o644)
	s := &disk.Spec{Output: out, Size: "128M", Partitions: []disk.Partition{
		{Name: "boot", Size: "32M", Fill: disk.Fill{FS: "vfat"}},
		{Name: "root", Fill: disk.Fill{FS: "ext4", Tree: tree}},
	}}
	epoch := int64(1700000000)
	if err := disk.Create(context.Background(), s, disk.Options{Epoch: &epoch}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPlanDirectBoot: the interface is the one whose driver is built in,
// and an interface or filesystem the kernel has as a module is refused
// with the option named.
func TestPlanDirectBoot(t *testing.T) {
	out := rootDisk(t)
	debian := kconfig.Config{"BLK_DEV_NVME": "y", "PCI": "y", "VIRTIO_BLK": "m", "VIRTIO_PCI": "y", "EXT4_FS": "y"}
	b, err := boot.PlanDirectBoot(out, "root", "", debian)
	l, _ := probe.List(out)
	if err != nil || b.Interface != "nvme" || b.Append != "root=PARTUUID="+l.Partitions[1].PartUUID+" rootfstype=ext4 rootwait" {
		t.Errorf("%+v, %v", b, err)
	}
	if _, err := boot.PlanDirectBoot(out, "root", "virtio", debian); err == nil || !strings.Contains(err.Error(), "CONFIG_VIRTIO_BLK=m") || !strings.Contains(err.Error(), "--disk-if nvme works") {
		t.Errorf("virtio with virtio_blk a module: %v", err)
	}
	noExt4 := kconfig.Config{"BLK_DEV_NVME": "y", "PCI": "y", "EXT4_FS": "m"}
	if _, err := boot.PlanDirectBoot(out, "2", "", noExt4); err == nil || !strings.Contains(err.Error(), "CONFIG_EXT4_FS=m") {
		t.Errorf("ext4 a module: %v", err)
	}
	if _, err := boot.PlanDirectBoot(out, "nope", "", debian); err == nil || !strings.Contains(err.Error(), `no partition named or numbered "nope"`) {
		t.Errorf("unknown partition: %v", err)
	}
}

// TestLinuxRoot: the first partition with a Linux root filesystem (not
// the vfat one before it); the whole disk when it is one filesystem; an
// error naming --root when there is none.
func TestLinuxRoot(t *testing.T) {
	if got, err := boot.LinuxRoot(rootDisk(t)); got != "2" || err != nil {
		t.Errorf("GPT with vfat then ext4: %q, %v; want 2", got, err)
	}
	dir := t.TempDir()
	whole := filepath.Join(dir, "whole.img")
	s := &disk.Spec{Output: whole, Size: "16M", Table: "none", Partitions: []disk.Partition{{Fill: disk.Fill{FS: "ext4"}}}}
	if err := disk.Create(t.Context(), s, disk.Options{}); err != nil {
		t.Fatal(err)
	}
	if got, err := boot.LinuxRoot(whole); got != "/dev/vda" || err != nil {
		t.Errorf("a whole-disk ext4: %q, %v; want /dev/vda", got, err)
	}
	empty := filepath.Join(dir, "empty.img")
	os.WriteFile(empty, make([]byte, 1<<20), 0o644)
	if _, err := boot.LinuxRoot(empty); err == nil || !strings.Contains(err.Error(), "--root") {
		t.Errorf("no filesystem: %v", err)
	}
}
