package image

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/initkit/initkit/cpio"
)

var update = flag.Bool("update", false, "rewrite testdata fixtures")

type fixtureEntry struct {
	name, link, data string
}

// traversalCases: each archive tries to write outside the target. The
// first group must fail naming the entry; the last is legal but must not
// write through the symlink it replaces.
var traversalCases = []struct {
	file    string
	entries []fixtureEntry
	refused string // the entry named in the error; "" if extraction succeeds
}{
	{"dotdot.cpio", []fixtureEntry{{name: "../escape", data: "x"}}, "../escape"},
	{"nested-dotdot.cpio", []fixtureEntry{{name: "a/../../escape", data: "x"}}, "a/../../escape"},
	{"absolute.cpio", []fixtureEntry{{name: "/escape", data: "x"}}, "/escape"},
	{"symlink-parent.cpio", []fixtureEntry{{name: "up", link: ".."}, {name: "up/escape", data: "x"}}, "up/escape"},
	{"symlink-absolute.cpio", []fixtureEntry{{name: "etc", link: "/tmp"}, {name: "etc/escape", data: "x"}}, "etc/escape"},
	{"symlink-chain.cpio", []fixtureEntry{{name: "a", link: "b"}, {name: "b", link: "../.."}, {name: "a/escape", data: "x"}}, "a/escape"},
	{"replace-symlink.cpio", []fixtureEntry{{name: "victim", link: "../sentinel"}, {name: "victim", data: "inside"}}, ""},
}

func fixtureArchive(entries []fixtureEntry) []byte {
	var buf bytes.Buffer
	w := cpio.NewWriter(&buf)
	for i, e := range entries {
		h := &cpio.Header{Name: e.name, Mode: cpio.TypeReg | 0o644, NLink: 1, Ino: uint32(i + 1), Size: int64(len(e.data))}
		if e.link != "" {
			h.Mode, h.Linkname, h.Size = cpio.TypeLink|0o777, e.link, 0
		}
		w.WriteHeader(h)
		w.Write([]byte(e.data))
	}
	w.Close()
	return buf.Bytes()
}

func listAll(t *testing.T, dir string) []string {
	var out []string
	filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			out = append(out, strings.TrimPrefix(p, dir))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func TestTraversalFixtures(t *testing.T) {
	for _, c := range traversalCases {
		t.Run(c.file, func(t *testing.T) {
			path := filepath.Join("testdata", "traversal", c.file)
			want := fixtureArchive(c.entries)
			if *update {
				os.WriteFile(path, want, 0o644)
			}
			archive, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(archive, want) {
				t.Fatalf("%s is out of date: go test ./image -run Traversal -update", path)
			}
			// parent/sentinel stands outside the target parent/out, and a
			// scratch /tmp file name would show an absolute escape.
			parent := t.TempDir()
			os.WriteFile(filepath.Join(parent, "sentinel"), []byte("untouched"), 0o644)
			os.Remove("/tmp/escape")
			target := filepath.Join(parent, "out")
			_, err = Extract(bytes.NewReader(archive), target, DefaultExtractOptions())
			if c.refused != "" {
				if err == nil || !strings.Contains(err.Error(), `"`+c.refused+`"`) {
					t.Fatalf("error %v, want one naming %q", err, c.refused)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(filepath.Join(parent, "sentinel")); string(b) != "untouched" {
				t.Fatalf("sentinel outside the target now holds %q", b)
			}
			for _, p := range listAll(t, parent) {
				if p != "" && p != "/sentinel" && p != "/out" && !strings.HasPrefix(p, "/out/") {
					t.Errorf("written outside the target: %s", p)
				}
			}
			if _, err := os.Lstat("/tmp/escape"); err == nil {
				t.Error("/tmp/escape was written")
			}
		})
	}
}
