package pid1

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The plain system call helpers must agree with package os, which they
// replace on the boot path.

func TestReadFileMatchesOS(t *testing.T) {
	dir := t.TempDir()
	big := bytes.Repeat([]byte("0123456789abcdef"), 1000) // grows the buffer many times
	os.WriteFile(filepath.Join(dir, "big"), big, 0o644)
	os.WriteFile(filepath.Join(dir, "empty"), nil, 0o644)
	for _, p := range []string{filepath.Join(dir, "big"), filepath.Join(dir, "empty"), "/proc/self/cmdline", "/proc/cmdline"} {
		want, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := readFile(p)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("readFile(%s) = %d bytes, %v; os.ReadFile: %d bytes", p, len(got), err, len(want))
		}
	}
	_, err := readFile(filepath.Join(dir, "missing"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing file: %v, want a not-exist error naming the file", err)
	}
}

func TestReadTrimmed(t *testing.T) {
	p := filepath.Join(t.TempDir(), "size")
	os.WriteFile(p, []byte("65536\n"), 0o644)
	if got := readTrimmed(p); got != "65536" {
		t.Errorf("readTrimmed = %q", got)
	}
	if got := readTrimmed(p + "-missing"); got != "" {
		t.Errorf("missing: %q", got)
	}
}

func TestLines(t *testing.T) {
	var got []string
	lines([]byte("a: b c\n\n  # comment\n\tkernel/x.ko  \r\nlast"), func(l string) { got = append(got, l) })
	want := []string{"a: b c", "kernel/x.ko", "last"}
	if !slices.Equal(got, want) {
		t.Errorf("lines = %q, want %q", got, want)
	}
}

func TestReadDirMatchesOS(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "file"), nil, 0o644)
	os.Symlink("sub", filepath.Join(dir, "link")) // a link to a directory is not a directory
	for i := 0; i < 300; i++ {                    // more than one getdents buffer
		os.WriteFile(filepath.Join(dir, "f"+strings.Repeat("x", i%50)+string(rune('a'+i%26))+string(rune('0'+i%10))), nil, 0o644)
	}
	for _, d := range []string{dir, "/proc/self", "/"} {
		want, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		got, err := readDir(d)
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(got, func(a, b dirEnt) int { return strings.Compare(a.name, b.name) })
		if len(got) != len(want) {
			t.Fatalf("%s: readDir found %d entries, os.ReadDir %d", d, len(got), len(want))
		}
		for i := range want {
			if got[i].name != want[i].Name() || got[i].dir != want[i].IsDir() {
				t.Errorf("%s: entry %d = %+v, os.ReadDir: %s dir=%v", d, i, got[i], want[i].Name(), want[i].IsDir())
			}
		}
	}
	if _, err := readDir(filepath.Join(dir, "file")); !errors.Is(err, unix.ENOTDIR) {
		t.Errorf("readDir of a file: %v", err)
	}
}

func TestDevFileReadAt(t *testing.T) {
	p := filepath.Join(t.TempDir(), "disk")
	data := make([]byte, 10000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	os.WriteFile(p, data, 0o644)
	f, err := openDev(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	if n, err := f.ReadAt(buf, 1024); n != 4096 || err != nil || !bytes.Equal(buf, data[1024:5120]) {
		t.Errorf("ReadAt(1024) = %d, %v", n, err)
	}
	if n, err := f.ReadAt(buf, 8000); n != 2000 || err != io.EOF || !bytes.Equal(buf[:n], data[8000:]) {
		t.Errorf("ReadAt past the end = %d, %v; want 2000, EOF", n, err)
	}
}

func TestReadlinkLong(t *testing.T) {
	dir := t.TempDir()
	target := strings.Repeat("d/", 300) + "end" // longer than the first buffer
	os.Symlink(target, filepath.Join(dir, "l"))
	if got, err := readlink(filepath.Join(dir, "l")); got != target || err != nil {
		t.Errorf("readlink = %d bytes, %v", len(got), err)
	}
}
