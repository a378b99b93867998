package pid1

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/initkit/initkit/probe"
	"golang.org/x/sys/unix"
)

// blockDev is a block device the init has looked at.
type blockDev struct {
	Name      string // as in /sys/class/block: vda, vda1, nvme0n1p2, dm-0
	Path      string // /dev/NAME
	FS        probe.Info
	PartUUID  string
	PartLabel string
	Dev       string // MAJOR:MINOR, from sysfs
	Err       error  // why it could not be probed
}

func (d blockDev) String() string {
	var b strings.Builder
	b.WriteString(d.Path)
	if d.FS.Type != "" {
		fmt.Fprintf(&b, " %s", d.FS.Type)
	}
	if d.FS.UUID != "" {
		fmt.Fprintf(&b, " UUID=%s", d.FS.UUID)
	}
	if d.FS.Label != "" {
		fmt.Fprintf(&b, " LABEL=%q", d.FS.Label)
	}
	if d.PartUUID != "" {
		fmt.Fprintf(&b, " PARTUUID=%s", d.PartUUID)
	}
	if d.PartLabel != "" {
		fmt.Fprintf(&b, " PARTLABEL=%q", d.PartLabel)
	}
	if d.Err != nil {
		fmt.Fprintf(&b, " (cannot probe: %v)", d.Err)
	}
	return b.String()
}

// blockDevs probes block devices once each and remembers them.
type blockDevs struct {
	sys  string // /sys/class/block
	dev  string // /dev
	seen map[string]*blockDev
}

func newBlockDevs() *blockDevs {
	return &blockDevs{sys: "/sys/class/block", dev: "/dev", seen: map[string]*blockDev{}}
}

// scan probes the block devices not seen before and returns all of them,
// sorted by name. Empty devices (size 0: an unused loop or a drive
// without a medium) are not probed yet, and those whose probe failed (a
// node not there yet, a read error) are probed again: both are looked at
// again at the next scan.
func (b *blockDevs) scan() []*blockDev {
	ents, _ := readDir(b.sys)
	for _, e := range ents {
		name := e.name
		if d := b.seen[name]; d != nil && d.Err == nil || readTrimmed(b.sys+"/"+name+"/size") == "0" {
			continue
		}
		b.seen[name] = b.probe(name)
	}
	var all []*blockDev
	for _, d := range b.seen {
		all = append(all, d)
	}
	// By name, in an insertion sort of the few devices a guest has:
	// sort.Slice's reflection would be translated by TCG for this one sort
	// on every boot, and each instance of a generic sort costs the init
	// some 6 KB of its 2.5 MB.
	for i := 1; i < len(all); i++ {
		for j := i; j > 0 && all[j].Name < all[j-1].Name; j-- {
			all[j], all[j-1] = all[j-1], all[j]
		}
	}
	return all
}

func (b *blockDevs) probe(name string) *blockDev {
	d := &blockDev{Name: name, Path: b.dev + "/" + name}
	d.Dev = readTrimmed(b.sys + "/" + name + "/dev")
	f, err := openDev(d.Path)
	if err != nil {
		d.Err = err
		return d
	}
	defer f.Close()
	d.FS, err = probe.Filesystem(f)
	if err != nil && err != probe.ErrUnknown {
		d.Err = err
	}
	b.partInfo(d)
	return d
}

// partInfo fills PARTUUID and PARTLABEL of a partition from its disk's
// partition table. sysfs tells which disk and which number: a partition's
// class link points into its disk's directory (.../block/vda/vda1), and
// the directory holds a "partition" file.
func (b *blockDevs) partInfo(d *blockDev) {
	n, err := strconv.Atoi(readTrimmed(b.sys + "/" + d.Name + "/partition"))
	if err != nil {
		return
	}
	target, err := readlink(b.sys + "/" + d.Name)
	if err != nil {
		return
	}
	disk, err := openDev(b.dev + "/" + path.Base(path.Dir(target)))
	if err != nil {
		return
	}
	defer disk.Close()
	t, err := probe.Partitions(disk)
	if err != nil {
		return
	}
	for _, p := range t.Partitions {
		if p.Number == n {
			d.PartUUID, d.PartLabel = p.UUID, p.Label
		}
	}
}

// matchRoot reports whether d is the device spec names: a /dev path, or
// UUID=, LABEL=, PARTUUID=, PARTLABEL= (values as blkid prints them; UUIDs
// compared without regard to case, as vfat ones are upper case).
// /dev/disk/by-*/X names, made by udev on a full system, mean the same as
// the tag: there is no udev here to make those links.
func matchRoot(spec string, d *blockDev) bool {
	for _, by := range []struct{ dir, tag string }{
		{"/dev/disk/by-uuid/", "UUID="}, {"/dev/disk/by-label/", "LABEL="},
		{"/dev/disk/by-partuuid/", "PARTUUID="}, {"/dev/disk/by-partlabel/", "PARTLABEL="},
	} {
		if strings.HasPrefix(spec, by.dir) {
			spec = by.tag + strings.TrimPrefix(spec, by.dir)
		}
	}
	key, val, _ := strings.Cut(spec, "=")
	switch key {
	case "UUID":
		return d.FS.UUID != "" && strings.EqualFold(d.FS.UUID, val)
	case "LABEL":
		return d.FS.Label != "" && d.FS.Label == val
	case "PARTUUID":
		return d.PartUUID != "" && strings.EqualFold(d.PartUUID, val)
	case "PARTLABEL":
		return d.PartLabel != "" && d.PartLabel == val
	}
	return spec == d.Path || (strings.HasPrefix(spec, "/dev/") && devNumber(spec) == d.Dev && d.Dev != "")
}

// devNumber is MAJOR:MINOR of a block device node, "" when path is not
// one. It lets root=/dev/mapper/NAME (a node cryptsetup made) match dm-0.
func devNumber(path string) string {
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return ""
	}
	return fmt.Sprintf("%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
}

// validRootSpec checks the form of root= before any waiting.
func validRootSpec(spec string) error {
	switch {
	case spec == "":
		return errors.New("no root= on the kernel command line")
	case strings.HasPrefix(spec, "/dev/"):
		return nil
	}
	for _, tag := range []string{"UUID=", "LABEL=", "PARTUUID=", "PARTLABEL="} {
		if strings.HasPrefix(spec, tag) && len(spec) > len(tag) {
			return nil
		}
	}
	return errors.New("root=" + spec + ": want /dev/NAME, UUID=, LABEL=, PARTUUID= or PARTLABEL=")
}

// sortStrings sorts a few strings in place (see blockDevs.scan for why
// not with package slices).
func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
