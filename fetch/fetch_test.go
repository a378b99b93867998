package fetch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// payload is a file's content, and its xz compression by the real xz.
func payload(t *testing.T) (plain, packed []byte) {
	t.Helper()
	plain = bytes.Repeat([]byte("initkit fetch test line\n"), 40000)
	cmd := exec.Command("xz", "-c", "-T1")
	cmd.Stdin = bytes.NewReader(plain)
	packed, err := cmd.Output()
	if err != nil {
		t.Fatalf("xz: %v", err)
	}
	return plain, packed
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// leftovers lists what a failed download left in dir.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, "*"))
	hidden, _ := filepath.Glob(filepath.Join(dir, ".*"))
	return append(names, hidden...)
}

func TestGetDecompresses(t *testing.T) {
	plain, packed := payload(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "x.xz", time.Time{}, bytes.NewReader(packed))
	}))
	defer srv.Close()
	dir := t.TempDir()
	dest := filepath.Join(dir, "bzImage")
	f, err := Get(context.Background(), srv.URL+"/assets/bzImage-0123abcd.xz?x=1", dest, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(dest)
	if !bytes.Equal(got, plain) || f.SHA256 != sum(plain) || f.Size != int64(len(plain)) || f.Compression != "xz" {
		t.Errorf("got %d bytes, file %+v; want %d bytes, sha256 %s", len(got), f, len(plain), sum(plain))
	}
	if left := leftovers(t, dir); len(left) != 1 {
		t.Errorf("the directory holds %v, want the file alone", left)
	}
}

// A connection that breaks halfway is resumed with a Range request.
func TestGetResumes(t *testing.T) {
	plain, _ := payload(t)
	var broke atomic.Bool
	var ranges atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "" {
			ranges.Add(1)
			http.ServeContent(w, r, "f", time.Time{}, bytes.NewReader(plain))
			return
		}
		if !broke.Swap(true) {
			w.Header().Set("Content-Length", strconv.Itoa(len(plain)))
			w.Write(plain[:len(plain)/2])
			panic(http.ErrAbortHandler) // the connection breaks
		}
		w.Write(plain)
	}))
	defer srv.Close()
	dest := filepath.Join(t.TempDir(), "f")
	f, err := Get(context.Background(), srv.URL+"/f", dest, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if f.SHA256 != sum(plain) || ranges.Load() != 1 {
		t.Errorf("sha256 %s (want %s), %d range requests (want 1)", f.SHA256, sum(plain), ranges.Load())
	}
}

func TestGetFailsClean(t *testing.T) {
	plain, _ := payload(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/missing":
			http.NotFound(w, r)
		case "/truncated":
			// Claims more than it sends, every time, and cannot resume.
			w.Header().Set("Content-Length", strconv.Itoa(len(plain)))
			w.Write(plain[:1000])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		case "/bomb.xz":
			w.Write([]byte("not xz at all"))
		case "/big":
			w.Write(plain)
		case "/stall":
			w.Header().Set("Content-Length", "100")
			w.Write([]byte("abc"))
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}
	}))
	defer srv.Close()
	for _, c := range []struct {
		path, want string
		o          Options
	}{
		{"/missing", "/missing: HTTP 404 Not Found", Options{}},
		{"/truncated", "(after 3 tries)", Options{}},
		{"/truncated", "truncated: 1000 of 960000 bytes", Options{Tries: 1}},
		{"/bomb.xz", "/bomb.xz: xz", Options{}},
		{"/big", "more than 1000 bytes", Options{MaxSize: 1000}},
		{"/stall", "nothing received for 200ms at byte 3", Options{Stall: 200 * time.Millisecond, Tries: 1}},
	} {
		t.Run(c.path, func(t *testing.T) {
			dir := t.TempDir()
			dest := filepath.Join(dir, "out")
			os.WriteFile(dest, []byte("old"), 0o644)
			_, err := Get(context.Background(), srv.URL+c.path, dest, c.o)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), srv.URL) {
				t.Fatalf("error %v, want one naming the URL and %q", err, c.want)
			}
			if b, _ := os.ReadFile(dest); string(b) != "old" {
				t.Errorf("the file there was replaced by %d bytes", len(b))
			}
			if left := leftovers(t, dir); len(left) != 1 {
				t.Errorf("a failed download left %v", left)
			}
			var status *StatusError
			if c.path == "/missing" && (!errors.As(err, &status) || status.Code != 404) {
				t.Errorf("error %v is no StatusError of 404", err)
			}
		})
	}
}

func TestDecompressed(t *testing.T) {
	for in, want := range map[string]string{"a.xz": "a", "b.gz": "b", "c.zst": "c", "d.tar": "d.tar", ".xz": ".xz"} {
		if got, _ := Decompressed(in); got != want {
			t.Errorf("Decompressed(%q) = %q, want %q", in, got, want)
		}
	}
}
