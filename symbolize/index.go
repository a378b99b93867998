package symbolize

import (
	"encoding/gob"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/initkit/initkit/internal/atomicfile"
)

// Index remembers resolved frames for one vmlinux build-id in a file, so
// that decoding the same crash again reads no DWARF at all. The build-id
// names the file, so an index never answers for another build. It is
// written whole to a temporary file and renamed: two runs writing at once
// each leave a complete index (the last one's).
type Index struct {
	path    string
	mu      sync.Mutex
	entries map[string][]Frame
	dirty   bool
}

const indexVersion = 2 // 2: assembler units' names relative to the source tree

type indexFile struct {
	Version int
	BuildID string
	Entries map[string][]Frame
}

// OpenIndex loads the index for buildID from dir, or starts an empty one.
// A file that cannot be read is started over, not trusted.
func OpenIndex(dir, buildID string) (*Index, error) {
	if buildID == "" {
		return nil, fmt.Errorf("no build-id: cannot key an index")
	}
	ix := &Index{path: filepath.Join(dir, buildID+".idx"), entries: map[string][]Frame{}}
	f, err := os.Open(ix.path)
	if err != nil {
		return ix, nil
	}
	defer f.Close()
	var file indexFile
	if gob.NewDecoder(f).Decode(&file) == nil && file.Version == indexVersion && file.BuildID == buildID {
		ix.entries = file.Entries
	}
	return ix, nil
}

func (ix *Index) get(key string) ([]Frame, bool) {
	if ix == nil {
		return nil, false
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	fr, ok := ix.entries[key]
	return fr, ok
}

func (ix *Index) put(key string, fr []Frame) {
	if ix == nil {
		return
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.entries[key] = fr
	ix.dirty = true
}

// Save writes the index if anything was added.
func (ix *Index) Save() error {
	if ix == nil || !ix.dirty {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(ix.path), 0o755); err != nil {
		return err
	}
	id := filepath.Base(ix.path)
	id = id[:len(id)-len(".idx")]
	return atomicfile.Write(ix.path, 0o644, func(w io.Writer) error {
		return gob.NewEncoder(w).Encode(indexFile{Version: indexVersion, BuildID: id, Entries: ix.entries})
	})
}
