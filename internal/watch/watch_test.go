package watch

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestWait: a file rewritten, a file removed, a file added to a watched
// directory are each seen; nothing changed is nothing reported.
func TestWait(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.WriteFile(a, []byte("1"), 0o644)
	os.WriteFile(b, []byte("1"), 0o644)
	paths := []string{a, b, dir}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if got := Wait(ctx, New(paths), 10*time.Millisecond); got != nil {
		t.Errorf("nothing changed, got %v", got)
	}
	for _, c := range []struct {
		change func()
		want   []string
	}{
		{func() { os.WriteFile(a, []byte("22"), 0o644) }, []string{a}},
		{func() { os.Remove(b) }, []string{dir, b}},
		{func() { os.WriteFile(filepath.Join(dir, "new"), nil, 0o644) }, []string{dir}},
	} {
		s := New(paths)
		go func() { time.Sleep(20 * time.Millisecond); c.change() }()
		got := Wait(context.Background(), s, 10*time.Millisecond)
		slices.Sort(c.want)
		if !slices.Equal(got, c.want) {
			t.Errorf("changed %v, want %v", got, c.want)
		}
	}
}
