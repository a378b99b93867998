// Package watch tells when a set of host files and directories changes:
// initkit build --watch and boot --watch rebuild then. It polls their
// identity (inode, size, modification and change times) instead of
// using inotify: an image's inputs are a few thousand files at most, a
// poll of them takes a millisecond or two, and it sees files replaced by
// rename, directories that appear, and files on any filesystem.
package watch

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Set is the identities of paths as they were when the set was made.
type Set struct {
	ids map[string]id
}

type id struct {
	ino, size    int64
	mtime, ctime int64
	missing      bool
}

func identity(p string) id {
	var st unix.Stat_t
	if unix.Stat(p, &st) != nil {
		return id{missing: true}
	}
	return id{ino: int64(st.Ino), size: st.Size, mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano()}
}

// New notes the identities of paths now.
func New(paths []string) *Set {
	s := &Set{ids: make(map[string]id, len(paths))}
	for _, p := range paths {
		s.ids[p] = identity(p)
	}
	return s
}

// Changed returns the paths whose identity is no longer the one noted,
// in order.
func (s *Set) Changed() []string {
	var out []string
	for p, was := range s.ids {
		if identity(p) != was {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// Settle is how long a change must be followed by no other before Wait
// returns: an editor's save, a git checkout, is many writes.
const Settle = 150 * time.Millisecond

// Wait polls s every interval until a path changed and no other change
// came for Settle, and returns the changed paths; nil when ctx ended
// first.
func Wait(ctx context.Context, s *Set, interval time.Duration) []string {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var changed []string
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if now := s.Changed(); len(now) > 0 {
			for _, p := range now {
				s.ids[p] = identity(p) // a write may go on: it counts once it stops
			}
			changed = slices.Compact(slices.Sorted(slices.Values(slices.Concat(changed, now))))
			last = time.Now()
			continue
		}
		if len(changed) > 0 && time.Since(last) >= Settle {
			return changed
		}
	}
}

// Loop runs step, then again each time one of the paths it returned (or
// more) changes, until ctx ends. A step that fails is told to notes, and
// the paths of the last step that did not fail are watched: a deleted
// input is an error, and the watch goes on. name prefixes the notes.
func Loop(ctx context.Context, notes io.Writer, name string, more []string, step func(context.Context) ([]string, error)) {
	var paths []string
	for {
		got, err := step(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			fmt.Fprintf(notes, "initkit %s: %v\n", name, err)
		} else {
			paths = got
		}
		watched := slices.Concat(paths, more)
		fmt.Fprintf(notes, "initkit %s: watching %d inputs (Ctrl-C ends)\n", name, len(watched))
		changed := Wait(ctx, New(watched), 200*time.Millisecond)
		if changed == nil {
			return
		}
		fmt.Fprintf(notes, "initkit %s: changed: %s\n", name, strings.Join(changed, ", "))
	}
}
