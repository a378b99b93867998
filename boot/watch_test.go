package boot_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/initkit/initkit/boot"
)

// TestWatcherNeedsImage: a watch boots the spec's image or --initrd, and
// neither is an error; a Watcher that booted nothing closes at once.
// (vmtest's TestBootWatch boots, changes and stops real guests.)
func TestWatcherNeedsImage(t *testing.T) {
	var w boot.Watcher
	defer w.Close()
	if _, err := w.Step(context.Background(), boot.Options{}, io.Discard); err == nil || !strings.Contains(err.Error(), "give --initrd, or a spec with an [image]") {
		t.Errorf("no image: %v", err)
	}
	w.Close()
}
