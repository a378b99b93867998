package kconfig

import (
	"bytes"
	"maps"
	"strings"
	"testing"

	"github.com/initkit/initkit/compress"
)

const sample = `#
# Automatically generated file; DO NOT EDIT.
#
CONFIG_64BIT=y
CONFIG_VIRTIO_BLK=m
CONFIG_SERIAL_8250_NR_UARTS=32
CONFIG_CMDLINE="console=ttyS0"
# CONFIG_SERIAL_8250_CONSOLE is not set
`

func TestParseAndWrite(t *testing.T) {
	c, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if c.Value("64BIT") != "y" || c.Value("SERIAL_8250_CONSOLE") != "n" || c.Value("ABSENT") != "n" || c.Value("CMDLINE") != `"console=ttyS0"` {
		t.Errorf("parsed %v", c)
	}
	var b bytes.Buffer
	c.Write(&b)
	again, _ := Parse(&b)
	if len(again) != len(c) || again.Value("VIRTIO_BLK") != "m" || again.Value("SERIAL_8250_CONSOLE") != "n" {
		t.Errorf("round trip: %v", again)
	}
	if _, err := Parse(strings.NewReader("CONFIG_X=y\nnot a line\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("bad line: %v", err)
	}
}

func TestHas(t *testing.T) {
	c, _ := Parse(strings.NewReader(sample))
	for n, want := range map[Need]bool{
		{Name: "VIRTIO_BLK", Value: "y|m"}:            true,
		{Name: "VIRTIO_BLK", Value: "y"}:              false,
		{Name: "SERIAL_8250_NR_UARTS", Value: ">=4"}:  true,
		{Name: "SERIAL_8250_NR_UARTS", Value: ">=64"}: false,
		{Name: "SERIAL_8250_CONSOLE", Value: "n"}:     true,
		{Name: "ABSENT", Value: "n"}:                  true,
		{Name: "CMDLINE", Value: `"console=ttyS0"`}:   true,
	} {
		if got := c.Has(n); got != want {
			t.Errorf("Has(%+v) = %v", n, got)
		}
	}
}

// Missing names each option with the purpose that needs it and what goes
// wrong without it; Set-only options (a choice's members) are applied,
// not asked for.
func TestMissingAndApply(t *testing.T) {
	c, _ := Parse(strings.NewReader(sample))
	needs, err := Needs([]string{"debug"}, "x86_64")
	if err != nil {
		t.Fatal(err)
	}
	if needs[0].Purpose != "boot" {
		t.Errorf("boot's needs do not come first: %+v", needs[0])
	}
	missing := c.Missing(needs)
	var names []string
	for _, m := range missing {
		names = append(names, m.Name)
		if m.Why == "" {
			t.Errorf("%s has no reason", m.Name)
		}
	}
	got := strings.Join(names, " ")
	for _, want := range []string{"SERIAL_8250_CONSOLE", "DEVTMPFS", "DEBUG_INFO", "KALLSYMS"} {
		if !strings.Contains(" "+got+" ", " "+want+" ") {
			t.Errorf("missing lacks %s: %s", want, got)
		}
	}
	if strings.Contains(got, "DEBUG_INFO_DWARF5") || strings.Contains(got, "UNWINDER_ORC") || strings.Contains(got, "SERIAL_AMBA") {
		t.Errorf("a set-only or arm64 option asked for: %s", got)
	}
	changed := c.Apply(needs)
	if len(changed) == 0 || c.Value("DEBUG_INFO_DWARF5") != "y" || c.Value("UNWINDER_ORC") != "n" || c.Value("SERIAL_8250_NR_UARTS") != "32" {
		t.Errorf("Apply: %v", c)
	}
	if rest := c.Missing(needs); len(rest) != 0 {
		t.Errorf("still missing after Apply: %+v", rest)
	}
	if _, err := Needs([]string{"bogus"}, "x86_64"); err == nil || !strings.Contains(err.Error(), "known: boot") {
		t.Errorf("unknown purpose: %v", err)
	}
	if n, ok := ForCompression(compress.Zstd); !ok || n.Name != "RD_ZSTD" || !strings.Contains(n.Why, "junk in compressed archive") {
		t.Errorf("zstd: %+v", n)
	}
}

// A .config from elsewhere: a line too long is an error naming the line
// (not bufio's "token too long"), a comment after a value is a comment,
// a quoted string keeps its blanks and its '#'.
func TestParseHostile(t *testing.T) {
	long := "CONFIG_A=y\n# x\nCONFIG_CMDLINE=\"" + strings.Repeat("x", 2<<20) + "\"\n"
	if _, err := Parse(strings.NewReader(long)); err == nil || !strings.Contains(err.Error(), "line 3: longer than") {
		t.Errorf("a 2 MB line: %v", err)
	}
	if _, err := Parse(strings.NewReader("CONFIG_A=y\nCONFIG_=y\n")); err == nil || !strings.Contains(err.Error(), "line 2:") {
		t.Errorf("an option with no name: %v", err)
	}
	c, err := Parse(strings.NewReader("CONFIG_A=y # a comment\nCONFIG_B=m#x\nCONFIG_R=y\r#\nCONFIG_S=\"a # b \\\" c\" # more\nCONFIG_N=5"))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"A": "y", "B": "m", "R": "y", "S": `"a # b \" c"`, "N": "5"} {
		if c.Value(name) != want {
			t.Errorf("CONFIG_%s = %q, want %q", name, c.Value(name), want)
		}
	}
	if _, err := Parse(strings.NewReader("CONFIG_S=\"open\n")); err == nil || !strings.Contains(err.Error(), "line 1: CONFIG_S: a string with no closing quote") {
		t.Errorf("an open string: %v", err)
	}
}

// Every need says what goes wrong without it: kernel config prints it
// beside each option it adds.
func TestEveryNeedHasAReason(t *testing.T) {
	for p, needs := range Purposes {
		for _, n := range needs {
			if strings.TrimSpace(n.Why) == "" {
				t.Errorf("%s: CONFIG_%s=%s has no reason", p, n.Name, n.Value)
			}
		}
	}
}

// FuzzParse: a config Parse accepts, written by Write, parses back to the
// same options.
func FuzzParse(f *testing.F) {
	f.Add([]byte("CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=\"x \\\" y\" # note\nCONFIG_D=64\n"))
	f.Add([]byte("CONFIG_E=m\tcomment\n\n# a comment\r\nCONFIG_F=\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(bytes.NewReader(data))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := c.Write(&buf); err != nil {
			t.Fatal(err)
		}
		again, err := Parse(&buf)
		if err != nil {
			t.Fatalf("Write's output does not parse: %v\n%s", err, buf.Bytes())
		}
		if !maps.Equal(c, again) {
			t.Fatalf("round trip changed the config:\n%q\n%q\nwritten:\n%s", c, again, buf.Bytes())
		}
	})
}
