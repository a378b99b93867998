package compress

import (
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
)

// WriterOptions tune a compressor. The zero value gives each format's
// default level on every core.
type WriterOptions struct {
	// Level in the format's own scale (gzip 1-9, zstd 1-22, lz4 1-9:
	// Format.CheckLevel); 0 means the format's default. xz has no levels.
	Level int
	// Concurrency is the number of goroutines compressing; 0 means
	// GOMAXPROCS, 1 means a single-threaded compressor. The output does not
	// depend on it for zstd; for gzip, 1 and more than 1 give different (both
	// deterministic) streams.
	Concurrency int
}

// Procs is the number of goroutines Concurrency asks for.
func (o WriterOptions) Procs() int {
	if o.Concurrency > 0 {
		return o.Concurrency
	}
	return runtime.GOMAXPROCS(0)
}

// BestWindow is the zstd window at levels 10 and above.
const BestWindow = 32 << 20

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// NewWriter returns a writer that compresses into w. Close flushes the
// stream but does not close w.
func NewWriter(w io.Writer, f Format, o WriterOptions) (io.WriteCloser, error) {
	if err := f.CheckLevel(o.Level); err != nil && f.Writable() {
		return nil, err
	}
	switch f {
	case None:
		return nopCloser{w}, nil
	case Gzip:
		return newGzip(w, o)
	case Zstd:
		level := zstd.SpeedDefault
		if o.Level > 0 {
			level = zstd.EncoderLevelFromZstd(o.Level)
		}
		opts := []zstd.EOption{zstd.WithEncoderLevel(level), zstd.WithEncoderConcurrency(o.Procs())}
		if level == zstd.SpeedBestCompression {
			// Levels 10-22 all map to the library's best mode, whose
			// default 8 MiB window leaves an image 2 % larger than
			// C zstd -9 makes; 32 MiB makes it 1 % smaller (a 53 MB
			// distribution file set). The kernel's unzstd then needs a
			// 32 MiB window while it unpacks.
			opts = append(opts, zstd.WithWindowSize(BestWindow))
		}
		return newZstd(w, zstdKey{level, o.Procs()}, opts)
	case XZ:
		// lib/xz in the kernel verifies only CRC32 (or no check); the
		// library's default CRC64 makes the kernel refuse the image.
		return xz.WriterConfig{CheckSum: xz.CRC32}.NewWriter(w)
	case LZ4:
		zw := lz4.NewWriter(w)
		opts := []lz4.Option{lz4.LegacyOption(true), lz4.ConcurrencyOption(o.Procs())}
		if o.Level > 0 {
			opts = append(opts, lz4.CompressionLevelOption(lz4Level(o.Level)))
		}
		if err := zw.Apply(opts...); err != nil {
			return nil, err
		}
		return zw, nil
	}
	return nil, fmt.Errorf("compress: cannot write %s (writable: none, gzip, zstd, xz, lz4)", f)
}

// zstdKey is what a pooled zstd encoder was made with.
type zstdKey struct {
	level zstd.EncoderLevel
	procs int
}

// zstdPool keeps idle zstd encoders by their settings: an image of
// pieces compresses each with a writer of its own, and a new encoder
// allocates (and clears) megabytes of tables and history each time. A
// reset encoder writes the bytes a new one would.
var zstdPool sync.Map // zstdKey -> *sync.Pool

type pooledZstd struct {
	*zstd.Encoder
	pool *sync.Pool
}

// Close ends the frame and gives the encoder back to the pool.
func (z *pooledZstd) Close() error {
	if z.Encoder == nil {
		return nil
	}
	err := z.Encoder.Close()
	z.Encoder.Reset(nil)
	z.pool.Put(z.Encoder)
	z.Encoder = nil
	return err
}

func newZstd(w io.Writer, k zstdKey, opts []zstd.EOption) (io.WriteCloser, error) {
	p, _ := zstdPool.LoadOrStore(k, &sync.Pool{})
	pool := p.(*sync.Pool)
	if enc, ok := pool.Get().(*zstd.Encoder); ok {
		enc.Reset(w)
		return &pooledZstd{enc, pool}, nil
	}
	enc, err := zstd.NewWriter(w, opts...)
	if err != nil {
		return nil, err
	}
	return &pooledZstd{enc, pool}, nil
}

func newGzip(w io.Writer, o WriterOptions) (io.WriteCloser, error) {
	level := o.Level
	if level == 0 {
		level = 6
	}
	if o.Procs() == 1 {
		return gzip.NewWriterLevel(w, level)
	}
	zw, err := pgzip.NewWriterLevel(w, level)
	if err != nil {
		return nil, err
	}
	// 1 MiB blocks, two in flight per worker: enough to keep every core busy.
	if err := zw.SetConcurrency(1<<20, 2*o.Procs()); err != nil {
		return nil, err
	}
	return zw, nil
}

func lz4Level(l int) lz4.CompressionLevel {
	if l <= 1 {
		return lz4.Fast
	}
	if l > 9 {
		l = 9
	}
	return lz4.CompressionLevel(1 << (8 + l))
}
