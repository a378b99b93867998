package compress

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// payload is compressible but not trivially so, and spans several blocks
// of every format (zstd 128 KiB, lz4 legacy 8 MiB is too big to matter).
func payload(n int) []byte {
	rng := rand.New(rand.NewSource(1))
	words := []string{"initramfs ", "kernel ", "busybox ", "cpio ", "\x00\x01", "module "}
	var b bytes.Buffer
	for b.Len() < n {
		if rng.Intn(10) == 0 {
			b.WriteByte(byte(rng.Intn(256)))
		} else {
			b.WriteString(words[rng.Intn(len(words))])
		}
	}
	return b.Bytes()[:n]
}

func compressWith(t *testing.T, f Format, o WriterOptions, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, f, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readStream reads one stream from in and returns its content and what
// was left after it.
func readStream(t *testing.T, f Format, in []byte) ([]byte, []byte, error) {
	t.Helper()
	br := bufio.NewReader(bytes.NewReader(in))
	rc, err := ReadStream(br, f)
	if err != nil {
		return nil, nil, err
	}
	out, err := io.ReadAll(rc)
	if err != nil {
		return nil, nil, err
	}
	rest, _ := io.ReadAll(br)
	return out, rest, nil
}

var writable = []Format{None, Gzip, Zstd, XZ, LZ4}

func TestRoundTripAndExactEnd(t *testing.T) {
	data := payload(3 << 20)
	for _, f := range writable {
		for _, procs := range []int{1, 4} {
			t.Run(fmt.Sprintf("%s/procs=%d", f, procs), func(t *testing.T) {
				z := compressWith(t, f, WriterOptions{Concurrency: procs}, data)
				if f != None && Detect(z) != f {
					t.Fatalf("Detect = %s", Detect(z))
				}
				if f == None {
					return
				}
				next := []byte("0707010000NEXT SEGMENT")
				if f == LZ4 {
					next = make([]byte, 8) // only NUL padding may follow a legacy frame
				}
				out, rest, err := readStream(t, f, append(z, next...))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(out, data) {
					t.Fatal("content differs")
				}
				if !bytes.Equal(rest, next) {
					t.Fatalf("left %d bytes after the stream, want %d", len(rest), len(next))
				}
			})
		}
	}
}

func TestLZ4Ends(t *testing.T) {
	data := payload(100 << 10)
	z := compressWith(t, LZ4, WriterOptions{}, data)
	for name, tail := range map[string][]byte{
		"eof":          nil,
		"nul padding":  make([]byte, 12),
		"size trailer": {0x00, 0x90, 0x01, 0x00},
	} {
		out, rest, err := readStream(t, LZ4, append(append([]byte(nil), z...), tail...))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(out, data) {
			t.Fatalf("%s: content differs", name)
		}
		if name == "nul padding" && len(rest) != 12 || name != "nul padding" && len(rest) != 0 {
			t.Fatalf("%s: %d bytes left", name, len(rest))
		}
	}
}

// TestDeterministic: the same input gives the same bytes, whatever the
// concurrency, for the formats whose output does not depend on it.
func TestDeterministic(t *testing.T) {
	data := payload(2 << 20)
	for _, f := range writable {
		a := compressWith(t, f, WriterOptions{Concurrency: 2}, data)
		b := compressWith(t, f, WriterOptions{Concurrency: 2}, data)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two runs differ", f)
		}
	}
	if a, b := compressWith(t, Zstd, WriterOptions{Concurrency: 1}, data), compressWith(t, Zstd, WriterOptions{Concurrency: 2}, data); !bytes.Equal(a, b) {
		t.Error("zstd output depends on concurrency")
	}
}

// TestZstdReused: an encoder from the pool, used before on other data
// and at another level, writes the bytes a new one writes.
func TestZstdReused(t *testing.T) {
	data, other := payload(1<<20), payload(3 << 20)[1<<20:]
	for _, level := range []int{1, 3, 9, 19} {
		o := WriterOptions{Level: level, Concurrency: 1}
		zstdPool.Delete(zstdKey{zstd.EncoderLevelFromZstd(level), 1}) // a new encoder first
		first := compressWith(t, Zstd, o, data)
		compressWith(t, Zstd, o, other)
		if again := compressWith(t, Zstd, o, data); !bytes.Equal(first, again) {
			t.Errorf("level %d: a reused encoder writes other bytes", level)
		}
		if back := tool(t, first, "zstd", "-d", "-c"); !bytes.Equal(back, data) {
			t.Errorf("level %d: zstd -d does not give the data back", level)
		}
	}
}

// tool runs a real compressor or decompressor as a filter.
func tool(t *testing.T, in []byte, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// TestRealToolsReadOurs: the reference decompressors accept what we write.
func TestRealToolsReadOurs(t *testing.T) {
	data := payload(1 << 20)
	for f, cmd := range map[Format][]string{
		Gzip: {"gzip", "-dc"},
		Zstd: {"zstd", "-dc"},
		XZ:   {"xz", "-dc"},
		LZ4:  {"lz4", "-dc"},
	} {
		got := tool(t, compressWith(t, f, WriterOptions{}, data), cmd[0], cmd[1:]...)
		if !bytes.Equal(got, data) {
			t.Errorf("%s: %s gives different content", f, cmd[0])
		}
	}
	p := filepath.Join(t.TempDir(), "x.xz")
	os.WriteFile(p, compressWith(t, XZ, WriterOptions{}, data), 0o644)
	if info := tool(t, nil, "xz", "--robot", "--list", p); !strings.Contains(string(info), "CRC32") {
		t.Errorf("xz stream check is not CRC32: %s", info)
	}
}

// TestWeReadRealTools: streams from the reference compressors, as distro
// tools write them, are read and their ends found exactly.
func TestWeReadRealTools(t *testing.T) {
	data := payload(1 << 20)
	for _, c := range []struct {
		f   Format
		cmd []string
	}{
		{Gzip, []string{"gzip", "-6", "-c"}},
		{Gzip, []string{"pigz", "-c"}},
		{Zstd, []string{"zstd", "-3", "-c", "-q"}},
		{Zstd, []string{"zstd", "-19", "-T2", "-c", "-q"}},
		{XZ, []string{"xz", "--check=crc32", "-c"}},
		{XZ, []string{"xz", "--check=crc32", "-T2", "--block-size=256KiB", "-c"}},
		{XZ, []string{"xz", "--check=crc64", "-9", "-c"}},
		{LZ4, []string{"lz4", "-l", "-9", "-c"}},
		{Bzip2, []string{"bzip2", "-c"}},
		{LZMA, []string{"xz", "--format=lzma", "-c"}},
	} {
		t.Run(strings.Join(c.cmd, " "), func(t *testing.T) {
			z := tool(t, data, c.cmd[0], c.cmd[1:]...)
			if Detect(z) != c.f {
				t.Fatalf("Detect = %s, want %s", Detect(z), c.f)
			}
			tail := []byte("\x00\x00\x00\x00")
			if c.f != Bzip2 && c.f != LZMA && c.f != LZ4 {
				tail = []byte("070701rest")
			}
			out, rest, err := readStream(t, c.f, append(z, tail...))
			if err != nil {
				t.Fatal(err)
			}
			if c.f == Zstd || c.f == XZ || c.f == LZ4 {
				in := append([]byte("pad!"), append(z, tail...)...)
				n, err := StreamLen(bytes.NewReader(in), 4, int64(len(in)), c.f)
				if err != nil || n != int64(len(z)) {
					t.Errorf("StreamLen = %d, %v; want %d", n, err, len(z))
				}
			}
			if !bytes.Equal(out, data) {
				t.Fatal("content differs")
			}
			if c.f != Bzip2 && c.f != LZMA && !bytes.Equal(rest, tail) {
				t.Fatalf("left %q after the stream, want %q", rest, tail)
			}
		})
	}
}

func TestTruncatedStreams(t *testing.T) {
	data := payload(300 << 10)
	for _, f := range []Format{Gzip, Zstd, XZ} {
		z := compressWith(t, f, WriterOptions{Concurrency: 1}, data)
		for _, cut := range []int{1, 5, len(z) / 2, len(z) - 1} {
			_, _, err := readStream(t, f, z[:cut])
			if err == nil {
				t.Errorf("%s cut at %d of %d: no error", f, cut, len(z))
			}
		}
	}
	for _, f := range []Format{Zstd, XZ} {
		z := compressWith(t, f, WriterOptions{Concurrency: 1}, data)
		for _, cut := range []int{3, len(z) / 2, len(z) - 1} {
			if _, err := StreamLen(bytes.NewReader(z[:cut]), 0, int64(cut), f); err == nil {
				t.Errorf("StreamLen of %s cut at %d of %d: no error", f, cut, len(z))
			}
		}
	}
	_, _, err := readStream(t, Zstd, compressWith(t, Zstd, WriterOptions{}, data)[:100])
	var se *StreamError
	if !errors.As(err, &se) || !strings.Contains(se.Error(), "ends early") {
		t.Errorf("truncated zstd: %v, want a StreamError saying it ends early", err)
	}
}

func TestUnsupported(t *testing.T) {
	for _, b := range [][]byte{
		{0x89, 'L', 'Z', 'O', 0x00, '\r', '\n', 0x1a, '\n'},
		{0x04, 0x22, 0x4d, 0x18, 0, 0, 0},
	} {
		f := Detect(b)
		_, err := ReadStream(bufio.NewReader(bytes.NewReader(b)), f)
		if !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: %v, want ErrUnsupported", f, err)
		}
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"zstd": Zstd, "zst": Zstd, "gzip": Gzip, "gz": Gzip, "XZ": XZ, "lz4": LZ4, "none": None} {
		if got, err := ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %s, %v", in, got, err)
		}
	}
	if _, err := ParseFormat("rar"); err == nil || !strings.Contains(err.Error(), "zstd") {
		t.Errorf("ParseFormat(rar): %v", err)
	}
}

func FuzzDetect(f *testing.F) {
	for _, m := range magics {
		f.Add(m.magic)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := Detect(b)
		if got == Unknown {
			return
		}
		for _, m := range magics {
			if m.f == got && bytes.HasPrefix(b, m.magic) {
				return
			}
		}
		t.Fatalf("Detect(%x) = %s without its magic", b, got)
	})
}

// FuzzReadStream: any input gives content or an error, never a panic or
// a hang, and never consumes more than it was given.
func FuzzReadStream(f *testing.F) {
	for _, fm := range []Format{Gzip, Zstd, XZ, LZ4} {
		f.Add(compressWith(&testing.T{}, fm, WriterOptions{Concurrency: 1}, []byte("070701 hello hello hello")))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fm := Detect(b)
		if fm == Unknown || fm == None || fm == Bzip2 || fm == LZMA {
			return
		}
		br := bufio.NewReader(bytes.NewReader(b))
		rc, err := ReadStream(br, fm)
		if err != nil {
			return
		}
		io.Copy(io.Discard, io.LimitReader(rc, 1<<20))
	})
}

// TestCheckLevel: a level means something to its format's writer or is
// refused, naming the range, rather than clamped or ignored.
func TestCheckLevel(t *testing.T) {
	for _, c := range []struct {
		f     Format
		level int
		want  string
	}{
		{Zstd, 0, ""}, {Zstd, 19, ""}, {Zstd, 22, ""}, {Zstd, 23, "level 23: zstd takes 1-22"}, {Zstd, -1, "level -1: zstd takes 1-22"},
		{Gzip, 9, ""}, {Gzip, 12, "level 12: gzip takes 1-9"}, {LZ4, 9, ""}, {LZ4, 10, "level 10: lz4 takes 1-9"},
		{XZ, 0, ""}, {XZ, 6, "level 6: xz takes no level"}, {None, 1, "level 1: none takes no level"},
	} {
		err := c.f.CheckLevel(c.level)
		if got := fmt.Sprint(err); c.want == "" && err != nil || c.want != "" && got != c.want {
			t.Errorf("%s level %d: %v, want %q", c.f, c.level, err, c.want)
		}
		if _, err := NewWriter(io.Discard, c.f, WriterOptions{Level: c.level}); (err == nil) != (c.want == "") {
			t.Errorf("NewWriter %s level %d: %v", c.f, c.level, err)
		}
	}
}
