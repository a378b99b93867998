package boot

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/initkit/initkit/kconfig"
	"github.com/initkit/initkit/probe"
	"github.com/initkit/initkit/qemu"
)

// DirectBoot is how a kernel mounts a disk's partition as its root with
// no initramfs: the disk interface whose driver it has built in, and the
// command line that names the root.
type DirectBoot struct {
	Interface string // nvme, virtio or ide, as qemu.Disk takes it
	Append    string // root=PARTUUID=... rootfstype=... rootwait
}

// interfaces are the disk interfaces in the order a direct boot tries
// them, each with the options its driver needs built in. nvme first: the
// distribution kernels that have virtio-blk only as a module (Debian's
// cloud kernel) have NVMe built in. ide is QEMU's ide-hd, which the q35
// machine puts on its AHCI controller.
var interfaces = []struct {
	name    string
	options []string
}{
	{"nvme", []string{"BLK_DEV_NVME", "PCI"}},
	{"virtio", []string{"VIRTIO_BLK", "VIRTIO_PCI"}},
	{"ide", []string{"SATA_AHCI", "BLK_DEV_SD", "ATA"}},
}

// fsOptions are the options that mount each filesystem probe names.
var fsOptions = map[string][]string{
	"ext4": {"EXT4_FS"}, "ext3": {"EXT4_FS"}, "ext2": {"EXT4_FS|EXT2_FS"},
	"xfs": {"XFS_FS"}, "btrfs": {"BTRFS_FS"}, "vfat": {"VFAT_FS"}, "squashfs": {"SQUASHFS"},
}

// PlanDirectBoot finds part (a PARTLABEL, a partition number, or a root=
// value as it is: PARTUUID=..., /dev/...) on the disk image img, and the
// interface (iface, or the first that cfg has built in when iface is "")
// under which cfg's kernel can mount it by itself. cfg nil (the kernel's
// config is unknown) trusts iface, default nvme. The errors say why a
// disk cannot boot this way: a driver or a filesystem that is a module,
// a LUKS, LVM or md root, which need an initramfs.
func PlanDirectBoot(img, part, iface string, cfg kconfig.Config) (DirectBoot, error) {
	var b DirectBoot
	fs := ""
	if strings.Contains(part, "=") || strings.HasPrefix(part, "/dev/") {
		b.Append = "root=" + part
	} else {
		l, err := probe.List(img)
		if err != nil {
			return b, err
		}
		e, err := l.Find(part)
		if err != nil {
			return b, fmt.Errorf("--root %s: %s: %w", part, img, err)
		}
		if e.PartUUID == "" {
			return b, fmt.Errorf("--root %s: %s has no partition table: with no initramfs the kernel finds its root by PARTUUID", part, img)
		}
		fs = e.Type
		switch fs {
		case "crypto_LUKS", "LVM2_member", "linux_raid_member":
			return b, fmt.Errorf("--root %s: partition %d holds %s: the kernel cannot unlock or assemble it by itself; boot with an initramfs (--initrd) that does", part, e.Number, fs)
		case "":
			return b, fmt.Errorf("--root %s: partition %d holds no filesystem", part, e.Number)
		}
		b.Append = "root=PARTUUID=" + e.PartUUID + " rootfstype=" + fs
	}
	b.Append += " rootwait"
	if cfg == nil {
		b.Interface = iface
		if iface == "" {
			b.Interface = "nvme"
		}
		return b, nil
	}
	if opts := fsOptions[fs]; fs != "" {
		if err := builtIn(cfg, opts); err != nil {
			return b, fmt.Errorf("--root %s holds %s, and %w: with no initramfs nothing can load it", part, fs, err)
		}
	}
	var why []string
	for _, i := range interfaces {
		if iface != "" && i.name != iface {
			continue
		}
		err := builtIn(cfg, i.options)
		if err == nil {
			b.Interface = i.name
			return b, nil
		}
		why = append(why, i.name+": "+err.Error())
	}
	if iface == "" {
		return b, fmt.Errorf("the kernel has no disk driver built in (%s): boot with an initramfs that loads one", strings.Join(why, "; "))
	}
	alt := ""
	for _, i := range interfaces {
		if builtIn(cfg, i.options) == nil {
			alt = "; --disk-if " + i.name + " works"
			break
		}
	}
	return b, fmt.Errorf("--disk-if %s: %s: with no initramfs nothing can load it%s", iface, why[0], alt)
}

// builtIn checks that every option is y (one of a|b being y suffices).
func builtIn(cfg kconfig.Config, options []string) error {
	for _, o := range options {
		ok, have := false, ""
		for _, name := range strings.Split(o, "|") {
			v := cfg.Value(name)
			ok = ok || v == "y"
			have += fmt.Sprintf(" CONFIG_%s=%s", name, v)
		}
		if !ok {
			return fmt.Errorf("the kernel has%s", have)
		}
	}
	return nil
}

// root adds the disks, the root the kernel mounts (Options.Root) and
// the init (Options.Init). With no initramfs the kernel must mount the
// root by itself: PlanDirectBoot picks the interface from the kernel's
// config, and every disk without one of its own goes on it (a kernel
// with virtio-blk as a module sees none of the others otherwise). With
// an initramfs, that loads what it needs: virtio unless DiskIf says.
func (r *Run) root() error {
	o := r.o
	disks := slices.Clone(o.Disks)
	iface := o.DiskIf
	if o.Root != "" {
		if len(disks) == 0 {
			return fmt.Errorf("--root names a partition of the first --disk: give one")
		}
		var cfg kconfig.Config
		if r.Initrd == "" {
			cfg, _ = r.Kernel.KernelConfig()
		}
		want := cmp.Or(disks[0].Interface, iface)
		if r.Initrd != "" {
			want = cmp.Or(want, "virtio")
		}
		plan, err := PlanDirectBoot(disks[0].Path, o.Root, want, cfg)
		if err != nil {
			return err
		}
		iface = plan.Interface
		r.cfg.Devices = append(r.cfg.Devices, qemu.Cmdline(strings.Fields(plan.Append)))
		if args := strings.Fields(o.Append); !slices.Contains(args, "rw") && !slices.Contains(args, "ro") {
			r.note("the root is mounted read-only, as the kernel does by default: --append rw to write to it")
		}
	}
	if o.Init != "" {
		r.cfg.Devices = append(r.cfg.Devices, qemu.Cmdline{"init=" + o.Init})
	}
	for i := range disks {
		disks[i].Interface = cmp.Or(disks[i].Interface, iface)
		r.cfg.Devices = append(r.cfg.Devices, disks[i])
	}
	return nil
}

// LinuxRoot names the root of disk image img as Options.Root takes it,
// for a run with an initramfs that mounts it on virtio: the first
// partition that holds a Linux root filesystem (ext2/3/4, xfs, btrfs),
// or /dev/vda when the whole disk is one.
func LinuxRoot(img string) (string, error) {
	l, err := probe.List(img)
	if err != nil {
		return "", err
	}
	for _, e := range l.Partitions {
		if !slices.Contains([]string{"ext2", "ext3", "ext4", "xfs", "btrfs"}, e.Type) {
			continue
		}
		if e.Number == 0 {
			return "/dev/vda", nil
		}
		return strconv.Itoa(e.Number), nil
	}
	return "", fmt.Errorf("%s: no partition holds a Linux root filesystem (ext2/3/4, xfs, btrfs): name the root with --root", img)
}
