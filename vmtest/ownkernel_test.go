package vmtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/initkit/initkit/compress"
	"github.com/initkit/initkit/internal/testenv"
	"github.com/initkit/initkit/kconfig"
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

// TestOwnKernel builds linux-source-6.1 from tinyconfig for boot and
// debug (cached: built once per machine), then: kernel check is clean for
// boot and names what kdump lacks, and what a console-less config lacks;
// the build directory is the kernel for boot, decode and debug kernel.
func TestOwnKernel(t *testing.T) {
	m := testenv.OwnKernel(t, "x86_64", "debug")
	obj := filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(m.Image)))) // OBJ/arch/x86/boot/bzImage
	cfg := filepath.Join(obj, ".config")
	t.Run("check", func(t *testing.T) {
		t.Parallel()
		if code, out := initkitRun(t, "kernel", "check", cfg, "--for", "boot,debug"); code != 0 {
			t.Errorf("boot,debug: exit %d\n%s", code, out)
		}
		code, out := initkitRun(t, "kernel", "check", cfg, "--for", "kdump")
		if code != 1 || !strings.Contains(out, "CONFIG_CRASH_DUMP=y missing (kdump): the kernel cannot be the capture kernel") {
			t.Errorf("kdump: exit %d\n%s", code, out)
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
	t.Run("debug kernel", func(t *testing.T) {
		t.Parallel()
		batch := filepath.Join(t.TempDir(), "cmds.gdb")
		os.WriteFile(batch, []byte("lx-version\ndelete\ndetach\n"), 0o644)
		code, out := initkitRun(t, "debug", "kernel", "--kernel", obj, "--initrd", img, "--break", "kernel_init", "--batch", batch, "--timeout", "120s")
		if code != 3 && code != 0 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		mustMatch(t, out, `Breakpoint 1, kernel_init \(`, `Linux version `+m.Release)
	})
}
