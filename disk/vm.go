package disk

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/initkit/initkit/guest"
	"github.com/initkit/initkit/internal/atomicfile"
	"github.com/initkit/initkit/internal/hosttool"
	"github.com/initkit/initkit/internal/shell"
	"github.com/initkit/initkit/internal/syncbuf"
	"github.com/initkit/initkit/probe"
	"github.com/initkit/initkit/qemu"
	"github.com/initkit/initkit/vmexec"
)

// VMTimeout bounds the VM that makes md and LVM volumes.
var VMTimeout = 10 * time.Minute

// volumeName is what an md array, a volume group and a logical volume
// may be named: LVM's characters (tools/toollib.c validate_name), which
// md's also are, never a leading '-', and nothing the VM's script or a
// device path would read as more than a name.
var volumeName = regexp.MustCompile(`^[A-Za-z0-9_.+][A-Za-z0-9_.+-]{0,63}$`)

// checkVolumes validates [[disk.raid]] and [[disk.lvm]].
func (s *Spec) checkVolumes() error {
	raids := map[string]bool{}
	for i := range s.RAID {
		r := &s.RAID[i]
		what := fmt.Sprintf("raid %q", r.Name)
		if !volumeName.MatchString(r.Name) {
			return fmt.Errorf("raid %d: name %q: want letters, digits and _ . + - (not first), at most 64", i+1, r.Name)
		}
		if raids[r.Name] {
			return fmt.Errorf("%s: named twice", what)
		}
		raids[r.Name] = true
		least := map[int]int{0: 2, 1: 2, 5: 3}[r.Level]
		if least == 0 {
			return fmt.Errorf("%s: level %d: want 0, 1 or 5", what, r.Level)
		}
		if len(r.Members) < least {
			return fmt.Errorf("%s: RAID%d needs at least %d members (have %d)", what, r.Level, least, len(r.Members))
		}
		for _, m := range r.Members {
			if _, _, err := member(m); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
		}
		s.resolve(&r.Fill)
		if err := r.Fill.check(what); err != nil {
			return err
		}
		if r.UUID != "" && !uuidRE.MatchString(r.UUID) {
			return fmt.Errorf("%s: uuid %q is not a UUID", what, r.UUID)
		}
	}
	for i := range s.LVM {
		g := &s.LVM[i]
		what := fmt.Sprintf("lvm %q", g.VG)
		if g.VG == "" || len(g.PVs) == 0 {
			return fmt.Errorf("lvm %d: want vg and pvs", i+1)
		}
		if !volumeName.MatchString(g.VG) {
			return fmt.Errorf("lvm %d: vg %q: want letters, digits and _ . + - (not first), at most 64", i+1, g.VG)
		}
		for _, pv := range g.PVs {
			if _, _, err := member(pv); err != nil && !raids[pv] {
				return fmt.Errorf("%s: pv %q: neither FILE:PARTITION nor a [[disk.raid]] name", what, pv)
			}
		}
		for j := range g.LVs {
			lv := &g.LVs[j]
			lwhat := fmt.Sprintf("%s lv %q", what, lv.Name)
			if lv.Name == "" {
				return fmt.Errorf("%s: lv %d has no name", what, j+1)
			}
			if !volumeName.MatchString(lv.Name) {
				return fmt.Errorf("%s: lv %q: want letters, digits and _ . + - (not first), at most 64", what, lv.Name)
			}
			if n, err := size(lwhat, lv.Size); err != nil {
				return err
			} else if n < 0 && j != len(g.LVs)-1 {
				return fmt.Errorf("%s: only the last volume can take the rest", lwhat)
			}
			s.resolve(&lv.Fill)
			if err := lv.Fill.check(lwhat); err != nil {
				return err
			}
			if err := s.checkLUKS(lv.LUKS, lwhat); err != nil {
				return err
			}
			if lv.UUID != "" && !uuidRE.MatchString(lv.UUID) || lv.LUKS != nil && lv.LUKS.UUID != "" && !uuidRE.MatchString(lv.LUKS.UUID) {
				return fmt.Errorf("%s: a uuid that is not a UUID", lwhat)
			}
		}
	}
	return nil
}

// member splits "FILE:PARTITION".
func member(m string) (file, part string, err error) {
	i := strings.LastIndexByte(m, ':')
	if i <= 0 || i == len(m)-1 {
		return "", "", fmt.Errorf("member %q: want FILE:PARTITION", m)
	}
	return m[:i], m[i+1:], nil
}

// vmJob is the script the VM runs and what it needs.
type vmJob struct {
	files  []string          // disk files in attach order: /dev/vda, vdb, ...
	named  map[string]int    // a disk file's index in files
	temps  map[string]string // a disk file's temporary copy, what the VM writes
	tables map[string]probe.Table
	script strings.Builder
	tools  map[string]bool // host paths, added at the same paths
	err    error           // a tool not found
	trees  []string
	mods   map[string]bool
	opened []string // LUKS mappings the script opened, closed at its end
}

// volumes makes the RAID and LVM volumes in a VM with every disk file
// they name attached: the output's temporary file, and a temporary copy
// of each other file, returned to be committed with the output.
func (c *creator) volumes(out *atomicfile.Pending) ([]*atomicfile.Pending, error) {
	j := &vmJob{named: map[string]int{}, temps: map[string]string{}, tables: map[string]probe.Table{}, tools: map[string]bool{}, mods: map[string]bool{"dm-mod": true}}
	outPath, _ := filepath.Abs(c.spec.path(c.spec.Output))
	j.add(outPath, out.Name())
	var others []*atomicfile.Pending
	refs := []string{}
	for _, r := range c.spec.RAID {
		refs = append(refs, r.Members...)
	}
	for _, g := range c.spec.LVM {
		refs = append(refs, g.PVs...)
	}
	for _, ref := range refs {
		file, _, err := member(ref)
		if err != nil {
			continue // a RAID's name
		}
		abs, _ := filepath.Abs(c.spec.path(file))
		if _, ok := j.named[abs]; ok {
			continue
		}
		q, err := copyPending(abs)
		if err != nil {
			return others, err
		}
		others = append(others, q)
		j.add(abs, q.Name())
	}
	j.line("set -e")
	j.line("PATH=/usr/sbin:$PATH # the tools added there, before busybox's applets of the same names")
	j.line("C=" + shell.Quote([]string{guest.LVMConfig}))
	for _, r := range c.spec.RAID {
		if err := c.raid(j, r); err != nil {
			return others, err
		}
	}
	for _, g := range c.spec.LVM {
		if err := c.lvm(j, g); err != nil {
			return others, err
		}
	}
	for _, g := range c.spec.LVM {
		j.line(j.tool("lvm") + " vgchange --config \"$C\" -an " + g.VG + " >/dev/null")
	}
	for _, name := range j.opened {
		j.line(j.tool("cryptsetup") + " close " + name)
	}
	for _, r := range c.spec.RAID {
		j.line(j.tool("mdadm") + " --stop /dev/md/" + r.Name + " 2>/dev/null")
	}
	if j.err != nil {
		return others, j.err
	}
	return others, c.runVM(j)
}

func (j *vmJob) add(path, temp string) {
	j.named[path] = len(j.files)
	j.files = append(j.files, path)
	j.temps[path] = temp
}

func (j *vmJob) line(s string) { j.script.WriteString(s + "\n") }

// tool is the host path of a tool the script runs, added to the VM at
// the same path: the script names it by that path, so that busybox's
// applet of the same name (mke2fs, mkswap) is not what runs.
func (j *vmJob) tool(name string) string {
	p, err := hosttool.Path(name)
	if err != nil && j.err == nil {
		j.err = fmt.Errorf("the VM needs %s: %w (install %s)", name, err, toolPackage[name])
	}
	j.tools[p] = true
	return p
}

// copyPending starts a pending rewrite of an existing disk file with its
// content copied (holes stay holes).
func copyPending(path string) (*atomicfile.Pending, error) {
	src, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("member disk: %w", err)
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return nil, err
	}
	q, err := atomicfile.Create(path, st.Mode().Perm())
	if err != nil {
		return nil, err
	}
	if err := q.File.Truncate(st.Size()); err != nil {
		q.Abort()
		return nil, err
	}
	if err := sparseCopy(q.File, 0, src); err != nil {
		q.Abort()
		return nil, err
	}
	return q, nil
}

// device is the guest's device for "FILE:PARTITION" or a RAID's name.
func (c *creator) device(j *vmJob, ref string) (string, error) {
	file, part, err := member(ref)
	if err != nil {
		return "/dev/md/" + ref, nil
	}
	abs, _ := filepath.Abs(c.spec.path(file))
	disk := "/dev/vd" + string(rune('a'+j.named[abs]))
	t, ok := j.tables[abs]
	if !ok {
		f, err := os.Open(j.temps[abs])
		if err != nil {
			return "", err
		}
		t, err = probe.Partitions(f)
		f.Close()
		if err != nil {
			return "", fmt.Errorf("%s: %s: %w", ref, file, err)
		}
		j.tables[abs] = t
	}
	for _, p := range t.Partitions {
		if p.Label == part || strconv.Itoa(p.Number) == part {
			dev := disk + strconv.Itoa(p.Number)
			if l := c.partLUKS(abs, p.Number); l != nil {
				return c.openInVM(j, dev, "pv-"+strconv.Itoa(p.Number), l)
			}
			return dev, nil
		}
	}
	return "", fmt.Errorf("%s: %s has no partition named or numbered %s", ref, file, part)
}

// partLUKS is the LUKS container of partition n of the output, when
// file is the output and it has one: an LVM physical volume in it is LVM
// on LUKS (the container was made with the table; the VM opens it).
func (c *creator) partLUKS(file string, n int) *LUKS {
	out, _ := filepath.Abs(c.spec.path(c.spec.Output))
	if file != out || n < 1 || n > len(c.spec.Partitions) {
		return nil
	}
	return c.spec.Partitions[n-1].LUKS
}

// openInVM adds the opening of the LUKS container on dev and returns the
// mapped device; the script closes it at its end.
func (c *creator) openInVM(j *vmJob, dev, name string, l *LUKS) (string, error) {
	key, err := c.keyFile(l)
	if err != nil {
		return "", err
	}
	j.trees = append(j.trees, key)
	j.mods["dm-crypt"], j.mods["xts"], j.mods["ecb"] = true, true, true
	j.line("mkdir -p /run/cryptsetup")
	j.line(j.tool("cryptsetup") + " open --key-file " + shell.Quote([]string{key}) + " " + dev + " " + name)
	j.opened = append(j.opened, name)
	return "/dev/mapper/" + name, nil
}

// luksInVM adds a LUKS2 container on dev (LUKS on LVM) and opens it.
func (c *creator) luksInVM(j *vmJob, dev, role, name string, l *LUKS) (string, error) {
	key, err := c.keyFile(l)
	if err != nil {
		return "", err
	}
	j.trees = append(j.trees, key)
	args := append([]string{"luksFormat", "-q", "--type", "luks2", "--uuid", c.luksUUID(role, l), "--key-file", key}, pbkdfArgs(l)...)
	j.line(j.tool("cryptsetup") + " " + shell.Quote(args) + " " + dev)
	return c.openInVM(j, dev, name, l)
}

// raid adds an md array: metadata 1.2 with a UUID derived as every
// other, --assume-clean (the members are new: nothing to resync).
func (c *creator) raid(j *vmJob, r RAID) error {
	var devs []string
	for _, m := range r.Members {
		d, err := c.device(j, m)
		if err != nil {
			return fmt.Errorf("raid %q: %w", r.Name, err)
		}
		devs = append(devs, d)
	}
	j.mods["md-mod"], j.mods[map[int]string{0: "raid0", 1: "raid1", 5: "raid456"}[r.Level]] = true, true
	uuid := strings.ReplaceAll(c.uuid("raid", r.Name), "-", "")
	j.line(fmt.Sprintf(j.tool("mdadm")+" --create /dev/md/%s --run --assume-clean --level=%d --raid-devices=%d --metadata=1.2 --homehost=initkit --name=%s --uuid=%s:%s:%s:%s %s 2>&1",
		r.Name, r.Level, len(devs), r.Name, uuid[0:8], uuid[8:16], uuid[16:24], uuid[24:32], strings.Join(devs, " ")))
	used := false
	for _, g := range c.spec.LVM {
		for _, pv := range g.PVs {
			used = used || pv == r.Name
		}
	}
	if used {
		return nil
	}
	return c.vmFS(j, "/dev/md/"+r.Name, "raid/"+r.Name, fmt.Sprintf("raid %q", r.Name), r.Fill)
}

// lvm adds a volume group and its logical volumes.
func (c *creator) lvm(j *vmJob, g VG) error {
	var pvs []string
	for _, pv := range g.PVs {
		d, err := c.device(j, pv)
		if err != nil {
			return fmt.Errorf("lvm %q: %w", g.VG, err)
		}
		pvs = append(pvs, d)
	}
	lvm := j.tool("lvm")
	all := strings.Join(pvs, " ")
	j.line(lvm + " pvcreate --config \"$C\" -q -y " + all + " >/dev/null")
	j.line(lvm + " vgcreate --config \"$C\" -q " + g.VG + " " + all + " >/dev/null")
	for _, lv := range g.LVs {
		sz := "-l 100%FREE"
		if n, _ := size("", lv.Size); n > 0 {
			sz = "-L " + strconv.FormatInt(n>>10, 10) + "k"
		}
		j.line(fmt.Sprintf("%s lvcreate --config \"$C\" -q -y -Wy -Zy %s -n %s %s >/dev/null", lvm, sz, lv.Name, g.VG))
		dev, role := "/dev/"+g.VG+"/"+lv.Name, "lvm/"+g.VG+"/"+lv.Name
		if lv.LUKS != nil {
			var err error
			if dev, err = c.luksInVM(j, dev, role, "lv-"+g.VG+"-"+lv.Name, lv.LUKS); err != nil {
				return err
			}
		}
		if err := c.vmFS(j, dev, role, fmt.Sprintf("lvm %q lv %q", g.VG, lv.Name), lv.Fill); err != nil {
			return err
		}
		if lv.LUKS != nil { // closed before the group is deactivated
			j.line(j.tool("cryptsetup") + " close " + j.opened[len(j.opened)-1])
			j.opened = j.opened[:len(j.opened)-1]
		}
	}
	return nil
}

// vmFS adds the making of a filesystem on a guest device, filled from a
// tree added to the VM at its host path.
func (c *creator) vmFS(j *vmJob, dev, role, what string, f Fill) error {
	fs := f.fsOf()
	if fs == "raw" {
		return nil
	}
	v := volume{what: what, role: role, fill: f}
	dir := ""
	if f.hasContent() {
		var err error
		if dir, err = c.content(v); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		j.trees = append(j.trees, dir)
	}
	uuid := c.fsUUID(v)
	label, vfatLabel := "", ""
	if f.Label != "" {
		label, vfatLabel = " -L "+shell.Quote([]string{f.Label}), " -n "+shell.Quote([]string{f.Label})
	}
	var cmd string
	switch fs {
	case "ext4", "ext2":
		cmd = fmt.Sprintf("E2FSPROGS_FAKE_TIME=%d "+j.tool("mke2fs")+" -q -F -t %s -U %s -E hash_seed=%s,root_owner=0:0%s", c.epoch, fs, uuid, c.uuid(role, "hash"), label)
		if dir != "" {
			cmd += " -d " + shell.Quote([]string{dir})
		}
	case "vfat":
		cmd = j.tool("mkfs.vfat") + " -i " + strings.ReplaceAll(uuid, "-", "")[:8] + vfatLabel
		if dir != "" {
			return fmt.Errorf("%s: a vfat volume on RAID or LVM cannot be filled from a tree", what)
		}
	case "xfs":
		cmd = j.tool("mkfs.xfs") + " -q -f -m uuid=" + uuid + label
		if dir != "" {
			proto, err := c.protoFile(dir)
			if err != nil {
				return err
			}
			j.trees = append(j.trees, proto)
			cmd += " -p " + shell.Quote([]string{proto})
		}
	case "btrfs":
		cmd = j.tool("mkfs.btrfs") + " -q -f -U " + uuid + label
		if dir != "" {
			cmd += " --rootdir " + shell.Quote([]string{dir})
		}
	case "swap":
		cmd = j.tool("mkswap") + " -U " + uuid + label
	case "squashfs":
		j.line(fmt.Sprintf("%s %s %s -noappend -quiet -no-progress -all-root -mkfs-time %d -all-time %d >/dev/null", j.tool("mksquashfs"), shell.Quote([]string{dir}), dev, c.epoch, c.epoch))
		return nil
	}
	j.line(cmd + " " + dev)
	return nil
}

// runVM runs the job's script in a VM with the disks and tools.
func (c *creator) runVM(j *vmJob) error {
	o := c.o.VM
	if o.Busybox == "" {
		return fmt.Errorf("md RAID and LVM volumes are made in a VM, whose script needs a static busybox (busybox-static)")
	}
	script := filepath.Join(c.tmp, "volumes.sh")
	if err := os.WriteFile(script, []byte(j.script.String()), 0o755); err != nil {
		return err
	}
	o.Add = append(o.Add, script+":/.initkit/volumes.sh")
	for p := range j.tools {
		o.Add = append(o.Add, p)
	}
	for _, t := range j.trees {
		o.Add = append(o.Add, t+":"+t)
	}
	o.Boot.Disks = nil
	for _, f := range j.files {
		o.Boot.Disks = append(o.Boot.Disks, qemu.Disk{Path: j.temps[f]})
	}
	for m := range j.mods {
		o.Modules = append(o.Modules, m)
	}
	o.DirLimit, o.Dir = 0, ""
	o.Boot.Timeout = cmp.Or(o.Boot.Timeout, VMTimeout)
	var out syncbuf.Buffer // stdout and stderr come on two ports at once
	o.Stdout, o.Stderr = &out, &out
	res, err := vmexec.Run(c.ctx, []string{o.Busybox, "sh", "/.initkit/volumes.sh"}, o)
	if err != nil {
		return fmt.Errorf("the VM that makes the RAID and LVM volumes: %w (%s)\n%s", err, res.Outcome.String(), out.String())
	}
	if res.Status != 0 {
		return fmt.Errorf("making the RAID and LVM volumes failed (exit %d):\n%s", res.Status, strings.TrimSpace(out.String()))
	}
	return nil
}

// toolPackage names the Debian package of each tool the VM may need.
var toolPackage = map[string]string{"mdadm": "mdadm", "lvm": "lvm2", "mke2fs": "e2fsprogs", "mkfs.vfat": "dosfstools",
	"mkfs.xfs": "xfsprogs", "mkfs.btrfs": "btrfs-progs", "mkswap": "util-linux", "mksquashfs": "squashfs-tools", "cryptsetup": "cryptsetup-bin"}
