package vmtest

import (
	"context"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/initkit/initkit/compress"
	"github.com/initkit/initkit/internal/testenv"
	"github.com/initkit/initkit/kconfig"
	"github.com/initkit/initkit/kernel"
)

// initkitRun runs the initkit CLI and returns its exit status and output.
func initkitRun(t *testing.T, args ...string) (int, string) {
	t.Helper()
	out, err := exec.Command(initkitBinary(t), args...).CombinedOutput()
	return exitStatus(err), string(out)
}

// TestKernelConfig: initkit kernel config on the real tree with its own
// kconfig: from tinyconfig every option added comes with its reason; from
// a distribution's .config everything it has is kept and only what the
// purposes need is added.
func TestKernelConfig(t *testing.T) {
	t.Parallel()
	src := testenv.Source(t)
	obj := t.TempDir()
	code, out := initkitRun(t, "kernel", "config", src, "-O", obj, "--base", "tinyconfig", "--for", "boot,exec")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	mustMatch(t, out, `CONFIG_SERIAL_8250_CONSOLE=y \(boot\): without it, console=ttyS0 names no console`,
		`CONFIG_NET=y \(exec\): without it, no loopback`, `\.config: \d+ options added`)
	if code, out := initkitRun(t, "kernel", "check", filepath.Join(obj, ".config"), "--for", "boot,exec"); code != 0 {
		t.Errorf("check of what config made: exit %d\n%s", code, out)
	}

	distro := Kernel(t)
	cfg := filepath.Join(filepath.Dir(distro.Image), "config-"+distro.Release)
	obj2 := t.TempDir()
	if code, out := initkitRun(t, "kernel", "config", src, "-O", obj2, "--base", cfg, "--for", "debug"); code != 0 {
		t.Fatalf("from the distribution's config: exit %d\n%s", code, out)
	}
	before, _ := kconfig.Read(cfg)
	after, err := kconfig.Read(filepath.Join(obj2, ".config"))
	if err != nil {
		t.Fatal(err)
	}
	if after.Value("GDB_SCRIPTS") != "y" || after.Value("VIRTIO_BLK") != "m" || after.Value("DM_CRYPT") != before.Value("DM_CRYPT") {
		t.Errorf("GDB_SCRIPTS %s, VIRTIO_BLK %s, DM_CRYPT %s (was %s)", after.Value("GDB_SCRIPTS"), after.Value("VIRTIO_BLK"), after.Value("DM_CRYPT"), before.Value("DM_CRYPT"))
	}
}

// TestOwnKernel: linux-source-6.1 built from tinyconfig with every purpose
// (testenv.All, built once per machine by make kernels): kernel check is
// clean for them and names what kasan lacks, and what a console-less
// config lacks; the build directory is the kernel for boot, decode and
// debug kernel.
func TestOwnKernel(t *testing.T) {
	m := testenv.All.Get(t)
	obj := testenv.Obj(m)
	cfg := filepath.Join(obj, ".config")
	// Not parallel: it runs make in the build directory the others boot.
	t.Run("build on a terminal", func(t *testing.T) {
		term := OnTerminal(t, nil, initkitBinary(t), "kernel", "build", m.Source, "-O", obj)
		if err := term.Wait(10 * time.Minute); err != nil {
			t.Fatalf("%v\n%s", err, term.Output())
		}
		// One line rewritten (CR, erase to the end), not make's scroll;
		// the whole log kept in the build directory.
		out := term.Output()
		if !strings.Contains(out, "\r\x1b[K") || strings.Count(out, "\n") > 6 {
			t.Errorf("not one progress line:\n%q", out)
		}
		if b, err := os.ReadFile(filepath.Join(obj, kernel.LogName)); err != nil || !strings.Contains(string(b), "make") {
			t.Errorf("make log: %v", err)
		}
	})
	t.Run("check", func(t *testing.T) {
		t.Parallel()
		if code, out := initkitRun(t, "kernel", "check", cfg, "--for", strings.Join(testenv.All.Purposes, ",")); code != 0 || out != cfg+": nothing missing for "+strings.Join(testenv.All.Purposes, ", ")+"\n" {
			t.Errorf("%v: exit %d\n%s", testenv.All.Purposes, code, out)
		}
		code, out := initkitRun(t, "kernel", "check", cfg, "--for", "kasan")
		if code != 1 || !strings.Contains(out, "CONFIG_KASAN=y missing (kasan): out-of-bounds and use-after-free accesses go unreported") {
			t.Errorf("kasan: exit %d\n%s", code, out)
		}
		data, _ := os.ReadFile(cfg)
		bad := filepath.Join(t.TempDir(), "config")
		os.WriteFile(bad, []byte(strings.Replace(string(data), "CONFIG_SERIAL_8250_CONSOLE=y", "# CONFIG_SERIAL_8250_CONSOLE is not set", 1)), 0o644)
		code, out = initkitRun(t, "kernel", "check", bad)
		if code != 1 || !strings.Contains(out, "CONFIG_SERIAL_8250_CONSOLE=y missing (boot): console=ttyS0 names no console: nothing on the console") {
			t.Errorf("no console: exit %d\n%s", code, out)
		}
	})
	img := WriteImage(t, Segment(t, compress.Zstd, BaseFiles(t, `echo "own-kernel:$((6*7))"; echo c > /proc/sysrq-trigger`)))
	t.Run("boot and decode", func(t *testing.T) {
		t.Parallel()
		log := filepath.Join(t.TempDir(), "console.log")
		code, out := initkitRun(t, "boot", "--kernel", obj, "--initrd", img, "--timeout", "120s", "--log", log)
		if code != 3 || strings.Contains(out, "warning:") {
			t.Fatalf("exit %d, want the crash (3) and no config warning:\n%s", code, out)
		}
		b, _ := os.ReadFile(log)
		if !strings.Contains(string(b), "own-kernel:42") {
			t.Fatalf("no marker:\n%s", b)
		}
		code, out = initkitRun(t, "decode", "--no-index", "--kernel", obj, log)
		if code != 0 {
			t.Fatalf("decode: exit %d\n%s", code, out)
		}
		mustMatch(t, out, ` panic\+0x[0-9a-f]+/0x[0-9a-f]+ kernel/panic\.c:\d+`, `sysrq_handle_crash\+0x[0-9a-f]+/0x[0-9a-f]+ drivers/tty/sysrq\.c:\d+`)
	})
	t.Run("its vmlinux as the kernel", func(t *testing.T) {
		t.Parallel()
		// A tinyconfig vmlinux has no PVH entry: QEMU cannot boot it, the
		// build directory's bzImage boots instead (QEMU said "Error loading
		// uncompressed kernel without PVH ELF Note").
		code, out := initkitRun(t, "boot", "--kernel", filepath.Join(obj, "vmlinux"), "--initrd", img, "--timeout", "120s", "--log", filepath.Join(t.TempDir(), "log"))
		if code != 3 {
			t.Fatalf("exit %d, want the sysrq crash (3):\n%s", code, out)
		}
		mustMatch(t, out, `own-kernel:42`, ` panic\+0x[0-9a-f]+/0x[0-9a-f]+ kernel/panic\.c:\d+`)
	})
	t.Run("embedded config", func(t *testing.T) {
		t.Parallel()
		// The config the image carries (IKCONFIG) is the one it was built with.
		embedded, err := kernel.EmbeddedConfig(m.Image)
		if err != nil {
			t.Fatal(err)
		}
		built, _ := kconfig.Read(cfg)
		if len(embedded) != len(built) || embedded.Value("IKCONFIG") != "y" || embedded.Value("RD_XZ") != built.Value("RD_XZ") {
			t.Errorf("embedded config: %d options, built %d", len(embedded), len(built))
		}
		// Away from its build tree, the image's own copy is what boot
		// checks: nothing is missing, and it boots.
		bare := filepath.Join(t.TempDir(), "bzImage")
		data, _ := os.ReadFile(m.Image)
		os.WriteFile(bare, data, 0o644)
		k, err := kernel.Choose(context.Background(), kernel.Request{Kernel: bare})
		if err != nil {
			t.Fatal(err)
		}
		if missing, err := k.Lacks("x86_64", img); err != nil || len(missing) != 0 || !strings.HasSuffix(k.Config, "(its embedded config)") {
			t.Errorf("checked %q: missing %+v", k.Config, missing)
		}
		code, out := initkitRun(t, "boot", "--kernel", bare, "--initrd", img, "--timeout", "120s", "--log", filepath.Join(t.TempDir(), "log"))
		if code != 3 || strings.Contains(out, "warning:") || !strings.Contains(out, "own-kernel:42") {
			t.Errorf("exit %d, want the sysrq crash and no warning:\n%s", code, out)
		}
	})
	t.Run("exec", func(t *testing.T) {
		t.Parallel()
		code, out := initkitRun(t, "exec", "--kernel", obj, "--timeout", "120s", "--", "/usr/bin/uname", "-r")
		if code != 0 || !strings.Contains(out, m.Release) {
			t.Fatalf("exit %d, want the release %s:\n%s", code, m.Release, out)
		}
	})
	t.Run("debug kernel", func(t *testing.T) {
		t.Parallel()
		batch := filepath.Join(t.TempDir(), "cmds.gdb")
		os.WriteFile(batch, []byte("lx-version\ndelete\ndetach\n"), 0o644)
		code, out := initkitRun(t, "debug", "kernel", "--kernel", obj, "--initrd", img, "--break", "kernel_init", "--batch", batch, "--timeout", "120s")
		if code != 3 && code != 0 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		mustMatch(t, out, `Breakpoint 1, kernel_init \(`, `Linux version `+m.Release)
		// The tree's gdb helpers load without gdb's warning about
		// declining them.
		if strings.Contains(out, "auto-loading has been declined") {
			t.Errorf("gdb declined vmlinux-gdb.py:\n%s", out)
		}
	})
}

// TestSeedNullDereference is the "How the kernel boots" experiment with
// another function: in a git worktree of the tree, a commit puts a NULL
// dereference into run_init_process (which runs at boot, inlined into
// kernel_init); initkit kernel build rebuilds it incrementally, the boot
// ends in the crash (exit 3), and initkit decode names the injected line:
// from the bare addresses of a kernel without KALLSYMS (testenv.SeedDwarf),
// and from the func+0xoff/0xlen frames of one with it (SeedDebug). The
// worktree and its build directories stay in the cache. Before the
// commit, the kernel without EVENTFD shows the init surviving it.
func TestSeedNullDereference(t *testing.T) {
	wt, err := testenv.SeedWorktree()
	if err != nil {
		t.Fatal(err)
	}
	git := func(args ...string) {
		t.Helper()
		if err := testenv.Git(wt, args...); err != nil {
			t.Fatal(err)
		}
	}
	objs := map[string]string{"dwarf": testenv.Obj(testenv.SeedDwarf.Get(t)), "debug": testenv.Obj(testenv.SeedDebug.Get(t))}
	git("checkout", "-q", "-f", "--detach", "base")
	t.Cleanup(func() { testenv.Git(wt, "checkout", "-q", "-f", "--detach", "base") }) // after the subtests
	// At base, the dwarf kernel (no EVENTFD, which the Go runtime of the
	// initkit init needs the first time it opens a file) boots an
	// initkit image: the init names the option and gives a shell instead
	// of dying with the kernel's "Attempted to kill init!".
	t.Run("no eventfd", func(t *testing.T) {
		if code, out := initkitRun(t, "kernel", "build", wt, "-O", objs["dwarf"]); code != 0 {
			t.Fatalf("build at base: %s", out)
		}
		img := filepath.Join(t.TempDir(), "i.img")
		if code, out := initkitRun(t, "build", "--busybox", Busybox(t), "--kernel", objs["dwarf"], "-o", img); code != 0 {
			t.Fatalf("build: %s", out)
		}
		code, out := initkitRun(t, "boot", "--kernel", objs["dwarf"], "--initrd", img, "--timeout", "120s", "--fail", "Attempted to kill init",
			"--expect", `initkit: the kernel lacks CONFIG_EVENTFD, which this init`, "--expect", `initkit: starting a shell \(/bin/sh\)`)
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, out)
		}
	})
	// The commit.
	src := filepath.Join(wt, "init", "main.c")
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	const fn = "static int run_init_process(const char *init_filename)\n{\n"
	i := strings.Index(string(data), fn)
	if i < 0 {
		t.Fatal("no run_init_process in init/main.c")
	}
	at := i + len(fn)
	line := strings.Count(string(data[:at]), "\n") + 1
	os.WriteFile(src, []byte(string(data[:at])+"\t*(volatile int *)0 = 0; /* initkit test: NULL dereference */\n"+string(data[at:])), 0o644)
	git("add", "-f", "init/main.c")
	git("commit", "-q", "-m", "init: a NULL dereference in run_init_process")
	img := WriteImage(t, Segment(t, compress.Zstd, BaseFiles(t, `echo "not reached"`)))
	for purpose, obj := range objs {
		t.Run(purpose, func(t *testing.T) {
			t.Parallel()
			if code, out := initkitRun(t, "kernel", "build", wt, "-O", obj); code != 0 {
				t.Fatalf("incremental build: %s", out)
			}
			log := filepath.Join(t.TempDir(), "console.log")
			code, out := initkitRun(t, "boot", "--kernel", obj, "--initrd", img, "--timeout", "120s", "--log", log)
			if code != 3 || !strings.Contains(out, "BUG: kernel NULL pointer dereference") {
				t.Fatalf("boot: exit %d, want the crash:\n%s", code, out)
			}
			b, _ := os.ReadFile(log)
			raw := strings.Contains(string(b), "RIP: 0010:0x")
			if raw != (purpose == "dwarf") {
				t.Errorf("bare addresses %v for a kernel for %s:\n%s", raw, purpose, b)
			}
			code, out = initkitRun(t, "decode", "--no-index", "--kernel", obj, log)
			if code != 0 {
				t.Fatalf("decode: exit %d\n%s", code, out)
			}
			mustMatch(t, out, `RIP: 0010:\S+ init/main\.c:`+strconv.Itoa(line)+`\b`)
		})
	}
}

// TestOwnKernelARM64: the same tinyconfig flow for arm64, cross-built with
// Debian's aarch64-linux-gnu- toolchain, booted under qemu-system-aarch64
// -M virt to the initkit init (built for arm64) as PID 1.
func TestOwnKernelARM64(t *testing.T) {
	t.Parallel()
	m := testenv.ARM64.Get(t)
	if m.Arch != "arm64" || !strings.HasSuffix(m.Image, "arch/arm64/boot/Image") {
		t.Fatalf("manifest: %+v", m)
	}
	obj := testenv.Obj(m)
	out := filepath.Join(t.TempDir(), "arm64.img")
	spec := fmt.Sprintf("[image]\noutput = %q\ncompress = \"gzip\"\ninit = \"initkit\"\ninit_binary = %q\n", out, testenv.InitBinaryFor(t, "arm64"))
	specFile := filepath.Join(t.TempDir(), "initkit.toml")
	os.WriteFile(specFile, []byte(spec), 0o644)
	if code, o := initkitRun(t, "build", "-c", specFile); code != 0 {
		t.Fatalf("build: %s", o)
	}
	// No root= given: the init says so, from userspace, as PID 1. No
	// --arch either: the kernel's Image says it is arm64.
	code, o := initkitRun(t, "boot", "--kernel", obj, "--initrd", out, "--timeout", "180s",
		"--expect", `Run /init as init process`, "--expect", `initkit: .*root`)
	if code != 0 {
		t.Fatalf("boot: exit %d\n%s", code, o)
	}
	// The Image as distributions ship it, gzipped as make Image.gz does:
	// its architecture and its built-in initramfs are read through the
	// gzip (ImageArch and ls said nothing of one before), and QEMU boots it.
	gz := filepath.Join(t.TempDir(), "Image.gz")
	if out, err := exec.Command("sh", "-c", "gzip -9n < "+m.Image+" > "+gz).CombinedOutput(); err != nil {
		t.Fatalf("gzip: %v: %s", err, out)
	}
	if code, o := initkitRun(t, "ls", gz); code != 0 || !strings.Contains(o, " dev/console\n") || !strings.Contains(o, "a kernel image: its built-in initramfs") {
		t.Errorf("ls Image.gz: exit %d\n%s", code, o)
	}
	code, o = initkitRun(t, "boot", "--kernel", gz, "--initrd", out, "--timeout", "180s",
		"--expect", `Run /init as init process`, "--expect", `initkit: .*root`)
	if code != 0 {
		t.Fatalf("boot Image.gz: exit %d\n%s", code, o)
	}
	// gdb stops in it: gdb-multiarch, since the host's gdb said
	// "Truncated register 37 in remote 'g' packet" of an arm64 guest.
	batch := filepath.Join(t.TempDir(), "cmds.gdb")
	os.WriteFile(batch, []byte("bt\ndelete\ndetach\n"), 0o644)
	code, o = initkitRun(t, "debug", "kernel", "--kernel", obj, "--initrd", out, "--break", "start_kernel", "--batch", batch, "--timeout", "180s")
	if code != 0 && code != 3 {
		t.Fatalf("debug kernel: exit %d\n%s", code, o)
	}
	mustMatch(t, o, `Breakpoint 1, (?:0x[0-9a-f]+ in )?start_kernel \(`, `Booting Linux on physical CPU`)
	// Its vmlinux as the kernel: QEMU loads an arm64 ELF at its link
	// addresses and the guest stayed silent until the timeout; the build
	// directory's Image boots instead.
	code, o = initkitRun(t, "boot", "--kernel", filepath.Join(obj, "vmlinux"), "--initrd", out, "--dry-run")
	if code != 0 || !strings.Contains(o, "-kernel "+m.Image+" ") {
		t.Errorf("boot vmlinux: exit %d\n%s", code, o)
	}
}

// TestEmbeddedInitramfs: initkit kernel build --initramfs puts the image a
// spec describes inside the kernel (CONFIG_INITRAMFS_SOURCE, from initkit
// build's gen_init_cpio list): the kernel (testenv.Embedded, All with the
// image built in by make kernels) boots to the spec's marker with no
// -initrd.
func TestEmbeddedInitramfs(t *testing.T) {
	t.Parallel()
	obj := testenv.Obj(testenv.Embedded.Get(t))
	code, out := initkitRun(t, "boot", "--kernel", obj, "--timeout", "120s", "--expect", `embedded-42`)
	if code != 0 {
		t.Fatalf("boot with no initrd: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "the kernel boots with the one built into it (10 entries, /init its init)") {
		t.Errorf("no note of the built-in initramfs:\n%s", out)
	}
}

// TestBuiltinInitramfsRead: ls, cat, extract and diff read the initramfs
// built into a kernel, from its bzImage (the payload decompressed, no
// symbols) and from its vmlinux alike. The kernel's own gen_init_cpio
// wrote it, NUL after every link target: extract makes the links as the
// kernel and GNU cpio do (it failed with "symlinkat usr/bin\x00: invalid
// argument").
func TestBuiltinInitramfsRead(t *testing.T) {
	t.Parallel()
	m := testenv.Embedded.Get(t)
	for _, k := range []string{m.Image, m.Vmlinux} {
		code, out := initkitRun(t, "cat", k, "/init")
		if code != 0 || !strings.Contains(out, testenv.EmbeddedInit) || !strings.Contains(out, "a kernel image: its built-in initramfs") {
			t.Errorf("cat %s /init: exit %d\n%s", k, code, out)
		}
		code, out = initkitRun(t, "ls", k)
		if code != 0 || !strings.Contains(out, "usr/bin/sh -> busybox\n") || strings.Contains(out, `\x00`) {
			t.Errorf("ls %s: exit %d\n%s", k, code, out)
		}
		dir := filepath.Join(t.TempDir(), "x")
		if code, out := initkitRun(t, "extract", k, dir); code != 0 {
			t.Errorf("extract %s: exit %d\n%s", k, code, out)
		} else if l, err := os.Readlink(filepath.Join(dir, "usr/bin/sh")); err != nil || l != "busybox" {
			t.Errorf("extract %s: usr/bin/sh -> %q, %v", k, l, err)
		}
	}
	if code, out := initkitRun(t, "diff", m.Image, m.Vmlinux); code != 0 {
		t.Errorf("diff of the bzImage's and the vmlinux's: exit %d\n%s", code, out)
	}
}

// TestOwnKernelModules: a build directory's modules, installed by kernel
// build into its staging directory, are what initkit build takes for
// --kernel OBJ --module NAME, with no other flag; the init loads the
// module at boot. (virtio_blk as a module: testenv.Modules, All with the
// one change, rebuilt by make kernels.)
func TestOwnKernelModules(t *testing.T) {
	t.Parallel()
	m := testenv.Modules.Get(t)
	obj := testenv.Obj(m)
	img := filepath.Join(t.TempDir(), "m.img")
	if code, out := initkitRun(t, "build", "--kernel", obj, "--module", "virtio_blk", "--busybox", Busybox(t), "-o", img); code != 0 {
		t.Fatalf("build --module: %s", out)
	}
	code, out := initkitRun(t, "ls", img)
	if code != 0 || !strings.Contains(out, "lib/modules/"+m.Release+"/kernel/drivers/block/virtio_blk.ko") {
		t.Fatalf("the image lacks the module:\n%s", out)
	}
	code, out = initkitRun(t, "boot", "--kernel", obj, "--initrd", img, "--timeout", "120s", "--append", "initkit.debug",
		"--expect", `initkit: .*loaded virtio_blk`)
	if code != 0 {
		t.Fatalf("boot: exit %d\n%s", code, out)
	}
}

// TestVmcoreARM64: an arm64 guest whose init exits panics, QEMU writes
// its memory (--dump-on-crash), and initkit vmcore reads the aarch64 ELF
// core: VMCOREINFO found in the guest's memory (its NUMBER(kimage_voffset)
// above the int64s), the kernel log through the linear map and the
// kernel image's addresses, the panic titled; with no DWARF in the
// tinyconfig vmlinux the log is still shown, only file:line is not.
// (vmcore refused any dump but an x86-64 one.)
func TestVmcoreARM64(t *testing.T) {
	t.Parallel()
	obj := testenv.Obj(testenv.ARM64.Get(t))
	img := exitInitARM64(t)
	code, out := initkitRun(t, "boot", "--kernel", obj, "--initrd", img, "--mem", "256M", "--dump-on-crash", "--timeout", "180s")
	m := vmcoreLine.FindStringSubmatch(out)
	if code != 3 || m == nil {
		t.Fatalf("boot: exit %d (want 3), vmcore %v\n%s", code, m, out)
	}
	code, out = initkitRun(t, "vmcore", "--kernel", obj, m[1])
	if code != 0 {
		t.Fatalf("vmcore: exit %d\n%s", code, out)
	}
	mustMatch(t, out, `\(elf, aarch64, `, `crashed: yes, by its log`, `Booting Linux on physical CPU`,
		`Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100`, `report: kernel panic: Attempted to kill init!`,
		`crash reports not decoded: .*has no DWARF: .*--for dwarf`)
	// Debian's crash(8) reads x86-64 dumps only: refused, not its "not a
	// supported file format".
	code, out = initkitRun(t, "vmcore", "--kernel", obj, "--crash", m[1])
	if code != 2 || !strings.Contains(out, "an aarch64 dump, and crash(8) reads x86_64 dumps only") {
		t.Errorf("vmcore --crash: exit %d\n%s", code, out)
	}
}

// TestKdumpARM64: --kdump of an arm64 guest of the user's own kernel
// (with KEXEC_FILE): the image's own init, wrapped, exits and panics the
// kernel; the crash kernel the arm64 initkit init loaded boots, and its
// capture init (for arm64 too, with no host makedumpfile) sends the ELF
// core to the host, which vmcore reads. (kdump refused any guest but one
// of the host's machine.)
func TestKdumpARM64(t *testing.T) {
	t.Parallel()
	obj := testenv.Obj(testenv.ARM64.Get(t))
	img := exitInitARM64(t)
	code, out := initkitRun(t, "boot", "--kernel", obj, "--initrd", img, "--mem", "512M", "--kdump", "--timeout", "300s")
	m := vmcoreLine.FindStringSubmatch(out)
	if code != 3 || m == nil {
		t.Fatalf("boot --kdump: exit %d (want 3), vmcore %v\n%s", code, m, out)
	}
	mustMatch(t, out, `kdump: capture image \S+ \(\d+ KB unpacked; no makedumpfile: the ELF core as it is\)`, `kdump: crash kernel loaded`)
	code, out = initkitRun(t, "vmcore", "--kernel", obj, m[1])
	if code != 0 {
		t.Fatalf("vmcore: exit %d\n%s", code, out)
	}
	mustMatch(t, out, `\(elf, aarch64, 1 CPU notes\)`, `crashed: yes, by its crash kernel, \S+ after the epoch \(the guest.s clock was never set`, `Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100`)
}

// exitInitARM64 packs an image whose /init is a static arm64 program that
// says arm64-init-exits and exits 1: the kernel panics.
func exitInitARM64(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src, root := filepath.Join(dir, "exit.go"), filepath.Join(dir, "root")
	os.WriteFile(src, []byte("package main\n\nimport \"os\"\n\nfunc main() { os.Stdout.WriteString(\"arm64-init-exits\\n\"); os.Exit(1) }\n"), 0o644)
	os.Mkdir(root, 0o755)
	build := exec.Command("go", "build", "-o", filepath.Join(root, "init"), src)
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOARCH=arm64")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	img := filepath.Join(dir, "exit.img")
	if code, out := initkitRun(t, "pack", root, "-o", img); code != 0 {
		t.Fatalf("pack: %s", out)
	}
	return img
}

// TestDistroKernelARM64: Debian's arm64 kernel, fetched on the amd64 host
// (make kernel runs kernel fetch --arch arm64), boots where boot is asked
// for an arm64 guest and names no kernel: the spec's image is built for
// it, with the initkit init for arm64 (initkit-init-aarch64 beside
// initkit), the arm64 kernel's own modules, which the init loads, and
// for the shell init an arm64 busybox in place of the host's. An
// image initkit build makes for that kernel holds the arm64 init too,
// not the host's, which the kernel could not run.
func TestDistroKernelARM64(t *testing.T) {
	t.Parallel()
	spec := filepath.Join(t.TempDir(), "initkit.toml")
	if err := os.WriteFile(spec, []byte("[image]\ninit = \"initkit\"\n[modules]\nnames = [\"virtio_blk\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out := initkitRun(t, "boot", "--arch", "aarch64", "-c", spec, "--timeout", "300s", "--append", "initkit.debug",
		"--expect", `Booting Linux on physical CPU`, "--expect", `initkit: .*loaded virtio_blk`, "--expect", `initkit: .*root`)
	if code != 0 {
		t.Fatalf("boot --arch aarch64: exit %d\n%s", code, out)
	}
	mustMatch(t, out, `Linux version \d+\.\d+\.\d+-\d+-cloud-arm64 `)
	// The shell init with the host's busybox, as --busybox alone names
	// it: the guest gets Debian's busybox-static for arm64, and its shell.
	// A #!/bin/sh script among the files runs with busybox's sh: the
	// host's dash, which the script's #! names, is x86-64.
	dir := t.TempDir()
	shell := filepath.Join(dir, "initkit.toml")
	if err := os.WriteFile(shell, []byte("[image]\ninit = \"shell\"\nbusybox = \"/bin/busybox\"\nfiles = [\"hello.sh:/bin/hello\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hello.sh"), []byte("#!/bin/sh\necho \"hello from $(uname -m)\"\nexec sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	code, out = initkitRun(t, "boot", "--arch", "aarch64", "-c", shell, "--timeout", "300s", "--expect", `BusyBox v\S+ .*built-in shell`)
	if code != 0 {
		t.Fatalf("boot --arch aarch64 with the shell init: exit %d\n%s", code, out)
	}
	mustMatch(t, out, `busybox /bin/busybox is for x86_64: the aarch64 guest gets Debian's busybox-static for arm64, \S+/bin/busybox`)
	code, out = initkitRun(t, "boot", "--arch", "aarch64", "-c", shell, "--timeout", "300s", "--append", "rdinit=/bin/hello", "--expect", `hello from aarch64`)
	if code != 0 {
		t.Fatalf("boot --arch aarch64 of a #!/bin/sh script: exit %d\n%s", code, out)
	}
	code, out = initkitRun(t, "kernel", "fetch", "--arch", "arm64")
	m := regexp.MustCompile(`(?m)^kernel: +(\S+)$`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("kernel fetch --arch arm64: exit %d\n%s", code, out)
	}
	img := filepath.Join(t.TempDir(), "arm64.img")
	if code, out := initkitRun(t, "build", "--kernel", m[1], "--module", "virtio_blk", "-o", img); code != 0 {
		t.Fatalf("build --kernel: exit %d\n%s", code, out)
	}
	init, err := exec.Command(initkitBinary(t), "cat", img, "/init").Output()
	if err != nil || len(init) < 20 || elf.Machine(binary.LittleEndian.Uint16(init[18:])) != elf.EM_AARCH64 {
		t.Errorf("the image's /init is no arm64 program: %v", err)
	}
	// Its crash dumped by QEMU and read natively: a distribution's arm64
	// kernel, with KASLR and 48-bit addresses. vmcore, naming no kernel,
	// takes the fetched kernel of the dump's release, not the host's,
	// whose vmlinux it refused as "not the kernel of" the dump.
	dir = t.TempDir()
	code, out = initkitRun(t, "boot", "--kernel", m[1], "--initrd", img, "--mem", "512M", "--timeout", "300s",
		"--dump-on-crash", "--append", "rdinit=/nonexistent")
	if code != 3 {
		t.Fatalf("boot to a panic: exit %d\n%s", code, out)
	}
	vm := regexp.MustCompile(`vmcore: (\S+/vmcore) `).FindStringSubmatch(out)
	if vm == nil {
		t.Fatalf("no vmcore named:\n%s", out)
	}
	cmd := exec.Command(initkitBinary(t), "vmcore", vm[1], "--tail", "20")
	cmd.Dir = dir
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("vmcore: %v\n%s", err, b)
	}
	mustMatch(t, string(b), `\(elf, aarch64, `, `kernel:  \d+\.\d+\.\d+-\d+-cloud-arm64, build-id [0-9a-f]{40}, KASLR offset 0x[0-9a-f]+`,
		`report: kernel panic: VFS: Unable to mount root fs`, `not decoded: no vmlinux with DWARF for the fetched kernel .*-cloud-arm64: run initkit kernel fetch --arch aarch64 --debug-info`)
	// decode of its console log, naming no kernel, asks for the arm64
	// kernel's vmlinux too, not the host's (which decoded it "with
	// lines that may be wrong").
	log := regexp.MustCompile(`console log: (\S+)\)`).FindStringSubmatch(out)
	if log == nil {
		t.Fatalf("no console log named:\n%s", out)
	}
	cmd = exec.Command(initkitBinary(t), "decode", log[1])
	cmd.Dir = dir
	b, _ = cmd.CombinedOutput()
	mustMatch(t, string(b), `no vmlinux with DWARF for the fetched kernel .*-cloud-arm64: run initkit kernel fetch --arch aarch64 --debug-info`)
}
