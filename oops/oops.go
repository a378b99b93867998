// Package oops finds kernel crash reports in console logs and parses
// them: the kind of report, its RIP, the call trace frames, registers,
// code bytes, modules, KASLR offset and kernel version, as
// arch/x86/kernel/dumpstack.c, kernel/panic.c, lib/dump_stack.c and the
// sanitizers print them. Logs may come as users paste them: with printk
// timestamps, caller ids ([T1], [C0]), syslog or journal prefixes, ANSI
// escapes and carriage returns.
package oops

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/hex"
	"encoding/json"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Report is one crash report. Title, Type, Guilty and Corrupted are its
// identity: the same bug gives the same title in every log, as syzkaller
// titles it (see kinds.go and guilty.go).
type Report struct {
	// Kind is the coarse class the console goes by (Fatal): "BUG",
	// "Oops", "WARNING", "panic", "GPF", "KASAN", "KMSAN", "KCSAN",
	// "KFENCE", "UBSAN", "lockdep", "kmemleak", "soft lockup", "hard
	// lockup", "hung task", "RCU stall".
	Kind string `json:"kind"`
	// Type is a short class of the bug: "null-ptr-deref",
	// "use-after-free", "warning", "deadlock", "leak", "hang", ...
	Type string `json:"type"`
	// Title names the bug: "KASAN: use-after-free Read in tcp_v4_rcv",
	// "WARNING in __alloc_pages", "possible deadlock in rtnl_lock".
	Title string `json:"title"`
	// Guilty is the frame the title names, nil when none may be.
	Guilty *Frame `json:"guilty,omitempty"`
	// Corrupted marks a report cut short, interleaved with other
	// output, or without a frame that may be guilty.
	Corrupted bool      `json:"corrupted"`
	Header    string    `json:"header"`            // the line that started it, cleaned
	Line      int       `json:"line"`              // its line number in the log, from 1
	EndLine   int       `json:"end_line"`          // the last line of the report
	Version   string    `json:"version,omitempty"` // kernel release from the "CPU: ... Comm: ..." line
	Tainted   string    `json:"tainted,omitempty"`
	RIP       *Frame    `json:"rip,omitempty"`
	Frames    []Frame   `json:"frames"`
	Code      []byte    `json:"-"` // the Code: bytes, in memory order
	CodeAt    int       `json:"-"` // index of the faulting byte in Code (<..>), -1 if none
	CodeLine  int       `json:"-"` // the Code: line's number in the log
	CodeWords bool      `json:"-"` // Code: printed 32-bit words (arm64), not bytes (x86)
	Regs      Registers `json:"registers,omitempty"`
	Modules   []string  `json:"modules,omitempty"`       // "Modules linked in:"
	Offset    uint64    `json:"kernel_offset,omitempty"` // "Kernel Offset:" (KASLR); 0 when disabled or not printed

	kind      *kind
	groups    []string
	access    string // Read or Write, from a sanitizer's access line
	heldAt    string // where the first lock a lockdep report lists was taken
	nullRange bool   // KASAN's "null-ptr-deref in range" under a GPF
	userRegs  bool   // the last RIP: line was a program's
	inTrace   bool
	lastFrame bool // the line before was a frame of the trace
	traced    bool // a bare kind's first stack has ended
}

// Registers are a report's registers by the names the kernel prints
// (RIP, RSP, x29, sp); JSON names them in lowercase.
type Registers map[string]string

// MarshalJSON implements json.Marshaler: keys in lowercase.
func (r Registers) MarshalJSON() ([]byte, error) {
	low := make(map[string]string, len(r))
	for k, v := range r {
		low[strings.ToLower(k)] = v
	}
	return json.Marshal(low)
}

// Frame is a frame of a report: func+off/len [module] as KALLSYMS
// prints it, an address alone (Func empty) from a kernel without it, or
// a frame a symbolized log marks [inline] (Func alone).
type Frame struct {
	Line       int    `json:"line"` // log line number, from 1
	Func       string `json:"func,omitempty"`
	Off        uint64 `json:"off,omitempty"`
	Len        uint64 `json:"len,omitempty"`
	Module     string `json:"module,omitempty"`     // [module] tag, "" for the kernel
	Unreliable bool   `json:"unreliable,omitempty"` // printed with "? "
	IsRIP      bool   `json:"is_rip,omitempty"`     // the faulting instruction (not a return address)
	Inline     bool   `json:"inline,omitempty"`     // an [inline] frame of a symbolized log
	Addr       uint64 `json:"addr,omitempty"`       // an address printed with the frame, when there is one
}

var (
	ansiRE   = lazy(`\x1b\[[0-9;?]*[ -/]*[@-~]`)
	syslogRE = lazy(`^(?:[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\S*) \S+ kernel: `)
	stampRE  = lazy(`^\[\s*\d+\.\d+\]\s?`)
	dmesgTRE = lazy(`^\[[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d \d{4}\]\s?`)
	callerRE = lazy(`^\[\s*[TC]\d+\]\s?`)
	levelRE  = lazy(`^<\d>`)
	// "? " before the address or, in kernels before 4.14, after it.
	frameRE   = lazy(`^(\? )?(?:\[<([0-9a-f]+)>\] (\? )?)?([A-Za-z0-9_.$]+)\+0x([0-9a-f]+)/0x([0-9a-f]+)(?: \[([A-Za-z0-9_]+)\])?`)
	ripRE     = lazy(`RIP: [0-9a-f]{4}:(?:\[<([0-9a-f]+)>\] )?([A-Za-z0-9_.$]+)\+0x([0-9a-f]+)/0x([0-9a-f]+)(?: \[([A-Za-z0-9_]+)\])?`)
	versionRE = lazy(`^CPU: \d+ (?:UID: \d+ )?PID: \d+ Comm: .*? (?:Not tainted|Tainted: ([A-Z ]*?))\s+(\S+) #`)
	offsetRE  = lazy(`^Kernel Offset: (?:0x([0-9a-f]+) from|disabled)`)
	// Frames of a kernel without KALLSYMS, which prints bare addresses:
	// "RIP: 0010:0xffffffff811f7c95", "? 0xffffffff810010cf",
	// "[<ffffffff810010cf>] 0xffffffff810010cf".
	// Only the kernel's code segment (0010): a user RIP (0033) in the
	// registers of a syscall's entry frame is no kernel address.
	rawRIPRE   = lazy(`RIP: 0010:0x([0-9a-f]+)\b`)
	rawFrameRE = lazy(`^(\? )?(?:\[<([0-9a-f]+)>\] ?)?(?:0x([0-9a-f]{8,16}))?$`)
	// What is left of a frame cut short: a name, part of an offset.
	fragmentRE = lazy(`^(?:\? )?[A-Za-z_][A-Za-z0-9_.$]*(?:\+0x[0-9a-f]*(?:/0x[0-9a-f]*)?)?$`)
	// A symbolized log's inlined frame: "__dump_stack lib/dump_stack.c:88 [inline]".
	inlineFrameRE = lazy(`^([A-Za-z0-9_.$]+) \S+\.[chS]:\d+(?::\d+)?(?: \[inline\])?$`)
	// arm64's registers ("x29: ffff...", "x2 : 0000...", "sp : ...") and
	// its "pc : func+off/len [mod]" lines.
	armRegRE      = lazy(`\b(x\d{1,2}|sp)\s*: ([0-9a-f]{16})\b`)
	armRegFrameRE = lazy(`^[pl][cr] : ([A-Za-z0-9_.$]+)\+0x([0-9a-f]+)/0x([0-9a-f]+)(?: \[([A-Za-z0-9_]+)\])?`)
	regRE         = lazy(`\b(R[A-Z0-9]{1,3}|EFLAGS|CS|DS|ES|FS|GS|CR[0-4]|ORIG_RAX):\s*([0-9a-f]{4}:)?([0-9a-f]+)`)
)

// Clean strips what wraps a kernel message in a pasted log. It copies
// the line only to remove escapes or carriage returns: a log of hundreds
// of megabytes is cleaned line by line.
func Clean(line string) string {
	if strings.IndexByte(line, '\x1b') >= 0 {
		line = ansiRE.ReplaceAllString(line, "")
	}
	if strings.IndexByte(line, '\r') >= 0 {
		line = strings.ReplaceAll(line, "\r", "")
	}
	line = strings.TrimRight(line, " \t")
	if strings.Contains(line, " kernel: ") {
		line = cut(syslogRE, line)
	}
	if strings.HasPrefix(line, "<") {
		line = cut(levelRE, line)
	}
	for _, re := range []*lazyRE{stampRE, dmesgTRE, callerRE, stampRE} {
		if !strings.HasPrefix(line, "[") {
			break
		}
		line = cut(re, line)
	}
	return line
}

// cut removes what the anchored re matches at the start of line.
func cut(re *lazyRE, line string) string {
	if loc := re.FindStringIndex(line); loc != nil {
		return line[loc[1]:]
	}
	return line
}

// start reports whether a cleaned line begins a report, and its kind.
func start(l string) (string, bool) {
	if k, _ := match(l); k != nil {
		return k.name, true
	}
	return "", false
}

// absorbs reports whether the report r, still without a call trace,
// takes a new first line of kind next as its own: the kernel prints
// "BUG: kernel NULL pointer dereference" and then "Oops: 0002" for one
// fault, "kernel BUG at" and then "invalid opcode", arm64 "Unable to
// handle kernel ..." and then "Internal error: Oops", and a prelude
// (refcount_t's message, ODEBUG's, a list corruption's) its WARNING or
// BUG.
func (r *Report) absorbs(next *kind, header string, n int) bool {
	// The kernel prints the lines of one fault together: a header far
	// below is another report (an old kernel's trace the parser did
	// not take as frames is no reason to swallow it).
	if len(r.Frames) > 0 || next.consequence || n-r.Line > absorbWithin {
		return false
	}
	if r.kind.prelude {
		return next.name == "WARNING" || next.name == "BUG" || next.name == "Oops"
	}
	switch r.Kind {
	case "BUG", "KASAN", "KFENCE", "GPF", "Oops", "KMSAN":
		// Since 6.5, x86's exceptions begin "Oops: " ("Oops: invalid
		// opcode: 0000"; arch/x86/kernel/dumpstack.c __die_header).
		header = strings.TrimPrefix(header, "Oops: ")
		return next.name == "Oops" || next.name == "GPF" || strings.HasPrefix(header, "invalid opcode: ") || strings.HasPrefix(header, "Internal error: ")
	}
	return false
}

// bottoms are the functions a whole stack ends in: where a system call,
// a kernel thread, an interrupt or the boot entered the kernel (UML:
// new_thread_handler, where each of its threads starts).
var bottoms = lazy(`^(?:entry_SYSCALL_64\w*|entry_SYSENTER\w*|entry_INT80\w*|ret_from_fork\w*|kthread|start_kernel|secondary_startup_64\w*|x86_64_start_\w+|cpu_startup_entry|el0t_64_sync\w*|el0_svc\w*|new_thread_handler)$`)

// atBottom says a report's last frame is where its stack began: a log
// that ends there (a kmemleak report is the last thing printed) has the
// whole stack.
func atBottom(r *Report) bool {
	return len(r.Frames) > 0 && bottoms.MatchString(r.Frames[len(r.Frames)-1].Func)
}

// absorbWithin is how many lines below a report's first line a second
// header may be the same fault's: "BUG: unable to handle page fault"
// and its "Oops:" are 5 lines apart; a refcount_t prelude and its
// WARNING 2.
const absorbWithin = 12

// regsWithin is how far above its first line a report's registers may
// be (kind.regsBefore): user-mode Linux prints its 8 lines of registers
// and "Modules linked in:" just before its panic.
const regsWithin = 12

func isEnd(l string) bool {
	return strings.HasPrefix(l, "---[ end ")
}

// Parse reads a log and returns every report in it, in order, each with
// its title. A report cut short (a truncated paste) is returned with
// what it has, marked corrupted.
func Parse(r io.Reader) ([]Report, error) {
	var out []Report
	err := Each(r, func(rep Report) error {
		out = append(out, rep)
		return nil
	})
	return out, err
}

// MaxFrames bounds the frames kept of one report: a stack is tens of
// frames, and a log that claims millions must not cost their memory.
const MaxFrames = 512

// Each reads a log and calls fn with every report in it, in order, as
// soon as the report ends: memory stays bounded by one report whatever
// the log's size. It stops at fn's first error and returns it.
func Each(r io.Reader, fn func(Report) error) error {
	var cur *Report
	var fnErr error
	seen := false // a report was found: a panic after it is its consequence
	n := 0
	var regs *Frame // the last RIP printed outside a report (kind.regsBefore)
	flush := func() {
		if cur == nil {
			return
		}
		// A loose first line ("BUG: something") with neither a stack
		// nor the kernel's CPU line after it is text, not a report.
		if !cur.kind.loose || len(cur.Frames) > 0 || cur.Version != "" || cur.RIP != nil {
			cur.finish()
			seen = true
			if fnErr == nil {
				fnErr = fn(*cur)
			}
		}
		cur = nil
	}
	err := eachLine(r, func(text []byte) {
		if fnErr != nil {
			return
		}
		n++
		l := Clean(string(text))
		if k, groups := match(l); k != nil {
			switch {
			case k.consequence && (cur != nil || seen):
				// "Kernel panic - not syncing: Fatal exception": the
				// report before is the crash.
				if cur == nil {
					return
				}
			case cur != nil && cur.absorbs(k, l, n):
				cur.Header += "; " + l
			default:
				if cur != nil && cur.inTrace && cur.lastFrame && cur.Kind != k.name && !k.unwinder {
					cur.Corrupted = true // another report began inside its stack
				}
				flush()
				cur = &Report{Kind: k.name, Header: l, Line: n, CodeAt: -1, Regs: map[string]string{}, kind: k, groups: groups}
				if k.regsBefore && regs != nil && n-regs.Line <= regsWithin {
					cur.RIP = regs
				}
			}
		}
		if cur == nil {
			if strings.HasPrefix(l, "RIP: ") {
				if m := ripRE.FindStringSubmatch(l); m != nil {
					regs = &Frame{Line: n, Func: m[2], Off: hexNum(m[3]), Len: hexNum(m[4]), Module: m[5], IsRIP: true, Addr: hexNum(m[1])}
				}
			}
			return
		}
		cur.EndLine = n
		cur.parseLine(l, n)
		if isEnd(l) {
			flush()
		}
	})
	if cur != nil && cur.inTrace && cur.lastFrame && !atBottom(cur) {
		cur.Corrupted = true // the log ends inside the stack
	}
	flush()
	return cmp.Or(fnErr, err)
}

// MaxLine is how much of a log line the parser looks at: the kernel's
// printk lines are at most 1024 bytes (PRINTK_MESSAGE_MAX), so a longer
// line is something else pasted in; its rest is skipped, not an error.
const MaxLine = 64 << 10

// eachLine calls fn with every line of r, without its newline, cut to
// MaxLine bytes. Memory stays bounded whatever the input.
func eachLine(r io.Reader, fn func([]byte)) error {
	br := bufio.NewReaderSize(r, MaxLine)
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			fn(line)
			for err == bufio.ErrBufferFull { // skip the rest of the line
				_, err = br.ReadSlice('\n')
			}
		} else if len(line) > 0 {
			fn(bytes.TrimSuffix(line, []byte("\n")))
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (r *Report) parseLine(l string, n int) {
	t := strings.TrimSpace(l)
	wasFrame := r.lastFrame
	r.lastFrame = false
	if r.kind != nil && r.kind.bare && !r.traced {
		// KCSAN's, KMSAN's and KFENCE's stacks have no header: frames
		// until a blank line after them.
		if t == "" && len(r.Frames) > 0 {
			r.inTrace, r.traced = false, true
			return
		}
		r.inTrace = true
	}
	switch {
	case strings.HasPrefix(t, "Call Trace:"), strings.HasPrefix(t, "Call trace:"), // x86, arm64
		r.Kind == "kmemleak" && strings.HasPrefix(t, "backtrace"): // "backtrace:", "backtrace (crc 1a2b):"
		r.inTrace = true
		return
	case r.access == "" && accessRE.MatchString(t):
		r.access = accessRE.FindStringSubmatch(t)[1]
		return
	case r.heldAt == "" && heldAtRE.MatchString(t):
		r.heldAt = heldAtRE.FindStringSubmatch(t)[1]
		return
	case kasanNull.MatchString(t):
		r.nullRange = true
		return
	case r.inTrace && traceEnds(t):
		r.inTrace = false // a sanitizer's allocation and free stacks are other stacks
		return
	case strings.HasPrefix(t, "pc : "), strings.HasPrefix(t, "lr : "):
		// arm64's __show_regs: pc is the faulting instruction, lr a
		// return address. Only the pc stands for the RIP; lr's frame is
		// the trace's second.
		if m := armRegFrameRE.FindStringSubmatch(t); m != nil && strings.HasPrefix(t, "pc") && r.RIP == nil {
			r.RIP = &Frame{Line: n, Func: m[1], Off: hexNum(m[2]), Len: hexNum(m[3]), Module: m[4], IsRIP: true}
		}
		return
	case t == "</TASK>":
		r.inTrace = false // what follows (a sanitizer's allocation stack) is another stack
		return
	case strings.HasPrefix(t, "RIP: 0033:"), strings.HasPrefix(t, "RIP: 0023:"):
		// A program's registers (__USER_CS, __USER32_CS), and its Code:
		// line: at the end of a report, the syscall that entered the kernel.
		r.userRegs = true
		return
	case strings.HasPrefix(t, "RIP: ") && rawRIPRE.MatchString(t):
		m := rawRIPRE.FindStringSubmatch(t)
		f := Frame{Line: n, IsRIP: true, Addr: hexNum(m[1])}
		if r.RIP == nil {
			r.RIP = &f
		}
		if r.inTrace {
			r.addFrame(f)
		}
		return
	case strings.HasPrefix(t, "RIP: "):
		if m := ripRE.FindStringSubmatch(t); m != nil {
			f := Frame{Line: n, Func: m[2], Off: hexNum(m[3]), Len: hexNum(m[4]), Module: m[5], IsRIP: true, Addr: hexNum(m[1])}
			if r.RIP == nil {
				r.RIP = &f
			}
			if r.inTrace {
				r.addFrame(f) // an exception frame inside the trace
			}
		}
		return
	case strings.HasPrefix(t, "Code: "):
		// The kernel code's, after its RIP; not the program's, after a
		// syscall's user registers (RIP: 0033), nor a second.
		if r.CodeLine == 0 && !r.userRegs {
			r.Code, r.CodeAt, r.CodeWords = parseCode(strings.TrimPrefix(t, "Code: "))
			r.CodeLine = n
		}
		return
	case strings.HasPrefix(t, "Modules linked in:"):
		r.Modules = strings.Fields(strings.TrimPrefix(t, "Modules linked in:"))
		return
	}
	if m := versionRE.FindStringSubmatch(t); m != nil {
		r.Version, r.Tainted = m[2], strings.TrimSpace(m[1])
		return
	}
	if m := offsetRE.FindStringSubmatch(t); m != nil {
		r.Offset = hexNum(m[1])
		r.inTrace = false // printed after the stack (arm64 prints no </TASK>)
		return
	}
	if r.inTrace {
		if m := frameRE.FindStringSubmatch(t); m != nil {
			f := Frame{Line: n, Unreliable: m[1] != "" || m[3] != "", Addr: hexNum(m[2]), Func: m[4],
				Off: hexNum(m[5]), Len: hexNum(m[6]), Module: m[7]}
			// arm64's unwinder starts the trace at the pc itself: that
			// frame is the faulting instruction, not a return address.
			if rip := r.RIP; len(r.Frames) == 0 && rip != nil && rip.Func == f.Func && rip.Off == f.Off && rip.Module == f.Module {
				f.IsRIP = true
			}
			r.addFrame(f)
			r.lastFrame = true
			return
		}
		if m := inlineFrameRE.FindStringSubmatch(t); m != nil {
			r.addFrame(Frame{Line: n, Func: m[1], Inline: true})
			r.lastFrame = true
			return
		}
		if m := rawFrameRE.FindStringSubmatch(t); m != nil && (m[2] != "" || m[3] != "") {
			addr := hexNum(m[3])
			if m[2] != "" {
				addr = hexNum(m[2])
			}
			r.addFrame(Frame{Line: n, Unreliable: m[1] != "", Addr: addr})
			r.lastFrame = true
			return
		}
		// The stack's own markers ("<IRQ>", "</IRQ>", "<TASK>") keep it
		// open, and so does a frame cut short ("do_init_mod").
		r.lastFrame = wasFrame && strings.HasPrefix(t, "<") || fragmentRE.MatchString(t)
	}
	if strings.HasPrefix(t, "R") || strings.HasPrefix(t, "CR") || strings.HasPrefix(t, "CS") || strings.HasPrefix(t, "DS") {
		for _, m := range regRE.FindAllStringSubmatch(t, -1) {
			r.Regs[m[1]] = m[2] + m[3]
		}
	}
	if strings.HasPrefix(t, "x") || strings.HasPrefix(t, "sp : ") {
		for _, m := range armRegRE.FindAllStringSubmatch(t, -1) {
			r.Regs[m[1]] = m[2]
		}
	}
}

// maxCode bounds the bytes a Code: line gives: the kernel prints 64 (x86)
// or 20 (arm64); a log's longer line is not decoded whole (decode tries
// each start before the faulting byte).
const maxCode = 256

// parseCode reads a Code: line: x86's bytes, "48 89 e5 <0f> 0b ..."
// (arch/x86/kernel/dumpstack.c show_opcodes: 42 bytes before the faulting
// one, 21 after), or arm64's instructions, "d503201f ... (b9000020)"
// (arch/arm64/kernel/traps.c dump_kernel_instr: four before the faulting
// one). It returns the bytes in memory order, the faulting one's index,
// and whether the line printed words.
func parseCode(s string) (code []byte, at int, words bool) {
	at = -1
	for i, f := range strings.Fields(s) {
		if strings.HasPrefix(f, "<") || strings.HasPrefix(f, "(") {
			at = len(code)
			f = strings.Trim(f, "<>()")
		}
		b, err := hex.DecodeString(f)
		if err != nil || len(b) != 1 && len(b) != 4 || i > 0 && (len(b) == 4) != words || len(code) >= maxCode {
			break
		}
		if words = len(b) == 4; words {
			// arm64's dump_kernel_instr prints each instruction as a
			// number (%08x): its bytes in memory are the other way round.
			slices.Reverse(b)
		}
		code = append(code, b...)
	}
	if at >= len(code) {
		at = -1 // the marked byte was past the bound
	}
	return code, at, words
}

func hexNum(s string) uint64 {
	v, _ := strconv.ParseUint(s, 16, 64)
	return v
}

// traceEnds reports whether a line inside a stack ends it: a
// sanitizer's allocation and free stacks, and what it prints after the
// stack, are not the stack of the bug (kernels before 5.17 print no
// </TASK>).
func traceEnds(t string) bool {
	for _, p := range []string{"Allocated by task", "Freed by task", "Last potentially related work creation:", "Second to last potentially related",
		"The buggy address belongs to", "Memory state around the buggy address", "Uninit was created at:", "Uninit was stored to memory at:",
		"Local variable ", "Bytes b4 ", "Object ", "Redzone ", "Padding ", "Disabling lock debugging"} {
		if strings.HasPrefix(t, p) {
			return true
		}
	}
	return false
}

// addFrame adds a frame to the stack, up to MaxFrames.
func (r *Report) addFrame(f Frame) {
	if len(r.Frames) < MaxFrames {
		r.Frames = append(r.Frames, f)
	}
}
