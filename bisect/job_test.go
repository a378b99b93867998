package bisect

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/initkit/initkit/bug"
)

func TestLocate(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, bug.ManifestName), []byte("title = \"x\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := bug.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	// A workspace with no tree is named as one, before git is asked to
	// change into the tree it lacks.
	if _, err := Locate(w, "", ""); err == nil || !strings.Contains(err.Error(), "the workspace has no kernel tree to bisect in (initkit bug new") {
		t.Errorf("a workspace with no tree: %v", err)
	}
	os.Mkdir(filepath.Join(dir, bug.Worktree), 0o755)
	j, err := Locate(w, "", "")
	if err != nil {
		t.Fatal(err)
	}
	want := Job{Tree: filepath.Join(dir, bug.Worktree), Obj: filepath.Join(dir, bug.BuildDir),
		State: filepath.Join(dir, "bisect.json"), Runs: filepath.Join(dir, "bisect-runs"), Workspace: w}
	if !reflect.DeepEqual(j, want) {
		t.Errorf("workspace: %+v, want %+v", j, want)
	}
	src := filepath.Join(t.TempDir(), "linux")
	os.Mkdir(src, 0o755)
	j, err = Locate(nil, src, "")
	if err != nil {
		t.Fatal(err)
	}
	want = Job{Tree: src, Obj: src + "-obj", State: src + "-obj/initkit-bisect.json", Runs: src + "-obj-bisect-runs"}
	if !reflect.DeepEqual(j, want) {
		t.Errorf("tree: %+v, want %+v", j, want)
	}
	j, _ = Locate(nil, src, "/b/o")
	if j.Obj != "/b/o" || j.State != "/b/o/initkit-bisect.json" || j.Runs != "/b/o-bisect-runs" {
		t.Errorf("-O: %+v", j)
	}
	if _, err := Locate(nil, "", ""); err == nil {
		t.Error("neither a workspace nor a tree: no error")
	}
	// A tree that is not there is named before git is asked about it.
	if _, err := Locate(nil, "/nonexistent/linux", ""); err == nil || err.Error() != "--tree /nonexistent/linux: not a directory (a kernel git tree)" {
		t.Errorf("a tree that is not there: %v", err)
	}
}

func TestStartRefuses(t *testing.T) {
	j := Job{Tree: t.TempDir()}
	for _, c := range []struct{ good, bad, title, want string }{
		{"", "HEAD", "", "--good and --bad"},
		{"v1", "", "", "--good and --bad"},
		{"v1", "v2", "(", "--title"},
		{"-x", "v2", "", "not a commit"},
	} {
		_, err := j.Start(t.Context(), c.good, c.bad, c.title, 0.95)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Start(%q, %q, %q): %v, want %q", c.good, c.bad, c.title, err, c.want)
		}
	}
}

func TestGitRepro(t *testing.T) {
	j := Job{}
	if _, err := j.GitRepro("", "", 0, 0); err == nil {
		t.Error("no reproducer: no error")
	}
	got, err := j.GitRepro("/r/rep.c", "WARNING in x", time.Minute, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"--repro", "/r/rep.c", "--runs", "1", "--hang", "1m0s", "--title", "WARNING in x"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GitRepro: %q, want %q", got, want)
	}
}
