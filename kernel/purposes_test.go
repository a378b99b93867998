package kernel_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/initkit/initkit/internal/testenv"
	"github.com/initkit/initkit/kconfig"
	"github.com/initkit/initkit/kernel"
)

// Each purpose alone resolves on tinyconfig, on the real tree with its own
// kconfig: nothing it needs is dropped, and the config made passes the
// same purpose's check (what kernel check and boot's warning run). The
// purpose tables are proven, not believed: a need whose dependency the
// table misses is dropped here.
func TestPurposesResolveOnTinyconfig(t *testing.T) {
	if testing.Short() {
		t.Skip("configures the kernel tree: make test runs it")
	}
	src := testenv.Source(t)
	for _, arch := range []string{"x86_64", "arm64"} {
		for _, p := range kconfig.Names() {
			t.Run(arch+"/"+p, func(t *testing.T) {
				t.Parallel()
				tree := kernel.Tree{Src: src, Obj: t.TempDir(), Arch: arch}
				res, err := kernel.Configure(context.Background(), tree, "tinyconfig", []string{p})
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Dropped) > 0 {
					t.Fatalf("dropped %v (depends: %v)", res.Dropped, res.Depends)
				}
				missing, err := kernel.CheckConfig(filepath.Join(tree.Obj, ".config"), []string{p}, arch)
				if err != nil || len(missing) > 0 {
					t.Errorf("check: %v, missing %v", err, missing)
				}
			})
		}
	}
}

// TestConfigureSettings: options a user sets (--fragment, --set) go
// through the tree's kconfig like the purposes' needs: a string and a
// number land as given, a dependency kconfig would drop an option for is
// set too (BLK_DEV_RAM needs BLOCK, which tinyconfig lacks), and an
// option the tree does not have is dropped and named.
func TestConfigureSettings(t *testing.T) {
	if testing.Short() {
		t.Skip("configures the kernel tree: make test runs it")
	}
	src := testenv.Source(t)
	frag := filepath.Join(t.TempDir(), "ramdisk.config")
	if err := os.WriteFile(frag, []byte("CONFIG_BLK_DEV_RAM=y\nCONFIG_LOCALVERSION=\"-bug42\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	settings, err := kconfig.Settings([]string{frag}, []string{"CONFIG_LOG_BUF_SHIFT=18", "PRINTK_TIME=y"})
	if err != nil {
		t.Fatal(err)
	}
	tree := kernel.Tree{Src: src, Obj: t.TempDir()}
	res, err := kernel.Configure(context.Background(), tree, "tinyconfig", nil, settings...)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Dropped) > 0 {
		t.Fatalf("dropped %v (depends: %v)", res.Dropped, res.Depends)
	}
	c, err := kconfig.Read(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"BLK_DEV_RAM": "y", "BLOCK": "y", "LOCALVERSION": `"-bug42"`, "LOG_BUF_SHIFT": "18", "PRINTK_TIME": "y"} {
		if got := c.Value(name); got != want {
			t.Errorf("CONFIG_%s=%s, want %s", name, got, want)
		}
	}
	var out, notes strings.Builder
	if err := res.Report(&out, &notes); err != nil || !strings.Contains(out.String(), "CONFIG_LOCALVERSION=\"-bug42\" ("+frag+")\n") {
		t.Errorf("report: %v\n%s", err, out.String())
	}

	unknown, _ := kconfig.Setting("CONFIG_NO_SUCH_OPTION=y")
	res, err = kernel.Configure(context.Background(), tree, "tinyconfig", nil, unknown)
	if err != nil {
		t.Fatal(err)
	}
	notes.Reset()
	err = res.Report(io.Discard, &notes)
	if err == nil || !strings.Contains(err.Error(), "kconfig dropped CONFIG_NO_SUCH_OPTION") || !strings.Contains(notes.String(), "CONFIG_NO_SUCH_OPTION=y dropped by kconfig (--set)") {
		t.Errorf("an option the tree lacks: %v\n%s", err, notes.String())
	}
}
