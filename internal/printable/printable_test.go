package printable

import (
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	for in, want := range map[string]string{
		"plain name":            "plain name",
		"tab\tkept, é kept":     "tab\tkept, é kept",
		"a\x1b]0;PWNED\x07b":    `a\x1b]0;PWNED\x07b`,
		"line\nbreak\r":         `line\x0abreak\x0d`,
		"del\x7f c1\u009b end":  `del\x7f c1\xc2\x9b end`,
		"bad utf-8 \xff\xfe ok": `bad utf-8 \xff\xfe ok`,
	} {
		if got := String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
		if Len(in) != len(want) {
			t.Errorf("Len(%q) = %d, want %d", in, Len(in), len(want))
		}
	}
}

func FuzzString(f *testing.F) {
	f.Add("a\x1b[31mred\u009b\xff")
	f.Fuzz(func(t *testing.T, s string) {
		out := String(s)
		if len(out) != Len(s) {
			t.Fatalf("Len %d, String %d bytes", Len(s), len(out))
		}
		if !utf8.ValidString(out) {
			t.Fatalf("%q: invalid UTF-8 left", out)
		}
		for i, r := range out {
			if r < 0x20 && r != '\t' || r == 0x7f || r >= 0x80 && r < 0xa0 {
				t.Fatalf("%q: control %#x left at byte %d", out, r, i)
			}
		}
	})
}

func TestText(t *testing.T) {
	if got, want := Text("one \x1b[2J\ntwo\x07"), "one \\x1b[2J\ntwo\\x07"; got != want {
		t.Errorf("Text = %q, want %q", got, want)
	}
}
