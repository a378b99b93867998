package vmtest

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildImage runs initkit build with args and returns the image path.
func buildImage(t *testing.T, args ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "initrd.img")
	cmd := exec.Command(initkitBinary(t), append([]string{"build", "-o", out}, args...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("initkit build: %v\n%s", err, b)
	}
	return out
}

// TestBuildBootsWithModulesAndCryptsetup: an image with busybox,
// cryptsetup and the virtio and dm-crypt modules boots the cloud kernel;
// the generated init loads the modules (rd.break stops it in the rescue
// shell, where the test looks) and cryptsetup runs from the image.
func TestBuildBootsWithModulesAndCryptsetup(t *testing.T) {
	t.Parallel()
	k := Kernel(t)
	img := buildImage(t, "--init", "shell", "--busybox", Busybox(t), "--add", "/usr/sbin/cryptsetup",
		"--module", "virtio_pci", "--module", "virtio_blk", "--module", "dm-crypt", "--modules-dir", k.ModulesDir)
	s := Start(t, img, "rd.break")
	s.Expect(`initkit: rd.break: stopped before mounting the root`, 2*time.Minute)
	s.Expect(`starting a rescue shell`, 10*time.Second)
	// Markers are computed by the shell, so that the echo of the typed
	// line cannot match them.
	s.Send("echo MODS-$((1+1)); cut -d' ' -f1 /proc/modules | sort | tr '\\n' ' '; echo END-$((1+1)); cryptsetup --version; poweroff -f\n")
	mods := s.Expect(`(?s)MODS-2\n.*END-2`, 30*time.Second)
	loaded := map[string]bool{}
	for _, m := range strings.Fields(mods) {
		loaded[m] = true
	}
	for _, m := range []string{"virtio_pci", "virtio_blk", "dm_crypt", "dm_mod", "xts", "virtio_ring"} {
		if !loaded[m] {
			t.Errorf("%s not loaded; /proc/modules: %s", m, mods)
		}
	}
	s.Expect(`cryptsetup 2\.[0-9.]+`, 30*time.Second)
	log := s.Wait(time.Minute)
	if strings.Contains(log, "Attempted to kill init") {
		t.Fatalf("init died:\n%s", log)
	}
}

// TestShellInitRescuesAMissingRoot: with a root that never appears, the
// generated init names it, lists the block devices, and starts a shell
// that answers; PID 1 never exits.
func TestShellInitRescuesAMissingRoot(t *testing.T) {
	t.Parallel()
	img := buildImage(t, "--init", "shell", "--busybox", Busybox(t))
	s := Start(t, img, "root=UUID=0000-not-there")
	s.Expect(`root device UUID=0000-not-there not found`, 2*time.Minute)
	s.Expect(`starting a rescue shell`, 10*time.Second)
	s.Send("echo answer-$((6*7)); exit\n")
	s.Expect(`answer-42`, 30*time.Second)
	s.Expect(`rescue shell exited; starting another`, 30*time.Second)
	s.Send("poweroff -f\n")
	if log := s.Wait(time.Minute); strings.Contains(log, "Attempted to kill init") {
		t.Fatalf("init died:\n%s", log)
	}
}

// TestShellInitMountsRoot: the generated init finds an ext4 root on NVMe
// by UUID and by path, mounts it and switches to its /sbin/init, which
// runs as PID 1. The image links only the applets the init runs (and
// true): the list build keeps for the shell init is enough.
func TestShellInitMountsRoot(t *testing.T) {
	t.Parallel()
	img := buildImage(t, "--init", "shell", "--busybox", Busybox(t), "--applets", "true")
	disk := Ext4Image(t, RootTree(t, "real-root"), "32M", "-U", "5b0f9c9e-8a9c-4f5e-9d1e-0123456789ab")
	for _, root := range []string{"UUID=5b0f9c9e-8a9c-4f5e-9d1e-0123456789ab", "/dev/nvme0n1"} {
		s := Start(t, img, "root="+root+" rootfstype=ext4", NVMeDisk(disk)...)
		s.Expect(`real-root:1:`, 2*time.Minute)
		if log := s.Wait(time.Minute); strings.Contains(log, "rescue shell") {
			t.Fatalf("root=%s: the init fell back to a rescue shell:\n%s", root, log)
		}
	}
}
