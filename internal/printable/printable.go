// Package printable makes text from untrusted input (an image's names, a
// crash log, a dump's facts, a disk's labels) safe to print on a
// terminal: a control character or an escape sequence in it would act on
// the terminal (move the cursor, retitle the window, write the clipboard
// with OSC 52) instead of being shown.
package printable

import (
	"strings"
	"unicode/utf8"
)

// escaped reports whether the rune r, n bytes long, is shown as \xNN:
// C0 controls but the tab, DEL, C1 controls, and invalid UTF-8.
func escaped(r rune, n int) bool {
	return r == utf8.RuneError && n == 1 || r < 0x20 && r != '\t' || r == 0x7f || r >= 0x80 && r < 0xa0
}

// Len is how long s is once escaped (Append).
func Len(s string) int {
	n := 0
	for i := 0; i < len(s); {
		r, m := utf8.DecodeRuneInString(s[i:])
		if escaped(r, m) {
			n += 4 * m
		} else {
			n += m
		}
		i += m
	}
	return n
}

// Append appends s with its control characters (but the tab) and its
// invalid UTF-8 as \xNN, one a byte.
func Append(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if escaped(r, n) {
			for _, c := range []byte(s[i : i+n]) {
				b = append(b, '\\', 'x', hex[c>>4], hex[c&15])
			}
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return b
}

// String is s escaped as Append does; s itself when nothing needs it.
func String(s string) string {
	if Len(s) == len(s) {
		return s
	}
	return string(Append(make([]byte, 0, Len(s)), s))
}

// Text is String line by line: the newlines of a message of several
// lines stay newlines.
func Text(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = String(l)
	}
	return strings.Join(lines, "\n")
}
