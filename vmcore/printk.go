package vmcore

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/initkit/initkit/internal/printable"
)

// Record is one message of the kernel log.
type Record struct {
	Seq   uint64
	Time  time.Duration // since boot (printk_info.ts_nsec)
	Level int
	Text  string
}

// The lockless printk ring buffer of Linux 5.10 and later
// (kernel/printk/printk_ringbuffer.h): a descriptor ring, whose entries
// carry a state and an id in state_var and the logical positions of
// their text in the data ring, beside an array of printk_info; the text
// data ring holds blocks that start with the descriptor's id. VMCOREINFO
// gives every size and offset (log_buf_vmcoreinfo_setup).
const (
	descFlagsShift = 62
	descIDMask     = 1<<descFlagsShift - 1
	descCommitted  = 1
	descFinalized  = 2
	// A log is read up to MaxLogRecords records and MaxLogText bytes of
	// text, whatever the dump claims: a distribution's log buffer holds
	// 128-256 KiB (CONFIG_LOG_BUF_SHIFT=17-18); a dump whose records all
	// point at one 64 KiB text would otherwise make gigabytes of it.
	MaxLogRecords = 1 << 20
	MaxLogText    = 4 << 20
)

// ErrLogTruncated is returned with the records read when a log passes
// MaxLogRecords or MaxLogText.
var ErrLogTruncated = fmt.Errorf("the log is cut at %d records or %d MiB of text (a log that large is not the kernel's)", MaxLogRecords, MaxLogText>>20)

// Log reads the kernel log from the printk ring buffer, oldest first.
func (v *File) Log() ([]Record, error) {
	if v.Info == nil {
		return nil, ErrNoInfo
	}
	r, err := v.ring()
	if err != nil {
		return nil, err
	}
	return r.records()
}

// ring is the layout and state of the printk ring buffer.
type ring struct {
	v                        *File
	count                    uint64
	descs, infos             uint64
	descSize, infoSize       uint64
	svOff, beginOff, nextOff uint64
	seqOff, tsOff, lenOff    uint64
	levelOff                 uint64
	head, tail               uint64
	data, dataSize           uint64
}

func (v *File) ring() (*ring, error) {
	in := v.Info
	ptr, ok := in.Symbols["prb"]
	if !ok {
		return nil, fmt.Errorf("VMCOREINFO has no SYMBOL(prb): a kernel before 5.10, whose log is not read here")
	}
	// prb is a pointer to the ring in use (printk_rb_static, or the
	// dynamic one setup_log_buf made).
	prb, err := v.u64(ptr)
	if err != nil {
		return nil, fmt.Errorf("printk ring buffer pointer at %#x: %w", ptr, err)
	}
	var errs []error
	off := func(k string) uint64 {
		o, err := in.offset(k)
		if err != nil {
			errs = append(errs, err)
		}
		return uint64(o)
	}
	size := func(k string) uint64 {
		s, err := in.size(k)
		if err != nil {
			errs = append(errs, err)
		}
		return uint64(s)
	}
	desc := prb + off("printk_ringbuffer.desc_ring")
	text := prb + off("printk_ringbuffer.text_data_ring")
	counter := off("atomic_long_t.counter")
	r := &ring{v: v, descSize: size("prb_desc"), infoSize: size("printk_info"),
		svOff: off("prb_desc.state_var") + counter, beginOff: off("prb_desc.text_blk_lpos") + off("prb_data_blk_lpos.begin"),
		nextOff: off("prb_desc.text_blk_lpos") + off("prb_data_blk_lpos.next"),
		seqOff:  off("printk_info.seq"), tsOff: off("printk_info.ts_nsec"), lenOff: off("printk_info.text_len")}
	r.levelOff = r.lenOff + 3 // u16 text_len, u8 facility, then flags:5 and level:3
	countBits, descsAt, infosAt := desc+off("prb_desc_ring.count_bits"), desc+off("prb_desc_ring.descs"), desc+off("prb_desc_ring.infos")
	headAt, tailAt := desc+off("prb_desc_ring.head_id")+counter, desc+off("prb_desc_ring.tail_id")+counter
	sizeBits, dataAt := text+off("prb_data_ring.size_bits"), text+off("prb_data_ring.data")
	if len(errs) > 0 {
		return nil, errs[0]
	}
	var bits32, dbits uint32
	for _, f := range []func() error{
		func() error { bits32, err = v.u32(countBits); return err },
		func() error { r.descs, err = v.u64(descsAt); return err },
		func() error { r.infos, err = v.u64(infosAt); return err },
		func() error { r.head, err = v.u64(headAt); return err },
		func() error { r.tail, err = v.u64(tailAt); return err },
		func() error { dbits, err = v.u32(sizeBits); return err },
		func() error { r.data, err = v.u64(dataAt); return err },
	} {
		if err := f(); err != nil {
			return nil, fmt.Errorf("printk ring buffer at %#x: %w", prb, err)
		}
	}
	if bits32 > 24 || dbits > 32 || bits32 == 0 || dbits == 0 {
		return nil, fmt.Errorf("printk ring buffer at %#x: %d descriptors, %d bytes of text: not a ring buffer (a vmcore of another kernel?)", prb, uint64(1)<<bits32, uint64(1)<<dbits)
	}
	r.count, r.dataSize = 1<<bits32, 1<<dbits
	return r, r.check()
}

// check refuses a layout VMCOREINFO gives that cannot be: sizes that are
// not a structure's (negative ones wrap to huge), fields past the end of
// their structure.
func (r *ring) check() error {
	if r.descSize < 16 || r.descSize > 4096 || r.infoSize < 16 || r.infoSize > 4096 {
		return fmt.Errorf("VMCOREINFO: SIZE(prb_desc)=%d, SIZE(printk_info)=%d: not the sizes of those structures", int64(r.descSize), int64(r.infoSize))
	}
	for _, f := range []struct {
		name     string
		off, len uint64
		in       uint64
	}{
		{"prb_desc.state_var", r.svOff, 8, r.descSize},
		{"prb_desc.text_blk_lpos.begin", r.beginOff, 8, r.descSize},
		{"prb_desc.text_blk_lpos.next", r.nextOff, 8, r.descSize},
		{"printk_info.seq", r.seqOff, 8, r.infoSize},
		{"printk_info.ts_nsec", r.tsOff, 8, r.infoSize},
		{"printk_info.text_len", r.lenOff, 2, r.infoSize},
		{"printk_info level", r.levelOff, 1, r.infoSize},
	} {
		if f.off > f.in-f.len {
			return fmt.Errorf("VMCOREINFO: OFFSET(%s)=%d is past the end of its structure (%d bytes)", f.name, int64(f.off), f.in)
		}
	}
	return nil
}

// records walks the descriptors from the tail to the head, taking the
// committed and finalized ones whose id is still theirs; no more than the
// ring has, MaxLogRecords and MaxLogText.
func (r *ring) records() ([]Record, error) {
	var out []Record
	left := uint64(MaxLogText)
	b := make([]byte, max(r.descSize, r.infoSize))
	for id, n := r.tail&descIDMask, uint64(0); n < r.count; id, n = (id+1)&descIDMask, n+1 {
		rec, ok, err := r.record(id, b, left)
		if err != nil {
			return out, err
		}
		if ok {
			if left -= uint64(len(rec.Text)); left == 0 || len(out) == MaxLogRecords {
				return out, ErrLogTruncated
			}
			out = append(out, rec)
		}
		if id == r.head&descIDMask {
			break
		}
	}
	return out, nil
}

// record reads descriptor id's record, its text cut at max bytes.
func (r *ring) record(id uint64, b []byte, max uint64) (Record, bool, error) {
	idx := id % r.count
	le := binary.LittleEndian
	d := b[:r.descSize]
	if err := r.v.ReadVirt(d, r.descs+idx*r.descSize); err != nil {
		return Record{}, false, fmt.Errorf("printk descriptor %d: %w", idx, err)
	}
	sv := le.Uint64(d[r.svOff:])
	state := sv >> descFlagsShift
	if sv&descIDMask != id || state != descCommitted && state != descFinalized {
		return Record{}, false, nil
	}
	begin, next := le.Uint64(d[r.beginOff:]), le.Uint64(d[r.nextOff:])
	info := b[:r.infoSize]
	if err := r.v.ReadVirt(info, r.infos+idx*r.infoSize); err != nil {
		return Record{}, false, fmt.Errorf("printk info %d: %w", idx, err)
	}
	rec := Record{Seq: le.Uint64(info[r.seqOff:]), Time: time.Duration(le.Uint64(info[r.tsOff:])), Level: int(info[r.levelOff] >> 5)}
	textLen := min(uint64(le.Uint16(info[r.lenOff:])), max)
	text, err := r.text(begin, next, textLen)
	if err != nil {
		return Record{}, false, fmt.Errorf("printk record %d: %w", rec.Seq, err)
	}
	rec.Text = text
	return rec, true, nil
}

// text reads a record's text: its block starts at begin (at the start
// of the ring when the block wraps) with the descriptor's id, a long.
func (r *ring) text(begin, next, n uint64) (string, error) {
	if begin&1 == 1 || begin == next || n == 0 {
		return "", nil // data-less
	}
	start, end := begin%r.dataSize, next%r.dataSize
	if begin/r.dataSize != next/r.dataSize {
		start = 0 // wrapped: the block is at the ring's start
		if end == 0 {
			end = r.dataSize
		}
	}
	if end <= start || end-start < 8 {
		return "", nil
	}
	avail := end - start - 8
	n = min(n, avail)
	buf := make([]byte, n)
	if err := r.v.ReadVirt(buf, r.data+start+8); err != nil {
		return "", err
	}
	return string(buf), nil
}

// FormatLog writes records as the console shows them: "[ seconds] text",
// each line of a message prefixed. Control characters but the tab are
// written escaped (\x1b): a log is from the guest, and an escape sequence
// in it would reach the user's terminal (set its title, write to the
// clipboard with OSC 52).
func FormatLog(recs []Record) string {
	// Sized first: the log is the largest thing a dump gives, and growing
	// it by appending would allocate it several times over.
	n := 0
	for _, r := range recs {
		n += (len("[00000.000000] ")+1)*(1+strings.Count(r.Text, "\n")) + printable.Len(r.Text)
	}
	b := make([]byte, 0, n)
	for _, r := range recs {
		prefix := fmt.Sprintf("[%5d.%06d] ", r.Time/time.Second, r.Time%time.Second/time.Microsecond)
		for _, line := range strings.Split(strings.TrimRight(r.Text, "\n"), "\n") {
			b = append(b, prefix...)
			b = printable.Append(b, line)
			b = append(b, '\n')
		}
	}
	return string(b)
}
