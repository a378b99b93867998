package kernel

import (
	"bytes"
	"io"
	"sync"
)

// Progress returns a writer for Tree.Log that shows make's output on a
// terminal as one line, rewritten with each line make prints ("  CC
// init/main.o"), instead of scrolling thousands past; the whole log is
// still kept in the build directory (LogName).
func Progress(term io.Writer) io.Writer { return &progress{w: term} }

type progress struct {
	mu      sync.Mutex
	w       io.Writer
	partial []byte
}

func (p *progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.partial = append(p.partial, b...)
	i := bytes.LastIndexByte(p.partial, '\n')
	if i < 0 {
		return len(b), nil
	}
	lines := bytes.Split(p.partial[:i], []byte("\n"))
	last := bytes.TrimSpace(lines[len(lines)-1])
	if len(last) > 100 {
		last = last[:100]
	}
	p.partial = append(p.partial[:0], p.partial[i+1:]...)
	// Carriage return and erase to the end of the line: one line, rewritten.
	if _, err := io.WriteString(p.w, "\r\x1b[K"+string(last)); err != nil {
		return 0, err
	}
	return len(b), nil
}
