package vmcore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/initkit/initkit/kernel"
)

const testInfo = "OSRELEASE=6.1.0-test\nBUILD-ID=abcd\nPAGESIZE=4096\nSYMBOL(prb)=ffffffff82000000\nSIZE(prb_desc)=24\nOFFSET(printk_info.seq)=0\nNUMBER(phys_base)=-373293056\nKERNELOFFSET=31a00000\nCRASHTIME=1796131888\n"

func TestParseInfo(t *testing.T) {
	in, err := ParseInfo([]byte(testInfo + "\x00\x00"))
	if err != nil {
		t.Fatal(err)
	}
	if in.Release != "6.1.0-test" || in.PageSize != 4096 || in.Symbols["prb"] != 0xffffffff82000000 || in.Sizes["prb_desc"] != 24 ||
		in.Numbers["phys_base"] != -373293056 || in.KernelOffset != 0x31a00000 || !in.CrashTime.Equal(time.Unix(1796131888, 0)) {
		t.Errorf("%+v", in)
	}
	// A kernel without an RTC that crashed in its first second: CRASHTIME
	// 0 is still a crash kernel's time (it was read as no crash time, and
	// vmcore said QEMU took the dump).
	if in, err := ParseInfo([]byte("OSRELEASE=x\nCRASHTIME=0\n")); err != nil || in.CrashTime.IsZero() || in.CrashTime.Unix() != 0 {
		t.Errorf("CRASHTIME=0: %v, %v", in.CrashTime, err)
	}
	for _, bad := range []string{"PAGESIZE=4096\n", "OSRELEASE=x\nSYMBOL(prb)=zz\n", "OSRELEASE=x\nSIZE(a)=1.5\n"} {
		if _, err := ParseInfo([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestFormatLog(t *testing.T) {
	got := FormatLog([]Record{{Time: 1500 * time.Millisecond, Text: "one"}, {Time: 2*time.Second + 7*time.Microsecond, Text: "two\nthree\n"}})
	want := "[    1.500000] one\n[    2.000007] two\n[    2.000007] three\n"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// elfCore is a minimal ELF core: a VMCOREINFO note, one NT_PRSTATUS
// note and one PT_LOAD of mem at physical address base.
func elfCore(info string, base uint64, mem []byte) []byte {
	le := binary.LittleEndian
	note := func(name string, typ uint32, desc []byte) []byte {
		var b []byte
		b = le.AppendUint32(b, uint32(len(name)+1))
		b = le.AppendUint32(b, uint32(len(desc)))
		b = le.AppendUint32(b, typ)
		b = append(b, name...)
		b = append(b, make([]byte, align4(len(name)+1)-len(name))...)
		b = append(b, desc...)
		return append(b, make([]byte, align4(len(desc))-len(desc))...)
	}
	notes := append(note("VMCOREINFO", 0, []byte(info)), note("CORE", 1, make([]byte, 336))...)
	const ehsize, phsize = 64, 56
	noteOff := uint64(ehsize + 2*phsize)
	memOff := noteOff + uint64(len(notes))
	h := make([]byte, ehsize)
	copy(h, "\x7fELF\x02\x01\x01")
	le.PutUint16(h[16:], 4)  // ET_CORE
	le.PutUint16(h[18:], 62) // EM_X86_64
	le.PutUint32(h[20:], 1)
	le.PutUint64(h[32:], ehsize) // phoff
	le.PutUint16(h[52:], ehsize)
	le.PutUint16(h[54:], phsize)
	le.PutUint16(h[56:], 2)
	ph := func(typ uint32, off, paddr, size uint64) []byte {
		p := make([]byte, phsize)
		le.PutUint32(p, typ)
		le.PutUint64(p[8:], off)
		le.PutUint64(p[24:], paddr)
		le.PutUint64(p[32:], size)
		le.PutUint64(p[40:], size)
		return p
	}
	out := append(h, ph(4, noteOff, 0, uint64(len(notes)))...)
	out = append(out, ph(1, memOff, base, uint64(len(mem)))...)
	out = append(out, notes...)
	return append(out, mem...)
}

func writeTemp(t testing.TB, b []byte) string {
	p := filepath.Join(t.TempDir(), "vmcore")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestELFCore(t *testing.T) {
	mem := bytes.Repeat([]byte("0123456789abcdef"), 512)
	core := elfCore(testInfo, 0x100000, mem)
	v, err := Open(writeTemp(t, core))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if v.Format != "elf" || v.CPUs != 1 || v.Info == nil || v.Info.Release != "6.1.0-test" {
		t.Fatalf("%+v %+v", v, v.Info)
	}
	b := make([]byte, 20)
	if err := v.ReadPhys(b, 0x100000+10); err != nil || string(b) != "abcdef0123456789abcd" {
		t.Errorf("ReadPhys: %q %v", b, err)
	}
	var ae *AddrError
	if err := v.ReadPhys(b, 0x100000+uint64(len(mem))-4); !errors.As(err, &ae) {
		t.Errorf("read past the segment: %v", err)
	}
	// Kernel map: phys = va - __START_KERNEL_map + phys_base.
	if pa, err := v.Phys(0xffffffff80000000 + 0x16500000); err != nil || pa != 0x100000 {
		t.Errorf("Phys: %#x %v", pa, err)
	}
	truncated := writeTemp(t, core[:len(core)-100])
	var fe *FormatError
	if _, err := Open(truncated); !errors.As(err, &fe) || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated: %v", err)
	}
	if _, err := Open(writeTemp(t, []byte("hello, world"))); !errors.Is(err, ErrNotDump) || strings.Contains(err.Error(), "decompress") {
		t.Errorf("text: %v", err)
	}
	// A dump stored compressed, as bug reports carry it, each by its own
	// tool: the error says how to decompress it.
	for _, tool := range [][]string{{"xz", "-k"}, {"zstd", "-q"}, {"gzip", "-k"}} {
		in := writeTemp(t, core)
		if out, err := exec.Command(tool[0], append(tool[1:], in)...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", tool[0], err, out)
		}
		ext := map[string]string{"xz": ".xz", "zstd": ".zst", "gzip": ".gz"}[tool[0]]
		_, err := Open(in + ext)
		if !errors.Is(err, ErrNotDump) || !strings.Contains(err.Error(), "compressed with "+tool[0]) || !strings.Contains(err.Error(), "("+tool[0]+" -d") {
			t.Errorf("%s: %v", tool[0], err)
		}
	}
}

// TestFlattened: records placed out of order, one overwriting part of
// another, read back as the dump they flatten.
func TestFlattened(t *testing.T) {
	core := elfCore(testInfo, 0x100000, bytes.Repeat([]byte{7}, 4096))
	var flat bytes.Buffer
	hdr := make([]byte, flatHeaderSize)
	copy(hdr, "makedumpfile")
	flat.Write(hdr)
	rec := func(off int64, b []byte) {
		binary.Write(&flat, binary.BigEndian, off)
		binary.Write(&flat, binary.BigEndian, int64(len(b)))
		flat.Write(b)
	}
	half := len(core) / 2
	rec(int64(half), core[half:])
	rec(0, make([]byte, half)) // zeros first, then the real header over them
	rec(0, core[:half])
	rec(-1, nil)
	v, err := Open(writeTemp(t, flat.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	b := make([]byte, 4)
	if err := v.ReadPhys(b, 0x100800); err != nil || !bytes.Equal(b, []byte{7, 7, 7, 7}) || v.Info.Release != "6.1.0-test" {
		t.Errorf("%v %v %+v", b, err, v.Info)
	}
	cut := flat.Bytes()[:flat.Len()-200]
	if _, err := Open(writeTemp(t, cut)); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated stream: %v", err)
	}
}

// FuzzOpen: no input makes Open or Log panic or hang.
func FuzzOpen(f *testing.F) {
	f.Add(elfCore(testInfo, 0x100000, make([]byte, 4096)))
	f.Add([]byte("KDUMP   \x06\x00\x00\x00"))
	f.Add(append([]byte("makedumpfile"), make([]byte, 5000)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := Open(writeTemp(t, b))
		if err != nil {
			return
		}
		defer v.Close()
		v.Log()
	})
}

// TestFactsEscaped: what a dump says of itself is untrusted: its release
// and panic line are shown escaped.
func TestFactsEscaped(t *testing.T) {
	var out strings.Builder
	Summary{File: "vmcore", Release: "6.1\x1b]52;c;ZXZpbA==\x07", Panic: "Kernel panic - not syncing: \x1b[2J"}.WriteFacts(&out)
	if strings.ContainsRune(out.String(), 0x1b) || !strings.Contains(out.String(), `6.1\x1b]52;c;ZXZpbA==\x07`) {
		t.Errorf("facts:\n%q", out.String())
	}
}

// TestWriteFactsCrashed: whether the kernel crashed is the crash kernel's
// time when one ran (a clock never set, 1970, said as such); else its log's panic (QEMU dumped a panicked kernel:
// boot --dump-on-crash); else it was running.
func TestWriteFactsCrashed(t *testing.T) {
	at := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	early := time.Unix(1, 0)
	for _, c := range []struct {
		s    Summary
		want string
	}{
		{Summary{CrashTime: &at, Panic: "Kernel panic - not syncing: x"}, "crashed: 2026-12-04T10:00:00Z\n"},
		{Summary{CrashTime: &early, Panic: "Kernel panic - not syncing: x"}, "crashed: yes, by its crash kernel, 1s after the epoch (the guest's clock was never set: no RTC driver)\n"},
		{Summary{Panic: "Kernel panic - not syncing: x"}, "crashed: yes, by its log (the dump was taken by QEMU after the panic, not by a crash kernel)\n"},
		{Summary{}, "crashed: no (a dump taken of a running kernel)\n"},
	} {
		var b bytes.Buffer
		c.s.WriteFacts(&b)
		if !strings.Contains(b.String(), c.want) {
			t.Errorf("%+v:\n%s\nwant %q", c.s, b.String(), c.want)
		}
	}
}

// TestPhysARM64: arm64's VMCOREINFO numbers as the kernel prints them
// (arch/arm64/kernel/crash_core.c: kimage_voffset above the int64s) are
// read, and an address of the linear map and one of the kernel image
// translate as __lm_to_phys and __kimg_to_phys do; an address below the
// linear map is not the kernel's.
func TestPhysARM64(t *testing.T) {
	in, err := ParseInfo([]byte("OSRELEASE=6.1.0\nPAGESIZE=4096\nNUMBER(VA_BITS)=48\nNUMBER(kimage_voffset)=0xffff7fffc7e00000\nNUMBER(PHYS_OFFSET)=0x40000000\nKERNELOFFSET=0\n"))
	if err != nil {
		t.Fatal(err)
	}
	v := &File{Arch: "aarch64", Info: in}
	for va, want := range map[uint64]uint64{
		0xffff000000001000: 0x40001000, // the linear map's second page
		0xffff800008010000: 0x40210000, // the kernel image: va - kimage_voffset
	} {
		if got, err := v.Phys(va); err != nil || got != want {
			t.Errorf("Phys(%#x) = %#x, %v; want %#x", va, got, err, want)
		}
	}
	if _, err := v.Phys(0x0000ffff00000000); err == nil {
		t.Error("a user address translated")
	}
	delete(in.Numbers, "VA_BITS")
	if _, err := v.Phys(0xffff000000001000); err == nil || !strings.Contains(err.Error(), "VA_BITS") {
		t.Errorf("no VA_BITS: %v", err)
	}
}

// TestDumpsKernel: the fetched kernel a command takes when none is named
// is passed over for a dump of another release (an arm64 guest's dump
// read on an amd64 host), for the cached kernel of the dump's release,
// else none, with a note that says which release: the dump is still
// read, where the host's vmlinux was refused as "not the kernel of" it.
// A kernel the user named is kept, for CheckVmlinux to judge.
func TestDumpsKernel(t *testing.T) {
	t.Setenv("INITKIT_CACHE", t.TempDir())
	v := &File{Info: &Info{Release: "6.1.0-57-cloud-arm64"}}
	host := &kernel.Choice{Release: "6.1.0-57-cloud-amd64", Fetched: &kernel.Kernel{Release: "6.1.0-57-cloud-amd64"}}
	k, err := dumpsKernel(v, host, nil)
	if k != nil || err == nil || !strings.Contains(err.Error(), "the dump is of kernel 6.1.0-57-cloud-arm64") {
		t.Errorf("another release, none cached: %v, %v", k, err)
	}
	named := &kernel.Choice{Release: "6.1.0-57-cloud-amd64", From: "--kernel"}
	if k, err := dumpsKernel(v, named, nil); k != named || err != nil {
		t.Errorf("a named kernel: %v, %v", k, err)
	}
	same := &File{Info: &Info{Release: host.Release}}
	if k, err := dumpsKernel(same, host, nil); k != host || err != nil {
		t.Errorf("the dump's own: %v, %v", k, err)
	}
}
