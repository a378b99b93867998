package atomicfile

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	for name, write := range map[string]func(string, os.FileMode, func(io.Writer) error) error{
		"Write": Write, "WriteUnsynced": WriteUnsynced,
	} {
		t.Run(name, func(t *testing.T) { testWrite(t, write) })
	}
}

func testWrite(t *testing.T, write func(string, os.FileMode, func(io.Writer) error) error) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.img")
	if err := write(p, 0o640, func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err }); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "new" {
		t.Fatalf("content %q", b)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v", st.Mode())
	}
	// A failing fill leaves the old file and no temporary file.
	err := write(p, 0o644, func(w io.Writer) error {
		io.WriteString(w, "half")
		return errors.New("disk on fire")
	})
	if err == nil {
		t.Fatal("no error")
	}
	if b, _ := os.ReadFile(p); string(b) != "new" {
		t.Fatalf("old content damaged: %q", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("left behind: %v", ents)
	}
}

// A temporary file whose writer is gone (a SIGKILL) is removed by the
// next write; one of a live process is kept.
func TestRemovesStale(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.img")
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, tempPrefix(p, dead.Process.Pid)+"123")
	alive := filepath.Join(dir, tempPrefix(p, os.Getppid())+"456")
	os.WriteFile(stale, []byte("x"), 0o644)
	os.WriteFile(alive, []byte("x"), 0o644)
	if err := Write(p, 0o644, func(w io.Writer) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temporary file kept: %v", err)
	}
	if _, err := os.Stat(alive); err != nil {
		t.Errorf("a live writer's file removed: %v", err)
	}
}

// Cleanup removes what a write in progress has written so far.
func TestCleanup(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.img")
	Write(p, 0o644, func(w io.Writer) error {
		io.WriteString(w, "partial")
		Cleanup()
		return nil
	})
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left: %v", ents)
	}
}

// A scratch directory a killed process left goes at the next write; a
// live one's is removed by its done function, and by Cleanup.
func TestScratchDir(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "disk.img")
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, tempPrefix(p, dead.Process.Pid)+"789")
	os.MkdirAll(filepath.Join(stale, "sub"), 0o755)
	s, done, err := ScratchDir(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale scratch directory kept: %v", err)
	}
	os.WriteFile(filepath.Join(s, "f"), []byte("x"), 0o644)
	done()
	s2, _, err := ScratchDir(p)
	if err != nil {
		t.Fatal(err)
	}
	Cleanup()
	for _, d := range []string{s, s2} {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s kept: %v", d, err)
		}
	}
}

// A temporary directory a killed run left (its PID gone) is removed by
// the next run of the same kind; a live process's is kept.
func TestTempDirSweepsDeadRuns(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := filepath.Join(os.TempDir(), "initkit-qmp-"+strconv.Itoa(cmd.Process.Pid)+"-123")
	alive := filepath.Join(os.TempDir(), "initkit-qmp-"+strconv.Itoa(os.Getppid())+"-456")
	os.MkdirAll(filepath.Join(dead, "sub"), 0o700)
	os.MkdirAll(alive, 0o700)
	d, err := TempDir("qmp")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dead); err == nil {
		t.Error("a dead run's directory was kept")
	}
	if _, err := os.Stat(alive); err != nil {
		t.Error("a live run's directory was removed")
	}
	if !strings.HasPrefix(filepath.Base(d), "initkit-qmp-"+strconv.Itoa(os.Getpid())+"-") {
		t.Errorf("TempDir = %s", d)
	}
}

// TestCreateNamesTheDirectory: a write into a directory that is not there
// names that directory, not the temporary file that could not be made.
func TestCreateNamesTheDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	err := Write(filepath.Join(dir, "out.img"), 0o644, func(io.Writer) error { return nil })
	if err == nil || err.Error() != "create in "+dir+": no such file or directory" {
		t.Errorf("error %v, want the directory named", err)
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error %v is not os.ErrNotExist", err)
	}
}
