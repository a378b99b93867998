package vmtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/initkit/initkit/guest"
)

// earlyDisk makes a GPT disk with an early-userspace partition (the
// initkit init, busybox, a hook at every stage and a failing one that
// fails when the command line says failhook, and the rescue label's
// busybox init as /sbin/init) and a root whose init prints what /boot
// holds.
func earlyDisk(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	var files []string
	for i, s := range guest.Stages {
		hook := filepath.Join(dir, fmt.Sprintf("hook%d", i))
		os.WriteFile(hook, []byte("#!/bin/sh\necho \"HOOK $INITKIT_STAGE root=$INITKIT_ROOT dev=$INITKIT_ROOT_DEVICE\"\n"), 0o755)
		files = append(files, fmt.Sprintf("%q", fmt.Sprintf("%s:%s/%02d-stage", hook, guest.HookDir, s.First+5)))
	}
	fail := filepath.Join(dir, "fail")
	os.WriteFile(fail, []byte("#!/bin/sh\ngrep -q failhook /proc/cmdline && exit 3\nexit 0\n"), 0o755)
	files = append(files, fmt.Sprintf("%q", fail+":"+guest.HookDir+"/66-fail"))
	spec := filepath.Join(dir, "early.toml")
	os.WriteFile(spec, []byte(fmt.Sprintf("[image]\nbusybox = %q\nrescue = true\nfiles = [%s]\n", Busybox(t), strings.Join(files, ", "))), 0o644)
	root := RootTree(t, "unused")
	os.MkdirAll(filepath.Join(root, "boot"), 0o755)
	os.WriteFile(filepath.Join(root, "sbin", "init"), []byte("#!/bin/busybox sh\n/bin/busybox echo \"REAL-INIT pid $$ boot: $(/bin/busybox ls /boot/init.d | /bin/busybox tr '\\n' ' ')\"\n/bin/busybox poweroff -f\n"), 0o755)
	img := filepath.Join(dir, "early.img")
	disk := fmt.Sprintf("[disk]\noutput = %q\nsize = \"192M\"\n[[disk.partition]]\nname = \"early\"\nsize = \"64M\"\nspec = %q\n[[disk.partition]]\nname = \"root\"\ntree = %q\n", img, spec, root)
	os.WriteFile(filepath.Join(dir, "disk.toml"), []byte(disk), 0o644)
	if code, out := initkitRun(t, "disk", "create", "-c", filepath.Join(dir, "disk.toml")); code != 0 {
		t.Fatalf("disk create: exit %d\n%s", code, out)
	}
	return img
}

// TestEarlyUserspaceOnDisk: the initkit init on a disk partition, booted
// with no initramfs (root= the early partition, initkit.root= the real
// one), runs every stage's hook in order with the stage and the root in
// their environment, and pivot_roots: the real init finds the early
// filesystem, hooks and all, at /boot.
func TestEarlyUserspaceOnDisk(t *testing.T) {
	t.Parallel()
	img := earlyDisk(t)
	args := []string{"boot", "--kernel", Kernel(t).Image, "--disk", img, "--root", "early", "--init", "/init",
		"--append", guest.KeyRoot + "=PARTLABEL=root", "--timeout", "120s"}
	for _, s := range guest.Stages {
		args = append(args, "--expect", "HOOK "+s.Name+" root=PARTLABEL=root")
	}
	args = append(args, "--expect", `REAL-INIT pid 1 boot: 05-stage 25-stage 45-stage 65-stage 66-fail 85-stage`)
	if code, out := initkitRun(t, args...); code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

// TestEarlyHookFailsAndBreak: a failing hook stops the boot in the rescue
// shell, naming itself; rd.break=STAGE stops at that stage.
func TestEarlyHookFailsAndBreak(t *testing.T) {
	t.Parallel()
	img := earlyDisk(t)
	for append, want := range map[string]string{
		"failhook":           `hook /init.d/66-fail \(stage mount\) failed: exit 3`,
		"rd.break=pre-mount": `rd.break=pre-mount: stopped as asked`,
	} {
		code, out := initkitRun(t, "boot", "--kernel", Kernel(t).Image, "--disk", img, "--root", "early", "--init", "/init",
			"--append", guest.KeyRoot+"=PARTLABEL=root "+append, "--timeout", "120s", "--expect", want, "--expect", "rescue shell")
		if code != 0 {
			t.Errorf("%s: exit %d\n%s", append, code, out)
		}
		if strings.Contains(out, "REAL-INIT") {
			t.Errorf("%s: the real init ran:\n%s", append, out)
		}
	}
}

// TestNetworkDHCP: an image built with --network (the kernel's Ethernet
// drivers, loaded when their device is there) and ip=dhcp under QEMU's
// user networking: the init brings eth0 up with udhcpc before the root is
// looked for, and the pre-mount hooks see the address QEMU gave.
func TestNetworkDHCP(t *testing.T) {
	t.Parallel()
	networkDHCP(t, Kernel(t).Image)
}

// networkDHCP: an image built --network for kernel gets its address by
// DHCP from QEMU's user network, and hooks see it.
func networkDHCP(t *testing.T, kernel string) {
	dir := t.TempDir()
	hook := filepath.Join(dir, "net")
	os.WriteFile(hook, []byte("#!/bin/sh\necho \"HOOK ip=$INITKIT_IP iface=$INITKIT_IFACE $(cat /run/resolv.conf)\"\n"), 0o755)
	img := filepath.Join(dir, "net.img")
	if code, out := initkitRun(t, "build", "--kernel", kernel, "--busybox", Busybox(t), "--network", "--add", hook+":"+guest.HookDir+"/45-net", "-o", img); code != 0 {
		t.Fatalf("build: exit %d\n%s", code, out)
	}
	code, out := initkitRun(t, "boot", "--kernel", kernel, "--initrd", img, "--net", "user", "--append", "ip=dhcp root=LABEL=none initkit.timeout=1",
		"--timeout", "120s", "--expect", `initkit: network: 10\.0\.2\.15 on eth0`, "--expect", `HOOK ip=10\.0\.2\.15 iface=eth0 nameserver 10\.0\.2\.3`)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

// TestVolumeRoots: an initramfs with --storage lvm,md finds roots on an
// LVM logical volume, on LVM over RAID1 across two disk files, and on a
// RAID1 with one of its two disks left out (started degraded after half
// the timeout, said on the console), all made by disk create; a stale LV
// name ends in the rescue shell, listing what the init found.
func TestVolumeRoots(t *testing.T) {
	t.Parallel()
	volumeRoots(t, Kernel(t).Image)
}

// volumeRoots: disk create makes LVM, RAID1 and LVM on RAID1 in a VM that
// boots kernel, and an image built --storage lvm,md for kernel finds its
// root on each, a degraded array included.
func volumeRoots(t *testing.T, kernel string) {
	dir := t.TempDir()
	img := filepath.Join(dir, "storage.img")
	if code, out := initkitRun(t, "build", "--kernel", kernel, "--busybox", Busybox(t), "--storage", "lvm,md", "-o", img); code != 0 {
		t.Fatalf("build: exit %d\n%s", code, out)
	}
	root := RootTree(t, "VOLUME-ROOT")
	create := func(spec string) {
		t.Helper()
		f := filepath.Join(dir, "d.toml")
		os.WriteFile(f, []byte(spec), 0o644)
		if code, out := initkitRun(t, "disk", "create", "-c", f, "--kernel", kernel); code != 0 {
			t.Fatalf("disk create:\n%s\nexit %d\n%s", spec, code, out)
		}
	}
	member := func(name string) string {
		return fmt.Sprintf("[disk]\noutput = %q\nsize = \"96M\"\n[[disk.partition]]\nname = \"data\"\ntype = \"raid\"\n", filepath.Join(dir, name))
	}
	create(fmt.Sprintf("[disk]\noutput = %q\nsize = \"96M\"\n[[disk.partition]]\nname = \"pv\"\ntype = \"lvm\"\n[[disk.lvm]]\nvg = \"vg0\"\npvs = [%q]\nlvs = [{ name = \"root\", size = \"48M\", tree = %q }]\n",
		filepath.Join(dir, "lvm.img"), filepath.Join(dir, "lvm.img")+":pv", root))
	create(member("a0.img"))
	create(member("a1.img") + fmt.Sprintf("[[disk.raid]]\nname = \"r1\"\nlevel = 1\nmembers = [%q, %q]\n[[disk.lvm]]\nvg = \"vg1\"\npvs = [\"r1\"]\nlvs = [{ name = \"root\", size = \"rest\", tree = %q }]\n",
		filepath.Join(dir, "a0.img")+":data", filepath.Join(dir, "a1.img")+":data", root))
	create(member("b0.img"))
	const fsUUID = "5a5a5a5a-0000-4000-8000-00000000beef"
	create(member("b1.img") + fmt.Sprintf("[[disk.raid]]\nname = \"r2\"\nlevel = 1\nmembers = [%q, %q]\ntree = %q\nuuid = %q\n",
		filepath.Join(dir, "b0.img")+":data", filepath.Join(dir, "b1.img")+":data", root, fsUUID))
	for _, c := range []struct {
		name, append string
		disks        []string
		expect       []string
	}{
		{"lvm", "root=/dev/vg0/root", []string{"lvm.img"}, []string{`initkit: root /dev/dm-0 \(ext4\)`, "VOLUME-ROOT:1:"}},
		{"lvm-on-raid1", "root=/dev/mapper/vg1-root", []string{"a0.img", "a1.img"}, []string{"VOLUME-ROOT:1:"}},
		{"raid1-degraded", "root=UUID=" + fsUUID + " initkit.timeout=8", []string{"b0.img"}, []string{"md: starting arrays with members missing", "VOLUME-ROOT:1:"}},
		{"stale-lv", "root=/dev/vg0/gone initkit.timeout=3", []string{"lvm.img"}, []string{`root device /dev/vg0/gone not found after 3s`, `block devices: .*dm-0`, "rescue shell"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := []string{"boot", "--kernel", kernel, "--initrd", img, "--disk-if", "nvme", "--append", c.append, "--timeout", "120s"}
			for _, d := range c.disks {
				args = append(args, "--disk", filepath.Join(dir, d))
			}
			for _, e := range c.expect {
				args = append(args, "--expect", e)
			}
			if code, out := initkitRun(t, args...); code != 0 {
				t.Errorf("exit %d\n%s", code, out)
			}
		})
	}
}

// TestEarlyRescueLabel: the same partition booted without init= (the
// gist's second boot label) runs busybox init, which keeps a shell on the
// console; the console node the image spec lists was made in the ext4
// (no root on the host), so the kernel had a console to give it.
func TestEarlyRescueLabel(t *testing.T) {
	t.Parallel()
	img := earlyDisk(t)
	code, out := initkitRun(t, "boot", "--kernel", Kernel(t).Image, "--disk", img, "--root", "early", "--timeout", "120s",
		"--expect", "initkit rescue: busybox init", "--expect", `(^|\n)[^\n]*# `)
	if code != 0 || strings.Contains(out, "unable to open an initial console") {
		t.Errorf("exit %d\n%s", code, out)
	}
}

// TestLUKSStacks: roots on LVM on LUKS (a LUKS partition holding the
// physical volume, opened by rd.luks.uuid before the group activates)
// and on LUKS on LVM (the logical volume is the LUKS container root=
// names), both made by disk create and unlocked with a key file.
func TestLUKSStacks(t *testing.T) {
	t.Parallel()
	luksStacks(t, Kernel(t).Image)
}

// luksStacks: disk create makes LVM on LUKS and LUKS on LVM in a VM that
// boots kernel, and an image built --storage lvm,luks for kernel unlocks
// each with its key file and mounts the root.
func luksStacks(t *testing.T, kernel string) {
	dir := t.TempDir()
	key := filepath.Join(dir, "root.key")
	os.WriteFile(key, []byte("stacked-secret"), 0o600)
	img := filepath.Join(dir, "storage.img")
	if code, out := initkitRun(t, "build", "--kernel", kernel, "--busybox", Busybox(t), "--storage", "lvm,luks", "--add", key+":/etc/root.key", "-o", img); code != 0 {
		t.Fatalf("build: exit %d\n%s", code, out)
	}
	root := RootTree(t, "STACKED-ROOT")
	const pvLUKS = "0b0b0b0b-1111-4222-8333-444455556666"
	specs := map[string]string{
		"lvm-on-luks": fmt.Sprintf("[disk]\noutput = %q\nsize = \"128M\"\n[[disk.partition]]\nname = \"crypt\"\ntype = \"luks\"\nluks = { keyfile = %q, uuid = %q }\n"+
			"[[disk.lvm]]\nvg = \"cvg\"\npvs = [%q]\nlvs = [{ name = \"root\", size = \"rest\", tree = %q }]\n",
			filepath.Join(dir, "lvm-on-luks.img"), key, pvLUKS, filepath.Join(dir, "lvm-on-luks.img")+":crypt", root),
		"luks-on-lvm": fmt.Sprintf("[disk]\noutput = %q\nsize = \"128M\"\n[[disk.partition]]\nname = \"pv\"\ntype = \"lvm\"\n"+
			"[[disk.lvm]]\nvg = \"lvg\"\npvs = [%q]\nlvs = [{ name = \"root\", size = \"rest\", tree = %q, luks = { keyfile = %q } }]\n",
			filepath.Join(dir, "luks-on-lvm.img"), filepath.Join(dir, "luks-on-lvm.img")+":pv", root, key),
	}
	for name, append := range map[string]string{
		"lvm-on-luks": "root=/dev/cvg/root rd.luks.uuid=" + pvLUKS + " rd.luks.key=/etc/root.key",
		"luks-on-lvm": "root=/dev/lvg/root rd.luks.key=/etc/root.key",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := filepath.Join(dir, name+".toml")
			os.WriteFile(f, []byte(specs[name]), 0o644)
			if code, out := initkitRun(t, "disk", "create", "-c", f, "--kernel", kernel); code != 0 {
				t.Fatalf("disk create:\n%s\nexit %d\n%s", specs[name], code, out)
			}
			code, out := initkitRun(t, "boot", "--kernel", kernel, "--initrd", img, "--disk-if", "nvme", "--disk", filepath.Join(dir, name+".img"),
				"--append", append, "--timeout", "180s", "--expect", `initkit: root /dev/dm-\d \(ext4\)`, "--expect", "STACKED-ROOT:1:")
			if code != 0 {
				t.Errorf("exit %d\n%s", code, out)
			}
		})
	}
}

// TestEarlyLVMRoot: early userspace on a partition (mounted read-only by
// the kernel) finds a root on LVM: lvm writes under the init's own /run,
// not the read-only /etc/lvm of the partition, and the root mounts.
func TestEarlyLVMRoot(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	spec := filepath.Join(dir, "early.toml")
	os.WriteFile(spec, []byte(fmt.Sprintf("[image]\nbusybox = %q\nstorage = [\"lvm\"]\n", Busybox(t))), 0o644)
	root := RootTree(t, "LVM-EARLY-ROOT")
	img := filepath.Join(dir, "early-lvm.img")
	disk := fmt.Sprintf("[disk]\noutput = %q\nsize = \"192M\"\n[[disk.partition]]\nname = \"early\"\nsize = \"80M\"\nspec = %q\n"+
		"[[disk.partition]]\nname = \"pv\"\ntype = \"lvm\"\n[[disk.lvm]]\nvg = \"vg0\"\npvs = [%q]\nlvs = [{ name = \"root\", size = \"rest\", tree = %q }]\n",
		img, spec, img+":pv", root)
	os.WriteFile(filepath.Join(dir, "disk.toml"), []byte(disk), 0o644)
	if code, out := initkitRun(t, "disk", "create", "-c", filepath.Join(dir, "disk.toml")); code != 0 {
		t.Fatalf("disk create: exit %d\n%s", code, out)
	}
	code, out := initkitRun(t, "boot", "--kernel", Kernel(t).Image, "--disk", img, "--root", "early", "--init", "/init",
		"--append", guest.KeyRoot+"=/dev/vg0/root initkit.timeout=60", "--timeout", "180s", "--fail", "waiting for /dev/vg0/root", "--fail", "Failed to create LVM2",
		"--expect", `initkit: root /dev/dm-0 \(ext4\)`, "--expect", "LVM-EARLY-ROOT:1:")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
}
