package pid1

import (
	"bytes"
	"testing"
)

func TestParseIPv4(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []byte
	}{
		{"10.0.2.15", []byte{10, 0, 2, 15}},
		{"255.255.255.0", []byte{255, 255, 255, 0}},
		{"0.0.0.0", []byte{0, 0, 0, 0}},
		{"256.0.0.1", nil},
		{"10.0.2", nil},
		{"10.0.2.15.1", nil},
		{"10..2.15", nil},
		{"010.0.2.15", nil}, // leading zeros are octal to some parsers: refuse
		{"+1.0.2.15", nil},
		{"::1", nil},
		{"", nil},
	} {
		if got := parseIPv4(c.in); !bytes.Equal(got, c.want) || (got == nil) != (c.want == nil) {
			t.Errorf("parseIPv4(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}
