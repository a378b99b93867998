package vmcore

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/initkit/initkit/internal/jsontest"
	"github.com/initkit/initkit/kernel"
	"github.com/klauspost/compress/zstd"
)

// ringLayout is a printk ring buffer laid out in a fake kernel's memory,
// all of it in the kernel map (phys_base 0), and the VMCOREINFO that
// describes it. The sizes and offsets are the test's own: VMCOREINFO
// says them, as the kernel's does.
const ringInfo = `OSRELEASE=6.1.0-test
PAGESIZE=4096
SYMBOL(prb)=ffffffff80001000
SYMBOL(init_top_pgt)=ffffffff80000000
NUMBER(phys_base)=0
SIZE(prb_desc)=24
SIZE(printk_info)=88
OFFSET(printk_ringbuffer.desc_ring)=0
OFFSET(printk_ringbuffer.text_data_ring)=64
OFFSET(prb_desc_ring.count_bits)=0
OFFSET(prb_desc_ring.descs)=8
OFFSET(prb_desc_ring.infos)=16
OFFSET(prb_desc_ring.head_id)=24
OFFSET(prb_desc_ring.tail_id)=32
OFFSET(atomic_long_t.counter)=0
OFFSET(prb_data_ring.size_bits)=0
OFFSET(prb_data_ring.data)=8
OFFSET(prb_desc.state_var)=0
OFFSET(prb_desc.text_blk_lpos)=8
OFFSET(prb_data_blk_lpos.begin)=0
OFFSET(prb_data_blk_lpos.next)=8
OFFSET(printk_info.seq)=0
OFFSET(printk_info.ts_nsec)=8
OFFSET(printk_info.text_len)=16
CRASHTIME=1796131888
`

const kmap = 0xffffffff80000000

// ring is a fake kernel's memory holding a printk ring buffer with texts
// (count 2^bits descriptors, a data ring of 2^dataBits bytes); shared,
// when set, points every descriptor at one block of the whole data ring.
type fakeRing struct {
	texts          []string
	bits, dataBits uint
	shared         bool
}

func (f fakeRing) memory() []byte {
	le := binary.LittleEndian
	count := uint64(1) << f.bits
	descs := uint64(0x3000)
	infos := (descs + count*24 + 0xfff) &^ 0xfff
	data := (infos + count*88 + 0xfff) &^ 0xfff
	size := uint64(1) << f.dataBits
	mem := make([]byte, data+size)
	le.PutUint64(mem[0x1000:], kmap+0x2000) // prb -> the ring
	le.PutUint32(mem[0x2000:], uint32(f.bits))
	le.PutUint64(mem[0x2008:], kmap+descs)
	le.PutUint64(mem[0x2010:], kmap+infos)
	le.PutUint64(mem[0x2018:], uint64(len(f.texts))-1) // head id
	le.PutUint64(mem[0x2020:], 0)                      // tail id
	le.PutUint32(mem[0x2040:], uint32(f.dataBits))
	le.PutUint64(mem[0x2048:], kmap+data)
	lpos := uint64(0)
	for i, t := range f.texts {
		d := mem[descs+uint64(i)*24:]
		begin, next := lpos, lpos+(8+uint64(len(t))+7)&^7
		if f.shared {
			begin, next = 0, size
		} else {
			le.PutUint64(mem[data+begin:], uint64(i))
			copy(mem[data+begin+8:], t)
			lpos = next
		}
		le.PutUint64(d, 2<<62|uint64(i)) // finalized, id i
		le.PutUint64(d[8:], begin)
		le.PutUint64(d[16:], next)
		in := mem[infos+uint64(i)*88:]
		le.PutUint64(in, uint64(i))
		le.PutUint64(in[8:], uint64(i)*1000000)
		le.PutUint16(in[16:], uint16(min(len(t), 65535)))
	}
	return mem
}

// core is an ELF core of the fake ring, its VMCOREINFO the layout's with
// more lines (a later key wins).
func (f fakeRing) core(more string) []byte { return elfCore(ringInfo+more, 0, f.memory()) }

// bounded runs fn and fails the test if it allocates more than limit in
// all or runs longer than d: a dump is read in memory and time bounded by
// the file, whatever it claims.
func bounded(t *testing.T, what string, limit uint64, d time.Duration, fn func()) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	fn()
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > limit {
		t.Errorf("%s: allocated %d MB, limit %d MB", what, got>>20, limit>>20)
	}
	if took > d {
		t.Errorf("%s: took %v, limit %v", what, took, d)
	}
}

// show opens a dump and writes what initkit vmcore shows of it, as text
// and as JSON; it returns the text and the first error.
func show(t *testing.T, b []byte) (string, error) {
	v, err := Open(writeTemp(t, b))
	if err != nil {
		return "", err
	}
	defer v.Close()
	var out bytes.Buffer
	err = v.Show(&out, nil, 0, false)
	if jerr := v.Show(&bytes.Buffer{}, nil, 0, true); err == nil {
		err = jerr
	}
	return out.String(), err
}

func TestFakeRing(t *testing.T) {
	out, err := show(t, fakeRing{texts: []string{"one", "two\nthree", "bell\x07 and \x1b]52;c;aGk=\x07 osc"}, bits: 2, dataBits: 12}.core(""))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"[    0.000000] one\n", "[    0.001000] two\n[    0.001000] three\n", `bell\x07 and \x1b]52;c;aGk=\x07 osc`} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if strings.ContainsAny(out, "\x1b\x07") {
		t.Errorf("a control character reached the output:\n%q", out)
	}
}

// Each crafted dump below once recursed, panicked, ran out of memory or
// ran for hours; now each is an error naming what is wrong, or a log
// read within bounds.
func TestHostileDumps(t *testing.T) {
	good := fakeRing{texts: []string{"hello"}, bits: 1, dataBits: 12}
	cases := []struct {
		name string
		dump func() []byte
		want string // in the error; "" for no error
	}{
		{"init_top_pgt outside the kernel map", func() []byte {
			return good.core("SYMBOL(prb)=ffff888000001000\nSYMBOL(init_top_pgt)=ffff888000002000\n")
		}, "outside the kernel map"},
		{"SIZE(prb_desc)=-1", func() []byte { return good.core("SIZE(prb_desc)=-1\n") }, "SIZE(prb_desc)=-1"},
		{"SIZE(prb_desc)=2^40", func() []byte { return good.core("SIZE(prb_desc)=1099511627776\n") }, "not the sizes"},
		{"an offset past its structure", func() []byte { return good.core("OFFSET(printk_info.text_len)=100\n") }, "OFFSET(printk_info.text_len)=100 is past the end"},
		{"a negative offset", func() []byte { return good.core("OFFSET(prb_desc.state_var)=-8\n") }, "OFFSET(prb_desc.state_var)=-8"},
		{"4096 records sharing one 64 KB text", func() []byte {
			texts := make([]string, 4096)
			for i := range texts {
				texts[i] = strings.Repeat("x", 65535)
			}
			return fakeRing{texts: texts, bits: 12, dataBits: 16, shared: true}.core("")
		}, ""},
		{"a crash time past the year 9999", func() []byte { return good.core("CRASHTIME=999999999999\n") }, ""},
		{"a 64 MB note named by ten headers", func() []byte { return manyNotes(10, 64<<20) }, "more than a dump has"},
		{"a flattened stream claiming 1 TB", func() []byte { return flatten(elfCoreSized(1<<40-8192), 1<<40) }, "holds no VMCOREINFO"},
		{"a kdump page that inflates without bound", func() []byte { return kdumpWithPage(t, zstdOf(t, 64<<20)) }, "page 0: "},
		{"a flattened kdump whose bitmap is 2 GB, its last record at 8 GB", func() []byte {
			return flatten(kdumpHeader(1<<20), 8<<30)
		}, "run past the end of the file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := c.dump()
			var err error
			bounded(t, c.name, 256<<20, 20*time.Second, func() {
				var v *File
				if v, err = Open(writeTemp(t, b)); err == nil {
					if c.name == "a kdump page that inflates without bound" {
						err = v.ReadPhys(make([]byte, 8), 0)
					} else {
						_, err = show(t, b)
					}
					v.Close()
				}
			})
			switch {
			case c.want == "" && err != nil && err != ErrLogTruncated:
				t.Errorf("error %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
}

// manyNotes is an ELF core whose n PT_NOTE headers all name one note of
// size bytes.
func manyNotes(n int, size int) []byte {
	le := binary.LittleEndian
	const ehsize, phsize = 64, 56
	h := make([]byte, ehsize)
	copy(h, "\x7fELF\x02\x01\x01")
	le.PutUint16(h[16:], 4)
	le.PutUint16(h[18:], 62)
	le.PutUint32(h[20:], 1)
	le.PutUint64(h[32:], ehsize)
	le.PutUint16(h[52:], ehsize)
	le.PutUint16(h[54:], phsize)
	le.PutUint16(h[56:], uint16(n+1))
	off := uint64(ehsize + (n+1)*phsize)
	for i := 0; i <= n; i++ {
		p := make([]byte, phsize)
		le.PutUint32(p, 4)
		if i == n {
			le.PutUint32(p, 1) // a PT_LOAD of one page
		}
		le.PutUint64(p[8:], off)
		le.PutUint64(p[32:], uint64(size))
		le.PutUint64(p[40:], uint64(size))
		h = append(h, p...)
	}
	note := make([]byte, size)
	le.PutUint32(note, 11)
	le.PutUint32(note[4:], uint32(size-24))
	copy(note[12:], "VMCOREINFO")
	copy(note[24:], "OSRELEASE=x\n")
	return append(h, note...)
}

// elfCoreSized is an ELF core with no notes and one PT_LOAD of size
// bytes at offset 4096 (of which the file holds none).
func elfCoreSized(size uint64) []byte {
	le := binary.LittleEndian
	h := make([]byte, 4096)
	copy(h, "\x7fELF\x02\x01\x01")
	le.PutUint16(h[16:], 4)
	le.PutUint16(h[18:], 62)
	le.PutUint32(h[20:], 1)
	le.PutUint64(h[32:], 64)
	le.PutUint16(h[52:], 64)
	le.PutUint16(h[54:], 56)
	le.PutUint16(h[56:], 1)
	le.PutUint32(h[64:], 1)
	le.PutUint64(h[64+8:], 4096)
	le.PutUint64(h[64+32:], size)
	le.PutUint64(h[64+40:], size)
	return h
}

// flatten puts b in a flattened stream, and one more byte at offset end:
// a stream that claims end bytes.
func flatten(b []byte, end int64) []byte {
	var flat bytes.Buffer
	hdr := make([]byte, flatHeaderSize)
	copy(hdr, "makedumpfile")
	flat.Write(hdr)
	rec := func(off int64, b []byte) {
		binary.Write(&flat, binary.BigEndian, off)
		binary.Write(&flat, binary.BigEndian, int64(len(b)))
		flat.Write(b)
	}
	rec(0, b)
	rec(end, []byte{1})
	rec(-1, nil)
	return flat.Bytes()
}

// kdumpHeader is a kdump-compressed header (version 6, 4 KiB blocks)
// claiming bitmaps of bitmapBlocks blocks, and nothing after it.
func kdumpHeader(bitmapBlocks uint32) []byte {
	le := binary.LittleEndian
	b := make([]byte, 2*4096)
	copy(b, "KDUMP   ")
	le.PutUint32(b[8:], 6)
	le.PutUint32(b[kdumpBlockSize:], 4096)
	le.PutUint32(b[432:], 1)
	le.PutUint32(b[436:], bitmapBlocks)
	le.PutUint64(b[4096+96:], 8)
	return b
}

// kdumpWithPage is a kdump-compressed dump holding page 0 as data, zstd.
func kdumpWithPage(t *testing.T, data []byte) []byte {
	le := binary.LittleEndian
	b := kdumpHeader(2)
	bitmaps := make([]byte, 2*4096)
	bitmaps[0], bitmaps[4096] = 1, 1 // page 0: RAM, dumped
	b = append(b, bitmaps...)
	desc := make([]byte, pageDescSize)
	le.PutUint64(desc, uint64(len(b)+pageDescSize))
	le.PutUint32(desc[8:], uint32(len(data)))
	le.PutUint32(desc[12:], flagZstd)
	return append(append(b, desc...), data...)
}

func zstdOf(t *testing.T, n int) []byte {
	e, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	return e.EncodeAll(make([]byte, n), nil)
}

// FuzzInfo: whatever VMCOREINFO says of the ring's layout, reading the
// log neither panics nor runs away.
func FuzzInfo(f *testing.F) {
	for _, s := range []string{"", "SIZE(prb_desc)=-1\n", "SIZE(printk_info)=1099511627776\n", "OFFSET(printk_info.text_len)=87\n",
		"SYMBOL(prb)=ffff888000001000\nSYMBOL(init_top_pgt)=ffff888000002000\n", "OFFSET(printk_ringbuffer.text_data_ring)=-64\n", "CRASHTIME=-1\n"} {
		f.Add(s)
	}
	good := fakeRing{texts: []string{"hello", "world"}, bits: 2, dataBits: 12}
	f.Fuzz(func(t *testing.T, more string) {
		v, err := Open(writeTemp(t, good.core(more)))
		if err != nil {
			return
		}
		defer v.Close()
		if recs, err := v.Log(); err == nil {
			FormatLog(recs)
		}
	})
}

// FuzzFlat: a flattened stream's records, whatever they place where.
func FuzzFlat(f *testing.F) {
	f.Add(flatten(fakeRing{texts: []string{"x"}, bits: 1, dataBits: 12}.core(""), 1<<20))
	f.Add(flatten(elfCoreSized(1<<40-8192), 1<<40))
	f.Add(flatten(kdumpHeader(1<<20), 8<<30))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > flatHeaderSize {
			copy(b, "makedumpfile")
		}
		if v, err := Open(writeTemp(t, b)); err == nil {
			v.Log()
			v.Close()
		}
	})
}

// FuzzKdumpHeader: a kdump-compressed header and sub-header, whatever
// they claim, over a dump of one page.
func FuzzKdumpHeader(f *testing.F) {
	page := kdumpWithPage(&testing.T{}, zstdOf(&testing.T{}, 4096))
	f.Add(page[:8192])
	f.Add(kdumpHeader(1 << 20))
	f.Fuzz(func(t *testing.T, hdr []byte) {
		b := append([]byte{}, page...)
		copy(b, hdr)
		copy(b, "KDUMP   ")
		if v, err := Open(writeTemp(t, b)); err == nil {
			v.ReadPhys(make([]byte, 8), 0)
			v.Log()
			for _, r := range v.Ranges() {
				_ = r
			}
			v.Close()
		}
	})
}

// A dump's crash reports have their identity with or without a vmlinux:
// the title in the text, and in JSON with snake_case keys, none twice.
func TestDumpReportTitles(t *testing.T) {
	texts := []string{"Linux version 6.1.0-test", "BUG: kernel NULL pointer dereference, address: 0000000000000000",
		"Oops: 0002 [#1] SMP", "CPU: 0 PID: 1 Comm: sh Not tainted 6.1.0-test #1", "RIP: 0010:crash_it+0x4/0x10",
		"Code: 90 90 <c7> 04 25 00 00 00 00 2a 00 00 00", "Call Trace:", " <TASK>", " caller_fn+0x10/0x20", " </TASK>", "Kernel panic - not syncing: Fatal exception"}
	v, err := Open(writeTemp(t, fakeRing{texts: texts, bits: 4, dataBits: 12}.core("")))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	var text, js bytes.Buffer
	if err := v.Show(&text, nil, 0, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "--- 1 crash report(s) ---\nreport: BUG: unable to handle kernel NULL pointer dereference in crash_it\n  code:    0: \t90") ||
		!strings.Contains(text.String(), "movl $0x2a,0x0\t\t<-- trapping instruction\n") {
		t.Errorf("text:\n%s", text.String())
	}
	if err := v.Show(&js, nil, 0, true); err != nil {
		t.Fatal(err)
	}
	keys := jsontest.CheckKeys(t, js.Bytes())
	for _, k := range []string{"release", "log.text", "reports.title", "reports.type", "reports.guilty.func", "reports.frames.func", "reports.code.text", "reports.code.faulting"} {
		if !keys[k] {
			t.Errorf("no %s in %s", k, js.String())
		}
	}
}

// TestReportRefusesNegative: a negative --tail or --crash-timeout is
// refused before the dump is opened.
func TestReportRefusesNegative(t *testing.T) {
	for _, o := range []ReportOptions{{Tail: -5}, {CrashLimit: -time.Second}} {
		err := Report(context.Background(), "/nonexistent", o, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "neither can be negative") {
			t.Errorf("%+v: %v", o, err)
		}
	}
}

// crash(8) reads the dumps of the machine it was built for: a dump of
// another is refused with what vmcore shows of it instead (crash said
// "not a supported file format").
func TestCrashForeignDump(t *testing.T) {
	core := elfCore(testInfo, 0x100000, bytes.Repeat([]byte{7}, 4096))
	other := map[string]elf.Machine{"x86_64": elf.EM_AARCH64, "aarch64": elf.EM_X86_64}[kernel.HostArch()]
	binary.LittleEndian.PutUint16(core[18:], uint16(other))
	o := ReportOptions{Crash: true, KernelErr: errors.New("no vmlinux")}
	err := Report(context.Background(), writeTemp(t, core), o, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "dumps only (it is built for the host's machine): without --crash") {
		t.Errorf("%v", err)
	}
}
