// Package syncbuf is a byte buffer that several goroutines may write to,
// optionally keeping only the last bytes written.
package syncbuf

import "sync"

// Buffer collects what is written to it. With Max > 0 it keeps only the
// last Max bytes: the tail of a stream whose end is what matters.
type Buffer struct {
	Max int
	mu  sync.Mutex
	b   []byte
}

// Write implements io.Writer; it never fails.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b = append(b.b, p...)
	if b.Max > 0 && len(b.b) > b.Max {
		b.b = append(b.b[:0], b.b[len(b.b)-b.Max:]...)
	}
	return len(p), nil
}

// String returns what the buffer holds.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.b)
}
