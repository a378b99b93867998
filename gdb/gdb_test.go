package gdb

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/initkit/initkit/kernel"
)

func TestInitScript(t *testing.T) {
	s := InitSession{Sysroot: "/stage", Target: "/tmp/s.sock", Break: "main", Extra: []string{"bt", "detach"}}.Script()
	want := "set pagination off\nset confirm off\nset sysroot /stage\nset remotetimeout 30\ntarget remote /tmp/s.sock\n" +
		"catch syscall execve\ncontinue\ncontinue\ndelete\nbreak main\ncontinue\nbt\ndetach\n"
	if s != want {
		t.Errorf("script:\n%s\nwant:\n%s", s, want)
	}
	if strings.Contains(InitSession{Target: "x"}.Script(), "break") {
		t.Error("a break without Break")
	}
}

func TestDetachRace(t *testing.T) {
	script := "target remote x\nnext\ndetach\n"
	lost := "$1 = 42\n/tmp/d/session.gdb:3: Error in sourced command file:\nRemote connection closed\n"
	if !DetachRace(lost, script) {
		t.Error("a lost detach reply not recognized")
	}
	// The same error on another command is a real failure.
	if DetachRace(strings.Replace(lost, ":3:", ":2:", 1), script) {
		t.Error("a connection lost during next taken for the detach race")
	}
	if DetachRace("Remote connection closed\n", script) {
		t.Error("an error without a script line taken for the detach race")
	}
}

// TestScriptFileNames: the real gdb loads a vmlinux whose path holds
// blanks, quotes and backslashes: "file" splits its arguments, and
// "file /a dir/vmlinux" read /a.
func TestScriptFileNames(t *testing.T) {
	self, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a dir/vm linux", `q"uote/vm'linux`, `back\slash/vmlinux`} {
		p := filepath.Join(t.TempDir(), name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, self, 0o755); err != nil {
			t.Fatal(err)
		}
		script, err := WriteScript(t.TempDir(), "k.gdb", KernelSession{Vmlinux: p, Target: "/nonexistent.sock"}.Script())
		if err != nil {
			t.Fatal(err)
		}
		// The script stops at its target, which is not there; what it
		// loaded stays.
		out, _ := exec.Command("gdb", "-batch", "-nx", "-x", script, "-ex", "info files").CombinedOutput()
		if !strings.Contains(string(out), `Symbols from "`+p+`"`) {
			t.Errorf("%q: gdb said\n%s", name, out)
		}
	}
}

// The host's gdb for the host's guests, gdb-multiarch (which make test
// installs) for another machine's, and a --gdb given always.
func TestProgram(t *testing.T) {
	other := map[string]string{"x86_64": "aarch64", "aarch64": "x86_64"}[kernel.HostArch()]
	for _, c := range []struct{ given, arch, want string }{
		{"", "", "gdb"}, {"", kernel.HostArch(), "gdb"}, {"", other, "gdb-multiarch"}, {"my-gdb", other, "my-gdb"},
	} {
		if got, err := Program(c.given, c.arch); err != nil || got != c.want {
			t.Errorf("Program(%q, %q) = %q, %v; want %q", c.given, c.arch, got, err, c.want)
		}
	}
}
