package pid1

import (
	"slices"
	"testing"
)

// TestCommandEnv: an exec run's variables come after PATH, HOME and PWD,
// and one of the same name replaces it rather than standing beside it
// (getenv would find the first).
func TestCommandEnv(t *testing.T) {
	got := commandEnv("/work", []string{"FOO=a b", "HOME=/root", "PWD=/elsewhere", "FOO=again"})
	want := []string{"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME=/root", "PWD=/elsewhere", "FOO=again"}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if env := commandEnv("/", nil); len(env) != 3 || env[2] != "PWD=/" || len(execEnv) != 2 {
		t.Errorf("no variables: %q (execEnv %q)", env, execEnv)
	}
}
