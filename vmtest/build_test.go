package vmtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/initkit/initkit/internal/syncbuf"
	"github.com/initkit/initkit/internal/testenv"
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

// TestCachedPiecesBoot: an image written from cached pieces (the second
// build of the same spec, every piece reused, as --explain says) is the
// first build's, and boots the cloud kernel: every piece unpacks, for
// each compressor the cache serves.
func TestCachedPiecesBoot(t *testing.T) {
	t.Parallel()
	for _, f := range []string{"zstd", "xz", "gzip"} {
		t.Run(f, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			out := filepath.Join(dir, "initrd.img")
			args := []string{"build", "-o", out, "--compress", f, "--split", "1M", "--init", "shell", "--busybox", Busybox(t),
				"--add", "/usr/sbin/cryptsetup", "--add", "/usr/sbin/mke2fs", "--explain"}
			run := func() (string, []byte) {
				cmd := exec.Command(initkitBinary(t), args...)
				cmd.Env = append(os.Environ(), "INITKIT_CACHE="+filepath.Join(dir, "cache"))
				b, err := cmd.Output()
				if err != nil {
					t.Fatalf("initkit build: %v\n%s", err, b)
				}
				img, _ := os.ReadFile(out)
				return string(b), img
			}
			_, first := run()
			explain, second := run()
			pieces := regexp.MustCompile(`(?m)^piece \d+/(\d+), .*: (\w+)`).FindAllStringSubmatch(explain, -1)
			if len(pieces) < 3 {
				t.Fatalf("%d pieces, want 3 at least:\n%s", len(pieces), explain)
			}
			for _, p := range pieces {
				if p[2] != "reused" {
					t.Errorf("a piece of the second build was %s:\n%s", p[2], explain)
				}
			}
			if !bytes.Equal(first, second) {
				t.Error("the image from cached pieces differs from the first build's")
			}
			s := Start(t, out, "rd.break")
			s.Expect(`starting a rescue shell`, 2*time.Minute)
			s.Send("cryptsetup --version; /usr/sbin/mke2fs -V 2>&1; echo DONE-$((1+1)); poweroff -f\n")
			s.Expect(`cryptsetup 2\.[0-9.]+`, 30*time.Second)
			s.Expect(`mke2fs 1\.[0-9.]+`, 30*time.Second)
			s.Expect(`DONE-2`, 30*time.Second)
			s.Wait(time.Minute)
		})
	}
}

// TestBootWatch: boot --watch boots the spec's image, and after its
// init script changes boots the new one; a deleted input is an error
// naming it, and the watch goes on; a kernel replaced (a make in its
// tree) boots again; Ctrl-C ends it with no QEMU left.
func TestBootWatch(t *testing.T) {
	t.Parallel()
	k := Kernel(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "init.sh")
	write := func(v string) {
		os.WriteFile(script, []byte("#!/bin/busybox sh\n/bin/busybox echo watch-marker-$((40+"+v+"))\n/bin/busybox poweroff -f\n"), 0o755)
	}
	write("1")
	spec := filepath.Join(dir, "initkit.toml")
	os.WriteFile(spec, []byte(fmt.Sprintf("[image]\ninit = %q\nbusybox = %q\napplets = [\"sh\", \"echo\", \"poweroff\"]\n", script, Busybox(t))), 0o644)
	tag := "initkit.watchtest=" + filepath.Base(dir)
	// A kernel of the test's own, as a build tree's: a make replaces it.
	kernelCopy := filepath.Join(dir, "bzImage")
	if out, err := exec.Command("cp", k.Image, kernelCopy).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	cmd := exec.Command(initkitBinary(t), "boot", "-c", spec, "--kernel", kernelCopy, "--watch", "--append", tag, "--timeout", "3m")
	cmd.Env = append(os.Environ(), "INITKIT_CACHE="+filepath.Join(dir, "cache"))
	var out syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	expectN := func(re string, n int, d time.Duration) {
		t.Helper()
		r := regexp.MustCompile(re)
		for end := time.Now().Add(d); len(r.FindAllString(out.String(), -1)) < n; time.Sleep(200 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("no %d of %s within %v:\n%s", n, re, d, testenv.LastLines(out.String(), 30))
			}
		}
	}
	expect := func(re string, d time.Duration) { t.Helper(); expectN(re, 1, d) }
	expect(`watch-marker-41`, 3*time.Minute)
	expect(`watching \d+ inputs`, time.Minute)
	write("2")
	expect(`watch-marker-42`, 3*time.Minute)
	expectN(`watching \d+ inputs`, 2, time.Minute) // the second build's
	os.Remove(script)
	expect(`initkit boot: .*init\.sh.*no such file`, time.Minute)
	write("3")
	expect(`watch-marker-43`, 3*time.Minute)
	expectN(`watching \d+ inputs`, 4, time.Minute) // after the error, and after the third build
	// The kernel replaced, as make replaces it: the same image boots again.
	if out, err := exec.Command("sh", "-c", "cp "+k.Image+" "+kernelCopy+".new && mv "+kernelCopy+".new "+kernelCopy).CombinedOutput(); err != nil {
		t.Fatalf("replace the kernel: %v: %s", err, out)
	}
	expect(`changed: .*bzImage`, time.Minute)
	expectN(`watch-marker-43`, 2, 3*time.Minute)
	expectN(`watching \d+ inputs`, 5, time.Minute)
	// Ctrl-C while a guest runs.
	write("4")
	expectN(`image built in`, 5, time.Minute)
	cmd.Process.Signal(os.Interrupt)
	if code := exitStatus(cmd.Wait()); code != 130 {
		t.Errorf("Ctrl-C: exit %d, want 130 (128+SIGINT)\n%s", code, testenv.LastLines(out.String(), 10))
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, _ := os.ReadFile(p); bytes.Contains(b, []byte("qemu-system")) && bytes.Contains(b, []byte(tag)) {
			t.Errorf("a QEMU is left behind: %s", p)
		}
	}
}
