package vmexec

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/initkit/initkit/guest"
)

// FuzzStatusPort: whatever the guest sends on its status port, in any
// chunks, a file is written only where an output asked for one (the file
// output, or directly in the directory output), never more bytes than
// the bound, and nothing half written is left behind.
func FuzzStatusPort(f *testing.F) {
	frame := func(i int, name, data string) string {
		return string(guest.FileHeader("tok", i, int64(len(data)), name)) + data
	}
	f.Add([]byte("text\n"+frame(0, "a", "x\ny")+frame(1, "", "z")+string(guest.StatusLine("tok", 0))), uint8(3))
	f.Add([]byte(frame(0, "../up", "x")+frame(0, "big", strings.Repeat("b", 300))), uint8(0))
	f.Add([]byte(string(guest.FileHeader("tok", 0, 1<<62, "huge"))+"abc"), uint8(1))
	saved := MaxReturned
	f.Cleanup(func() { MaxReturned = saved })
	MaxReturned = 256
	f.Fuzz(func(t *testing.T, stream []byte, chunk uint8) {
		top := t.TempDir()
		dir, file := filepath.Join(top, "out", "d"), filepath.Join(top, "out", "f")
		p := newStatusPort("tok", []guest.Output{{Path: dir, Dir: true}, {Path: file}})
		for n := int(chunk) + 1; len(stream) > 0; stream = stream[min(n, len(stream)):] {
			p.Write(stream[:min(n, len(stream))])
		}
		p.finish()
		var total int64
		filepath.WalkDir(top, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if path != file && filepath.Dir(path) != dir {
				t.Errorf("a file outside the outputs: %s", path)
			}
			if info, err := d.Info(); err == nil {
				total += info.Size()
			}
			return nil
		})
		if total > MaxReturned {
			t.Errorf("%d bytes came back, the bound is %d", total, MaxReturned)
		}
		os.RemoveAll(top)
	})
}
