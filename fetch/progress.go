package fetch

import (
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// progress draws a download's line on a terminal: name, bytes, percent.
type progress struct {
	w     io.Writer
	name  string
	total int64
	n     atomic.Int64
	last  time.Time
}

// counter returns the writer that counts the bytes as they arrive, from
// have already there.
func (p *progress) counter(have int64) io.Writer {
	p.n.Store(have)
	return p
}

func (p *progress) Write(b []byte) (int, error) {
	n := p.n.Add(int64(len(b)))
	if p.w != nil && time.Since(p.last) > 200*time.Millisecond {
		p.last = time.Now()
		p.draw(n)
	}
	return len(b), nil
}

func (p *progress) draw(n int64) {
	if p.total > 0 {
		fmt.Fprintf(p.w, "\r%s: %.1f / %.1f MiB (%d%%)  ", p.name, mib(n), mib(p.total), n*100/p.total)
		return
	}
	fmt.Fprintf(p.w, "\r%s: %.1f MiB  ", p.name, mib(n))
}

// done ends the line.
func (p *progress) done() {
	if p.w != nil && !p.last.IsZero() {
		p.draw(p.n.Load())
		fmt.Fprintln(p.w)
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
