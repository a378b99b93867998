package syncbuf

import (
	"strings"
	"sync"
	"testing"
)

func TestTail(t *testing.T) {
	b := &Buffer{Max: 4}
	b.Write([]byte("abc"))
	b.Write([]byte("defg"))
	if got := b.String(); got != "defg" {
		t.Errorf("tail = %q", got)
	}
}

func TestConcurrent(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() { defer wg.Done(); b.Write([]byte("xy")) }()
	}
	wg.Wait()
	if got := b.String(); got != strings.Repeat("xy", 8) {
		t.Errorf("got %q", got)
	}
}
