package boot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/initkit/initkit/boot"
	"github.com/initkit/initkit/image"
	"github.com/initkit/initkit/initramfs"
	"github.com/initkit/initkit/internal/jsontest"
	"github.com/initkit/initkit/internal/testenv"
	"github.com/initkit/initkit/kernel"
	"github.com/initkit/initkit/qemu"
)

// command prepares o and returns the QEMU command it would run.
func command(t *testing.T, o boot.Options) (*boot.Run, string) {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	r, err := boot.Prepare(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	args, err := r.Command()
	if err != nil {
		t.Fatal(err)
	}
	return r, strings.Join(args, " ")
}

// An image spec is built in the run's directory with the modules of the
// kernel that boots it, not the host's (uname -r).
func TestImageTakesTheKernelsModules(t *testing.T) {
	k := testenv.Kernel(t)
	t.Setenv("INITKIT_INIT", testenv.InitBinary(t))
	chosen := &kernel.Choice{Image: k.Image, ModulesDir: k.ModulesDir, Release: k.Release}
	img := &initramfs.Spec{Init: "none", Compress: "none", Modules: initramfs.Modules{Names: []string{"virtio_blk"}}}
	r, cmd := command(t, boot.Options{Chosen: chosen, Image: img})
	if !strings.Contains(cmd, "-initrd "+r.Initrd+" ") || filepath.Dir(r.Initrd) != r.Dir {
		t.Fatalf("initrd %s, command %s", r.Initrd, cmd)
	}
	f, err := os.Open(r.Initrd)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l, err := image.List(f)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range l.Entries {
		found = found || strings.HasPrefix(e.Name, "lib/modules/"+k.Release+"/") && strings.Contains(e.Name, "virtio_blk.ko")
	}
	if !found {
		t.Errorf("no virtio_blk.ko of %s in the image", k.Release)
	}
	if img.Output != "" || img.Modules.Dir != "" {
		t.Errorf("the caller's spec was changed: %+v", img)
	}
	// A kernel without modules cannot give them: the error says so.
	_, err = boot.Prepare(context.Background(), boot.Options{Chosen: &kernel.Choice{Image: k.Image, From: "--kernel"}, Image: img, Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "no modules found") {
		t.Errorf("modules without a modules directory: %v", err)
	}
}

// What a run cannot do fails before anything starts, as the run would: a
// dry run prints no command for a boot that would fail.
func TestPrepareErrors(t *testing.T) {
	k := &kernel.Choice{Image: "bzImage", From: "--kernel"}
	for _, c := range []struct {
		o    boot.Options
		want string
	}{
		{boot.Options{Add: []string{"/etc/hostname:/x"}}, "files to add need an initramfs"},
		{boot.Options{Root: "root"}, "--root names a partition of the first --disk"},
		{boot.Options{PanicOn: []string{"sneeze"}}, "--panic-on sneeze"},
		{boot.Options{Disks: []qemu.Disk{{Path: emptyFile(t, "d.img"), Interface: "scsi"}}}, `interface "scsi"`},
		{boot.Options{Kdump: true}, "give one (--initrd or --spec)"},
		// A kernel whose config lacks kexec_file_load (Debian's arm64),
		// before a boot whose crash kernel would fail to load.
		{boot.Options{Kdump: true, Initrd: emptyFile(t, "i.img"), Chosen: &kernel.Choice{Image: "Image", From: "--kernel", Config: noKexecFile(t)}},
			"kdump: kernel Image has no kexec_file_load (CONFIG_KEXEC_FILE is not set in "},
		// An initramfs that is not there, before QEMU says so.
		{boot.Options{Initrd: "/nonexistent/initrd.img"}, "initramfs: stat /nonexistent/initrd.img: no such file or directory"},
		{boot.Options{Initrd: "/"}, "initramfs /: a directory, not an image"},
		// A guest whose memory cannot hold the files it boots.
		{boot.Options{Initrd: sizedFile(t, "big.img", 3<<20), Memory: "2M"}, "memory 2M: the kernel and the initramfs alone take more ("},
		// Before the kernel is chosen or an image built.
		{boot.Options{Memory: "1G,maxmem=8G", Kernel: kernel.Request{Kernel: "/nonexistent"}}, `memory "1G,maxmem=8G"`},
		{boot.Options{Accel: "tcg,thread=multi", Kernel: kernel.Request{Kernel: "/nonexistent"}}, `accelerator "tcg,thread=multi"`},
		{boot.Options{SMP: -2, Kernel: kernel.Request{Kernel: "/nonexistent"}}, "smp -2: want 1 or more CPUs"},
		{boot.Options{Timeout: -5 * time.Second, Kernel: kernel.Request{Kernel: "/nonexistent"}}, "timeout -5s: a time limit cannot be negative"},
		{boot.Options{DumpFormat: "kdump-lzo", Kernel: kernel.Request{Kernel: "/nonexistent"}}, `dump format "kdump-lzo": want elf or kdump-zlib`},
		// A kernel for another architecture than the one asked for.
		{boot.Options{Arch: "x86_64", Chosen: &kernel.Choice{Image: "Image", From: "--kernel", Arch: "aarch64"}}, "kernel Image (from --kernel) is for aarch64, not x86_64: give --arch aarch64"},
	} {
		if c.o.Kernel.Kernel == "" && c.o.Chosen == nil {
			c.o.Chosen = k
		}
		c.o.Dir = t.TempDir()
		if _, err := boot.Prepare(context.Background(), c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.o, err, c.want)
		}
	}
}

// noKexecFile writes a kernel config without kexec_file_load.
func noKexecFile(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(p, []byte("CONFIG_KEXEC=y\n# CONFIG_KEXEC_FILE is not set\nCONFIG_CRASH_DUMP=y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The guest's architecture is the kernel's unless one is asked for, and
// x86_64 when the kernel does not say.
func TestArchFromKernel(t *testing.T) {
	for _, c := range []struct{ kernel, asked, want string }{{"aarch64", "", "aarch64"}, {"", "", "x86_64"}, {"", "aarch64", "aarch64"}, {"x86_64", "x86_64", "x86_64"}} {
		r, err := boot.Prepare(context.Background(), boot.Options{Arch: c.asked, Dir: t.TempDir(), Notes: io.Discard,
			Chosen: &kernel.Choice{Image: "Image", Arch: c.kernel}})
		if err != nil || r.Arch() != c.want {
			t.Errorf("kernel %q, asked %q: %v %v, want %s", c.kernel, c.asked, r, err, c.want)
			continue
		}
		if args, _ := r.Command(); !strings.Contains(args[0], c.want) {
			t.Errorf("kernel %q, asked %q: QEMU %s", c.kernel, c.asked, args[0])
		}
	}
}

// A boot with no initramfs at all says so: the kernel will panic unless
// one is built into it. An initramfs, or a root to mount, says nothing.
func TestNoInitramfsNote(t *testing.T) {
	k := &kernel.Choice{Image: "bzImage", From: "--kernel"}
	for _, c := range []struct {
		o    boot.Options
		note bool
	}{
		{boot.Options{}, true},
		{boot.Options{Initrd: emptyFile(t, "i.img")}, false},
	} {
		var notes bytes.Buffer
		c.o.Chosen, c.o.Dir, c.o.Notes = k, t.TempDir(), &notes
		if _, err := boot.Prepare(context.Background(), c.o); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(notes.String(), "initkit: no initramfs"); got != c.note {
			t.Errorf("%+v: notes %q, want the note: %v", c.o, notes.String(), c.note)
		}
	}
}

// A kernel whose built-in initramfs is the default one (/dev and /root,
// no init) is said to panic without a root, before it does: read from
// the Debian kernel's bzImage itself.
func TestNoInitramfsNoteReadsTheKernel(t *testing.T) {
	k := testenv.Kernel(t)
	var notes bytes.Buffer
	o := boot.Options{Chosen: &kernel.Choice{Image: k.Image, ModulesDir: k.ModulesDir, Release: k.Release}, Dir: t.TempDir(), Notes: &notes}
	if _, err := boot.Prepare(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(notes.String(), "the one built into the kernel has no /init (3 entries): without --root it panics") {
		t.Errorf("notes %q", notes.String())
	}
}

// The run's own devices: the dump's vmcoreinfo, --panic-on's command
// line, the caller's devices after them and the user's arguments last.
// The run's directory is private: it will hold the guest's memory.
func TestDevicesAndDir(t *testing.T) {
	k := &kernel.Choice{Image: "bzImage"}
	dir := filepath.Join(t.TempDir(), "run")
	a, b := emptyFile(t, "a.img"), emptyFile(t, "b.img")
	r, cmd := command(t, boot.Options{Chosen: k, Dir: dir, DumpOnTimeout: true, PanicOn: []string{"oops", "warn"}, Append: "quiet",
		Crash: true, Devices: []qemu.Device{qemu.GDBStub{Port: 4000}}, QEMUArgs: []string{"-cpu", "max"},
		Disks: []qemu.Disk{{Path: a}, {Path: b, Interface: "nvme"}}})
	for _, want := range []string{
		"-append console=ttyS0 panic=-1 no_timer_check nvme_core.io_timeout=600 oops=panic panic_on_warn=1 crashkernel=256M nokaslr quiet ",
		"-drive if=none,id=disk0,format=raw,file.driver=file,file.filename=" + a + " -device virtio-blk-pci,drive=disk0 ",
		"-device nvme,drive=disk1,serial=disk1 ",
		"-device vmcoreinfo -gdb tcp:127.0.0.1:4000 -cpu max",
	} {
		if !strings.Contains(cmd+" ", want) {
			t.Errorf("command lacks %q:\n%s", want, cmd)
		}
	}
	if st, err := os.Stat(r.Dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("run directory %s: %v %v", r.Dir, st.Mode(), err)
	}
}

// With no initramfs the kernel mounts the root by itself: the root's
// disk and every other one go on the interface whose driver it has built
// in (Debian's cloud kernel has virtio-blk as a module, NVMe built in).
func TestDirectBootDisks(t *testing.T) {
	dir := t.TempDir()
	img := rootDisk(t)
	bz := filepath.Join(dir, "vmlinuz-9.9")
	os.WriteFile(bz, nil, 0o644)
	os.WriteFile(filepath.Join(dir, "config-9.9"), []byte("CONFIG_BLK_DEV_NVME=y\nCONFIG_PCI=y\nCONFIG_VIRTIO_BLK=m\nCONFIG_EXT4_FS=y\n"), 0o644)
	k, err := kernel.Choose(context.Background(), kernel.Request{Kernel: bz})
	if err != nil {
		t.Fatal(err)
	}
	_, cmd := command(t, boot.Options{Chosen: k, Root: "root", Init: "/bin/sh", Disks: []qemu.Disk{{Path: img}, {Path: emptyFile(t, "data.img")}}})
	for _, want := range []string{"rootfstype=ext4 rootwait init=/bin/sh", "-device nvme,drive=disk0,serial=disk0 ", "-device nvme,drive=disk1,serial=disk1"} {
		if !strings.Contains(cmd+" ", want) {
			t.Errorf("command lacks %q:\n%s", want, cmd)
		}
	}
}

// sizedFile is a sparse file of size bytes.
func sizedFile(t *testing.T, name string, size int64) string {
	p := emptyFile(t, name)
	if err := os.Truncate(p, size); err != nil {
		t.Fatal(err)
	}
	return p
}

func emptyFile(t *testing.T, name string) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// boot --json: the run's end with the crash's identity, snake_case keys,
// none twice.
func TestSummaryJSON(t *testing.T) {
	crash := "[ 1.0] BUG: kernel NULL pointer dereference, address: 0000000000000000\n[ 1.0] Oops: 0002 [#1] SMP\n" +
		"[ 1.0] RIP: 0010:crash_it+0x4/0x10\n[ 1.0] Call Trace:\n[ 1.0]  <TASK>\n[ 1.0]  caller_fn+0x10/0x20\n[ 1.0]  </TASK>\n"
	res := boot.Result{Outcome: qemu.Outcome{Kind: qemu.Crashed, Line: "BUG: kernel NULL pointer dereference", Crash: crash, LogPath: "/run/console.log"}}
	res.Identity = boot.Identify(crash)
	b, err := json.Marshal(res.Summary())
	if err != nil {
		t.Fatal(err)
	}
	keys := jsontest.CheckKeys(t, b)
	for _, k := range []string{"outcome", "exit_code", "report.title", "report.guilty.func", "console_log"} {
		if !keys[k] {
			t.Errorf("no %s in %s", k, b)
		}
	}
	if s := res.Summary(); s.ExitCode != boot.ExitCrash || s.Report.Title != "BUG: unable to handle kernel NULL pointer dereference in crash_it" {
		t.Errorf("%+v", s)
	}
}

// A run whose QEMU cannot start ends as an outcome (Failed, exit 5) with
// the reason, not as an error: scripts tell it from initkit's own errors.
func TestBootCannotStart(t *testing.T) {
	log := filepath.Join(t.TempDir(), "missing", "console.log")
	r, _ := command(t, boot.Options{Chosen: &kernel.Choice{Image: emptyFile(t, "bzImage")}, Accel: "tcg", LogPath: log})
	res := r.Boot(context.Background())
	if res.Kind != qemu.Failed || res.Err == nil || !strings.Contains(res.Err.Error(), "missing") || res.ExitCode() != 5 {
		t.Fatalf("Boot = %+v, exit %d", res.Outcome, res.ExitCode())
	}
}

// A disk image given as the initramfs boots, as asked, but first a
// warning says what it is and that the kernel will not unpack it: the
// kernel's own words come only after "Unable to mount root fs".
func TestPrepareWarnsNotAnImage(t *testing.T) {
	k := testenv.Kernel(t)
	chosen := &kernel.Choice{Image: k.Image, ModulesDir: k.ModulesDir, Release: k.Release, Config: kernel.FindConfig(k.Image)}
	if chosen.Config == "" {
		t.Fatalf("no config beside %s", k.Image)
	}
	disk := filepath.Join(t.TempDir(), "disk.img")
	if out, err := exec.Command("sh", "-c", "truncate -s 8M "+disk+" && echo 'label: gpt' | sfdisk -q "+disk).CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v: %s", err, out)
	}
	r, _ := command(t, boot.Options{Chosen: chosen, Initrd: disk})
	if w := strings.Join(r.Warnings, "\n"); !strings.Contains(w, "a disk image with a GPT partition table") || !strings.Contains(w, "the kernel will not unpack it") {
		t.Errorf("warnings %q", w)
	}
}

// An image whose /init the guest cannot run is refused before QEMU
// starts: the host's init, or a script whose interpreter is the host's
// busybox, in a guest of the other architecture; the same image in a
// guest of the host's own passes. A run directory Prepare made for a run
// that never started is removed.
func TestForeignInit(t *testing.T) {
	t.Setenv("INITKIT_INIT", testenv.InitBinary(t))
	dir := t.TempDir()
	other := map[string]string{"x86_64": "aarch64", "aarch64": "x86_64"}[kernel.HostArch()]
	stub := filepath.Join(dir, "kernel")
	if err := testenv.WriteStubKernel(stub, other); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		spec initramfs.Spec
		want string
	}{
		"initkit": {initramfs.Spec{Init: "initkit"}, "the initramfs's /init is a program for x86_64"},
		"shell":   {initramfs.Spec{Init: "shell", Busybox: testenv.Busybox(t)}, "the initramfs's /init's interpreter /bin/sh is a program for x86_64"},
	} {
		img := filepath.Join(dir, name+".img")
		c.spec.Output = img
		if _, err := c.spec.Build("", 0); err != nil {
			t.Fatal(err)
		}
		t.Setenv("INITKIT_CACHE", t.TempDir())
		_, err := boot.Prepare(context.Background(), boot.Options{Kernel: kernel.Request{Kernel: stub}, Initrd: img, Notes: io.Discard})
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "the guest is "+other) {
			t.Errorf("%s in a guest for %s: %v, want %q", name, other, err, c.want)
		}
		if runs, _ := os.ReadDir(filepath.Join(os.Getenv("INITKIT_CACHE"), "runs")); len(runs) != 0 {
			t.Errorf("%s: a run that never started left %v", name, runs)
		}
		host := &kernel.Choice{Image: stub, Arch: kernel.HostArch()}
		if _, err := boot.Prepare(context.Background(), boot.Options{Chosen: host, Initrd: img, Dir: t.TempDir(), Notes: io.Discard}); err != nil {
			t.Errorf("%s in a guest of the host's own: %v", name, err)
		}
	}
}
