package oops

import (
	"bytes"
	"strings"
)

// StripEscapes removes carriage returns and ANSI escape sequences: what
// a serial console adds to the kernel's text and a saved log should not
// keep.
func StripEscapes(b []byte) []byte {
	return ansiRE.ReplaceAll(bytes.ReplaceAll(b, []byte("\r"), nil), nil)
}

// Begins reports whether a console or log line starts a crash report, and
// the report's kind (as Report.Kind).
func Begins(line string) (kind string, ok bool) {
	return start(Clean(line))
}

// Fatal reports whether a report of kind means the kernel is broken: it
// panicked, faulted, hit a BUG() or a sanitizer's report. A WARNING, a
// hung task or an RCU stall is reported but the kernel goes on.
func Fatal(kind string) bool {
	switch kind {
	case "WARNING", "hung task", "RCU stall", "":
		return false
	}
	return true
}

// FatalLine reports whether line starts a fatal report. A panic is
// recognised anywhere in the line: its text is unambiguous and the
// console may have joined it to unfinished output of the guest's.
func FatalLine(line string) bool {
	if strings.Contains(line, "Kernel panic - not syncing") {
		return true
	}
	kind, ok := Begins(line)
	return ok && Fatal(kind)
}

// EndLine reports whether a console or log line ends a report (the
// kernel's "---[ end ... ]---").
func EndLine(line string) bool { return isEnd(Clean(line)) }

// maxBlock bounds Excerpt: a report without an end marker (a panic, or a
// log cut short) is taken to end after this many lines.
const maxBlock = 200

// Excerpt returns the crash report of log that begins at its first line
// equal to first (as Begins saw it): up to the kernel's "---[ end" marker,
// or maxBlock lines. It returns first alone when log does not hold it.
func Excerpt(log, first string) string {
	i := strings.Index(log, first)
	if i < 0 {
		return first
	}
	lines := strings.Split(log[i:], "\n")
	end := min(len(lines), maxBlock)
	for j, l := range lines[:end] {
		if isEnd(Clean(l)) {
			end = j + 1
			break
		}
	}
	return strings.Join(lines[:end], "\n")
}

// FirstKernel cuts a crash excerpt where a second kernel starts (its
// "Linux version" banner): with a crash kernel loaded, a panic prints no
// end marker and kexecs the capture kernel, and the excerpt would run on
// through that kernel's boot.
func FirstKernel(excerpt string) string {
	lines := strings.SplitAfter(excerpt, "\n")
	for i, l := range lines {
		if i > 0 && strings.Contains(l, "] Linux version ") {
			return strings.Join(lines[:i], "")
		}
	}
	return excerpt
}

// PanicLine is the last "Kernel panic - not syncing" message of lines,
// trimmed, or "" when the kernel did not panic.
func PanicLine(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], "Kernel panic - not syncing") {
			return strings.TrimSpace(lines[i])
		}
	}
	return ""
}

// Halted reports whether line is the kernel's last word when it cannot
// power the machine off (no ACPI on x86) and halts instead
// (kernel/reboot.c, kernel_halt): the guest runs on, doing nothing.
func Halted(line []byte) bool {
	return bytes.HasSuffix(line, []byte("reboot: System halted"))
}
