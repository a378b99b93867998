package image

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/initkit/initkit/compress"
	"github.com/initkit/initkit/cpio"
)

// DefaultSplit is the segment size initkit build uses. Measured on two
// cores: xz and zstd at levels 10 and above, whose encoders use one core
// per stream, take 40-45 % less time; zstd at lower levels and gzip,
// whose encoders already use both, take the same. At 32 MiB a segment
// fills zstd's largest window (compress.BestWindow): smaller segments
// would lose the long matches that make an image smaller.
const DefaultSplit = 32 << 20

// ParseSize reads a size in bytes, with an optional K, M or G suffix
// (powers of 1024).
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	shift := 0
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K', 'k':
			shift = 10
		case 'M', 'm':
			shift = 20
		case 'G', 'g':
			shift = 30
		}
		if shift > 0 {
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil || v < 0 || v > math.MaxInt64>>shift {
		return 0, fmt.Errorf("size %q: want a number of bytes, with K, M or G", s)
	}
	return v << shift, nil
}

// parts cuts sorted entries where WithSplit asks for it; one part means
// no split.
func (o Options) parts(sorted []File) [][]File {
	switch o.Compression {
	case compress.Zstd, compress.XZ, compress.Gzip:
	default:
		return [][]File{sorted}
	}
	if o.Split <= 0 {
		return [][]File{sorted}
	}
	// Cut by size alone, then move the names of a hardlink set into the
	// part of its last name (which carries the data): they keep their
	// order, and their directories come before them, in an earlier part.
	part := make([]int, len(sorted))
	n := 0
	var size int64
	for i, f := range sorted {
		part[i] = n
		size += 112 + int64(len(f.Name)) + max(f.Size, int64(len(f.Data)))
		if size >= o.Split && i+1 < len(sorted) {
			n, size = n+1, 0
		}
	}
	lastPart := map[string]int{}
	for i, f := range sorted {
		if f.LinkGroup != "" && f.Type() == cpio.TypeReg {
			lastPart[f.LinkGroup] = part[i]
		}
	}
	parts := make([][]File, n+1)
	for i, f := range sorted {
		p := part[i]
		if f.LinkGroup != "" && f.Type() == cpio.TypeReg {
			p = lastPart[f.LinkGroup]
		}
		parts[p] = append(parts[p], f)
	}
	return slices.DeleteFunc(parts, func(p []File) bool { return len(p) == 0 })
}

// writeParts compresses the parts concurrently, each on one goroutine,
// and writes them to w in order as soon as each is ready.
func writeParts(w io.Writer, parts [][]File, o Options) error {
	one := o
	one.Compress.Concurrency = 1
	workers := o.Compress.Procs()
	type result struct {
		buf bytes.Buffer
		err error
	}
	results := make([]chan *result, len(parts))
	for i := range results {
		results[i] = make(chan *result, 1)
	}
	jobs := make(chan int)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range min(workers, len(parts)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				r := &result{}
				r.err = writeArchive(&r.buf, parts[i], one)
				results[i] <- r
			}
		}()
	}
	go func() { // parts start in order, as workers free up
		defer close(jobs)
		for i := range parts {
			select {
			case jobs <- i:
			case <-stop:
				return
			}
		}
	}()
	defer wg.Wait()
	defer close(stop)
	for i := range parts {
		r := <-results[i]
		if r.err != nil {
			return r.err
		}
		if _, err := w.Write(r.buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}
