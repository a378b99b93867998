package image

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// treeInfo is what a tree comparison looks at for one path.
type treeInfo struct {
	Mode   fs.FileMode
	Size   int64
	Sum    string
	Target string
	MTime  int64
}

// snapshot describes every path under dir and the hardlink sets in it.
func snapshot(t *testing.T, dir string) (map[string]treeInfo, []string) {
	t.Helper()
	out := map[string]treeInfo{}
	inodes := map[uint64][]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		ti := treeInfo{Mode: fi.Mode()}
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			ti.Size, ti.Sum, ti.MTime = fi.Size(), fmt.Sprintf("%x", sha256.Sum256(b)), st.Mtim.Sec
			if st.Nlink > 1 {
				inodes[st.Ino] = append(inodes[st.Ino], rel)
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			ti.Target, _ = os.Readlink(p)
		case fi.IsDir():
			ti.MTime = st.Mtim.Sec
		}
		out[rel] = ti
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var groups []string
	for _, names := range inodes {
		sort.Strings(names)
		groups = append(groups, strings.Join(names, "="))
	}
	sort.Strings(groups)
	return out, groups
}

// sameTree fails t unless the trees under a and b match in every respect
// snapshot records, hardlink sets included.
func sameTree(t *testing.T, a, b string) {
	t.Helper()
	ta, ga := snapshot(t, a)
	tb, gb := snapshot(t, b)
	for p, ia := range ta {
		ib, ok := tb[p]
		switch {
		case !ok:
			t.Errorf("%s: missing from %s", p, b)
		case ia != ib:
			t.Errorf("%s:\n %s: %+v\n %s: %+v", p, a, ia, b, ib)
		}
	}
	for p := range tb {
		if _, ok := ta[p]; !ok {
			t.Errorf("%s: only in %s", p, b)
		}
	}
	if strings.Join(ga, " ") != strings.Join(gb, " ") {
		t.Errorf("hardlink sets differ:\n %s: %v\n %s: %v", a, ga, b, gb)
	}
}

// fixtureTree makes a tree with every kind of entry a user can make without
// root: files with padding-sensitive sizes and special modes, directories
// (one read-only), relative and absolute symlinks, a hardlink set spanning
// directories, and a FIFO.
func fixtureTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "usr/bin"), 0o755))
	must(os.MkdirAll(filepath.Join(dir, "etc/ro"), 0o755))
	for i, size := range []int{0, 1, 2, 3, 4, 5, 4097} {
		must(os.WriteFile(filepath.Join(dir, fmt.Sprintf("etc/f%d", i)), []byte(strings.Repeat("x", size)), 0o644))
	}
	must(os.WriteFile(filepath.Join(dir, "usr/bin/busybox"), []byte("#!/bin/sh\necho busybox\n"), 0o755))
	for _, l := range []string{"usr/bin/sh", "usr/bin/ls", "etc/ls-too"} {
		must(os.Link(filepath.Join(dir, "usr/bin/busybox"), filepath.Join(dir, l)))
	}
	must(os.WriteFile(filepath.Join(dir, "usr/bin/suid"), []byte("s"), 0o4755))
	must(os.Chmod(filepath.Join(dir, "usr/bin/suid"), 0o4755))
	must(os.Symlink("usr/bin", filepath.Join(dir, "bin")))
	must(os.Symlink("/usr/bin/busybox", filepath.Join(dir, "etc/abs")))
	must(syscall.Mkfifo(filepath.Join(dir, "etc/fifo"), 0o600))
	must(os.WriteFile(filepath.Join(dir, "etc/ro/file"), []byte("read only dir"), 0o444))
	must(os.Chmod(filepath.Join(dir, "etc/ro"), 0o555))
	return dir
}

var time0 = time.Unix(1234567, 0)
