package vmtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/initkit/initkit/disk"
	"github.com/initkit/initkit/probe"
)

// writeTree writes files (path -> content) under a new directory.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		mode := os.FileMode(0o644)
		if strings.HasPrefix(content, "#!") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestDiskBootsWithoutInitramfs: a GPT disk with an ext4 boot partition
// and an ext4 root from two trees, made by disk create; disk cp puts a
// file into the root; the kernel boots it with no initramfs (NVMe, which
// the cloud kernel has built in) and its init prints the file.
func TestDiskBootsWithoutInitramfs(t *testing.T) {
	t.Parallel()
	root := RootTree(t, "unused")
	os.WriteFile(filepath.Join(root, "bin", "init.sh"), []byte("#!/bin/busybox sh\n/bin/busybox echo \"DISK-ROOT $(/bin/busybox cat /etc/copied)\"\n/bin/busybox poweroff -f\n"), 0o755)
	boot := writeTree(t, map[string]string{"grub/hello": "boot\n"})
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	if code, out := initkitRun(t, "disk", "create", img, "--size", "256M", "--part", "boot:64M:ext4:"+boot, "--part", "root:rest:ext4:"+root); code != 0 {
		t.Fatalf("disk create: exit %d\n%s", code, out)
	}
	copied := filepath.Join(t.TempDir(), "copied")
	os.WriteFile(copied, []byte("by-disk-cp"), 0o644)
	if code, out := initkitRun(t, "disk", "cp", img+":root", copied, "/etc/"); code != 0 {
		t.Fatalf("disk cp: exit %d\n%s", code, out)
	}
	code, out := initkitRun(t, "boot", "--kernel", Kernel(t).Image, "--disk", img, "--root", "root", "--init", "/bin/init.sh",
		"--timeout", "120s", "--expect", "DISK-ROOT by-disk-cp")
	if code != 0 {
		t.Fatalf("boot: exit %d\n%s", code, out)
	}
	l, err := probe.List(img)
	if err != nil {
		t.Fatal(err)
	}
	mustMatch(t, out, "root=PARTUUID="+l.Partitions[1].PartUUID,
		`initkit: the root is mounted read-only, as the kernel does by default: --append rw to write to it`)
	// virtio-blk is a module of this kernel: with no initramfs, said so.
	code, out = initkitRun(t, "boot", "--kernel", Kernel(t).Image, "--disk", img, "--root", "root", "--disk-if", "virtio", "--timeout", "60s")
	if code == 0 || !strings.Contains(out, "CONFIG_VIRTIO_BLK=m") || !strings.Contains(out, "--disk-if nvme works") {
		t.Errorf("--disk-if virtio with no initramfs: exit %d\n%s", code, out)
	}
}

// nobody runs initkit as the user nobody, with a copy of the test kernel
// (hard links) and a cache of its own: what a user without root has.
type nobody struct {
	t           *testing.T
	user, group string
	env         []string
	bin, dir    string // the initkit binary; a directory nobody may write
	kernel      string // the user's copy of the test kernel's image
}

func asNobody(t *testing.T) *nobody { return asUser(t, "nobody", "nogroup") }

// asUser is asNobody for another user: initkit-test, whom make test
// creates with subordinate ids, as Debian's adduser gives a user.
func asUser(t *testing.T, user, group string) *nobody {
	t.Helper()
	bin := initkitBinary(t)
	init, _ := filepath.EvalSymlinks(filepath.Join(filepath.Dir(bin), "initkit-init"))
	for _, d := range []string{filepath.Dir(bin), filepath.Dir(init)} {
		os.Chmod(d, 0o755)
	}
	base, err := os.MkdirTemp("", "initkit-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o777)
	// The kernel's layout, as Choose finds modules beside an image:
	// KERNEL/boot/vmlinuz-RELEASE and KERNEL/lib/modules/RELEASE. Hard
	// links where the cache and $TMPDIR share a filesystem, else copies.
	k := Kernel(t)
	kdir := filepath.Join(base, "kernel")
	for src, dst := range map[string]string{k.Image: filepath.Join(kdir, "boot"), k.ModulesDir: filepath.Join(kdir, "lib", "modules")} {
		os.MkdirAll(dst, 0o755)
		if exec.Command("cp", "-al", src, dst).Run() != nil {
			if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
				t.Fatalf("cp -a %s: %v\n%s", src, err, out)
			}
		}
	}
	filepath.Walk(kdir, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	cache := filepath.Join(base, "cache")
	work := filepath.Join(base, "work")
	for _, d := range []string{cache, work} {
		os.Mkdir(d, 0o755)
		os.Chmod(d, 0o777) // past the umask
	}
	image := filepath.Join(kdir, "boot", filepath.Base(k.Image))
	// A normal user's PATH (Debian's for users): no /usr/sbin, where
	// sfdisk, debugfs and the mkfs tools are.
	return &nobody{t: t, user: user, group: group, bin: bin, dir: work, kernel: image, env: []string{"INITKIT_KERNEL=" + image, "INITKIT_CACHE=" + cache, "HOME=" + work, "TMPDIR=" + work,
		"PATH=/usr/local/bin:/usr/bin:/bin:/usr/games"}}
}

// run runs initkit as nobody in its directory.
func (n *nobody) run(args ...string) (int, string) {
	n.t.Helper()
	cmd := n.command(args...)
	out, err := cmd.CombinedOutput()
	return exitStatus(err), string(out)
}

// command is initkit with args, to run as the user.
func (n *nobody) command(args ...string) *exec.Cmd {
	cmd := exec.Command("setpriv", append([]string{"--reuid=" + n.user, "--regid=" + n.group, "--clear-groups", "--inh-caps=-all", "--", n.bin}, args...)...)
	cmd.Dir, cmd.Env = n.dir, append(os.Environ(), n.env...)
	return cmd
}

// volumeCase is a disk made by disk create as nobody and the script that
// finds its root inside a VM: unlock, assemble, activate, mount.
type volumeCase struct {
	name  string
	specs []string // spec files, made in order (the members first)
	disks []string // the files the check attaches
	check string   // shell lines that mount the volume on /mnt
	tools []string
	mods  []string
}

// TestDiskVolumesAsNobody: a LUKS2 root, an LVM logical volume, an ext4
// on md RAID1 over two disk files, and LVM on RAID1, each made by disk
// create as nobody (the RAID and LVM ones in its throwaway VM), each
// then opened in a VM, mounted, and a file from the tree read back. disk
// ls sees the members as blkid does.
func TestDiskVolumesAsNobody(t *testing.T) {
	n := asNobody(t)
	tree := writeTree(t, map[string]string{"etc/msg": "from-the-tree\n"})
	os.Chmod(filepath.Dir(tree), 0o755)
	os.Chmod(tree, 0o755)
	os.Chmod(filepath.Join(tree, "etc"), 0o755)
	key := filepath.Join(n.dir, "root.key")
	os.WriteFile(key, []byte("passphrase"), 0o644)
	raidMember := func(out string) string {
		return fmt.Sprintf("[disk]\noutput = %q\nsize = \"96M\"\n[[disk.partition]]\nname = \"data\"\ntype = \"raid\"\n", out)
	}
	lvmConf := `C='devices { obtain_device_list_from_udev=0 } activation { udev_sync=0 udev_rules=0 }'` + "\n"
	cases := []volumeCase{
		{name: "luks", disks: []string{"luks.img"},
			specs: []string{fmt.Sprintf("[disk]\noutput = \"luks.img\"\nsize = \"96M\"\n[[disk.partition]]\nname = \"root\"\nfs = \"ext4\"\ntree = %q\nluks = { keyfile = %q }\n", tree, key)},
			check: "cryptsetup open --key-file /key /dev/vda1 root\nmount -o ro /dev/mapper/root /mnt\n", tools: []string{"/usr/sbin/cryptsetup"}, mods: []string{"dm-crypt", "xts", "ecb"}},
		{name: "lvm", disks: []string{"lvm.img"},
			specs: []string{fmt.Sprintf("[disk]\noutput = \"lvm.img\"\nsize = \"96M\"\n[[disk.partition]]\nname = \"pv\"\ntype = \"lvm\"\n[[disk.lvm]]\nvg = \"vg0\"\npvs = [\"lvm.img:pv\"]\nlvs = [{ name = \"root\", size = \"48M\", fs = \"ext4\", tree = %q }]\n", tree)},
			check: lvmConf + "lvm vgchange --config \"$C\" -ay vg0\nmount -o ro /dev/vg0/root /mnt\n", tools: []string{"/usr/sbin/lvm"}, mods: []string{"dm-mod"}},
		{name: "raid1", disks: []string{"m0.img", "m1.img"},
			specs: []string{raidMember("m0.img"), raidMember("m1.img") + fmt.Sprintf("[[disk.raid]]\nname = \"r1\"\nlevel = 1\nmembers = [\"m0.img:data\", \"m1.img:data\"]\nfs = \"ext4\"\ntree = %q\n", tree)},
			check: "mdadm --assemble /dev/md/r1 /dev/vda1 /dev/vdb1\nmount -o ro /dev/md/r1 /mnt\n", tools: []string{"/usr/sbin/mdadm"}, mods: []string{"md-mod", "raid1"}},
		{name: "lvm-on-raid1", disks: []string{"l0.img", "l1.img"},
			specs: []string{raidMember("l0.img"), raidMember("l1.img") + fmt.Sprintf("[[disk.raid]]\nname = \"r1\"\nlevel = 1\nmembers = [\"l0.img:data\", \"l1.img:data\"]\n[[disk.lvm]]\nvg = \"vg0\"\npvs = [\"r1\"]\nlvs = [{ name = \"root\", size = \"rest\", fs = \"ext4\", tree = %q }]\n", tree)},
			check: lvmConf + "mdadm --assemble /dev/md/r1 /dev/vda1 /dev/vdb1\nlvm vgchange --config \"$C\" -ay vg0\nmount -o ro /dev/vg0/root /mnt\n",
			tools: []string{"/usr/sbin/mdadm", "/usr/sbin/lvm"}, mods: []string{"md-mod", "raid1", "dm-mod"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for i, spec := range c.specs {
				file := filepath.Join(n.dir, c.name+strconv.Itoa(i)+".toml")
				os.WriteFile(file, []byte(spec), 0o644)
				if code, out := n.run("disk", "create", "-c", file); code != 0 {
					t.Fatalf("disk create -c %s as nobody: exit %d\n%s", file, code, out)
				}
			}
			for _, d := range c.disks {
				membersAsBlkid(t, filepath.Join(n.dir, d))
			}
			script := filepath.Join(t.TempDir(), "check.sh")
			os.WriteFile(script, []byte("set -e\nmkdir -p /mnt\n"+c.check+"cat /mnt/etc/msg\n"), 0o755)
			args := []string{"exec", "--kernel", Kernel(t).Image, "--workdir-limit", "0", "--module", strings.Join(c.mods, ","), "--add", key + ":/key", "--add", script + ":/check.sh"}
			for _, d := range c.disks {
				args = append(args, "--disk", filepath.Join(n.dir, d)+":ro")
			}
			for _, tool := range c.tools {
				args = append(args, "--add", tool)
			}
			code, out := initkitRun(t, append(args, "--", "/bin/sh", "/check.sh")...)
			if code != 0 || !strings.Contains(out, "from-the-tree") {
				t.Errorf("opening the volume in a VM: exit %d\n%s", code, out)
			}
		})
	}
}

// membersAsBlkid checks that disk ls --json reports each partition as
// blkid -p does: type, UUID, label, and UUID_SUB for md members.
func membersAsBlkid(t *testing.T, img string) {
	t.Helper()
	code, out := initkitRun(t, "disk", "ls", "--json", img)
	if code != 0 {
		t.Fatalf("disk ls: exit %d\n%s", code, out)
	}
	var l probe.Listing
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, e := range l.Partitions {
		b, err := exec.Command("blkid", "-p", "-o", "export", "-O", strconv.FormatInt(e.Start, 10), img).Output()
		if err != nil {
			t.Fatalf("blkid %s at %d: %v", img, e.Start, err)
		}
		got := map[string]string{}
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, "="); ok {
				got[k] = v
			}
		}
		if got["TYPE"] != e.Type || got["UUID"] != e.UUID || got["LABEL"] != e.Label || got["UUID_SUB"] != e.SubUUID {
			t.Errorf("%s partition %d: blkid %v; disk ls %+v", img, e.Number, got, e)
		}
	}
}

// TestExecDiskMkfs: exec --disk runs mkfs.xfs on the attached file as
// root inside the VM; disk ls on the host then sees the xfs.
func TestExecDiskMkfs(t *testing.T) {
	t.Parallel()
	img := filepath.Join(t.TempDir(), "x.img")
	os.WriteFile(img, nil, 0o644)
	os.Truncate(img, 320<<20)
	code, out := initkitRun(t, "exec", "--kernel", Kernel(t).Image, "--disk", img, "--", "/usr/sbin/mkfs.xfs", "-q", "-L", "fromvm", "/dev/vda")
	if code != 0 {
		t.Fatalf("exec --disk: exit %d\n%s", code, out)
	}
	l, err := probe.List(img)
	if err != nil {
		t.Fatal(err)
	}
	if e := l.Partitions[0]; e.Type != "xfs" || e.Label != "fromvm" {
		t.Errorf("disk ls after mkfs.xfs in the VM: %+v", e)
	}
}

// TestDiskDebian: disk debian with --ssh-key makes a Debian root disk
// that boots with no initramfs; ssh to the forwarded port runs uname -r,
// which prints the kernel's release.
func TestDiskDebian(t *testing.T) {
	t.Parallel()
	u := asUser(t, "initkit-test", "initkit-test")
	key := filepath.Join(u.dir, "key")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	os.Chmod(key+".pub", 0o644)
	// The key where a user keeps it: in a directory only its owner may
	// enter (mmdebstrap's hooks, a subordinate uid, may not).
	private := filepath.Join(u.dir, "private")
	os.Mkdir(private, 0o700)
	os.Rename(key+".pub", filepath.Join(private, "key.pub"))
	exec.Command("chown", "-R", "initkit-test", private).Run()
	// A private TMPDIR too, as under a home of mode 0700: the hooks' files
	// go where they can reach them.
	u.env = append(u.env, "TMPDIR="+private)
	img := filepath.Join(u.dir, "debian.img")
	lists := func() string {
		ents, _ := os.ReadDir("/var/lib/apt/lists")
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return strings.Join(names, " ")
	}
	before := lists()
	if code, out := u.run("disk", "debian", img, "--ssh-key", filepath.Join(private, "key.pub")); code != 0 {
		t.Fatalf("disk debian as initkit-test: exit %d\n%s", code, out)
	}
	// mmdebstrap's cleanup runs apt-get with the apt.conf it keeps in the
	// tree's /tmp: a hook that empties /tmp makes it clean the host's lists.
	if after := lists(); after != before {
		t.Errorf("the host's apt lists changed: %q, then %q", before, after)
	}
	for _, f := range []string{"/etc/apt/apt.conf.d/00mmdebstrap", "/etc/machine-id"} {
		var b bytes.Buffer
		err := disk.Cat(context.Background(), img, "root", f, &b)
		if f == "/etc/machine-id" && (err != nil || b.Len() != 0) || f != "/etc/machine-id" && err == nil {
			t.Errorf("%s in the image: %q, %v", f, b.String(), err)
		}
	}
	for _, dir := range []string{"/var/tmp", private, u.dir} {
		if ents, _ := filepath.Glob(filepath.Join(dir, "*initkit-debian-*")); len(ents) > 0 {
			t.Errorf("left behind: %v", ents)
		}
	}
	port := freePort(t)
	boot := u.command("boot", "--disk", img, "--root", "root", "--append", "rw", "--ssh-port", strconv.Itoa(port), "--timeout", "300s")
	var console strings.Builder
	boot.Stdout, boot.Stderr = &console, &console
	if err := boot.Start(); err != nil {
		t.Fatal(err)
	}
	defer boot.Wait()
	defer boot.Process.Kill()
	for end := time.Now().Add(240 * time.Second); ; time.Sleep(2 * time.Second) {
		out, err := exec.Command("ssh", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
			"-o", "ConnectTimeout=5", "-i", key, "-p", strconv.Itoa(port), "root@127.0.0.1", "uname", "-r").Output()
		if err == nil {
			if got := strings.TrimSpace(string(out)); got != Kernel(t).Release {
				t.Errorf("uname -r over ssh: %q, want %q", got, Kernel(t).Release)
			}
			return
		}
		if time.Now().After(end) {
			t.Fatalf("no ssh into the Debian disk after 240 s:\n%s", console.String())
		}
	}
}

// freePort is a TCP port on 127.0.0.1 that nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestDiskCreateInterrupted: SIGTERM while the VM makes a RAID1 over an
// existing member and the new disk: initkit exits 143, stops the VM, and
// leaves the member as it was, no new disk, and no temporary file.
func TestDiskCreateInterrupted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	member := "[disk]\noutput = \"m.img\"\nsize = \"96M\"\n[[disk.partition]]\nname = \"data\"\ntype = \"raid\"\n"
	os.WriteFile(filepath.Join(dir, "m.toml"), []byte(member), 0o644)
	os.WriteFile(filepath.Join(dir, "n.toml"), []byte(strings.Replace(member, "m.img", "n.img", 1)+
		"[[disk.raid]]\nname = \"r1\"\nlevel = 1\nmembers = [\"m.img:data\", \"n.img:data\"]\nfs = \"ext4\"\n"), 0o644)
	if code, out := initkitRun(t, "disk", "create", "-c", filepath.Join(dir, "m.toml")); code != 0 {
		t.Fatalf("member: exit %d\n%s", code, out)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "m.img"))
	cmd := exec.Command(initkitBinary(t), "disk", "create", "-c", filepath.Join(dir, "n.toml"), "--kernel", Kernel(t).Image)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(60 * time.Second); !qemuRunning(dir); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(end) {
			cmd.Process.Kill()
			t.Fatalf("the VM never started:\n%s", out.String())
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	if got := exitStatus(err); got != 128+int(syscall.SIGTERM) {
		t.Errorf("exit %d, want 143:\n%s", got, out.String())
	}
	if qemuRunning(dir) {
		t.Error("QEMU still running")
	}
	after, _ := os.ReadFile(filepath.Join(dir, "m.img"))
	if !bytes.Equal(before, after) {
		t.Error("the member disk changed")
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "m.img m.toml n.toml" {
		t.Errorf("left in the directory: %v", names)
	}
}

// TestProbeMDVersions: md members of every superblock version mdadm
// writes (0.90 and 1.0 at the end, 1.1 at the start, 1.2 at 4 KiB) and
// an LVM2 PV on a whole disk, made in a VM by the real tools: disk ls
// reports each as blkid does.
func TestProbeMDVersions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var args, files []string
	for i := 0; i < 9; i++ {
		f := filepath.Join(dir, fmt.Sprintf("d%d.img", i))
		os.WriteFile(f, nil, 0o644)
		os.Truncate(f, 32<<20)
		files = append(files, f)
		args = append(args, "--disk", f)
	}
	script := filepath.Join(dir, "make.sh")
	os.WriteFile(script, []byte(`set -e
n=0
for v in 0.90 1.0 1.1 1.2; do
  a=/dev/vd$(echo abcdefgh | cut -c$((n*2+1))); b=/dev/vd$(echo abcdefgh | cut -c$((n*2+2)))
  mdadm --create /dev/md$n --run --assume-clean --level=1 --raid-devices=2 --metadata=$v $a $b 2>/dev/null
  mdadm --stop /dev/md$n 2>/dev/null
  n=$((n+1))
done
lvm pvcreate --config 'devices { obtain_device_list_from_udev=0 }' -q /dev/vdi >/dev/null
lvm vgcreate --config 'devices { obtain_device_list_from_udev=0 }' -q probevg /dev/vdi >/dev/null
`), 0o755)
	code, out := initkitRun(t, append(append([]string{"exec", "--kernel", Kernel(t).Image, "--workdir-limit", "0", "--module", "md-mod,raid1,dm-mod",
		"--add", "/usr/sbin/mdadm", "--add", "/usr/sbin/lvm", "--add", script + ":/make.sh"}, args...), "--", "/bin/sh", "/make.sh")...)
	if code != 0 {
		t.Fatalf("making the members: exit %d\n%s", code, out)
	}
	for _, f := range files {
		membersAsBlkid(t, f)
	}
	l, err := probe.List(files[8])
	if err != nil || l.Partitions[0].Type != "LVM2_member" || l.Partitions[0].Volume != "probevg" {
		t.Errorf("the PV: %+v, %v", l, err)
	}
}

// TestDiskDebianWithoutSubuids: nobody has no subordinate ids, which
// mmdebstrap's unshare mode needs: disk debian says so and what to do,
// at once, and leaves nothing.
func TestDiskDebianWithoutSubuids(t *testing.T) {
	n := asNobody(t)
	code, out := n.run("disk", "debian", "d.img")
	if code == 0 || !strings.Contains(out, "/etc/subuid") || !strings.Contains(out, "usermod --add-subuids") {
		t.Errorf("exit %d:\n%s", code, out)
	}
	if ents, _ := os.ReadDir(n.dir); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
}

// TestDiskCopyAsNobody: disk create, cp, cat, ls and copy-out as a normal user, whose
// PATH has no /usr/sbin, where sfdisk, mke2fs, debugfs and mkfs.vfat are.
func TestDiskCopyAsNobody(t *testing.T) {
	t.Parallel()
	n := asNobody(t)
	os.WriteFile(filepath.Join(n.dir, "note"), []byte("copied-by-nobody\n"), 0o644)
	if code, out := n.run("disk", "create", "d.img", "--size", "64M", "--part", "esp:16M:vfat", "--part", "root:rest:ext4"); code != 0 {
		t.Fatalf("disk create: exit %d\n%s", code, out)
	}
	for _, part := range []string{"esp", "root"} {
		if code, out := n.run("disk", "cp", "d.img:"+part, "note", "/note"); code != 0 {
			t.Fatalf("disk cp %s: exit %d\n%s", part, code, out)
		}
		if code, out := n.run("disk", "cat", "d.img:"+part, "/note"); code != 0 || out != "copied-by-nobody\n" {
			t.Errorf("disk cat %s: exit %d\n%s", part, code, out)
		}
		if code, out := n.run("disk", "ls", "d.img:"+part, "/"); code != 0 || !strings.Contains(out, " note\n") {
			t.Errorf("disk ls %s: exit %d\n%s", part, code, out)
		}
		if code, out := n.run("disk", "copy-out", "d.img:"+part, "/note", "out-"+part); code != 0 {
			t.Errorf("disk copy-out %s: exit %d\n%s", part, code, out)
		} else if b, err := os.ReadFile(filepath.Join(n.dir, "out-"+part, "note")); err != nil || string(b) != "copied-by-nobody\n" {
			t.Errorf("disk copy-out %s: %q, %v", part, b, err)
		}
	}
}
