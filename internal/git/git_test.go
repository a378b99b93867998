package git

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestRepositoryRunsNothing: a repository from others brings its hooks
// and its .git/config; the commands initkit runs in it (worktree add,
// checkout, bisect, log) run neither its post-checkout hook nor its
// fsmonitor.
func TestRepositoryRunsNothing(t *testing.T) {
	dir := t.TempDir()
	repo, marks := filepath.Join(dir, "repo"), filepath.Join(dir, "marks")
	os.MkdirAll(marks, 0o755)
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", repo, "-c", "user.email=t@initkit", "-c", "user.name=t"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	os.MkdirAll(repo, 0o755)
	run("init", "-q")
	os.WriteFile(filepath.Join(repo, "f"), []byte("x"), 0o644)
	run("add", "f")
	run("commit", "-q", "-m", "one")
	script := func(name string) string {
		p := filepath.Join(repo, ".git", name)
		os.WriteFile(p, []byte("#!/bin/sh\ntouch "+filepath.Join(marks, filepath.Base(name))+"\n"), 0o755)
		return p
	}
	os.MkdirAll(filepath.Join(repo, ".git", "hooks"), 0o755)
	script("hooks/post-checkout")
	run("config", "core.fsmonitor", script("fsmonitor"))

	ctx := context.Background()
	for _, args := range [][]string{
		{"worktree", "add", "--detach", filepath.Join(dir, "wt"), "HEAD"},
		{"checkout", "-q", "--detach", "HEAD"},
		{"status", "--short"},
		{"log", "-1", "--format=%H"},
	} {
		if out, err := Command(ctx, repo, args...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	if got, _ := os.ReadDir(marks); len(got) != 0 {
		t.Errorf("the repository ran %s", got[0].Name())
	}
	// The same commands with the plain git command run both: the test
	// would catch them.
	run("checkout", "-q", "--detach", "HEAD")
	if got, _ := os.ReadDir(marks); len(got) == 0 {
		t.Error("plain git ran neither the hook nor the fsmonitor: the test proves nothing")
	}
}
