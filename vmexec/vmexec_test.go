package vmexec

import (
	"testing"

	"github.com/initkit/initkit/guest"
)

// The status is the last line with the run's token: a line a command
// wrote to the port itself, with no token or another, does not count.
func TestParseStatus(t *testing.T) {
	const tok = "0a1b2c"
	for in, want := range map[string]int{
		string(guest.StatusLine(tok, 0)):                                            0,
		"\r\n" + string(guest.StatusLine(tok, 137)) + "\r\n":                        137,
		"initkit-exit:0\ninitkit-exit:other:0\n" + string(guest.StatusLine(tok, 7)): 7,
	} {
		if got, ok := guest.ParseStatus(in, tok); !ok || got != want {
			t.Errorf("ParseStatus(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "initkit-exit:", "initkit-exit:0a1b2c:x", "initkit-exit:5", "initkit-exit:other:5", "exit:3"} {
		if _, ok := guest.ParseStatus(in, tok); ok {
			t.Errorf("ParseStatus(%q) found a status", in)
		}
	}
	if _, ok := guest.ParseStatus("initkit-exit::5", ""); ok {
		t.Error("a status without a token")
	}
}
