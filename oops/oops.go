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
	"encoding/hex"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Report is one crash report.
type Report struct {
	Kind    string // "BUG", "Oops", "WARNING", "panic", "GPF", "KASAN", "UBSAN", "KFENCE", "soft lockup", "hung task", "RCU stall"
	Title   string // the line that started it, cleaned
	Line    int    // its line number in the log, from 1
	EndLine int    // the last line of the report
	Version string // kernel release from the "CPU: ... Comm: ..." line
	RIP     *Frame
	Frames  []Frame
	Code    []byte // the Code: bytes
	CodeAt  int    // index of the faulting byte in Code (<..>), -1 if none
	Regs    map[string]string
	Modules []string // "Modules linked in:"
	Offset  uint64   // "Kernel Offset:" (KASLR); 0 when disabled or not printed
	Tainted string
}

// Frame is a frame of a report: func+off/len [module] as KALLSYMS
// prints it, or an address alone (Func empty) from a kernel without it.
type Frame struct {
	Line       int    // log line number, from 1
	Func       string // symbol
	Off, Len   uint64
	Module     string // [module] tag, "" for the kernel
	Unreliable bool   // printed with "? "
	IsRIP      bool   // the faulting instruction (not a return address)
	Addr       uint64 // an address printed with the frame, when there is one
}

var (
	ansiRE    = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]`)
	syslogRE  = regexp.MustCompile(`^(?:[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\S*) \S+ kernel: `)
	stampRE   = regexp.MustCompile(`^\[\s*\d+\.\d+\]\s?`)
	dmesgTRE  = regexp.MustCompile(`^\[[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d \d{4}\]\s?`)
	callerRE  = regexp.MustCompile(`^\[\s*[TC]\d+\]\s?`)
	levelRE   = regexp.MustCompile(`^<\d>`)
	frameRE   = regexp.MustCompile(`^(\? )?(?:\[<([0-9a-f]+)>\] )?([A-Za-z0-9_.$]+)\+0x([0-9a-f]+)/0x([0-9a-f]+)(?: \[([A-Za-z0-9_]+)\])?`)
	ripRE     = regexp.MustCompile(`RIP: [0-9a-f]{4}:(?:\[<([0-9a-f]+)>\] )?([A-Za-z0-9_.$]+)\+0x([0-9a-f]+)/0x([0-9a-f]+)(?: \[([A-Za-z0-9_]+)\])?`)
	versionRE = regexp.MustCompile(`^CPU: \d+ (?:UID: \d+ )?PID: \d+ Comm: .*? (?:Not tainted|Tainted: ([A-Z ]*?))\s+(\S+) #`)
	offsetRE  = regexp.MustCompile(`^Kernel Offset: (?:0x([0-9a-f]+) from|disabled)`)
	// Frames of a kernel without KALLSYMS, which prints bare addresses:
	// "RIP: 0010:0xffffffff811f7c95", "? 0xffffffff810010cf",
	// "[<ffffffff810010cf>] 0xffffffff810010cf".
	// Only the kernel's code segment (0010): a user RIP (0033) in the
	// registers of a syscall's entry frame is no kernel address.
	rawRIPRE   = regexp.MustCompile(`RIP: 0010:0x([0-9a-f]+)\b`)
	rawFrameRE = regexp.MustCompile(`^(\? )?(?:\[<([0-9a-f]+)>\] ?)?(?:0x([0-9a-f]{8,16}))?$`)
	// arm64's registers ("x29: ffff...", "x2 : 0000...", "sp : ...") and
	// its "pc : func+off/len [mod]" lines.
	armRegRE      = regexp.MustCompile(`\b(x\d{1,2}|sp)\s*: ([0-9a-f]{16})\b`)
	armRegFrameRE = regexp.MustCompile(`^[pl][cr] : ([A-Za-z0-9_.$]+)\+0x([0-9a-f]+)/0x([0-9a-f]+)(?: \[([A-Za-z0-9_]+)\])?`)
	regRE         = regexp.MustCompile(`\b(R[A-Z0-9]{1,3}|EFLAGS|CS|DS|ES|FS|GS|CR[0-4]|ORIG_RAX):\s*([0-9a-f]{4}:)?([0-9a-f]+)`)
)

// Clean strips what wraps a kernel message in a pasted log.
func Clean(line string) string {
	line = ansiRE.ReplaceAllString(line, "")
	line = strings.TrimRight(strings.ReplaceAll(line, "\r", ""), " \t")
	line = syslogRE.ReplaceAllString(line, "")
	line = levelRE.ReplaceAllString(line, "")
	for _, re := range []*regexp.Regexp{stampRE, dmesgTRE, callerRE, stampRE} {
		line = re.ReplaceAllString(line, "")
	}
	return line
}

// start reports whether a cleaned line begins a report, and its kind.
func start(l string) (string, bool) {
	l = strings.TrimPrefix(l, "watchdog: ")
	switch {
	case strings.HasPrefix(l, "BUG: KASAN:"):
		return "KASAN", true
	case strings.HasPrefix(l, "BUG: KFENCE:"):
		return "KFENCE", true
	case strings.HasPrefix(l, "BUG: soft lockup"):
		return "soft lockup", true
	case strings.HasPrefix(l, "BUG: "), strings.HasPrefix(l, "kernel BUG at "):
		return "BUG", true
	case strings.HasPrefix(l, "Oops: "), strings.HasPrefix(l, "Oops#"):
		return "Oops", true
	case strings.HasPrefix(l, "Unable to handle kernel "), strings.HasPrefix(l, "Internal error: "):
		// arm64 and arm: arch/arm64/mm/fault.c die_kernel_fault, then
		// arch/arm64/kernel/traps.c die ("Internal error: Oops: ESR").
		return "Oops", true
	case strings.HasPrefix(l, "general protection fault"):
		return "GPF", true
	case strings.HasPrefix(l, "WARNING: CPU: "):
		return "WARNING", true
	case strings.HasPrefix(l, "Kernel panic - not syncing"):
		return "panic", true
	case strings.HasPrefix(l, "UBSAN: "):
		return "UBSAN", true
	case strings.HasPrefix(l, "INFO: task ") && strings.Contains(l, "blocked for more than"):
		return "hung task", true
	case strings.HasPrefix(l, "rcu: INFO: ") && strings.Contains(l, "stall"):
		return "RCU stall", true
	}
	return "", false
}

// continues reports whether a report of kind prev, still without a call
// trace, absorbs a new start line of kind next: the kernel prints
// "BUG: kernel NULL pointer dereference" and then "Oops: 0002" for one
// fault, and a sanitizer's banner before its own lines.
func continues(prev, next string, haveTrace bool) bool {
	if haveTrace {
		return false
	}
	switch next {
	case "Oops", "GPF":
		// arm64's "Unable to handle kernel ..." is followed by its
		// "Internal error: Oops: ...": both of kind Oops.
		return prev == "BUG" || prev == "KASAN" || prev == "KFENCE" || prev == "GPF" || prev == "Oops"
	}
	return false
}

func isEnd(l string) bool {
	return strings.HasPrefix(l, "---[ end ")
}

// Parse reads a log and returns every report in it, in order. A report
// cut short (a truncated paste) is returned with what it has.
func Parse(r io.Reader) ([]Report, error) {
	var out []Report
	var cur *Report
	inTrace := false
	n := 0
	flush := func() {
		if cur != nil {
			out = append(out, *cur)
			cur = nil
		}
	}
	err := eachLine(r, func(text []byte) {
		n++
		l := Clean(string(text))
		if kind, ok := start(l); ok {
			if cur == nil || !continues(cur.Kind, kind, len(cur.Frames) > 0) {
				flush()
				cur = &Report{Kind: kind, Title: l, Line: n, CodeAt: -1, Regs: map[string]string{}}
				inTrace = false
			} else if kind == "Oops" || kind == "GPF" {
				cur.Title += "; " + l
			}
		}
		if cur == nil {
			return
		}
		cur.EndLine = n
		cur.parseLine(l, n, &inTrace)
		if isEnd(l) {
			flush()
		}
	})
	flush()
	return out, err
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

func (r *Report) parseLine(l string, n int, inTrace *bool) {
	t := strings.TrimSpace(l)
	switch {
	case strings.HasPrefix(t, "Call Trace:"), strings.HasPrefix(t, "Call trace:"): // x86, arm64
		*inTrace = true
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
		*inTrace = false // what follows (a sanitizer's allocation stack) is another stack
		return
	case strings.HasPrefix(t, "RIP: ") && rawRIPRE.MatchString(t):
		m := rawRIPRE.FindStringSubmatch(t)
		f := Frame{Line: n, IsRIP: true, Addr: hexNum(m[1])}
		if r.RIP == nil {
			r.RIP = &f
		}
		if *inTrace {
			r.Frames = append(r.Frames, f)
		}
		return
	case strings.HasPrefix(t, "RIP: "):
		if m := ripRE.FindStringSubmatch(t); m != nil {
			f := Frame{Line: n, Func: m[2], Off: hexNum(m[3]), Len: hexNum(m[4]), Module: m[5], IsRIP: true, Addr: hexNum(m[1])}
			if r.RIP == nil {
				r.RIP = &f
			}
			if *inTrace {
				r.Frames = append(r.Frames, f) // an exception frame inside the trace
			}
		}
		return
	case strings.HasPrefix(t, "Code: "):
		r.Code, r.CodeAt = parseCode(strings.TrimPrefix(t, "Code: "))
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
		return
	}
	if *inTrace {
		if m := frameRE.FindStringSubmatch(t); m != nil {
			f := Frame{Line: n, Unreliable: m[1] != "", Addr: hexNum(m[2]), Func: m[3],
				Off: hexNum(m[4]), Len: hexNum(m[5]), Module: m[6]}
			// arm64's unwinder starts the trace at the pc itself: that
			// frame is the faulting instruction, not a return address.
			if rip := r.RIP; len(r.Frames) == 0 && rip != nil && rip.Func == f.Func && rip.Off == f.Off && rip.Module == f.Module {
				f.IsRIP = true
			}
			r.Frames = append(r.Frames, f)
			return
		}
		if m := rawFrameRE.FindStringSubmatch(t); m != nil && (m[2] != "" || m[3] != "") {
			addr := hexNum(m[3])
			if m[2] != "" {
				addr = hexNum(m[2])
			}
			r.Frames = append(r.Frames, Frame{Line: n, Unreliable: m[1] != "", Addr: addr})
			return
		}
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

// parseCode reads "48 89 e5 <0f> 0b ..." (or "(...)" around the faulting
// instruction's first byte on some architectures).
func parseCode(s string) ([]byte, int) {
	var code []byte
	at := -1
	for _, f := range strings.Fields(s) {
		if strings.HasPrefix(f, "<") || strings.HasPrefix(f, "(") {
			at = len(code)
			f = strings.Trim(f, "<>()")
		}
		b, err := hex.DecodeString(f)
		if err != nil {
			break
		}
		code = append(code, b...)
	}
	return code, at
}

func hexNum(s string) uint64 {
	v, _ := strconv.ParseUint(s, 16, 64)
	return v
}
