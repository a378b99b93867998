package pid1

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestCheckInit(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "lib/systemd"), 0o755)
	os.MkdirAll(filepath.Join(root, "sbin"), 0o755)
	os.WriteFile(filepath.Join(root, "lib/systemd/systemd"), []byte("#!"), 0o755)
	os.WriteFile(filepath.Join(root, "sbin/noexec"), []byte("#!"), 0o644)
	os.Symlink("/lib/systemd/systemd", filepath.Join(root, "sbin/init")) // absolute: inside root after chroot
	os.Symlink("../lib/systemd/systemd", filepath.Join(root, "sbin/rel"))
	os.Symlink("/nowhere", filepath.Join(root, "sbin/dangling"))
	os.Symlink("loop", filepath.Join(root, "sbin/loop"))
	for _, c := range []struct{ init, err string }{
		{"/sbin/init", ""},
		{"/sbin/rel", ""},
		{"/lib/systemd/systemd", ""},
		{"/sbin/noexec", "not an executable"},
		{"/sbin/dangling", "missing"},
		{"/sbin/none", "missing"},
		{"/sbin", "not an executable"},
		{"/sbin/loop", "too many levels"},
	} {
		err := checkInit(root, c.init)
		if (c.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("checkInit(%s) = %v, want %q", c.init, err, c.err)
		}
	}
}

func TestRemoveTree(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "a/b/c"), 0o755)
	os.WriteFile(filepath.Join(dir, "a/b/c/f"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "top"), nil, 0o644)
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "keep"), nil, 0o644)
	os.Symlink(outside, filepath.Join(dir, "a/out")) // removed, not followed
	var st unix.Stat_t
	unix.Lstat(dir, &st)
	removeTree(dir, st.Dev)
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
	if _, err := os.Stat(filepath.Join(outside, "keep")); err != nil {
		t.Errorf("a symlink was followed: %v", err)
	}
	// A directory on another device is kept, as the new root's mount is.
	os.MkdirAll(filepath.Join(dir, "other/x"), 0o755)
	removeTree(dir, st.Dev+1)
	if _, err := os.Stat(filepath.Join(dir, "other/x")); err != nil {
		t.Errorf("a directory on another filesystem was entered: %v", err)
	}
}
