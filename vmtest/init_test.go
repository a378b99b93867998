package vmtest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// initImage builds an image whose /init is the initkit init, with the
// virtio modules shipped for coldplug only: nothing names them at boot,
// so a root on virtio proves that the init loads what the devices ask for.
func initImage(t *testing.T, args ...string) string {
	t.Helper()
	k := Kernel(t)
	return buildImage(t, append([]string{"--module-auto", "virtio_pci", "--module-auto", "virtio_blk",
		"--modules-dir", k.ModulesDir}, args...)...)
}

// noInitDeath fails the test if PID 1 died or a rescue shell was needed.
func bootedCleanly(t *testing.T, log string) {
	t.Helper()
	for _, bad := range []string{"Attempted to kill init", "rescue"} {
		if strings.Contains(log, bad) {
			t.Fatalf("console shows %q:\n%s", bad, log)
		}
	}
}

// TestInitFindsRoot: the initkit init finds an ext4 root on a virtio disk
// by UUID, LABEL, PARTUUID, PARTLABEL and path (the last three on a GPT
// disk with two partitions), mounts it and execs its /sbin/init as PID 1.
func TestInitFindsRoot(t *testing.T) {
	t.Parallel()
	img := initImage(t)
	const fsUUID = "0c8d3f0e-6a51-4c1e-9b7a-2f4e5d6c7b8a"
	plain := Ext4Image(t, RootTree(t, "real-root"), "32M", "-U", fsUUID, "-L", "initkit-root")
	gpt := GPTImage(t,
		Partition{Name: "decoy", UUID: "11111111-2222-4333-8444-555555555555", SizeMiB: 8, Dir: RootTree(t, "wrong-root")},
		Partition{Name: "system root", UUID: "6f1c2d3e-4b5a-4c6d-8e7f-901a2b3c4d5e", SizeMiB: 32, Dir: RootTree(t, "real-root")},
	)
	for _, c := range []struct{ name, disk, root string }{
		{"UUID", plain, "UUID=" + fsUUID},
		{"LABEL", plain, "LABEL=initkit-root"},
		{"PARTUUID", gpt, "PARTUUID=6F1C2D3E-4B5A-4C6D-8E7F-901A2B3C4D5E"},
		{"PARTLABEL", gpt, `"PARTLABEL=system root"`},
		{"path", gpt, "/dev/vda2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := Start(t, img, "root="+c.root, VirtioDisk(c.disk)...)
			s.Expect(`initkit: root /dev/vda2? \(ext4\); mounts [0-9.]+ms, .*switching to /sbin/init`, 2*time.Minute)
			// PID 1, and no signal left ignored for the real init's children.
			s.Expect(`real-root:1:\d+:SigIgn:\s+0000000000000000`, time.Minute)
			bootedCleanly(t, s.Wait(time.Minute))
		})
	}
}

// TestInitLoadsListedModules: with the virtio modules listed (--module,
// the benchmark's set-up), every module modules.alias names is loaded from
// the list, so the init opens no uevent socket and walks no bus; the root
// on virtio is found all the same.
//
// With /dev already a devtmpfs when the init starts (an /init script
// mounts it and execs the initkit init, as a kernel with DEVTMPFS_MOUNT
// would leave it), the init keeps it: mounting devtmpfs again fails with
// EBUSY, and a tmpfs in its place would hide the disk's node.
func TestInitLoadsListedModules(t *testing.T) {
	t.Parallel()
	k := Kernel(t)
	mods := []string{"--module", "virtio_pci", "--module", "virtio_blk", "--modules-dir", k.ModulesDir}
	wrapper := filepath.Join(t.TempDir(), "init")
	if err := os.WriteFile(wrapper, []byte("#!/bin/busybox sh\n/bin/busybox mount -t devtmpfs devtmpfs /dev\nexec /initkit-init\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	const fsUUID = "7d0e4f1a-2b3c-4d5e-8f60-718293a4b5c6"
	disk := Ext4Image(t, RootTree(t, "real-root"), "32M", "-U", fsUUID)
	for _, c := range []struct {
		name string
		args []string
	}{
		{"plain", nil},
		{"devtmpfs mounted", []string{"--init", wrapper, "--busybox", Busybox(t), "--applets", "sh", "--add", InitBinary(t) + ":/initkit-init"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			img := buildImage(t, append(mods, c.args...)...)
			s := Start(t, img, "root=UUID="+fsUUID+" initkit.debug", VirtioDisk(disk)...)
			s.Expect(`every module of modules.alias is listed: not listening for devices`, 2*time.Minute)
			s.Expect(`loaded virtio_pci\n`, time.Minute)
			s.Expect(`loaded virtio_blk\n`, time.Minute)
			s.Expect(`listed modules loaded`, time.Minute)
			s.Expect(`initkit: root /dev/vda \(ext4\)`, time.Minute)
			s.Expect(`real-root:1:`, time.Minute)
			bootedCleanly(t, s.Wait(time.Minute))
		})
	}
}

// TestInitUnlocksLUKS: a LUKS2 root is unlocked with a key file in the
// image, and with a passphrase typed on the console (a wrong one first),
// which is never echoed.
func TestInitUnlocksLUKS(t *testing.T) {
	t.Parallel()
	const luksUUID, fsUUID, pass = "3d5e7f90-1a2b-4c3d-8e4f-5a6b7c8d9e0f", "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", "correct-horse"
	key := filepath.Join(t.TempDir(), "root.key")
	os.WriteFile(key, []byte(pass), 0o600)
	disk := LUKSImage(t, RootTree(t, "luks-root"), luksUUID, key, "-U", fsUUID)
	common := []string{"--add", "/usr/sbin/cryptsetup", "--module", "dm_crypt"}
	// The guest's random pool is ready at once with -cpu max (RDRAND):
	// cryptsetup waits for it otherwise, a second or two under TCG.
	qemuArgs := append(VirtioDisk(disk), "-cpu", "max")
	t.Run("keyfile", func(t *testing.T) {
		t.Parallel()
		img := initImage(t, append(common, "--add", key+":/etc/root.key")...)
		s := Start(t, img, "root=UUID="+fsUUID+" rd.luks.uuid=luks-"+luksUUID+" rd.luks.key=/etc/root.key", qemuArgs...)
		s.Expect(`initkit: root /dev/dm-0 \(ext4\)`, 2*time.Minute)
		s.Expect(`luks-root:1:`, time.Minute)
		bootedCleanly(t, s.Wait(time.Minute))
	})
	t.Run("passphrase", func(t *testing.T) {
		t.Parallel()
		img := initImage(t, common...)
		s := Start(t, img, "root=UUID="+fsUUID+" rd.luks.name="+luksUUID+"=cryptroot", qemuArgs...)
		s.Expect(`Passphrase for /dev/vda \(cryptroot\): `, 2*time.Minute)
		s.Send("wrong-guess\n")
		s.Expect(`unlocking /dev/vda failed \(try 1 of 3; a passphrase from the console\)`, time.Minute)
		s.Expect(`Passphrase for /dev/vda \(cryptroot\): `, time.Minute)
		s.Send(pass + "\n")
		s.Expect(`luks-root:1:`, time.Minute)
		log := s.Wait(time.Minute)
		if strings.Contains(log, pass) || strings.Contains(log, "wrong-guess") {
			t.Errorf("a passphrase was echoed:\n%s", log)
		}
		if strings.Contains(log, "Attempted to kill init") {
			t.Fatalf("init died:\n%s", log)
		}
	})
}

// TestInitRescues: a root that never appears, an init= missing on the
// root, and rd.break each reach a rescue shell that answers; PID 1
// survives SIGTERM and the shell's exit, and never dies.
func TestInitRescues(t *testing.T) {
	t.Parallel()
	img := initImage(t, "--busybox", Busybox(t))
	disk := Ext4Image(t, RootTree(t, "real-root"), "32M", "-L", "rescue-root")
	t.Run("missing-root", func(t *testing.T) {
		t.Parallel()
		s := Start(t, img, "root=UUID=0000-not-there initkit.timeout=2", VirtioDisk(disk)...)
		s.Expect(`root device UUID=0000-not-there not found after 2s`, 2*time.Minute)
		s.Expect(`block devices: vda`, 10*time.Second)
		s.Expect(`/dev/vda ext4 UUID=[0-9a-f-]+ LABEL="rescue-root"`, 10*time.Second)
		s.Expect(`starting a rescue shell`, 10*time.Second)
		s.Send("kill -TERM 1; echo answer-$((6*7)); exit\n")
		s.Expect(`answer-42`, 30*time.Second)
		s.Expect(`the rescue shell exited; trying the boot again`, 30*time.Second)
		s.Expect(`starting a rescue shell`, time.Minute)
		s.Send("poweroff -f\n")
		if log := s.Wait(time.Minute); strings.Contains(log, "Attempted to kill init") {
			t.Fatalf("init died:\n%s", log)
		}
	})
	t.Run("missing-init", func(t *testing.T) {
		t.Parallel()
		s := Start(t, img, "root=LABEL=rescue-root init=/sbin/not-here", VirtioDisk(disk)...)
		s.Expect(`init=/sbin/not-here is missing on the root`, 2*time.Minute)
		s.Expect(`starting a rescue shell`, 10*time.Second)
		s.Send("echo answer-$((6*7)); poweroff -f\n")
		s.Expect(`answer-42`, 30*time.Second)
		if log := s.Wait(time.Minute); strings.Contains(log, "Attempted to kill init") {
			t.Fatalf("init died:\n%s", log)
		}
	})
	t.Run("rd.break", func(t *testing.T) {
		t.Parallel()
		s := Start(t, img, "root=LABEL=rescue-root rd.break", VirtioDisk(disk)...)
		s.Expect(`rd.break=pre-pivot: stopped as asked \(just before the switch to the root's init; the root is mounted at /newroot\)`, 2*time.Minute)
		s.Expect(`starting a rescue shell`, 10*time.Second)
		s.Send("echo found-$(ls /newroot/sbin); exit\n")
		s.Expect(`found-init`, 30*time.Second)
		s.Expect(`real-root:1:`, time.Minute)
		if log := s.Wait(time.Minute); strings.Contains(log, "Attempted to kill init") {
			t.Fatalf("init died:\n%s", log)
		}
	})
}

// TestInitBuiltinPrompt: an image without a shell gets the init's own
// rescue prompt, which lists the probed devices and powers off.
func TestInitBuiltinPrompt(t *testing.T) {
	t.Parallel()
	img := initImage(t)
	disk := Ext4Image(t, RootTree(t, "real-root"), "32M", "-L", "prompt-root")
	s := Start(t, img, "root=LABEL=elsewhere initkit.timeout=1", VirtioDisk(disk)...)
	s.Expect(`starting the built-in rescue prompt`, 2*time.Minute)
	s.Expect(`initkit rescue> `, 10*time.Second)
	s.Send("devices\n")
	s.Expect(`/dev/vda ext4 UUID=[0-9a-f-]+ LABEL="prompt-root"`, 30*time.Second)
	s.Send("poweroff\n")
	if log := s.Wait(time.Minute); strings.Contains(log, "Attempted to kill init") {
		t.Fatalf("init died:\n%s", log)
	}
}

// TestInitTelnetRescue: with initkit.rescue=telnet and ip=, a failed boot
// also serves a shell over the network, reached through a user-net
// forward bound to 127.0.0.1; the console warns about it.
func TestInitTelnetRescue(t *testing.T) {
	t.Parallel()
	img := initImage(t, "--busybox", Busybox(t), "--module-auto", "virtio_net")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := Start(t, img, "root=LABEL=nowhere initkit.timeout=1 initkit.rescue=telnet ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off",
		"-netdev", fmt.Sprintf("user,id=n0,hostfwd=tcp:127.0.0.1:%d-:23", port), "-device", "virtio-net-pci,netdev=n0")
	s.Expect(`WARNING: initkit.rescue=telnet: an UNAUTHENTICATED root shell listens on 10.0.2.15 port 23`, 2*time.Minute)
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	c.Write([]byte("echo tel-$((6*7))\r\n"))
	var got []byte
	buf := make([]byte, 512)
	for !strings.Contains(string(got), "tel-42") {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("telnet: %v; got %q\n%s", err, got, s.Log())
		}
	}
	s.Send("poweroff -f\n")
	if log := s.Wait(time.Minute); strings.Contains(log, "Attempted to kill init") {
		t.Fatalf("init died:\n%s", log)
	}
}

// TestStorageShipsDiskDrivers: an image meant to find its root on a disk
// (build --storage) ships the kernel's disk drivers with no --module, so a
// root on a virtio disk is found; without them the rescue shell names the
// PCI device no driver took.
func TestStorageShipsDiskDrivers(t *testing.T) {
	t.Parallel()
	k := Kernel(t)
	disk := Ext4Image(t, RootTree(t, "storage-root"), "32M", "-L", "storage-root")
	with := buildImage(t, "--storage", "lvm", "--modules-dir", k.ModulesDir)
	s := Start(t, with, "root=LABEL=storage-root", VirtioDisk(disk)...)
	s.Expect(`initkit: root /dev/vda \(ext4\)`, 2*time.Minute)
	s.Expect(`storage-root:1:`, time.Minute)
	bootedCleanly(t, s.Wait(time.Minute))

	// rd.break=pre-mount says the modules are loaded: the disks they
	// bring are there by then.
	s = Start(t, with, "root=LABEL=storage-root rd.break=pre-mount", VirtioDisk(disk)...)
	s.Expect(`rd.break=pre-mount: stopped as asked`, 2*time.Minute)
	s.Expect(`block devices: [^\n]*vda`, time.Minute)

	without := buildImage(t, "--modules-dir", k.ModulesDir, "--module", "dm-mod")
	s = Start(t, without, "root=LABEL=storage-root initkit.timeout=3", VirtioDisk(disk)...)
	s.Expect(`no driver for PCI device [0-9a-f:.]+ \(pci:v00001AF4d00001001`, 2*time.Minute)
}
