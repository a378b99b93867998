package kernel_test

import (
	"context"
	"path/filepath"
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
