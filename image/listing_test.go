package image

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/initkit/initkit/internal/jsontest"
)

func TestModeString(t *testing.T) {
	for mode, want := range map[uint32]string{
		0o100644: "-rw-r--r--", 0o104755: "-rwsr-xr-x", 0o102644: "-rw-r-Sr--",
		0o041777: "drwxrwxrwt", 0o120777: "lrwxrwxrwx", 0o020600: "crw-------", 0o060660: "brw-rw----",
	} {
		if got := ModeString(mode); got != want {
			t.Errorf("ModeString(%o) = %s, want %s", mode, got, want)
		}
	}
}

// ls --json: snake_case keys, none twice.
func TestListJSON(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "etc"), 0o755)
	os.WriteFile(filepath.Join(dir, "etc", "f"), []byte("x"), 0o644)
	os.Symlink("f", filepath.Join(dir, "etc", "l"))
	var img bytes.Buffer
	if _, _, err := Pack(&img, dir, PackOptions{Compress: "gzip", Split: "0"}); err != nil {
		t.Fatal(err)
	}
	l, err := List(&img)
	if err != nil {
		t.Fatal(err)
	}
	var js bytes.Buffer
	if err := l.Write(&js, -1, true); err != nil {
		t.Fatal(err)
	}
	keys := jsontest.CheckKeys(t, js.Bytes())
	for _, k := range []string{"segments.compression", "entries.name", "entries.link_target", "entries.header_offset"} {
		if !keys[k] {
			t.Errorf("no %s in %s", k, js.String())
		}
	}
}
