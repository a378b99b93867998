package initramfs

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/initkit/initkit/buildcache"
	"github.com/initkit/initkit/compress"
	"github.com/initkit/initkit/image"
	"github.com/initkit/initkit/internal/atomicfile"
)

// Output says how to write an image.
type Output struct {
	Path        string
	Compression compress.Format
	Level, Jobs int
	Split       int64 // bytes of input per segment; 0 for one segment
	Epoch       int64
	Base        string // an existing image the new segment is appended to
	Scratch     bool   // a throw-away image: written atomically but not synced
	// Private writes the image 0600: it holds a secret (the SSH host's
	// private key), which any local user could read out of an 0644 file.
	Private bool
	// Cache, when set, keeps the segment's compressed pieces by their
	// input (image.WithCache), and Report is told the pieces.
	Cache  image.Cache
	Report func([]image.Piece)
	// Tail are entries written after the segment as one more, small and
	// uncompressed: per-run files (a token, a command line) that would
	// otherwise change a cached piece at every run.
	Tail []image.File
}

// OutputOf returns the output settings of a spec: compression default
// zstd, epoch default $SOURCE_DATE_EPOCH, else 0.
func (s *Spec) OutputOf() (Output, error) {
	o := Output{Path: s.Output, Level: s.Level, Private: s.HoldsSecret(), Tail: s.Tail, Scratch: s.Scratch}
	if o.Path == "" {
		return o, fmt.Errorf("no output: give -o FILE or output in [image]")
	}
	name := s.Compress
	if name == "" {
		name = "zstd"
	}
	f, err := compress.ParseFormat(name)
	if err != nil {
		return o, s.errorAt(s.Compress, "compress: %v", err)
	}
	if !f.Writable() {
		return o, s.errorAt(s.Compress, "compress: cannot write %s (writable: %v)", f, compress.WritableNames())
	}
	if err := f.CheckLevel(s.Level); err != nil {
		return o, s.errorAt("level", "%v", err)
	}
	o.Compression = f
	o.Split = image.DefaultSplit
	if s.Split != "" {
		if o.Split, err = image.ParseSize(s.Split); err != nil {
			return o, s.errorAt(s.Split, "split: %v", err)
		}
	}
	if s.Epoch != nil {
		o.Epoch = *s.Epoch
	} else if o.Epoch, err = image.Epoch(""); err != nil {
		return o, err
	}
	return o, nil
}

// Write writes files as one segment to o.Path, atomically: after the base
// image when there is one. It returns the bytes written.
func Write(o Output, files []image.File) (int64, error) {
	var base *os.File
	if o.Base != "" {
		var err error
		if base, err = os.Open(o.Base); err != nil {
			return 0, err
		}
		defer base.Close()
	}
	var n int64
	write := atomicfile.Write
	if o.Scratch {
		write = atomicfile.WriteUnsynced
	}
	perm := os.FileMode(0o644)
	if o.Private {
		perm = 0o600
	}
	err := write(o.Path, perm, func(w io.Writer) error {
		cw := &countWriter{w: w}
		if base != nil {
			if _, err := image.CopyForAppend(cw, base); err != nil {
				return fmt.Errorf("base image %s: %w", o.Base, err)
			}
		}
		opts := []image.Option{image.WithCompression(o.Compression, compress.WriterOptions{Level: o.Level, Concurrency: o.Jobs}),
			image.WithModTime(o.Epoch), image.WithOwners(), image.WithSplit(o.Split)}
		if o.Cache != nil {
			opts = append(opts, image.WithCache(o.Cache, o.Report))
		}
		err := image.WriteSegment(cw, files, opts...)
		if err == nil && len(o.Tail) > 0 {
			err = image.WriteSegment(cw, o.Tail, image.WithModTime(o.Epoch), image.WithOwners())
		}
		n = cw.n
		return err
	})
	return n, err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// InputBytes sums the data the files carry, a hardlink set's once.
func InputBytes(files []image.File) int64 {
	var n int64
	seen := map[string]bool{}
	for _, f := range files {
		if f.LinkGroup != "" {
			if seen[f.LinkGroup] {
				continue
			}
			seen[f.LinkGroup] = true
		}
		n += int64(len(f.Data))
		if f.Source != "" {
			n += f.Size
		}
	}
	return n
}

// Result is what Build made.
type Result struct {
	Output Output // the settings the image was written with
	Tree   *Tree  // its entries, and why each is there
	Bytes  int64  // the bytes written, the base's copy included
	// Cache says what the cache gave: for the module and closure
	// resolutions, whether they were recalled; for each compressed
	// piece, whether it was reused and why one was compressed
	// (buildcache.Explain). Empty without the cache.
	Cache []string
}

// Build assembles the spec and writes its image, after a copy of base when
// base is not empty, compressing with jobs threads (0: all cores).
func (s *Spec) Build(base string, jobs int) (*Result, error) {
	if jobs < 0 {
		return nil, fmt.Errorf("jobs %d: want 1 or more compression threads (0: all cores)", jobs)
	}
	if err := s.expand(); err != nil {
		return nil, err
	}
	o, err := s.OutputOf()
	if err != nil {
		return nil, err
	}
	o.Base, o.Jobs = base, jobs
	c := s.openCache(o)
	if c != nil {
		defer c.Close()
	}
	s.cache, s.explained = c, nil
	tree, err := s.Assemble()
	s.cache = nil
	if err != nil {
		return nil, err
	}
	var pieces []image.Piece
	if c != nil {
		o.Cache, o.Report = c, func(p []image.Piece) { pieces = p }
	}
	n, err := Write(o, tree.Files())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Path, err)
	}
	res := &Result{Output: o, Tree: tree, Bytes: n}
	if c != nil {
		c.Built(pieces)
		res.Cache = append(s.explained, c.Explain(pieces)...)
	}
	if o.Private && s.Log != nil {
		fmt.Fprintf(s.Log, "%s holds the SSH host's private key: written 0600, for your eyes only\n", o.Path)
	}
	return res, nil
}

// Inputs are the host paths the image was made from: every file it
// holds, and the directories holding them (a file added to one, or
// replaced by a rename, changes the directory): what build --watch
// watches.
func (r *Result) Inputs() []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range r.Tree.Files() {
		if f.Source == "" {
			continue
		}
		for _, p := range []string{f.Source, filepath.Dir(f.Source)} {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	slices.Sort(out)
	return out
}

// openCache opens the piece cache the build uses, scoped to its output:
// none when the spec says so, when the image holds a secret (its pieces
// would outlive it in the cache), or when the cache cannot be opened
// (the build goes on without).
func (s *Spec) openCache(o Output) *buildcache.Cache {
	if s.NoCache || o.Private {
		return nil
	}
	scope := s.CacheScope
	if scope == "" {
		scope, _ = filepath.Abs(o.Path)
	}
	c, err := buildcache.Default(scope, s.CacheSize)
	if err != nil {
		return nil
	}
	return c
}
