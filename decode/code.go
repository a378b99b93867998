package decode

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/arch/arm64/arm64asm"
	"golang.org/x/arch/x86/x86asm"

	"github.com/initkit/initkit/oops"
)

// Instruction is one instruction of a report's Code: line, as the
// kernel's scripts/decodecode shows it with objdump: its offset from the
// line's first byte, its bytes (arm64: its word), and its text (AT&T
// syntax on x86, GNU on arm64). An x86 branch's target is named from the
// RIP's function, func+0xOFF, which initkit decode FUNC+0xOFF resolves.
type Instruction struct {
	Offset   int    `json:"offset"`
	Bytes    string `json:"bytes"`
	Text     string `json:"text"`
	Faulting bool   `json:"faulting,omitempty"`
}

// Disassemble decodes the Code: line of r, the running kernel's own bytes
// around the faulting instruction: it needs no vmlinux, and shows what
// the CPU ran even where the vmlinux on disk differs (alternatives,
// static keys). It returns nil when the report has no Code: line, or no
// faulting instruction marked in it.
//
// x86 prints 42 bytes before the faulting one, from wherever they start:
// the instructions before it are decoded from the first byte where
// decoding lands on the faulting one, as decodecode tries each start. A
// last instruction cut off by the line's end is left out.
func Disassemble(r oops.Report) []Instruction {
	if r.CodeAt < 0 || r.CodeAt >= len(r.Code) {
		return nil
	}
	if r.CodeWords {
		return arm64Code(r.Code, r.CodeAt)
	}
	x := x86{code: r.Code, at: r.CodeAt, rip: r.RIP}
	return append(x.before(), x.tail()...)
}

// before is the instructions before the faulting one, decoded from the
// first start that lands on it with none that compilers do not emit (a
// REX prefix that changes nothing: a start inside an instruction); else
// from the first start that lands on it at all.
func (x x86) before() []Instruction {
	var first []Instruction
	for start := 0; start < x.at; start++ {
		ins, ok := x.decode(start, x.at)
		if !ok {
			continue
		}
		if !slices.ContainsFunc(ins, unlikely) {
			return ins
		}
		if first == nil {
			first = ins
		}
	}
	return first
}

// unlikely says whether an instruction is one a compiler does not emit:
// x86asm shows a prefix that changes nothing as such ("rex.R and ...").
func unlikely(in Instruction) bool {
	return strings.Contains(in.Text, "rex.") || strings.Contains(in.Text, "prefix(")
}

// x86 is a Code: line of x86-64 bytes, the faulting one at index at, and
// the RIP frame that names the function it is in.
type x86 struct {
	code []byte
	at   int
	rip  *oops.Frame
}

// lineBase is where the line's first byte is taken to be: a branch target
// before it stays a positive address, and no instruction is at 0, which
// x86asm prints as "." (this decode prints targets by name or offset).
const lineBase = 1 << 32

// tail is the faulting instruction and those after it, up to the first
// that cannot be decoded (the last is often cut off).
func (x x86) tail() []Instruction {
	ins, _ := x.decode(x.at, len(x.code))
	if len(ins) > 0 {
		ins[0].Faulting = true
	}
	return ins
}

// decode decodes code[start:end] in 64-bit mode; ok says whether every
// byte decoded, the last instruction ending at end.
func (x x86) decode(start, end int) (out []Instruction, ok bool) {
	for pc := start; pc < end; {
		inst, err := x86asm.Decode(x.code[pc:end], 64)
		if err != nil || inst.Len == 0 || inst.Op == 0 {
			// Op 0: prefixes alone, an instruction the line cut off.
			return out, false
		}
		text := x86Text(inst, lineBase+uint64(pc), x.target)
		out = append(out, Instruction{Offset: pc, Bytes: hexBytes(x.code[pc : pc+inst.Len]), Text: text})
		pc += inst.Len
	}
	return out, true
}

// absZero stands in for a displacement of 0 that objdump prints and
// x86asm does not: an absolute address 0 ("movl $0x2a," for objdump's
// "movl $0x2a,0x0": a store through NULL, the commonest crash there is),
// and the one %rbp or %r13 as a base always encodes ("0x0(%r13)").
const absZero = 0x7ead0000dead

// scaleOne is an index without its scale, which objdump prints as 1.
var scaleOne = regexp.MustCompile(`\((%[a-z0-9]*),(%[a-z0-9]+)\)`)

// x86Text is the instruction in AT&T syntax as objdump prints it: an
// immediate unsigned at its operand's size (a kernel address, not a
// negative number), a RIP-relative operand as an offset from %rip, and
// a branch target named by symname.
func x86Text(inst x86asm.Inst, pc uint64, symname x86asm.SymLookup) string {
	zero, branch := false, false
	var imms []string
	for i, a := range inst.Args {
		switch a := a.(type) {
		case x86asm.Mem:
			if a.Disp == 0 && (a.Base == 0 && a.Index == 0 || a.Base == x86asm.RBP || a.Base == x86asm.R13 || a.Base == x86asm.EBP || a.Base == x86asm.R13L) {
				a.Disp, zero = absZero, true
				inst.Args[i] = a
			}
			if a.Disp < 0 && a.Base == 0 && a.Index == 0 {
				// movabs's 64-bit address: a kernel address, not a negative number.
				imms = append(imms, fmt.Sprintf("%#x", a.Disp), fmt.Sprintf("%#x", uint64(a.Disp)))
			}
		case x86asm.Rel:
			branch = true
		case x86asm.Imm:
			if a < 0 {
				imms = append(imms, fmt.Sprintf("$%#x", int64(a)), unsignedImm(int64(a), inst.DataSize))
			}
		}
	}
	if !branch {
		symname = nil // a RIP-relative operand stays "0x12(%rip)", as objdump shows it
	}
	text := x86asm.GNUSyntax(inst, pc, symname)
	if zero {
		text = strings.ReplaceAll(text, fmt.Sprintf("%#x", absZero), "0x0")
	}
	text = strings.NewReplacer(imms...).Replace(text)
	text = scaleOne.ReplaceAllString(text, "($1,$2,1)")
	// binutils 2.37 dropped the suffix x86asm still shows (retq, callq,
	// jmpq): the objdump kernel developers run prints ret, call, jmp.
	if op, rest, _ := strings.Cut(text, " "); suffixless[op] != "" {
		text = strings.TrimSpace(suffixless[op] + " " + rest)
	}
	return text
}

var suffixless = map[string]string{"retq": "ret", "callq": "call", "jmpq": "jmp", "pushfq": "pushf", "popfq": "popf"}

// unsignedImm is a negative immediate as objdump prints it: the bits of
// its operand's size.
func unsignedImm(v int64, size int) string {
	if size <= 0 || size >= 64 {
		return fmt.Sprintf("$%#x", uint64(v))
	}
	return fmt.Sprintf("$%#x", uint64(v)&(1<<size-1))
}

// target names a branch target: func+0xOFF from the RIP frame's function
// (the faulting instruction is at its offset), else its offset in the
// line. An absolute address (movabs) is no target: it keeps its number.
func (x x86) target(addr uint64) (string, uint64) {
	off := int64(addr-lineBase) - int64(x.at)
	if off < -1<<31 || off > 1<<31 {
		return "", 0
	}
	if x.rip != nil && x.rip.Func != "" {
		return fmt.Sprintf("%s%+#x", x.rip.Func, int64(x.rip.Off)+off), addr
	}
	return fmt.Sprintf("%+#x", off+int64(x.at)), addr
}

// arm64Code decodes whole instructions, the faulting one at index at.
func arm64Code(code []byte, at int) []Instruction {
	var out []Instruction
	for pc := 0; pc+4 <= len(code); pc += 4 {
		text := "(bad)"
		if inst, err := arm64asm.Decode(code[pc : pc+4]); err == nil {
			text = strings.TrimSpace(arm64asm.GNUSyntax(inst))
		}
		if alias, ok := hints[text]; ok {
			text = alias
		}
		// Shown as the kernel and objdump show it: the word, not its bytes.
		word := fmt.Sprintf("%08x", binary.LittleEndian.Uint32(code[pc:]))
		out = append(out, Instruction{Offset: pc, Bytes: word, Text: text, Faulting: pc == at})
	}
	return out
}

// hints are the HINT instructions arm64asm shows by number that have a
// name: pointer authentication and branch targets, at the entry and
// return of every function of a kernel built with them (the Arm ARM's
// HINT aliases; objdump's names).
var hints = map[string]string{
	"hint #0x7": "xpaclri", "hint #0x8": "pacia1716", "hint #0xa": "pacib1716", "hint #0xc": "autia1716",
	"hint #0xe": "autib1716", "hint #0x10": "esb", "hint #0x14": "csdb", "hint #0x16": "clearbhb",
	"hint #0x18": "paciaz", "hint #0x19": "paciasp", "hint #0x1a": "pacibz", "hint #0x1b": "pacibsp",
	"hint #0x1c": "autiaz", "hint #0x1d": "autiasp", "hint #0x1e": "autibz", "hint #0x1f": "autibsp",
	"hint #0x20": "bti", "hint #0x22": "bti c", "hint #0x24": "bti j", "hint #0x26": "bti jc",
}

func hexBytes(b []byte) string {
	var s strings.Builder
	for i, c := range b {
		if i > 0 {
			s.WriteByte(' ')
		}
		s.WriteString(hex.EncodeToString([]byte{c}))
	}
	return s.String()
}

// String is the instruction as decodecode prints it: "  2a:*\t0f 0b
// \tud2 <-- trapping instruction".
func (in Instruction) String() string {
	mark, note := " ", ""
	if in.Faulting {
		mark, note = "*", "\t\t<-- trapping instruction"
	}
	return fmt.Sprintf("%4x:%s\t%-21s\t%s%s", in.Offset, mark, in.Bytes, in.Text, note)
}
