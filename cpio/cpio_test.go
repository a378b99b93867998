package cpio

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
)

func sample() []struct {
	h    Header
	data string
} {
	return []struct {
		h    Header
		data string
	}{
		{Header{Name: "dir", Mode: TypeDir | 0o755, NLink: 2, Ino: 1, ModTime: 1700000000}, ""},
		{Header{Name: "dir/file", Mode: TypeReg | 0o4755, UID: 1000, GID: 100, NLink: 1, Ino: 2}, "hello, world\n"},
		{Header{Name: "dir/odd", Mode: TypeReg | 0o644, NLink: 1, Ino: 3}, "abc"},
		{Header{Name: "link", Mode: TypeLink | 0o777, NLink: 1, Ino: 4, Linkname: "dir/file"}, ""},
		{Header{Name: "dev/console", Mode: TypeChar | 0o600, NLink: 1, Ino: 5, RDevMajor: 5, RDevMinor: 1}, ""},
		{Header{Name: "dev/sda", Mode: TypeBlock | 0o660, NLink: 1, Ino: 6, RDevMajor: 8, RDevMinor: 0}, ""},
		{Header{Name: "fifo", Mode: TypeFIFO | 0o644, NLink: 1, Ino: 7}, ""},
		{Header{Name: "sock", Mode: TypeSocket | 0o755, NLink: 1, Ino: 8}, ""},
	}
}

func writeSample(t *testing.T, crc bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if crc {
		w = NewCRCWriter(&buf)
	}
	for _, e := range sample() {
		h := e.h
		h.Size = int64(len(e.data))
		if crc {
			h.Check = Checksum([]byte(e.data))
		}
		if err := w.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	for _, crc := range []bool{false, true} {
		t.Run(fmt.Sprint("crc=", crc), func(t *testing.T) {
			data := writeSample(t, crc)
			if len(data)%TrailerBlock != 0 {
				t.Errorf("archive length %d is not padded to %d", len(data), TrailerBlock)
			}
			r := NewReader(bytes.NewReader(data))
			for i, e := range sample() {
				h, err := r.Next()
				if err != nil {
					t.Fatalf("entry %d: %v", i, err)
				}
				got, err := io.ReadAll(r)
				if err != nil {
					t.Fatal(err)
				}
				want := e.h
				want.Size = int64(len(e.data))
				if want.Type() == TypeLink {
					want.Size = int64(len(want.Linkname))
				}
				want.Offset, want.Check = h.Offset, h.Check
				if *h != want {
					t.Errorf("entry %d:\n got %+v\nwant %+v", i, *h, want)
				}
				if string(got) != e.data {
					t.Errorf("entry %d data %q, want %q", i, got, e.data)
				}
				if h.Offset%4 != 0 {
					t.Errorf("entry %d at unaligned offset %d", i, h.Offset)
				}
			}
			if _, err := r.Next(); err != io.EOF {
				t.Fatalf("after last entry: %v, want io.EOF", err)
			}
			// The reader stops right after the trailer's name padding.
			trailerEnd := bytes.Index(data, []byte(Trailer)) + len(Trailer) + 1
			trailerEnd += int(pad4(int64(trailerEnd)))
			if r.Offset() != int64(trailerEnd) {
				t.Errorf("Offset after trailer = %d, want %d", r.Offset(), trailerEnd)
			}
		})
	}
}

// TestReaderStopsAtTrailer checks that what follows an archive stays
// unread, so an image reader can go on with the next segment.
func TestReaderStopsAtTrailer(t *testing.T) {
	data := writeSample(t, false)
	end := bytes.Index(data, []byte(Trailer)) + len(Trailer) + 1
	end += int(pad4(int64(end)))
	src := bytes.NewReader(append(append([]byte(nil), data[:end]...), "NEXT"...))
	r := NewReader(src)
	for {
		if _, err := r.Next(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	rest, _ := io.ReadAll(src)
	if string(rest) != "NEXT" {
		t.Fatalf("reader consumed past the trailer; left %q", rest)
	}
}

func header(fields map[string]string, name string) []byte {
	vals := []string{}
	for _, f := range fieldNames {
		v, ok := fields[f]
		if !ok {
			v = "00000000"
			switch f {
			case "mode":
				v = "000081A4"
			case "nlink":
				v = "00000001"
			case "namesize":
				v = fmt.Sprintf("%08X", len(name)+1)
			}
		}
		vals = append(vals, v)
	}
	b := []byte(MagicNewc + strings.Join(vals, "") + name + "\x00")
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func TestBadInput(t *testing.T) {
	good := writeSample(t, false)
	bad := func(b []byte, at int, s string) []byte {
		c := append([]byte(nil), b...)
		copy(c[at:], s)
		return c
	}
	cases := []struct {
		name   string
		data   []byte
		offset int64
		msg    string
	}{
		{"bad magic", bad(good, 0, "123456"), 0, "bad magic"},
		{"odc format", bad(good, 0, "070707"), 0, "odc"},
		{"non-hex field", bad(good, 6+8, "0000z1ED"), 14, "mode is not hexadecimal"},
		{"truncated header", good[:50], 0, "truncated in header"},
		{"truncated data", good[:bytes.Index(good, []byte("hello"))+3], int64(bytes.Index(good, []byte("hello")) + 3), "truncated in data"},
		{"no trailer", good[:bytes.Index(good, []byte("0707010"+"0000000"))], 0, ""},
		{"name without NUL", header(map[string]string{"namesize": "00000003"}, "abcd"), 110, "not NUL-terminated"},
		{"NUL inside name", header(nil, "a\x00b"), 111, "NUL inside name"},
		{"absurd name size", header(map[string]string{"namesize": "FFFFFFFF"}, "x"), 94, "out of range"},
		{"zero name size", header(map[string]string{"namesize": "00000000"}, "x"), 94, "out of range"},
		{"absurd file size", header(map[string]string{"filesize": "FFFFFFFF"}, "big"), 116, "truncated in data"},
		{"huge symlink", header(map[string]string{"mode": "0000A1FF", "filesize": "7FFFFFFF"}, "l"), 0, "exceeds"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(c.data))
			var err error
			for err == nil {
				_, err = r.Next()
				if err == nil {
					_, err = io.Copy(io.Discard, r)
				}
			}
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T), want *FormatError", err, err)
			}
			if c.msg != "" && !strings.Contains(fe.Msg, c.msg) {
				t.Errorf("message %q, want it to mention %q", fe.Msg, c.msg)
			}
			if c.name != "no trailer" && fe.Offset != c.offset {
				t.Errorf("offset %d, want %d (%v)", fe.Offset, c.offset, err)
			}
			if _, again := r.Next(); again != err {
				t.Errorf("error not sticky: %v then %v", err, again)
			}
		})
	}
}

func TestChecksumMismatch(t *testing.T) {
	data := writeSample(t, true)
	i := bytes.Index(data, []byte("hello, world"))
	data[i] = 'j'
	r := NewReader(bytes.NewReader(data))
	var err error
	for err == nil {
		if _, err = r.Next(); err == nil {
			_, err = io.Copy(io.Discard, r)
		}
	}
	if err == nil || !strings.Contains(err.Error(), "checksum") || !strings.Contains(err.Error(), "dir/file") {
		t.Fatalf("got %v, want a checksum error naming dir/file", err)
	}
}

// TestCraftedHeaderAllocation feeds the kind of 126-byte header that makes
// other readers allocate gigabytes, and bounds what this one allocates.
func TestCraftedHeaderAllocation(t *testing.T) {
	crafted := header(map[string]string{"filesize": "FFFFFFFF", "mode": "0000A1FF"}, "x")
	crafted = append(crafted, header(map[string]string{"filesize": "FFFFFFFF"}, "y")...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < 10; i++ {
		r := NewReader(bytes.NewReader(crafted))
		for {
			if _, err := r.Next(); err != nil {
				break
			}
			io.Copy(io.Discard, r)
		}
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Fatalf("10 reads of a crafted header allocated %d bytes", n)
	}
}

func TestWriterRejects(t *testing.T) {
	for _, h := range []Header{
		{Name: "", Mode: TypeReg},
		{Name: Trailer, Mode: TypeReg},
		{Name: "a\x00b", Mode: TypeReg},
		{Name: strings.Repeat("a", MaxNameLen), Mode: TypeReg},
		{Name: "big", Mode: TypeReg, Size: 1 << 32},
		{Name: "old", Mode: TypeReg, ModTime: -1},
		{Name: "dirdata", Mode: TypeDir, Size: 1},
		{Name: "nolink", Mode: TypeLink},
	} {
		w := NewWriter(io.Discard)
		if err := w.WriteHeader(&h); err == nil {
			t.Errorf("WriteHeader(%+v) succeeded", h)
		}
	}
	w := NewWriter(io.Discard)
	w.WriteHeader(&Header{Name: "short", Mode: TypeReg, Size: 4})
	w.Write([]byte("ab"))
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("Close after a short entry: %v", err)
	}
	w = NewWriter(io.Discard)
	w.WriteHeader(&Header{Name: "long", Mode: TypeReg, Size: 1})
	if _, err := w.Write([]byte("ab")); err == nil {
		t.Error("writing past the size succeeded")
	}
}

func FuzzReader(f *testing.F) {
	f.Add([]byte{})
	f.Add(writeSample(&testing.T{}, false))
	f.Add(writeSample(&testing.T{}, true))
	f.Add(header(map[string]string{"filesize": "FFFFFFFF"}, "x"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		for i := 0; i < 10000; i++ {
			h, err := r.Next()
			if err != nil {
				var fe *FormatError
				if err != io.EOF && !errors.As(err, &fe) {
					t.Fatalf("error of type %T: %v", err, err)
				}
				if r.Offset() > int64(len(data)) {
					t.Fatalf("offset %d beyond input %d", r.Offset(), len(data))
				}
				return
			}
			if len(h.Name) >= MaxNameLen || len(h.Linkname) > MaxNameLen {
				t.Fatalf("oversized name or target accepted")
			}
			io.Copy(io.Discard, r)
		}
	})
}

// TestEmptyFileChecksum: the kernel sums an empty regular file of a
// 070702 archive too, and refuses one whose header says otherwise; it
// sums no other type, so a directory's check field is kept as it is.
func TestEmptyFileChecksum(t *testing.T) {
	crc := func(b []byte) []byte { return append([]byte(MagicCRC), b[len(MagicCRC):]...) }
	bad := crc(header(map[string]string{"check": "00000001"}, "empty"))
	_, err := NewReader(bytes.NewReader(bad)).Next()
	var fe *FormatError
	if !errors.As(err, &fe) || fe.Name != "empty" || fe.Offset != 6+8*12 || !strings.Contains(fe.Msg, "checksum") {
		t.Fatalf("empty file with check 1: got %v, want a checksum error at offset %d naming it", err, 6+8*12)
	}
	ok := crc(header(map[string]string{"check": "00000000"}, "empty"))
	if _, err := NewReader(bytes.NewReader(ok)).Next(); err != nil {
		t.Fatalf("empty file with check 0: %v", err)
	}

	var buf bytes.Buffer
	w := NewCRCWriter(&buf)
	if err := w.WriteHeader(&Header{Name: "dir", Mode: TypeDir | 0o755, Check: 1}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("a directory's check field: %v", err)
	}
	h, err := NewReader(&buf).Next()
	if err != nil || h.Check != 1 {
		t.Fatalf("read back: %+v, %v; want the check field kept", h, err)
	}
}
