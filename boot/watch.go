package boot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/initkit/initkit/qemu"
)

// Watcher boots the image of a spec again each time Step is called, as
// boot --watch does when an input of the image changes: the guest still
// running is stopped first. Close stops the last one. The zero value is
// ready to use.
type Watcher struct {
	stop context.CancelFunc
	done chan struct{}
}

// Step stops the guest running, if any, builds o's image and boots it,
// and returns its inputs: what to watch for the next Step (the kernel,
// --initrd or the image's inputs). How
// each guest ends is reported to notes, unless it was stopped.
func (w *Watcher) Step(ctx context.Context, o Options, notes io.Writer) ([]string, error) {
	w.Close()
	if o.Image == nil && o.Initrd == "" {
		return nil, errors.New("--watch watches the kernel and the initramfs: give --initrd, or a spec with an [image]")
	}
	start := time.Now()
	r, err := Prepare(ctx, o)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(notes, "initkit boot: image built in %v, booting\n", time.Since(start).Round(time.Millisecond))
	run, stop := context.WithCancel(ctx)
	if err := r.Start(run); err != nil {
		stop()
		return nil, err
	}
	w.stop, w.done = stop, make(chan struct{})
	go func() {
		defer close(w.done)
		if res := r.Wait(); res.Kind != qemu.Interrupted {
			res.Report(notes, "boot")
		}
	}()
	// The kernel too: a make in its tree boots the new one.
	inputs := []string{r.Kernel.Image}
	if o.Initrd != "" {
		inputs = append(inputs, o.Initrd)
	}
	if r.Image != nil {
		inputs = append(inputs, r.Image.Inputs()...)
	}
	return inputs, nil
}

// Close stops the guest running, if any, and waits until it is gone.
func (w *Watcher) Close() {
	if w.stop != nil {
		w.stop()
		<-w.done
		w.stop = nil
	}
}
