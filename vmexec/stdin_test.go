package vmexec

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// TestReadStdin: stdin is read whole up to MaxStdin, and refused past it
// with the way out; an empty one is given as empty, not as none.
func TestReadStdin(t *testing.T) {
	b, err := ReadStdin(io.LimitReader(zeros{}, MaxStdin))
	if err != nil || len(b) != MaxStdin {
		t.Errorf("MaxStdin bytes: %d, %v", len(b), err)
	}
	if _, err := ReadStdin(io.LimitReader(zeros{}, MaxStdin+1)); err == nil || !strings.Contains(err.Error(), "more than 67108864 bytes") || !strings.Contains(err.Error(), "--add") {
		t.Errorf("one byte more: %v", err)
	}
	if b, err := ReadStdin(bytes.NewReader(nil)); err != nil || b == nil || len(b) != 0 {
		t.Errorf("empty: %#v, %v", b, err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
