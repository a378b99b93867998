package bug

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/initkit/initkit/repro"
)

// TestReproDisk: the runs are in the workspace's disk image by default,
// in another with Disk, in none with NoDisk, and on a farm without one
// (told, or refused when asked for).
func TestReproDisk(t *testing.T) {
	dir := t.TempDir()
	w := &Workspace{Dir: dir, Manifest: Manifest{Files: map[string]File{Disk: {Name: "disk.raw"}}}}
	if err := os.WriteFile(filepath.Join(dir, "disk.raw"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	farm := func(context.Context, repro.Options) (repro.Farm, error) { return nil, nil }
	for _, c := range []struct {
		name       string
		w          *Workspace
		r          ReproRequest
		disk, note string
		err        string
	}{
		{name: "workspace's", w: w, r: ReproRequest{Root: "2"}, disk: filepath.Join(dir, "disk.raw")},
		{name: "no disk", w: w, r: ReproRequest{Root: "2", NoDisk: true}},
		{name: "another", r: ReproRequest{Disk: "/other.img", Root: "1"}, disk: "/other.img"},
		{name: "none", r: ReproRequest{}},
		{name: "farm", w: w, r: ReproRequest{Farm: farm}, note: "without the workspace's disk image"},
		{name: "farm asked for one", r: ReproRequest{Farm: farm, Disk: "/other.img"}, err: "a LAVA job takes no disk image"},
	} {
		var notes bytes.Buffer
		c.r.Notes = &notes
		var o repro.Options
		err := c.r.disk(c.w, &o)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: %v, want %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got := ""
		if len(o.Exec.Boot.Disks) > 0 {
			got = o.Exec.Boot.Disks[0].Path
			if !o.Exec.Boot.Disks[0].Snapshot || o.Exec.Boot.Root != c.r.Root {
				t.Errorf("%s: disk %+v, root %q", c.name, o.Exec.Boot.Disks[0], o.Exec.Boot.Root)
			}
		}
		if got != c.disk || !strings.Contains(notes.String(), c.note) {
			t.Errorf("%s: disk %q, want %q; notes %q", c.name, got, c.disk, notes.String())
		}
	}
}

// TestRunReproRefuses: a bad title and nothing to run are errors before
// any run.
func TestRunReproRefuses(t *testing.T) {
	t.Setenv("INITKIT_CACHE", t.TempDir())
	var notes bytes.Buffer
	if _, err := RunRepro(context.Background(), nil, repro.Options{}, ReproRequest{Title: "(", Notes: &notes}); err == nil || !strings.Contains(err.Error(), "--title") {
		t.Errorf("bad title: %v", err)
	}
	if _, err := RunRepro(context.Background(), nil, repro.Options{}, ReproRequest{Notes: &notes}); err == nil || !strings.Contains(err.Error(), "nothing to run") {
		t.Errorf("nothing to run: %v", err)
	}
}
