package machine

import (
	"debug/elf"
	"os"
	"runtime"
	"testing"
)

func TestLookup(t *testing.T) {
	for name, want := range map[string]string{"aarch64": "aarch64", "arm64": "aarch64", "x86_64": "x86_64", "amd64": "x86_64"} {
		if a, ok := Lookup(name); !ok || a.Name != want {
			t.Errorf("Lookup(%q) = %+v, %v; want %s", name, a, ok, want)
		}
	}
	if _, ok := Lookup("riscv64"); ok {
		t.Error("riscv64 found")
	}
}

// TestHost: the host's ELF machine is that of the running test binary.
func TestHost(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if h := Host(); h.ELF != f.Machine || h.GOARCH != runtime.GOARCH {
		t.Errorf("Host() = %+v, the test binary is %s", h, f.Machine)
	}
}
