package hosttool

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestProgram: a command's first word is found as a shell finds it, with
// root's directories after PATH; a path is made absolute and never
// looked up.
func TestProgram(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"tool", "data"} {
		mode := os.FileMode(0o755)
		if name == "data" {
			mode = 0o644
		}
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	// A program of the same name in the working directory is not the
	// one a bare name means.
	if err := os.WriteFile(filepath.Join(dir, "tool"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	t.Setenv("PATH", bin)
	saved := Dirs
	t.Cleanup(func() { Dirs = saved })
	Dirs = []string{"/usr/bin"} // sh is there on every Debian

	cases := []struct{ name, want string }{
		{"tool", filepath.Join(bin, "tool")},
		{"sh", "/usr/bin/sh"}, // not in PATH: root's directories
		{"./tool", filepath.Join(dir, "tool")},
		{"bin/data", filepath.Join(bin, "data")}, // a path: not checked here
		{"sub/none", filepath.Join(dir, "sub/none")},
	}
	for _, c := range cases {
		got, err := Program(c.name)
		if err != nil || got != c.want {
			t.Errorf("Program(%q) = %q, %v; want %q", c.name, got, err, c.want)
		}
	}
	for _, name := range []string{"data", "no-such-program", ""} {
		if got, err := Program(name); err == nil {
			t.Errorf("Program(%q) = %q, want an error", name, got)
		} else if name != "" && !errors.Is(err, exec.ErrNotFound) {
			t.Errorf("Program(%q): %v, want exec.ErrNotFound", name, err)
		}
	}
}
