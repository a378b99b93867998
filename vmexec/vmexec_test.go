package vmexec

import (
	"os/exec"
	"strings"
	"testing"
)

func TestParseStatus(t *testing.T) {
	for in, want := range map[string]int{
		"initkit-exit:0\n":            0,
		"\r\ninitkit-exit:137\r\n":    137,
		"noise\ninitkit-exit:7\nmore": 7,
	} {
		if got, ok := parseStatus(in); !ok || got != want {
			t.Errorf("parseStatus(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "initkit-exit:", "initkit-exit:x", "exit:3"} {
		if _, ok := parseStatus(in); ok {
			t.Errorf("parseStatus(%q) found a status", in)
		}
	}
}

// TestRunnerQuoting runs the command line the runner builds through the
// host's sh, with the guest's paths swapped for harmless ones, and checks
// that every argument arrives unchanged.
func TestRunnerQuoting(t *testing.T) {
	args := []string{"/usr/bin/printf", "[%s]", "a b", "it's", "$HOME", "`x`", "", "*"}
	script := runner(args)
	var line string
	for _, l := range strings.Split(script, "\n") {
		if strings.HasPrefix(l, "(exec ") {
			line = l
		}
	}
	if line == "" {
		t.Fatalf("no exec line in:\n%s", script)
	}
	line = strings.NewReplacer("/dev/ttyS1", "/dev/stdout", "/dev/ttyS2", "/dev/stderr", "/dev/console", "/dev/null").Replace(line)
	out, err := exec.Command("sh", "-c", line).Output()
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	if got, want := string(out), "[a b][it's][$HOME][`x`][][*]"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
