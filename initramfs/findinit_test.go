package initramfs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/initkit/initkit/internal/machine"
	"github.com/initkit/initkit/internal/testenv"
)

// TestFindInitFor: an image for a kernel of another architecture takes
// the init built for it, never the host's, which the kernel would fail
// to run ("Failed to execute /init (error -8)"): $INITKIT_INIT, set to
// the host's init, is passed over, and an init of the wrong machine
// given by name is refused, naming both machines.
func TestFindInitFor(t *testing.T) {
	other := "aarch64"
	if machine.Host().Name == other {
		other = "x86_64"
	}
	m, _ := machine.Lookup(other)
	host := os.Getenv("INITKIT_INIT") // TestMain's: the host's init
	if got, err := FindInitFor("", ""); err != nil || got != host {
		t.Errorf("the host's: %q, %v; want %s", got, err, host)
	}
	if _, err := FindInitFor("", other); err == nil || !strings.Contains(err.Error(), "needs initkit-init-"+other) || !strings.Contains(err.Error(), "GOARCH="+m.GOARCH) {
		t.Errorf("no init for %s found: %v", other, err)
	}
	if _, err := FindInitFor(host, other); err == nil || !strings.Contains(err.Error(), "is for "+machine.Host().ELF.String()+", and the guest is "+other) {
		t.Errorf("the host's init given for %s: %v", other, err)
	}
	foreign := testenv.InitBinaryFor(t, m.GOARCH)
	if got, err := FindInitFor(foreign, other); err != nil || got != foreign {
		t.Errorf("an init for %s given: %q, %v", other, got, err)
	}
	// One in PATH, as make build leaves it beside initkit.
	dir := t.TempDir()
	if err := os.Symlink(foreign, filepath.Join(dir, "initkit-init-"+other)); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	if got, err := FindInitFor("", other); err != nil || got != foreign {
		t.Errorf("initkit-init-%s in PATH: %q, %v", other, got, err)
	}
	if _, err := FindInitFor("", "riscv64"); err == nil || !strings.Contains(err.Error(), "x86_64 and aarch64") {
		t.Errorf("riscv64: %v", err)
	}
}
