package image

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFilesFromDirRoot: a file given as the directory is an error, not
// an image of nothing; a link to a directory gives the directory's
// files, as cpio run in it would.
func TestFilesFromDirRoot(t *testing.T) {
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	os.MkdirAll(filepath.Join(tree, "sub"), 0o755)
	os.WriteFile(filepath.Join(tree, "sub", "f"), []byte("x"), 0o644)
	os.Symlink("tree", filepath.Join(dir, "link"))
	if _, err := FilesFromDir(filepath.Join(tree, "sub", "f")); err == nil || !strings.Contains(err.Error(), "sub/f: not a directory") {
		t.Errorf("a file: %v", err)
	}
	for _, root := range []string{tree, tree + "/", filepath.Join(dir, "link"), filepath.Join(dir, "link") + "/"} {
		files, err := FilesFromDir(root)
		var names []string
		for _, f := range files {
			names = append(names, f.Name)
		}
		if err != nil || strings.Join(names, " ") != "sub sub/f" {
			t.Errorf("%s: %v %v", root, names, err)
		}
	}
}

// TestPackRefusesNegativeJobs: -j -2 is no count of threads.
func TestPackRefusesNegativeJobs(t *testing.T) {
	if _, _, err := Pack(io.Discard, t.TempDir(), PackOptions{Compress: "zstd", Jobs: -2}); err == nil || !strings.Contains(err.Error(), "jobs -2") {
		t.Errorf("-j -2: %v", err)
	}
}
