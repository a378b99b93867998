// Package fetch downloads a file over HTTP(S) into place: resumed where a
// connection broke, restarted when the server cannot resume, decompressed
// by its name (.xz, .gz, .zst), bounded in size and in how long it may
// stall, and written atomically, so that a download that fails leaves
// nothing behind and names the URL and the HTTP status.
//
// What a server sends is untrusted: its sizes are checked against what
// arrives, decompression is bounded like the download, and nothing is
// written outside the target's directory.
package fetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/initkit/initkit/compress"
	"github.com/initkit/initkit/internal/atomicfile"
)

// Options bound a download.
type Options struct {
	// MaxSize bounds the bytes downloaded and, separately, the bytes a
	// compressed download inflates to (default DefaultMaxSize).
	MaxSize int64
	// Stall ends a download that received nothing for this long
	// (default 60 s).
	Stall time.Duration
	// Tries is how often a broken transfer is resumed (default 3).
	Tries int
	// Progress, when set, is told how far the download is, about five
	// times a second: a terminal's line.
	Progress io.Writer
	Client   *http.Client // default http.DefaultClient
	// Check, when set, is run on the complete file (decompressed) before
	// it replaces dest: its error leaves dest as it was. It says what the
	// file must be: a config, a kernel, not an HTML error page.
	Check func(path string) error
}

// DefaultMaxSize bounds a download: syzbot's disk images inflate to 2 GiB.
const DefaultMaxSize = 16 << 30

// File is a file fetched: where from, and the hashes that identify it.
type File struct {
	URL string `toml:"url" json:"url"`
	// SHA256 is the hash of the file as stored (after decompression),
	// Size its length.
	SHA256 string `toml:"sha256" json:"sha256"`
	Size   int64  `toml:"size" json:"size"`
	// Compression is the format the download was in ("" for none).
	Compression string `toml:"compression,omitempty" json:"compression,omitempty"`
}

// StatusError is a server's refusal.
type StatusError struct {
	URL    string
	Status string
	Code   int
}

func (e *StatusError) Error() string { return e.URL + ": HTTP " + e.Status }

// Decompressed returns the name a download is stored under: its name
// without .xz, .gz or .zst, and the format that suffix says.
func Decompressed(name string) (string, compress.Format) {
	for suffix, f := range map[string]compress.Format{".xz": compress.XZ, ".gz": compress.Gzip, ".zst": compress.Zstd} {
		if strings.HasSuffix(name, suffix) && len(name) > len(suffix) {
			return strings.TrimSuffix(name, suffix), f
		}
	}
	return name, compress.None
}

// Get downloads url into dest, decompressing it when url's path ends in
// .xz, .gz or .zst. dest is replaced only by a complete file.
func Get(ctx context.Context, url, dest string, o Options) (File, error) {
	o.defaults()
	_, format := Decompressed(URLPath(url))
	raw, err := atomicfile.Create(dest+".download", 0o600)
	if err != nil {
		return File{}, err
	}
	defer raw.Abort()
	if err := o.download(ctx, url, raw.File); err != nil {
		return File{}, err
	}
	if _, err := raw.File.Seek(0, io.SeekStart); err != nil {
		return File{}, err
	}
	f, err := store(raw.File, dest, format, o)
	f.URL = url
	if err != nil {
		return f, fmt.Errorf("%s: %w", url, err)
	}
	return f, nil
}

// Copy copies a local file into dest as Get stores a download:
// decompressed when its name ends in .xz, .gz or .zst, bounded, atomic.
func Copy(src, dest string, o Options) (File, error) {
	o.defaults()
	in, err := os.Open(src)
	if err != nil {
		return File{}, err
	}
	defer in.Close()
	_, format := Decompressed(src)
	f, err := store(in, dest, format, o)
	if err != nil {
		return f, fmt.Errorf("%s: %w", src, err)
	}
	return f, nil
}

// store writes r, decompressed as format says, to dest, hashing it and
// checking it with o.Check.
func store(r io.Reader, dest string, format compress.Format, o Options) (File, error) {
	max := o.MaxSize
	var f File
	out, err := atomicfile.Create(dest, 0o644)
	if err != nil {
		return f, err
	}
	defer out.Abort()
	if format != compress.None {
		f.Compression = format.String()
		zr, err := compress.NewReader(r, format)
		if err != nil {
			return f, fmt.Errorf("%s: %w", f.Compression, err)
		}
		defer zr.Close()
		r = zr
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out.File, h), io.LimitReader(r, max+1))
	switch {
	case err != nil:
		return f, fmt.Errorf("%s: at byte %d: %w", f.Compression, n, err)
	case n > max:
		return f, fmt.Errorf("larger than %d bytes", max)
	}
	f.Size, f.SHA256 = n, hex.EncodeToString(h.Sum(nil))
	if o.Check != nil {
		if err := o.Check(out.File.Name()); err != nil {
			return f, err
		}
	}
	return f, out.Commit()
}

// Hash returns the sha256 and the size of a file on disk.
func Hash(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil)), n, err
}

func (o *Options) defaults() {
	if o.MaxSize <= 0 {
		o.MaxSize = DefaultMaxSize
	}
	if o.Stall <= 0 {
		o.Stall = 60 * time.Second
	}
	if o.Tries <= 0 {
		o.Tries = 3
	}
	if o.Client == nil {
		o.Client = http.DefaultClient
	}
}

// download writes url's body into w, resuming with a Range request where
// a transfer broke, or starting again when the server sends it whole.
func (o Options) download(ctx context.Context, url string, w *os.File) error {
	var have int64
	var lastErr error
	for try := 0; try < o.Tries; try++ {
		n, total, err := o.transfer(ctx, url, w, have)
		have = n
		if err == nil {
			return nil
		}
		var status *StatusError
		if errors.As(err, &status) || ctx.Err() != nil || total < 0 {
			return err
		}
		lastErr = err
	}
	if o.Tries == 1 {
		return lastErr
	}
	return fmt.Errorf("%w (after %d tries)", lastErr, o.Tries)
}

// transfer makes one request, from byte have on, and returns how many
// bytes w holds, the length the server announced (-1 when the failure is
// not worth another try), and what went wrong.
func (o Options) transfer(ctx context.Context, url string, w *os.File, have int64) (int64, int64, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return have, -1, err
	}
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
	}
	resp, err := o.Client.Do(req)
	if err != nil {
		return have, 0, err
	}
	defer resp.Body.Close()
	switch {
	case have > 0 && resp.StatusCode == http.StatusPartialContent:
	case resp.StatusCode == http.StatusOK:
		have = 0 // sent whole: start again
	default:
		return have, -1, &StatusError{URL: url, Status: resp.Status, Code: resp.StatusCode}
	}
	if _, err := w.Seek(have, io.SeekStart); err != nil {
		return have, -1, err
	}
	if err := w.Truncate(have); err != nil {
		return have, -1, err
	}
	total := int64(-1)
	if resp.ContentLength >= 0 {
		total = have + resp.ContentLength
	}
	if total > o.MaxSize {
		return have, -1, fmt.Errorf("%s: %d bytes, more than %d", url, total, o.MaxSize)
	}
	body := &stallReader{r: resp.Body, stall: o.Stall, cancel: cancel}
	defer body.stop()
	p := &progress{w: o.Progress, name: filepath.Base(URLPath(url)), total: total}
	n, err := io.Copy(io.MultiWriter(w, p.counter(have)), io.LimitReader(body, o.MaxSize-have+1))
	p.done()
	have += n
	switch {
	case have > o.MaxSize:
		return have, -1, fmt.Errorf("%s: more than %d bytes", url, o.MaxSize)
	case err != nil && context.Cause(ctx) == errStalled:
		return have, total, fmt.Errorf("%s: nothing received for %v at byte %d", url, o.Stall, have)
	case err != nil && (total < 0 || !errors.Is(err, io.ErrUnexpectedEOF)):
		return have, total, fmt.Errorf("%s: at byte %d: %w", url, have, err)
	case total >= 0 && have != total:
		return have, total, fmt.Errorf("%s: truncated: %d of %d bytes", url, have, total)
	}
	return have, total, nil
}

var errStalled = errors.New("stalled")

// stallReader cancels its request when no byte came for stall.
type stallReader struct {
	r      io.Reader
	stall  time.Duration
	cancel context.CancelCauseFunc
	timer  *time.Timer
}

func (s *stallReader) Read(p []byte) (int, error) {
	if s.timer == nil {
		s.timer = time.AfterFunc(s.stall, func() { s.cancel(errStalled) })
	}
	n, err := s.r.Read(p)
	if n > 0 {
		s.timer.Reset(s.stall)
	}
	return n, err
}

func (s *stallReader) stop() {
	if s.timer != nil {
		s.timer.Stop()
	}
}

// URLPath is url's path, without its query or fragment: what names the
// file.
func URLPath(url string) string {
	url, _, _ = strings.Cut(url, "?")
	url, _, _ = strings.Cut(url, "#")
	return url
}
