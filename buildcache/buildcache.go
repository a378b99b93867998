// Package buildcache is initkit's cache of compressed image pieces
// (image.Cache) on disk: a rebuild recompresses only the pieces whose
// input changed, and the rest is read back.
//
// Layout, under the directory (default $INITKIT_CACHE/pieces):
//
//	pieces/XX/KEY   a piece: magic, CRC-32C and length of the bytes, the bytes
//	scope-HASH      per scope (an output path, "exec"): the content sums of
//	                the host files its last build read, by file identity,
//	                the pieces of that build, for Explain, and the
//	                resolutions kept (Keep)
//	sums            the sums every scope's last build learned: where a
//	                scope built for the first time starts
//
// A piece is written to a temporary file and renamed, so builds at once
// never see half of one; a piece whose length or CRC does not match is
// removed and compressed again, never shipped. The pieces are bounded
// by a size: the least recently used go first (Close).
package buildcache

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/gob"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/initkit/initkit/image"
	"github.com/initkit/initkit/internal/atomicfile"
	"github.com/initkit/initkit/internal/cache"
)

// DefaultLimit bounds the pieces kept: a few hundred images' worth of
// changes to a distribution-sized one.
const DefaultLimit = 512 << 20

// magic starts every piece file.
var magic = []byte("initkit-piece-1\n")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Cache is a cache directory opened for one scope.
type Cache struct {
	dir   string
	scope string
	limit int64

	mu      sync.Mutex
	index   scopeIndex          // as read, then added to
	read    map[string]identity // what Sum read in this process: Changed compares
	dirty   bool                // index changed
	put     int64               // bytes of pieces written: Close accounts for them
	last    []image.Piece       // the last build's pieces, as read
	built   bool                // Built was called: the sums are this build's
	seeded  bool                // a first build, its sums from the shared file
	learned bool                // sums learned: the shared file is told

	mapped [][]byte // pieces Get returned: unmapped by Close
}

// scopeIndex is what a scope keeps between builds.
type scopeIndex struct {
	Sums   map[string]fileSum // by identity
	Pieces []image.Piece      // the last build's
	Memos  map[string]memo    // Keep's results, by key
}

// memo is a result kept between builds (Keep), with the identities of
// the host paths it was made from.
type memo struct {
	Value []byte // gob
	Read  []pathID
	Used  int64 // when last kept or recalled, in Unix nanoseconds
}

// maxMemos bounds the results a scope keeps: the least recently used go.
const maxMemos = 32

// pathID is a path's identity as lstat sees it (the link itself, not
// what it points to), "" when there was nothing there; and for a regular
// file whose content sum the scope learned, that sum (Close fills it in).
type pathID struct {
	Path, ID string
	Sum      [32]byte
}

type fileSum struct {
	Sum  [32]byte
	Size int64
}

// identity is what says a host file is the one summed: its path, device,
// inode, size, and modification and change times (a change time cannot
// be set back).
type identity struct {
	path         string
	dev, ino     uint64
	size         int64
	mtime, ctime int64
}

// identityPath is the path of an identity's key.
func identityPath(key string) string { return key[:max(len(key)-identityTail, 0)] }

// identityTail is what key adds after the path.
const identityTail = 5 * 8

func (id identity) key() string {
	b := make([]byte, 0, len(id.path)+48)
	b = append(b, id.path...)
	for _, v := range []uint64{id.dev, id.ino, uint64(id.size), uint64(id.mtime), uint64(id.ctime)} {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	return string(b)
}

// lstat is a path's identity key, not following a last symlink, and
// its change time; "" when nothing is there. A directory is the same
// while it is the same directory - files written in it do not change
// what was found through it - unless listed, when its times count too
// (a file added to it changes its modification time).
func lstat(path string, listed bool) (string, time.Time) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return "", time.Time{}
	}
	id := identity{path: path, dev: st.Dev, ino: st.Ino, size: st.Size, mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano()}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR && !listed {
		id.size, id.mtime, id.ctime = 0, 0, 0
	}
	return id.key() + string(binary.LittleEndian.AppendUint32(nil, st.Mode)), time.Unix(0, id.ctime)
}

// splitID is an lstat identity's key (identity.key) and its file mode.
func splitID(id string) (key string, mode uint32) {
	if len(id) < 4 {
		return "", 0
	}
	return id[:len(id)-4], binary.LittleEndian.Uint32([]byte(id[len(id)-4:]))
}

func stat(path string) (identity, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return identity{}, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	return identity{path: path, dev: st.Dev, ino: st.Ino, size: st.Size,
		mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano()}, nil
}

// Default opens the cache under $INITKIT_CACHE/pieces for scope, bounded
// by limit bytes (0: DefaultLimit).
func Default(scope string, limit int64) (*Cache, error) {
	d, err := cache.Dir()
	if err != nil {
		return nil, err
	}
	return Open(filepath.Join(d, "pieces"), scope, limit)
}

// Open opens the cache in dir for scope (what the content sums and the
// last build are kept under: an image's output path, say).
func Open(dir, scope string, limit int64) (*Cache, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	if err := os.MkdirAll(filepath.Join(dir, "pieces"), 0o700); err != nil {
		return nil, err
	}
	c := &Cache{dir: dir, scope: scope, limit: limit, read: map[string]identity{}}
	c.loadIndex()
	c.last = c.index.Pieces
	if len(c.last) == 0 && len(c.index.Sums) == 0 {
		c.index.Sums = loadSums(filepath.Join(dir, sharedSums))
		c.seeded = len(c.index.Sums) > 0
	}
	return c, nil
}

// sharedSums is the file of the sums every scope's last build learned.
// A scope built for the first time - an image written to a new path -
// starts from them, so that it finds the pieces other scopes made of the
// same files without reading them.
const sharedSums = "sums"

// maxShared bounds the shared sums: past it, a build keeps its own only.
const maxShared = 1 << 16

// loadSums reads a file of sums; one that does not decode is none.
func loadSums(path string) map[string]fileSum {
	var sums map[string]fileSum
	if !readGob(path, &sums) || sums == nil {
		return map[string]fileSum{}
	}
	return sums
}

// share adds the sums of this build's files (the scope's, pruned) to the
// shared file, in place of any other sum of the same paths (an older
// version of a file edited between builds). Two builds that do it at
// once may lose some of each other's: a later build learns them again.
func (c *Cache) share() error {
	path := filepath.Join(c.dir, sharedSums)
	all, mine := loadSums(path), c.index.Sums
	if len(all)+len(mine) > maxShared {
		all = map[string]fileSum{}
	}
	for k := range all {
		if _, ok := c.read[identityPath(k)]; ok {
			delete(all, k)
		}
	}
	maps.Copy(all, mine)
	return atomicfile.WriteUnsynced(path, 0o600, func(w io.Writer) error { return gob.NewEncoder(w).Encode(all) })
}

// prune keeps the sums of the files this build summed: a file changed
// a thousand times leaves one sum, not a thousand.
func (c *Cache) prune() {
	kept := make(map[string]fileSum, len(c.read))
	for _, id := range c.read {
		if s, ok := c.index.Sums[id.key()]; ok {
			kept[id.key()] = s
		}
	}
	if len(kept) != len(c.index.Sums) {
		c.index.Sums, c.dirty = kept, true
	}
}

func (c *Cache) indexPath() string {
	h := sha256.Sum256([]byte(c.scope))
	return filepath.Join(c.dir, "scope-"+hex.EncodeToString(h[:8]))
}

// loadIndex reads the scope's index; one that does not decode is
// started afresh.
func (c *Cache) loadIndex() {
	c.index = scopeIndex{Sums: map[string]fileSum{}, Memos: map[string]memo{}}
	var ix scopeIndex
	if readGob(c.indexPath(), &ix) && ix.Sums != nil {
		c.index = ix
	}
	if c.index.Memos == nil {
		c.index.Memos = map[string]memo{}
	}
}

// readGob decodes the file at path into v, reading 64 MB at most, and
// says whether it did.
func readGob(path string, v any) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	return gob.NewDecoder(io.LimitReader(f, 64<<20)).Decode(v) == nil
}

// Recall decodes into v the result Keep kept under key, and says
// whether it did: only when every path it was made from has the
// identity it had - or, a regular file whose sum the scope learned, the
// bytes it had - and the initkit that kept it is the one running.
func (c *Cache) Recall(key string, v any) bool {
	c.mu.Lock()
	m, ok := c.index.Memos[key]
	c.mu.Unlock()
	if !ok || len(m.Read) == 0 || m.Read[0] != program() {
		return false
	}
	read := slices.Clone(m.Read)
	for i, r := range read[1:] {
		id, changed := lstat(listed(r.Path))
		if id == r.ID {
			continue
		}
		if !c.sameContent(r, id) {
			return false
		}
		if time.Since(changed) > racy {
			read[i+1].ID = id // touched, not changed: the next build need not read it
		}
	}
	if gob.NewDecoder(bytes.NewReader(m.Value)).Decode(v) != nil {
		return false
	}
	c.mu.Lock()
	m.Read, m.Used, c.dirty = read, time.Now().UnixNano(), true
	c.index.Memos[key] = m
	c.mu.Unlock()
	return true
}

// Keep keeps v (gob-encoded) under key for Recall, with the identities
// of the paths it was made from, read, and says whether it did: files
// read, paths looked up (found or not), directories passed through, and
// directories listed, named with a final "/". It keeps nothing when one
// of them changed in the last racy seconds: it may have changed while it
// was read, and its identity would not tell.
func (c *Cache) Keep(key string, v any, read []string) bool {
	ids := make([]pathID, 0, len(read)+1)
	ids = append(ids, program())
	for _, p := range read {
		id, changed := lstat(listed(p))
		if id != "" && !changed.IsZero() && time.Since(changed) < racy {
			return false
		}
		ids = append(ids, pathID{Path: p, ID: id})
	}
	var b bytes.Buffer
	if gob.NewEncoder(&b).Encode(v) != nil {
		return false
	}
	c.mu.Lock()
	c.index.Memos[key], c.dirty = memo{Value: b.Bytes(), Read: ids, Used: time.Now().UnixNano()}, true
	for len(c.index.Memos) > maxMemos {
		oldest := key
		for k, m := range c.index.Memos {
			if m.Used < c.index.Memos[oldest].Used {
				oldest = k
			}
		}
		delete(c.index.Memos, oldest)
	}
	c.mu.Unlock()
	return true
}

// sameContent says whether a path whose identity changed to id is a
// regular file still holding the content it was kept with: a file
// touched, copied back or reinstalled the same. It is read and summed
// (Sum), once for the pieces too.
func (c *Cache) sameContent(r pathID, id string) bool {
	if r.Sum == ([32]byte{}) || !regular(id) {
		return false
	}
	sum, _, ok, err := c.Sum(r.Path, true)
	return err == nil && ok && sum == r.Sum
}

// regular says whether an lstat identity is a regular file's.
func regular(id string) bool {
	_, mode := splitID(id)
	return mode&unix.S_IFMT == unix.S_IFREG
}

// fillSums gives every kept path that is a regular file the content sum
// the scope learned for its identity (this build's pieces summed most
// of them), for Recall to compare when only its identity changed.
func (c *Cache) fillSums() {
	for _, m := range c.index.Memos {
		for i, r := range m.Read {
			if i == 0 || r.Sum != ([32]byte{}) || !regular(r.ID) { // 0: the program
				continue
			}
			key, _ := splitID(r.ID)
			if s, ok := c.index.Sums[key]; ok {
				m.Read[i].Sum, c.dirty = s.Sum, true
			}
		}
	}
}

// listed cuts the "/" that marks a listed directory (Keep).
func listed(p string) (string, bool) {
	if len(p) > 1 && strings.HasSuffix(p, "/") {
		return strings.TrimSuffix(p, "/"), true
	}
	return p, false
}

// program is the running executable's identity: a result kept by
// another initkit (another build of its code) is not recalled.
var program = sync.OnceValue(func() pathID {
	exe, err := os.Executable()
	id := ""
	if err == nil {
		id, _ = lstat(exe, false)
	}
	if id == "" {
		return pathID{Path: "initkit", ID: "unknown " + time.Now().String()} // never equal
	}
	return pathID{Path: exe, ID: id}
})

// racy is how recent a change may be for a file's sum not to be kept:
// the kernel stamps times from a coarse clock, and a file written twice
// within one tick keeps its times (git's "racily clean" files).
var racy = 2 * time.Second // a variable for tests

// Sum implements image.Cache: the file's sum kept for its identity,
// else, when read is true, the file read and summed (and kept unless it
// changed too recently to trust its identity). The identity seen is
// remembered for Learn and Changed.
func (c *Cache) Sum(path string, read bool) ([32]byte, int64, bool, error) {
	id, err := stat(path)
	if err != nil {
		return [32]byte{}, 0, false, err
	}
	k := id.key()
	c.mu.Lock()
	s, ok := c.index.Sums[k]
	c.read[path] = id
	c.mu.Unlock()
	if ok || !read {
		return s.Sum, s.Size, ok, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return [32]byte{}, 0, false, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return [32]byte{}, 0, false, err
	}
	copy(s.Sum[:], h.Sum(nil))
	s.Size = n
	c.Learn(path, s.Sum, s.Size)
	return s.Sum, s.Size, true, nil
}

// Warm implements image.Cache: whether this scope was built before, or
// starts from the sums of other scopes' builds.
func (c *Cache) Warm() bool { return len(c.last) > 0 || c.seeded }

// Learn implements image.Cache: the sum is kept for the file's identity
// when it is still the one Sum saw, of that size, and older than the
// racy window (a change within it may not show in its times).
func (c *Cache) Learn(path string, sum [32]byte, size int64) {
	id, err := stat(path)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil || c.read[path] != id || id.size != size || time.Since(time.Unix(0, id.ctime)) <= racy {
		return
	}
	c.index.Sums[id.key()], c.dirty, c.learned = fileSum{Sum: sum, Size: size}, true, true
}

// Changed implements image.Cache: whether the file's identity is no
// longer the one Sum saw.
func (c *Cache) Changed(path string, _ [32]byte) bool {
	id, err := stat(path)
	c.mu.Lock()
	defer c.mu.Unlock()
	return err != nil || c.read[path] != id
}

func (c *Cache) piecePath(key [32]byte) string {
	h := hex.EncodeToString(key[:])
	return filepath.Join(c.dir, "pieces", h[:2], h)
}

// Get implements image.Cache. The piece is mapped, not read: its bytes
// go from the page cache to the image once, and stay mapped until Close.
// A piece whose length or CRC is wrong is removed: the caller compresses
// it again.
func (c *Cache) Get(key [32]byte) ([]byte, bool) {
	p := c.piecePath(key)
	data, err := mapFile(p, image.MaxCachedPiece+int64(len(magic))+12)
	if err != nil {
		return nil, false
	}
	body, ok := checkMapped(data)
	if !ok {
		unix.Munmap(data)
		os.Remove(p)
		return nil, false
	}
	c.mu.Lock()
	c.mapped = append(c.mapped, data)
	c.mu.Unlock()
	now := time.Now()
	os.Chtimes(p, now, now) // least recently used goes first
	return body, true
}

// mapFile maps a file of at most limit bytes read-only. Pieces are
// only ever replaced by a rename, never rewritten in place, so the
// mapping keeps the bytes it was checked with.
func mapFile(p string, limit int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() <= 0 || st.Size() > limit || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %d bytes, not a piece", p, st.Size())
	}
	return unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED|unix.MAP_POPULATE)
}

// checkMapped is check on a mapping: a file cut short by someone else
// while it is read faults (SIGBUS), which is then a piece not found.
func checkMapped(data []byte) (body []byte, ok bool) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if recover() != nil {
			body, ok = nil, false
		}
	}()
	return check(data)
}

// check returns a piece file's bytes when its header says they are
// whole.
func check(data []byte) ([]byte, bool) {
	h := len(magic) + 12
	if len(data) < h || !bytes.Equal(data[:len(magic)], magic) {
		return nil, false
	}
	sum := binary.LittleEndian.Uint32(data[len(magic):])
	n := binary.LittleEndian.Uint64(data[len(magic)+4:])
	body := data[h:]
	if uint64(len(body)) != n || crc32.Checksum(body, castagnoli) != sum {
		return nil, false
	}
	return body, true
}

// Put implements image.Cache. A piece that cannot be written is not
// kept; the build goes on.
func (c *Cache) Put(key [32]byte, data ...[]byte) {
	p := c.piecePath(key)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return
	}
	var sum uint32
	var n int
	for _, d := range data {
		sum, n = crc32.Update(sum, castagnoli, d), n+len(d)
	}
	head := make([]byte, 0, len(magic)+12)
	head = append(head, magic...)
	head = binary.LittleEndian.AppendUint32(head, sum)
	head = binary.LittleEndian.AppendUint64(head, uint64(n))
	err := atomicfile.WriteUnsynced(p, 0o600, func(w io.Writer) error {
		_, err := w.Write(head)
		for _, d := range data {
			if err == nil {
				_, err = w.Write(d)
			}
		}
		return err
	})
	if err == nil {
		c.mu.Lock()
		c.put += int64(len(head) + n)
		c.mu.Unlock()
	}
}

// Explain says, for each piece of a build, whether it came from the
// cache, and for one compressed why: which of its entries changed, came
// or went since the scope's last build, or that its input was simply not
// in the cache (a first build, a piece evicted or found corrupt).
func (c *Cache) Explain(pieces []image.Piece) []string {
	before := map[string]image.EntrySum{}
	for _, p := range c.last {
		for _, e := range p.Sums {
			before[e.Name] = e
		}
	}
	var lines []string
	for i, p := range pieces {
		head := fmt.Sprintf("piece %d/%d, %s .. %s (%d entries, %d bytes): ", i+1, len(pieces), p.First, p.Last, p.Entries, p.Out)
		if p.Cached {
			lines = append(lines, head+"reused")
			continue
		}
		lines = append(lines, head+"compressed: "+why(p, before))
	}
	return lines
}

// why a piece was compressed, against the entries of the last build.
func why(p image.Piece, before map[string]image.EntrySum) string {
	if len(before) == 0 {
		return "no earlier build of this image"
	}
	var changed, added []string
	for _, e := range p.Sums {
		old, ok := before[e.Name]
		switch {
		case !ok:
			added = append(added, e.Name)
		case old.Content != e.Content:
			changed = append(changed, e.Name+" (content)")
		case old.Header != e.Header:
			changed = append(changed, e.Name+" (metadata)")
		}
	}
	var parts []string
	if len(changed) > 0 {
		parts = append(parts, "changed "+list(changed))
	}
	if len(added) > 0 {
		parts = append(parts, "new "+list(added))
	}
	if len(parts) == 0 {
		return "its entries are the last build's, but not its piece: entries came or went around it, or the piece was evicted or corrupt"
	}
	return strings.Join(parts, "; ")
}

// list names up to three entries, and how many more.
func list(names []string) string {
	if len(names) > 3 {
		return strings.Join(names[:3], ", ") + fmt.Sprintf(" and %d more", len(names)-3)
	}
	return strings.Join(names, ", ")
}

// Built records the pieces of the scope's build, for the next build's
// Explain.
func (c *Cache) Built(pieces []image.Piece) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.index.Pieces, c.dirty, c.built = pieces, true, true
}

// Close unmaps the pieces Get returned, keeps the scope's index and
// trims the pieces to the limit.
func (c *Cache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.mapped {
		unix.Munmap(m)
	}
	c.mapped = nil
	c.fillSums()
	if c.built {
		c.prune()
	}
	var err error
	if c.dirty {
		err = atomicfile.WriteUnsynced(c.indexPath(), 0o600, func(w io.Writer) error { return gob.NewEncoder(w).Encode(c.index) })
	}
	if c.learned && c.built {
		err = cmp.Or(err, c.share())
	}
	if c.put > 0 {
		c.account()
	}
	return err
}

// usageFile holds what the pieces are thought to weigh: a build adds
// what it wrote, and walks the pieces only when the sum passes the limit
// (or is an hour old, for what builds at once lost of each other's
// sums), so that a rebuild does not stat thousands of pieces.
const usageFile = "usage"

func (c *Cache) account() {
	p := filepath.Join(c.dir, usageFile)
	var used int64
	st, err := os.Stat(p)
	if data, rerr := os.ReadFile(p); err == nil && rerr == nil && len(data) == 8 && time.Since(st.ModTime()) < time.Hour {
		used = int64(binary.LittleEndian.Uint64(data))
	} else {
		used = c.limit + 1 // unknown: walk
	}
	used += c.put
	if used > c.limit {
		used = c.trim()
	}
	atomicfile.WriteUnsynced(p, 0o600, func(w io.Writer) error {
		return binary.Write(w, binary.LittleEndian, uint64(used))
	})
}

// trim removes the least recently used pieces until they fit the limit,
// and returns what is left.
func (c *Cache) trim() int64 {
	type piece struct {
		path string
		size int64
		used time.Time
	}
	var all []piece
	var total int64
	filepath.WalkDir(filepath.Join(c.dir, "pieces"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if info, err := d.Info(); err == nil {
			all = append(all, piece{p, info.Size(), info.ModTime()})
			total += info.Size()
		}
		return nil
	})
	if total <= c.limit {
		return total
	}
	sort.Slice(all, func(i, j int) bool { return all[i].used.Before(all[j].used) })
	for _, p := range all {
		if total <= c.limit {
			break
		}
		if os.Remove(p.path) == nil {
			total -= p.size
		}
	}
	return total
}
