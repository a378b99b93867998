package decode

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/initkit/initkit/oops"
)

// TestDisassembleMatchesObjdump: every instruction decoded from the Code:
// lines of the real logs in oops/testdata starts where GNU objdump's does,
// given the same bytes and start, and has its bytes and mnemonic.
func TestDisassembleMatchesObjdump(t *testing.T) {
	logs, _ := filepath.Glob("../oops/testdata/real/*.log")
	more, _ := filepath.Glob("../oops/testdata/*.log")
	checked := map[bool]int{}
	for _, name := range append(logs, more...) {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		reps, err := oops.Parse(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range reps {
			ins := Disassemble(r)
			if len(ins) == 0 {
				continue
			}
			checked[r.CodeWords]++
			theirs := objdump(t, r.Code, r.CodeWords, ins[0].Offset)
			for _, in := range ins {
				want, ok := theirs[in.Offset]
				switch {
				case !ok:
					t.Errorf("%s line %d: objdump has no instruction at %#x (ours: %s)", name, r.CodeLine, in.Offset, in)
				case want.bytes != in.Bytes || want.mnemonic != mnemonic(in.Text):
					t.Errorf("%s line %d at %#x: ours %q %q, objdump's %q %q", name, r.CodeLine, in.Offset, in.Bytes, in.Text, want.bytes, want.text)
				case !branch(in.Text) && operands(in.Text) != operands(want.text):
					t.Errorf("%s line %d at %#x: ours %q, objdump's %q", name, r.CodeLine, in.Offset, in.Text, want.text)
				}
			}
		}
	}
	if checked[false] < 20 || checked[true] < 1 {
		t.Errorf("checked %d x86 and %d arm64 Code: lines: the logs lost theirs", checked[false], checked[true])
	}
}

type objdumpInsn struct{ bytes, text, mnemonic string }

// objdumpLine is "  2a:\t0f 0b  \tud2" (x86) or "  10:\tb9000020 \tstr\tw0, [x1]" (arm64).
var objdumpLine = regexp.MustCompile(`^\s*([0-9a-f]+):\t((?:[0-9a-f]{2} )+|[0-9a-f]{8} )\s*\t(.*)$`)

// objdump disassembles code from start with GNU objdump, as
// scripts/decodecode does, keyed by offset.
func objdump(t *testing.T, code []byte, arm64 bool, start int) map[int]objdumpInsn {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "code")
	if err := os.WriteFile(bin, code, 0o644); err != nil {
		t.Fatal(err)
	}
	tool, machine := "objdump", "i386:x86-64"
	if arm64 {
		tool, machine = "aarch64-linux-gnu-objdump", "aarch64"
	}
	out, err := exec.Command(tool, "-D", "-z", "-b", "binary", "-m", machine, "--insn-width=16",
		fmt.Sprintf("--start-address=%#x", start), bin).CombinedOutput()
	if err != nil {
		t.Fatalf("%s (make test installs binutils and binutils-aarch64-linux-gnu): %v\n%s", tool, err, out)
	}
	got := map[int]objdumpInsn{}
	for _, line := range strings.Split(string(out), "\n") {
		m := objdumpLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		off, _ := strconv.ParseInt(m[1], 16, 64)
		text := strings.TrimSpace(m[3])
		got[int(off)] = objdumpInsn{bytes: strings.TrimSpace(m[2]), text: text, mnemonic: mnemonic(text)}
	}
	return got
}

// mnemonic is an instruction's operation, without prefixes such as lock
// or rep shown apart.
func mnemonic(text string) string {
	f := strings.Fields(text)
	for len(f) > 1 && (f[0] == "lock" || f[0] == "rep" || f[0] == "repz" || f[0] == "repnz" || f[0] == "notrack" || f[0] == "bnd" || f[0] == "cs" || f[0] == "ds") {
		f = f[1:]
	}
	if len(f) == 0 {
		return ""
	}
	if f[0] == "movabs" {
		return "mov" // x86asm's name for it
	}
	return f[0]
}

// branch says whether an instruction's operand is a target, which this
// decode names (func+0xOFF) where objdump gives a number.
func branch(text string) bool {
	m := mnemonic(text)
	return strings.HasPrefix(m, "j") || strings.HasPrefix(m, "call") || strings.HasPrefix(m, "loop") ||
		m == "b" || strings.HasPrefix(m, "b.") || m == "bl" || m == "cbz" || m == "cbnz" || m == "tbz" || m == "tbnz" || m == "adr" || m == "adrp"
}

// operands is an instruction's operands, spaces and a comment dropped,
// and a displacement of 0 that the encoding has (nopl 0x0(%rax,%rax,1):
// a disp8 of 0) written as none, which x86asm cannot tell apart.
func operands(text string) string {
	text = strings.ReplaceAll(text, " 0x0(", " (")
	text = strings.ReplaceAll(text, ",0x0(", ",(")
	text, _, _ = strings.Cut(text, "//")
	text, _, _ = strings.Cut(text, "# ") // x86's comment; arm64's immediates are "#0x1"
	f := strings.Fields(text)
	for len(f) > 0 && (f[0] == "lock" || f[0] == "rep" || f[0] == "repz" || f[0] == "repnz" || f[0] == "notrack" || f[0] == "cs" || f[0] == "ds") {
		f = f[1:]
	}
	if len(f) == 0 {
		return ""
	}
	return strings.Join(f[1:], "")
}

// TestDisassemble pins the layout of the notes and the choice of the
// first instruction: x86's line starts anywhere, arm64's on a word.
func TestDisassemble(t *testing.T) {
	log := `[   10.1] WARNING: CPU: 0 PID: 1 at mm/page_alloc.c:5525 __alloc_pages+0x2d6/0x330
[   10.2] RIP: 0010:__alloc_pages+0x2d6/0x330
[   10.3] Code: 85 2c ff ff ff 48 8b 44 24 08 e9 d1 fe ff ff <0f> 0b e9 3d fe ff ff 31 c0 e9 a8 fe
[   10.4] ---[ end trace 0000000000000000 ]---
`
	reps, err := oops.Parse(strings.NewReader(log))
	if err != nil || len(reps) != 1 {
		t.Fatalf("parse: %v, %d reports", err, len(reps))
	}
	var got []string
	for _, in := range Disassemble(reps[0]) {
		got = append(got, in.String())
	}
	// The line starts inside jne's opcode (0f 85 ...): decoding from byte
	// 0 would not land on the faulting ud2, so it starts at 5, and the
	// last jmp, cut off, is left out.
	want := []string{
		"   5: \t48 8b 44 24 08       \tmov 0x8(%rsp),%rax",
		"   a: \te9 d1 fe ff ff       \tjmp __alloc_pages+0x1a7",
		"   f:*\t0f 0b                \tud2\t\t<-- trapping instruction",
		"  11: \te9 3d fe ff ff       \tjmp __alloc_pages+0x11a",
		"  16: \t31 c0                \txor %eax,%eax",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if ins := Disassemble(oops.Report{Code: []byte{0x90, 0x90}, CodeAt: -1}); ins != nil {
		t.Errorf("no faulting byte marked: %v, want nothing", ins)
	}
}

// TestHintsMatchObjdump: each HINT named here is named so by GNU objdump
// (HINT #imm is 0xd503201f | imm<<5).
func TestHintsMatchObjdump(t *testing.T) {
	var code []byte
	var nums []string
	for num := range hints {
		imm, err := strconv.ParseUint(strings.TrimPrefix(num, "hint #0x"), 16, 8)
		if err != nil {
			t.Fatal(num, err)
		}
		code = binary.LittleEndian.AppendUint32(code, 0xd503201f|uint32(imm)<<5)
		nums = append(nums, num)
	}
	theirs := objdump(t, code, true, 0)
	for i, num := range nums {
		if got, want := hints[num], strings.Join(strings.Fields(theirs[4*i].text), " "); got != want {
			t.Errorf("%s: ours %q, objdump's %q", num, got, want)
		}
	}
}

// FuzzDisassemble: any log's Code: lines disassemble without a panic,
// into instructions in order, inside the line, one of them at most marked.
func FuzzDisassemble(f *testing.F) {
	for _, n := range []string{"warning.log", "arm64-oops.log", "real/lkdtm-bug.log"} {
		b, _ := os.ReadFile("../oops/testdata/" + n)
		f.Add(string(b))
	}
	f.Add("RIP: 0010:f+0x1/0x2\nCode: 48 <8b> 04 25 00 00 00 00\n")
	f.Fuzz(func(t *testing.T, log string) {
		reps, _ := oops.Parse(strings.NewReader(log))
		for _, r := range reps {
			next, marked := 0, 0
			for _, in := range Disassemble(r) {
				if in.Offset < next || in.Offset >= len(r.Code) || in.Bytes == "" {
					t.Fatalf("instruction %+v after offset %d, in %d bytes", in, next, len(r.Code))
				}
				next = in.Offset + 1
				if in.Faulting {
					marked++
				}
			}
			if marked > 1 {
				t.Fatalf("%d instructions marked", marked)
			}
		}
	})
}

// BenchmarkDisassemble disassembles the kernel Code: line of every report
// of the real logs in oops/testdata, as bench/decodecode.sh has the
// kernel's scripts/decodecode do: b.N times the whole set.
func BenchmarkDisassemble(b *testing.B) {
	logs, _ := filepath.Glob("../oops/testdata/real/*.log")
	var reps []oops.Report
	for _, name := range logs {
		data, err := os.ReadFile(name)
		if err != nil {
			b.Fatal(err)
		}
		rs, _ := oops.Parse(bytes.NewReader(data))
		for _, r := range rs {
			if r.CodeAt >= 0 {
				reps = append(reps, r)
			}
		}
	}
	b.ResetTimer()
	for range b.N {
		for _, r := range reps {
			var s strings.Builder
			for _, in := range Disassemble(r) {
				s.WriteString(in.String())
			}
		}
	}
	b.ReportMetric(float64(len(reps)), "lines")
}
