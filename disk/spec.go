// Package disk makes disk images without root: a partition table (GPT,
// MBR or none), filesystems filled from host trees, LUKS2 containers, and
// md RAID and LVM volumes over the partitions of one or more disk files.
// It also lists what a disk holds (List), copies files into one (Copy)
// and reads them out (Cat).
//
// What a rootless tool can do runs on the host, on the image file at the
// partition's offset: sfdisk writes the table, mke2fs -d and mkfs.vfat
// with mtools write ext2/4 and FAT in place, mksquashfs, mkfs.btrfs
// --rootdir, mkfs.xfs -p (a prototype file) and mkswap write a scratch
// file that is copied in, and cryptsetup reencrypt turns a filesystem
// into a LUKS2 container on a file. What needs a block device (md RAID,
// LVM, a filesystem on them) runs as root in a throwaway VM that has the
// disk files attached (package vmexec). Every output is written to a
// temporary file and renamed into place only once it is complete.
package disk

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/initkit/initkit/image"
	"github.com/initkit/initkit/initramfs"
)

// Spec describes a disk: the [disk] table of initkit.toml.
type Spec struct {
	Output     string      `toml:"output"`
	Size       string      `toml:"size"`  // "1G"; the image is a sparse file
	Table      string      `toml:"table"` // gpt (default), mbr, none
	Partitions []Partition `toml:"partition"`
	RAID       []RAID      `toml:"raid"`
	LVM        []VG        `toml:"lvm"`

	dir string // relative paths are relative to it
}

// Partition is one [[disk.partition]]. With table "none" there is one,
// the whole disk.
type Partition struct {
	Name string `toml:"name"` // PARTLABEL (GPT); also how RAID and LVM members name it
	Size string `toml:"size"` // "64M", or "rest" (the default for the last)
	// Type is the GPT or MBR type: linux (the default), esp, swap, lvm,
	// raid, luks, or a GUID or MBR hex code as it is.
	Type     string `toml:"type"`
	Fill            // the filesystem and what fills it
	PartUUID string `toml:"partuuid"` // default derived from the disk's name and this partition's
	LUKS     *LUKS  `toml:"luks"`     // put the filesystem inside a LUKS2 container
}

// Fill is a filesystem and what fills it: a partition's, a RAID array's,
// a logical volume's.
type Fill struct {
	// FS is ext4, ext2, vfat, xfs, btrfs, squashfs, swap or raw (no
	// filesystem: the default when there is nothing to fill it with).
	FS    string `toml:"fs"`
	Label string `toml:"label"`
	UUID  string `toml:"uuid"` // default derived from the disk's name and the volume's
	Tree  string `toml:"tree"` // a host directory copied in, owned by root
	// Spec is an initkit image spec file whose [image] fills it (built
	// as for initkit build, the initkit init included, written as a tree
	// instead of an archive): an early-userspace partition. Image is that
	// table, read (package spec reads it).
	Spec  string          `toml:"spec"`
	Image *initramfs.Spec `toml:"-"`
	Files []string        `toml:"files"` // host files "SRC[:DST]", with their shared libraries
}

// LUKS is a LUKS2 container, a partition's or a logical volume's. One of
// Keyfile and Passphrase. A raw partition in LUKS named as an LVM
// physical volume is LVM on LUKS.
type LUKS struct {
	Keyfile    string `toml:"keyfile"`
	Passphrase string `toml:"passphrase"`
	UUID       string `toml:"uuid"` // the LUKS UUID (rd.luks.uuid=); default derived as every other
	// PBKDFMemory is argon2id's memory in KiB (default 65536: the guests
	// that unlock these disks have little RAM and no KVM).
	PBKDFMemory int `toml:"pbkdf_memory"`
}

// RAID is one [[disk.raid]]: an md array over partitions of disk files.
type RAID struct {
	Name  string `toml:"name"`
	Level int    `toml:"level"` // 0, 1 or 5
	// Members are "FILE:PARTITION": a disk file (this spec's output, or
	// one made before) and a partition's name or number in it.
	Members []string `toml:"members"`
	Fill
}

// VG is one [[disk.lvm]]: a volume group and its logical volumes.
type VG struct {
	VG string `toml:"vg"`
	// PVs are "FILE:PARTITION", or the name of a [[disk.raid]].
	PVs []string `toml:"pvs"`
	LVs []LV     `toml:"lvs"`
}

// LV is a logical volume.
type LV struct {
	Name string `toml:"name"`
	Size string `toml:"size"` // "100M", or "rest" (what the group has left)
	LUKS *LUKS  `toml:"luks"` // the filesystem inside LUKS2 on the volume
	Fill
}

// RelativeTo makes the spec's relative paths relative to dir: the
// directory of the spec file it was read from (package spec reads it).
func (s *Spec) RelativeTo(dir string) { s.dir = dir }

// Fills are the fills of every volume: partitions, arrays, logical
// volumes.
func (s *Spec) Fills() []*Fill {
	var out []*Fill
	for i := range s.Partitions {
		out = append(out, &s.Partitions[i].Fill)
	}
	for i := range s.RAID {
		out = append(out, &s.RAID[i].Fill)
	}
	for i := range s.LVM {
		for j := range s.LVM[i].LVs {
			out = append(out, &s.LVM[i].LVs[j].Fill)
		}
	}
	return out
}

// ParsePart reads the --part flag's NAME:SIZE:FS[:TREE].
func ParsePart(s string) (Partition, error) {
	f := strings.SplitN(s, ":", 4)
	if len(f) < 3 || f[0] == "" || f[1] == "" {
		return Partition{}, fmt.Errorf("--part %s: want NAME:SIZE:FS[:TREE]", s)
	}
	p := Partition{Name: f[0], Size: f[1], Fill: Fill{FS: f[2]}}
	if len(f) == 4 {
		p.Tree = f[3]
	}
	return p, nil
}

// path resolves a path of the spec.
func (s *Spec) path(p string) string {
	if p == "" {
		return p
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(s.dir, p)
	}
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// Filesystems initkit makes.
var filesystems = map[string]bool{"ext4": true, "ext2": true, "vfat": true, "xfs": true, "btrfs": true, "squashfs": true, "swap": true, "raw": true}

// fsOf is the filesystem a fill makes: raw when there is nothing to put
// in it and none was named, ext4 when there is.
func (f Fill) fsOf() string {
	switch {
	case f.FS != "":
		return f.FS
	case f.Tree != "" || f.Spec != "" || len(f.Files) > 0:
		return "ext4"
	}
	return "raw"
}

func (f Fill) hasContent() bool { return f.Tree != "" || f.Spec != "" || len(f.Files) > 0 }

// check is what every fill must satisfy; what names it in errors.
func (f Fill) check(what string) error {
	fs := f.fsOf()
	if !filesystems[fs] {
		return fmt.Errorf("%s: unknown filesystem %q (want ext4, ext2, vfat, xfs, btrfs, squashfs, swap or raw)", what, f.FS)
	}
	if f.hasContent() && (fs == "raw" || fs == "swap") {
		return fmt.Errorf("%s: a %s volume cannot be filled from a tree or files", what, fs)
	}
	if fs == "squashfs" && !f.hasContent() {
		return fmt.Errorf("%s: squashfs is read-only: give it a tree, a spec or files", what)
	}
	if f.Tree != "" {
		if st, err := os.Stat(f.Tree); err != nil {
			return fmt.Errorf("%s: tree: %w", what, err)
		} else if !st.IsDir() {
			return fmt.Errorf("%s: tree %s is not a directory", what, f.Tree)
		}
	}
	return nil
}

// resolve makes the fill's paths absolute.
func (s *Spec) resolve(f *Fill) {
	f.Tree, f.Spec = s.path(f.Tree), s.path(f.Spec)
	for i, file := range f.Files {
		src, dst, ok := strings.Cut(file, ":")
		f.Files[i] = s.path(src)
		if ok {
			f.Files[i] += ":" + dst
		}
	}
}

// size reads a size; "rest" is -1.
func size(what, s string) (int64, error) {
	if s == "" || s == "rest" {
		return -1, nil
	}
	n, err := image.ParseSize(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return 0, fmt.Errorf("%s: size 0 (give a size, or \"rest\" for what is left)", what)
	}
	return n, nil
}

// partName is how errors name partition i.
func (p Partition) what(i int) string {
	if p.Name != "" {
		return fmt.Sprintf("partition %d (%s)", i+1, p.Name)
	}
	return fmt.Sprintf("partition %d", i+1)
}
