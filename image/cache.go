package image

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"

	"github.com/initkit/initkit/cpio"
)

// Cache keeps the compressed pieces of images by the SHA-256 of their
// exact input - the entries' headers and contents, the compressor and
// its level - so that a rebuild compresses only the pieces whose input
// changed (WithCache). Package buildcache is initkit's, on disk.
type Cache interface {
	// Sum returns the SHA-256 of a host file's content and its size, and
	// whether it has them: those it knows for the file as it is now (by
	// its identity: dev, inode, size, mtime, ctime), else, when read is
	// true, the file's, read.
	Sum(path string, read bool) (sum [32]byte, size int64, ok bool, err error)
	// Learn tells the cache the sum of a file read whole while a piece
	// was compressed, for Sum to give at the next build.
	Learn(path string, sum [32]byte, size int64)
	// Changed says whether a host file may no longer hold the content
	// that Sum gave: a piece read from it is then not cached.
	Changed(path string, sum [32]byte) bool
	// Warm says whether the cache holds an earlier build of this image:
	// only then is a file whose sum it does not know read before its
	// piece is compressed, to look the piece up. Otherwise the file is
	// summed as it is compressed, read once.
	Warm() bool
	// Get returns the bytes of the piece with this key, whole and as
	// they were put, or false. The writer only reads them, and not
	// after the segment is written: a cache may map them.
	Get(key [32]byte) ([]byte, bool)
	// Put keeps a piece's bytes, data's chunks one after the other,
	// under its key.
	Put(key [32]byte, data ...[]byte)
}

// Piece is one independently compressed archive of a segment, as
// WithCache reports it.
type Piece struct {
	First, Last string // its first and last entries
	Entries     int
	Out         int64    // compressed bytes
	Key         [32]byte // the SHA-256 of its input
	Cached      bool     // taken from the cache, not compressed
	// Sums are its entries' digests (header and content), in order: what
	// changed since another build is told by them.
	Sums []EntrySum
}

// EntrySum is an entry's digest: its header as written and its content.
type EntrySum struct {
	Name            string
	Header, Content [32]byte
}

// WithCache has the pieces of a split segment (WithSplit) looked up in c
// by their input before they are compressed, and the ones compressed put
// there; report, when not nil, is told every piece once the segment is
// written. The bytes are the same with and without a cache.
func WithCache(c Cache, report func([]Piece)) Option {
	return func(o *Options) { o.Cache, o.Report = c, report }
}

// contents finds a piece's entries' content sums and sizes: of data in
// memory, computed; of host files, from the cache (Sum). unknown lists
// the entries whose file is to be summed while it is compressed.
func (o Options) contents(part []File) (sums []EntrySum, sizes []int64, unknown []int, err error) {
	sums, sizes = make([]EntrySum, len(part)), make([]int64, len(part))
	read := o.Cache.Warm()
	for i, f := range part {
		sums[i].Name = f.Name
		switch {
		case f.Type() != cpio.TypeReg || f.Size < 0:
		case f.Source == "":
			sums[i].Content, sizes[i] = sha256.Sum256(f.Data), int64(len(f.Data))
		default:
			var ok bool
			if sums[i].Content, sizes[i], ok, err = o.Cache.Sum(f.Source, read); err != nil {
				return nil, nil, nil, fmt.Errorf("%s: %w", f.Name, err)
			}
			if !ok || f.Size > 0 && sizes[i] != f.Size {
				unknown = append(unknown, i)
			}
		}
	}
	return sums, sizes, unknown, nil
}

// headers digests the entries' headers as written, with their sizes.
func headers(part []File, sums []EntrySum, sizes []int64) {
	for i, f := range part {
		h := sha256.New()
		put(h, f.Name, f.Linkname)
		for _, v := range []uint64{uint64(f.Mode), uint64(f.UID), uint64(f.GID), uint64(f.NLink), uint64(f.ModTime), uint64(sizes[i]),
			uint64(f.Ino), uint64(f.DevMajor), uint64(f.DevMinor), uint64(f.RDevMajor), uint64(f.RDevMinor)} {
			binary.Write(h, binary.LittleEndian, v)
		}
		copy(sums[i].Header[:], h.Sum(nil))
	}
}

// key is a piece's cache key: the format of the pieces, the compressor,
// and its entries' digests in order.
func (o Options) key(sums []EntrySum) [32]byte {
	h := sha256.New()
	put(h, "initkit piece 1", o.Compression.String(), fmt.Sprint(o.Compress.Level, o.CRC, o.Split))
	for _, e := range sums {
		h.Write(e.Header[:])
		h.Write(e.Content[:])
	}
	var k [32]byte
	copy(k[:], h.Sum(nil))
	return k
}

// put writes strings to h, each with its length first: no two lists of
// strings write the same bytes.
func put(h hash.Hash, ss ...string) {
	for _, s := range ss {
		binary.Write(h, binary.LittleEndian, uint64(len(s)))
		h.Write([]byte(s))
	}
}
