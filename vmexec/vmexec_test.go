package vmexec

import (
	"testing"
)

func TestParseStatus(t *testing.T) {
	for in, want := range map[string]int{
		"initkit-exit:0\n":            0,
		"\r\ninitkit-exit:137\r\n":    137,
		"noise\ninitkit-exit:7\nmore": 7,
	} {
		if got, ok := parseStatus(in); !ok || got != want {
			t.Errorf("parseStatus(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "initkit-exit:", "initkit-exit:x", "exit:3"} {
		if _, ok := parseStatus(in); ok {
			t.Errorf("parseStatus(%q) found a status", in)
		}
	}
}
