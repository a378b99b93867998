package buildcache

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/initkit/initkit/compress"
	"github.com/initkit/initkit/cpio"
	"github.com/initkit/initkit/image"
)

// files is an image's input: host files of a few KiB to 1 MiB, enough
// for several pieces at a 256 KiB split.
func files(t *testing.T, dir string) []image.File {
	t.Helper()
	var out []image.File
	for i := range 40 {
		p := filepath.Join(dir, fmt.Sprintf("f%02d", i))
		data := bytes.Repeat([]byte(fmt.Sprintf("file %d, line of text\n", i)), 1000*(1+i%7))
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		st, _ := os.Stat(p)
		// Old enough that the cache trusts its identity.
		old := time.Now().Add(-time.Hour)
		os.Chtimes(p, old, old)
		out = append(out, image.File{Header: cpio.Header{Name: "data/" + filepath.Base(p), Mode: cpio.TypeReg | 0o644, Size: st.Size()}, Source: p})
	}
	return append(out, image.File{Header: cpio.Header{Name: "data", Mode: cpio.TypeDir | 0o755}},
		image.File{Header: cpio.Header{Name: "init", Mode: cpio.TypeReg | 0o755}, Data: []byte("#!/bin/sh\necho hi\n")})
}

// build writes the image with the cache (nil: without) and returns its
// bytes and pieces.
func build(t *testing.T, fs []image.File, c *Cache, f compress.Format) ([]byte, []image.Piece) {
	t.Helper()
	return buildOn(t, fs, c, f, 0)
}

// buildOn is build with procs compression threads (0: the cores).
func buildOn(t *testing.T, fs []image.File, c *Cache, f compress.Format, procs int) ([]byte, []image.Piece) {
	t.Helper()
	var buf bytes.Buffer
	var pieces []image.Piece
	level := 3
	if f.CheckLevel(level) != nil {
		level = 0 // xz takes none
	}
	opts := []image.Option{image.WithCompression(f, compress.WriterOptions{Level: level, Concurrency: procs}), image.WithModTime(0), image.WithSplit(256 << 10)}
	if c != nil {
		opts = append(opts, image.WithCache(c, func(p []image.Piece) { pieces = p }))
	}
	if err := image.WriteSegment(&buf, fs, opts...); err != nil {
		t.Fatal(err)
	}
	if c != nil {
		c.Built(pieces)
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes(), pieces
}

func reused(pieces []image.Piece) int {
	n := 0
	for _, p := range pieces {
		if p.Cached {
			n++
		}
	}
	return n
}

// TestRebuild: a rebuild after changing one file reuses every other
// piece, Explain names the file, and the bytes are a clean build's, for
// every compressor the pieces are made with.
func TestRebuild(t *testing.T) {
	for _, f := range []compress.Format{compress.Zstd, compress.XZ, compress.Gzip} {
		t.Run(f.String(), func(t *testing.T) {
			dir, cdir := t.TempDir(), t.TempDir()
			fs := files(t, dir)
			open := func() *Cache {
				c, err := Open(cdir, "scope", 0)
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
			clean, _ := build(t, fs, nil, f)
			first, pieces := build(t, fs, open(), f)
			if !bytes.Equal(first, clean) || len(pieces) < 4 || reused(pieces) != 0 {
				t.Fatalf("first build: same bytes %v, %d pieces, %d reused", bytes.Equal(first, clean), len(pieces), reused(pieces))
			}
			if again, p := build(t, fs, open(), f); !bytes.Equal(again, clean) || reused(p) != len(p) {
				t.Fatalf("second build: same bytes %v, %d of %d pieces reused", bytes.Equal(again, clean), reused(p), len(p))
			}
			os.WriteFile(filepath.Join(dir, "f07"), []byte("changed\n"), 0o644)
			fs = files(t, dir)
			fs[7].Size = 8
			os.WriteFile(filepath.Join(dir, "f07"), []byte("changed\n"), 0o644)
			c := open()
			got, p := build(t, fs, c, f)
			if want, _ := build(t, fs, nil, f); !bytes.Equal(got, want) {
				t.Error("a rebuild's bytes differ from a clean build's")
			}
			if reused(p) != len(p)-1 {
				t.Errorf("%d of %d pieces reused, want all but one", reused(p), len(p))
			}
			if why := strings.Join(c.Explain(p), "\n"); !strings.Contains(why, "compressed: changed data/f07 (content)") {
				t.Errorf("Explain does not name the changed file:\n%s", why)
			}
		})
	}
}

// TestNewScope: an image written to a new path starts from the sums
// other scopes' builds learned: it reuses their pieces without reading
// the files they summed, and reads the one file changed since. A scope
// keeps the sums of its last build's files only, and the shared file one
// sum a path.
func TestNewScope(t *testing.T) {
	defer func(r time.Duration) { racy = r }(racy)
	racy = 0
	dir, cdir := t.TempDir(), t.TempDir()
	fs := files(t, dir)
	a, _ := Open(cdir, "a", 0)
	first, _ := build(t, fs, a, compress.Zstd)

	b, _ := Open(cdir, "b", 0)
	if !b.Warm() {
		t.Fatal("a new scope did not start from the shared sums")
	}
	if again, p := build(t, fs, b, compress.Zstd); !bytes.Equal(again, first) || reused(p) != len(p) {
		t.Fatalf("new scope: same bytes %v, %d of %d pieces reused", bytes.Equal(again, first), reused(p), len(p))
	}

	for i := range 5 { // a file changed at each build
		data := []byte(fmt.Sprint("version ", i, "\n"))
		os.WriteFile(fs[7].Source, data, 0o644)
		fs[7].Size = int64(len(data))
		c, _ := Open(cdir, "a", 0)
		build(t, fs, c, compress.Zstd)
	}
	c, _ := Open(cdir, "a", 0)
	if n := len(c.index.Sums); n != 40 {
		t.Errorf("scope a keeps %d sums after five changes of one of its 40 files", n)
	}
	if n := len(loadSums(filepath.Join(cdir, sharedSums))); n != 40 {
		t.Errorf("%d sums shared after five changes of one of 40 files", n)
	}
	clean, _ := build(t, fs, nil, compress.Zstd)
	d, _ := Open(cdir, "d", 0)
	got, p := build(t, fs, d, compress.Zstd)
	if !bytes.Equal(got, clean) || reused(p) != len(p) {
		t.Errorf("a new scope after the change: same bytes %v, %d of %d pieces reused", bytes.Equal(got, clean), reused(p), len(p))
	}
	// Garbage in the shared file: a new scope starts from nothing.
	os.WriteFile(filepath.Join(cdir, sharedSums), bytes.Repeat([]byte{0xff, 0x01}, 4096), 0o600)
	e, _ := Open(cdir, "e", 0)
	if got, _ := build(t, fs, e, compress.Zstd); e.seeded || !bytes.Equal(got, clean) {
		t.Errorf("shared sums of garbage: seeded %v, same bytes %v", e.seeded, bytes.Equal(got, clean))
	}
}

// TestAnyCoreCount: the bytes do not depend on the threads that made
// them, nor on which build's threads made the cached pieces: a first
// build on one thread, the rebuild on three, and a clean build on the
// cores are the same image.
func TestAnyCoreCount(t *testing.T) {
	for _, f := range []compress.Format{compress.Zstd, compress.XZ, compress.Gzip} {
		t.Run(f.String(), func(t *testing.T) {
			fs, cdir := files(t, t.TempDir()), t.TempDir()
			open := func() *Cache {
				c, err := Open(cdir, "scope", 0)
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
			clean, _ := buildOn(t, fs, nil, f, 0)
			one, p1 := buildOn(t, fs, open(), f, 1)
			three, p3 := buildOn(t, fs, open(), f, 3)
			if !bytes.Equal(one, clean) || !bytes.Equal(three, clean) {
				t.Fatalf("same bytes as a clean build: one thread %v, three %v", bytes.Equal(one, clean), bytes.Equal(three, clean))
			}
			if reused(p1) != 0 || len(p3) < 4 || reused(p3) != len(p3) {
				t.Fatalf("reused %d of %d, then %d of %d", reused(p1), len(p1), reused(p3), len(p3))
			}
		})
	}
}

// TestFirstBuildLearns: a first build sums each file as it compresses
// it (read once), and keeps the sums: the next build finds every piece
// without reading a file.
func TestFirstBuildLearns(t *testing.T) {
	defer func(r time.Duration) { racy = r }(racy)
	racy = 0 // the files were just written
	dir, cdir := t.TempDir(), t.TempDir()
	fs := files(t, dir)
	c, _ := Open(cdir, "scope", 0)
	if c.Warm() {
		t.Fatal("a new scope is warm")
	}
	first, _ := build(t, fs, c, compress.Zstd)
	c, _ = Open(cdir, "scope", 0)
	if !c.Warm() {
		t.Fatal("a built scope is not warm")
	}
	for _, f := range fs {
		if f.Source == "" {
			continue
		}
		if _, _, ok, err := c.Sum(f.Source, false); !ok || err != nil {
			t.Fatalf("%s: no sum kept by the first build (%v)", f.Source, err)
		}
	}
	if again, p := build(t, fs, c, compress.Zstd); !bytes.Equal(again, first) || reused(p) != len(p) {
		t.Errorf("second build: same bytes %v, %d of %d pieces reused", bytes.Equal(again, first), reused(p), len(p))
	}
}

// TestDamagedCache: pieces deleted, truncated or overwritten with
// garbage are found by their length and CRC and compressed again; the
// image is the clean build's every time.
func TestDamagedCache(t *testing.T) {
	for _, damage := range []func(p string) error{
		func(p string) error { return os.Remove(p) },
		func(p string) error { return os.Truncate(p, 40) },
		func(p string) error { st, _ := os.Stat(p); return os.Truncate(p, st.Size()-1) },
		func(p string) error {
			b, _ := os.ReadFile(p)
			b[len(b)-5] ^= 0xff
			return os.WriteFile(p, b, 0o600)
		},
		func(p string) error { return os.WriteFile(p, bytes.Repeat([]byte("garbage"), 1000), 0o600) },
	} {
		dir, cdir := t.TempDir(), t.TempDir()
		fs := files(t, dir)
		clean, _ := build(t, fs, nil, compress.Zstd)
		c, _ := Open(cdir, "s", 0)
		build(t, fs, c, compress.Zstd)
		stored, _ := filepath.Glob(filepath.Join(cdir, "pieces", "*", "*"))
		for _, p := range stored {
			if err := damage(p); err != nil {
				t.Fatal(err)
			}
		}
		c, _ = Open(cdir, "s", 0)
		got, p := build(t, fs, c, compress.Zstd)
		if !bytes.Equal(got, clean) || reused(p) != 0 {
			t.Errorf("damaged cache: same bytes %v, %d pieces reused, want none", bytes.Equal(got, clean), reused(p))
		}
		c, _ = Open(cdir, "s", 0)
		if got, p := build(t, fs, c, compress.Zstd); !bytes.Equal(got, clean) || reused(p) != len(p) {
			t.Errorf("after the repair: same bytes %v, %d of %d reused", bytes.Equal(got, clean), reused(p), len(p))
		}
	}
}

// TestConcurrentBuilds: builds at once into one cache (some of the same
// pieces, some not) never see a half-written piece: every image is its
// clean build's.
func TestConcurrentBuilds(t *testing.T) {
	dir, cdir := t.TempDir(), t.TempDir()
	fs := files(t, dir)
	clean, _ := build(t, fs, nil, compress.Zstd)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := Open(cdir, fmt.Sprint("scope", i%2), 1<<20)
			if err != nil {
				t.Error(err)
				return
			}
			for range 5 {
				if got, _ := build(t, fs, c, compress.Zstd); !bytes.Equal(got, clean) {
					t.Error("an image built beside others differs from its clean build")
				}
				c, _ = Open(cdir, fmt.Sprint("scope", i%2), 1<<20)
			}
		}()
	}
	wg.Wait()
}

// TestLimit: the cache is trimmed to its bound, the least recently used
// pieces first.
func TestLimit(t *testing.T) {
	dir, cdir := t.TempDir(), t.TempDir()
	fs := files(t, dir)
	c, _ := Open(cdir, "s", 0)
	_, pieces := build(t, fs, c, compress.Zstd)
	var total int64
	for _, p := range pieces {
		total += p.Out
	}
	// Pieces used last stay: the first half of the image is used again.
	time.Sleep(10 * time.Millisecond)
	c, _ = Open(cdir, "s", total/2)
	half := fs[:len(fs)/2]
	build(t, half, c, compress.Zstd)
	size := func() (n int64) {
		stored, _ := filepath.Glob(filepath.Join(cdir, "pieces", "*", "*"))
		for _, p := range stored {
			st, _ := os.Stat(p)
			n += st.Size()
		}
		return n
	}
	if s := size(); s > total/2 {
		t.Errorf("the cache holds %d bytes, bound %d", s, total/2)
	}
	c, _ = Open(cdir, "s", total/2)
	if _, p := build(t, half, c, compress.Zstd); reused(p) == 0 {
		t.Error("the pieces used last were evicted")
	}
}

// TestMemo: a kept result is recalled while every path it was made from
// is as it was - in this process and the next - and not once one of them
// changed, went, or appeared; a result made from a file changed in the
// last seconds is not kept; a scope keeps the most recently used ones.
func TestMemo(t *testing.T) {
	dir, cacheDir := t.TempDir(), t.TempDir()
	a, b, missing := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "m")
	for _, p := range []string{a, b} {
		if err := os.WriteFile(p, []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	read := []string{a, b, missing}
	open := func() *Cache {
		c, err := Open(cacheDir, "scope", 0)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := open()
	if c.Keep("k", []string{"x"}, read) {
		t.Fatal("kept a result made from files written just now")
	}
	defer func(r time.Duration) { racy = r }(racy)
	racy = 0
	recalled := func(c *Cache) bool {
		var v []string
		ok := c.Recall("k", &v)
		if ok && (len(v) != 1 || v[0] != "x") {
			t.Fatalf("recalled %q", v)
		}
		return ok
	}
	for _, change := range []struct {
		name string
		do   func() error
	}{
		{"a rewritten", func() error { return os.WriteFile(a, []byte("other"), 0o644) }},
		{"a missing path created", func() error { return os.WriteFile(missing, nil, 0o644) }},
		{"b removed", func() error { return os.Remove(b) }},
		{"b a symlink now", func() error { return os.Symlink(a, b) }},
	} {
		if !c.Keep("k", []string{"x"}, read) || !recalled(c) {
			t.Fatalf("before %s: not kept and recalled", change.name)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if c = open(); !recalled(c) {
			t.Fatalf("before %s: not recalled by the next build", change.name)
		}
		if err := change.do(); err != nil {
			t.Fatal(err)
		}
		if recalled(c) {
			t.Errorf("recalled after %s", change.name)
		}
	}
	for i := range maxMemos + 8 {
		c.Keep(fmt.Sprint("key", i), i, read)
	}
	var v int
	if !c.Recall(fmt.Sprint("key", maxMemos+7), &v) || v != maxMemos+7 || c.Recall("key0", &v) || len(c.index.Memos) != maxMemos {
		t.Errorf("after %d keys: %d kept, the newest recalled or the oldest not gone", maxMemos+8, len(c.index.Memos))
	}
}

// TestMemoContent: a result made from a file whose identity changed but
// not its content (touched, copied back) is recalled, once its sum was
// learned, and the next build trusts the new identity without reading
// the file. A file rewritten with other bytes of the same size is not
// recalled, nor one whose sum the scope never learned.
func TestMemoContent(t *testing.T) {
	defer func(r time.Duration) { racy = r }(racy)
	racy = 0
	dir, cacheDir := t.TempDir(), t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.WriteFile(a, []byte("first content"), 0o644)
	os.WriteFile(b, []byte("never summed"), 0o644)
	open := func() *Cache {
		c, err := Open(cacheDir, "scope", 0)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	recall := func(c *Cache, key string) bool {
		var v string
		return c.Recall(key, &v) && v == key
	}
	touch := func(p string, ago time.Duration) {
		when := time.Now().Add(-ago)
		if err := os.Chtimes(p, when, when); err != nil {
			t.Fatal(err)
		}
	}
	c := open()
	if _, _, _, err := c.Sum(a, true); err != nil { // as a build's pieces do
		t.Fatal(err)
	}
	if !c.Keep("ka", "ka", []string{a}) || !c.Keep("kb", "kb", []string{b}) {
		t.Fatal("not kept")
	}
	c.Close()
	touch(a, time.Hour)
	touch(b, time.Hour)
	c = open()
	if !recall(c, "ka") {
		t.Error("a touched file, its content the same: not recalled")
	}
	if recall(c, "kb") {
		t.Error("recalled by content a file whose sum was never learned")
	}
	c.Close()
	c = open()
	if id, _ := lstat(a, false); c.index.Memos["ka"].Read[1].ID != id {
		t.Error("the touched file's new identity was not kept")
	}
	os.WriteFile(a, []byte("other content"), 0o644) // the same size
	touch(a, 2*time.Hour)
	if recall(c, "ka") {
		t.Error("recalled after the file's bytes changed")
	}
}
