package shell

import (
	"os/exec"
	"strings"
	"testing"
)

// TestQuoteRoundTrip: sh splits the quoted line back into the same words.
func TestQuoteRoundTrip(t *testing.T) {
	words := []string{"plain", "a b", "it's", "$HOME", "`x`", "", "*", "--flag=v,w:1"}
	out, err := exec.Command("sh", "-c", "printf '[%s]' "+Quote(words)).Output()
	if err != nil {
		t.Fatal(err)
	}
	want := "[" + strings.Join(words, "][") + "]"
	if string(out) != want {
		t.Errorf("got %s, want %s", out, want)
	}
	if got := Quote([]string{"qemu-system-x86_64", "-m", "1G"}); got != "qemu-system-x86_64 -m 1G" {
		t.Errorf("safe words were quoted: %s", got)
	}
}
