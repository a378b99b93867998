package kernel

import (
	"bytes"
	"testing"
)

func TestProgress(t *testing.T) {
	var term bytes.Buffer
	p := Progress(&term)
	p.Write([]byte("  CC      init/main.o\n  CC   "))
	p.Write([]byte("   init/version.o\n"))
	if got, want := term.String(), "\r\x1b[KCC      init/main.o\r\x1b[KCC      init/version.o"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}
