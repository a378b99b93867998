package kernel

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/initkit/initkit/kconfig"
)

// An option kconfig dropped is explained by its Kconfig entries' depends
// lines: which of their symbols the config lacks, and which of those can
// simply be set.
func TestDependencies(t *testing.T) {
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "arch/x86"), 0o755)
	os.WriteFile(filepath.Join(src, "arch/x86/Kconfig"), []byte(`config KEXEC_FILE
	bool "kexec file based system call"
	select KEXEC_CORE
	depends on X86_64
	depends on CRYPTO=y
	depends on CRYPTO_SHA256=y

config OTHER
	depends on !UML && FOO

config SPLIT
	depends on (A && \
		    B) || \
		   C
	depends on D
`), 0o644)
	os.WriteFile(filepath.Join(src, "Kconfig.debug"), []byte("menuconfig OTHER\n\tdepends on BAR\n"), 0o644)
	cfg := kconfig.Config{"X86_64": "y", "UML": "y"}
	deps := dependencies(src, []string{"KEXEC_FILE", "OTHER", "SPLIT"}, cfg)
	if s := deps["SPLIT"]; len(s) != 2 || s[0].Expr != "(A && B) || C" || !slices.Equal(s[0].Missing, []string{"A=n", "B=n", "C=n"}) {
		t.Errorf("a depends line continued with '\\': %+v", s)
	}
	k := deps["KEXEC_FILE"]
	if len(k) != 3 || !slices.Equal(k[1].Missing, []string{"CRYPTO=n"}) || len(k[0].Missing) != 0 {
		t.Errorf("KEXEC_FILE: %+v", k)
	}
	if got := resolvable(k); !slices.Equal(got, []string{"CRYPTO", "CRYPTO_SHA256"}) {
		t.Errorf("resolvable: %v", got)
	}
	o := deps["OTHER"]
	if len(o) != 2 || !slices.Equal(o[0].Missing, []string{"UML=y", "FOO=n"}) && !slices.Equal(o[1].Missing, []string{"UML=y", "FOO=n"}) {
		t.Errorf("OTHER: %+v", o)
	}
	if got := resolvable(o); slices.Contains(got, "UML") {
		t.Errorf("a negated symbol is not to be set: %v", got)
	}
}
