package vmtest

import (
	"os/exec"
	"regexp"
	"testing"

	"github.com/initkit/initkit/compress"
	"github.com/initkit/initkit/internal/testenv"
)

// TestAllPurposes proves the purpose tables on a kernel of initkit's own:
// tinyconfig built with every purpose (testenv.All: boot exec debug dwarf
// kdump luks lvm raid net) does what each purpose promises. kdump
// captures a vmcore that initkit vmcore reads and decodes; luks unlocks
// LVM on LUKS and LUKS on LVM; lvm and raid assemble (in disk create's VM
// and in the init); net gets its address by DHCP; exec runs a Go test
// binary. debug stops gdb in kernel_init in TestOwnKernel, on the same
// build.
func TestAllPurposes(t *testing.T) {
	t.Parallel()
	m := testenv.All.Get(t)
	obj := testenv.Obj(m)
	t.Run("kdump", func(t *testing.T) {
		t.Parallel()
		img := WriteImage(t, Segment(t, compress.Zstd, BaseFiles(t, "echo c > /proc/sysrq-trigger")))
		code, out := initkitRun(t, "boot", "--kernel", obj, "--initrd", img, "--kdump", "--timeout", "180s")
		core := vmcoreLine.FindStringSubmatch(out)
		if code != 3 || core == nil {
			t.Fatalf("exit %d (want 3) and a vmcore:\n%s", code, out)
		}
		code, out = initkitRun(t, "vmcore", "--kernel", obj, "--tail", "30", core[1])
		if code != 0 {
			t.Fatalf("initkit vmcore: exit %d\n%s", code, out)
		}
		mustMatch(t, out, `panic:   Kernel panic - not syncing: sysrq triggered crash`, `1 crash report\(s\), decoded`,
			`sysrq_handle_crash\+0x[0-9a-f]+/0x[0-9a-f]+ drivers/tty/sysrq\.c:\d+`)
	})
	t.Run("luks", func(t *testing.T) {
		t.Parallel()
		luksStacks(t, obj)
	})
	t.Run("lvm-raid", func(t *testing.T) {
		t.Parallel()
		volumeRoots(t, obj)
	})
	t.Run("net", func(t *testing.T) {
		t.Parallel()
		networkDHCP(t, obj)
	})
	t.Run("exec", func(t *testing.T) {
		t.Parallel()
		runner := initkitBinary(t) + " exec --kernel " + obj + " --timeout 120s --"
		out, err := exec.Command("go", "test", "-count=1", "-exec", runner, "-run", "TestTransport|TestRunpathOrigin", "../gdb", "../elfdeps").CombinedOutput()
		if ok := regexp.MustCompile(`(?m)^ok\s+github\.com/initkit/initkit/(gdb|elfdeps)\s`).FindAllString(string(out), -1); err != nil || len(ok) != 2 {
			t.Fatalf("go test -exec: %v\n%s", err, out)
		}
	})
}
