package qemu

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"

	"github.com/initkit/initkit/oops"
)

// Console receives a guest's console output: it keeps a clean copy (no CR,
// no ANSI escapes), remembers the first line that starts a fatal crash
// report (package oops decides which) and the report that follows, and
// matches the lines against expectations. A guest may write forever:
// the copy in memory keeps the first MaxConsoleHead bytes and the last
// bytes up to MaxConsole, the saved log (Save) stops at MaxConsoleLog,
// and an unfinished line is cut at MaxConsoleLine.
type Console struct {
	mu      sync.Mutex
	partial []byte
	log     bytes.Buffer
	dropped int64
	crash   string
	excerpt []string // the crash report's lines, from its first
	inBlock bool     // still in it
	file    io.Writer
	saved   int64
	// seen is how much of the unfinished line an expectation matched: a
	// prompt ("# ", "Password: ") ends no line, and is matched where it
	// stands; the rest of its line is matched when the line ends.
	seen int

	expect  []*regexp.Regexp // to match in order
	matched int
	fail    []*regexp.Regexp // any match fails the run
	failed  string
	done    chan struct{} // closed once the outcome is known
	once    sync.Once

	ready     *regexp.Regexp // a line that says the guest is ready for something
	readyCh   chan struct{}
	readySeen bool
}

// WatchReady returns a channel closed once a line matches re: a guest
// ready for a debugger, say. It does not end the run.
func (c *Console) WatchReady(re *regexp.Regexp) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ready, c.readyCh = re, make(chan struct{})
	return c.readyCh
}

// Watch sets the patterns the console is checked against: expect must
// match lines in order, any line matching a fail pattern decides the run.
func (c *Console) Watch(expect, fail []*regexp.Regexp) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expect, c.fail = expect, fail
	c.doneChan()
}

func (c *Console) doneChan() chan struct{} {
	if c.done == nil {
		c.done = make(chan struct{})
	}
	return c.done
}

// Done is closed when the outcome is known without waiting for the guest:
// every expectation met, a fail pattern matched, or a crash seen.
func (c *Console) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.doneChan()
}

func (c *Console) finish() { c.once.Do(func() { close(c.doneChan()) }) }

// Expected reports whether every expectation was met.
func (c *Console) Expected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.matched == len(c.expect)
}

// Pending returns the first expectation not met yet, or "".
func (c *Console) Pending() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.matched < len(c.expect) {
		return c.expect[c.matched].String()
	}
	return ""
}

// Failed returns the first line that matched a fail pattern, or "".
func (c *Console) Failed() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failed
}

// The bounds of what a Console keeps.
const (
	MaxConsole     = 32 << 20  // the copy in memory
	MaxConsoleHead = 1 << 20   // of which the start, kept whatever follows
	MaxConsoleLog  = 256 << 20 // the saved log
	MaxConsoleLine = 64 << 10  // a line with no end yet
	maxBlock       = 200       // a crash report's lines (oops.Excerpt's bound)
)

// Save streams the clean console to w as it comes, up to MaxConsoleLog.
func (c *Console) Save(w io.Writer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.file = w
}

// Write implements io.Writer.
func (c *Console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.partial = append(c.partial, p...)
	for {
		i := bytes.IndexByte(c.partial, '\n')
		if i < 0 {
			break
		}
		c.line(c.partial[:i])
		c.partial = c.partial[i+1:]
	}
	if len(c.partial) > MaxConsoleLine {
		c.line(c.partial) // a line that never ends is cut
		c.partial = c.partial[:0]
	}
	c.expectIn(oops.StripEscapes(c.partial))
	return len(p), nil
}

// expectIn matches the next expectation against b, beyond what of it an
// expectation matched already.
func (c *Console) expectIn(b []byte) {
	if c.seen > len(b) {
		c.seen = 0
	}
	for c.matched < len(c.expect) {
		loc := c.expect[c.matched].FindIndex(b[c.seen:])
		if loc == nil {
			return
		}
		c.seen += max(loc[1], 1)
		if c.matched++; c.matched == len(c.expect) {
			c.finish()
		}
		if c.seen > len(b) {
			return
		}
	}
}

func (c *Console) line(b []byte) {
	b = oops.StripEscapes(b)
	c.keep(b)
	if c.inBlock {
		if c.excerpt = append(c.excerpt, string(b)); len(c.excerpt) >= maxBlock || oops.EndLine(string(b)) {
			c.inBlock = false
		}
	}
	if c.crash == "" && oops.FatalLine(string(b)) {
		c.crash, c.excerpt, c.inBlock = string(b), []string{string(b)}, true
		c.finish()
	}
	// A halted kernel leaves QEMU running: this is the end.
	if oops.Halted(b) {
		c.finish()
	}
	if c.ready != nil && !c.readySeen && c.ready.Match(b) {
		c.readySeen = true
		close(c.readyCh)
	}
	for _, f := range c.fail {
		if c.failed == "" && f.Match(b) {
			c.failed = string(b)
			c.finish()
		}
	}
	if c.matched < len(c.expect) {
		if loc := c.expect[c.matched].FindIndex(b[min(c.seen, len(b)):]); loc != nil {
			if c.matched++; c.matched == len(c.expect) {
				c.finish()
			}
		}
	}
	c.seen = 0
}

// keep adds a line to the copy in memory and the saved log, within
// their bounds.
func (c *Console) keep(b []byte) {
	if c.file != nil && c.saved <= MaxConsoleLog {
		if c.saved += int64(len(b) + 1); c.saved > MaxConsoleLog {
			fmt.Fprintf(c.file, "[initkit: the console goes on past %d MiB; the rest is not saved]\n", MaxConsoleLog>>20)
		} else {
			c.file.Write(append(b, '\n'))
		}
	}
	c.log.Write(b)
	c.log.WriteByte('\n')
	if c.log.Len() > MaxConsole {
		// Keep the start and the newest half: drop what lies between.
		all := c.log.Bytes()
		tail := all[len(all)-MaxConsole/2:]
		c.dropped += int64(len(all) - MaxConsoleHead - len(tail))
		var nb bytes.Buffer
		nb.Write(all[:MaxConsoleHead])
		fmt.Fprintf(&nb, "\n[initkit: %d bytes of console dropped here]\n", c.dropped)
		nb.Write(tail)
		c.log = nb
	}
}

// Log returns the cleaned console text so far, the unfinished last line
// included (what MaxConsole lets it keep).
func (c *Console) Log() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.log.String() + string(oops.StripEscapes(c.partial))
}

// Excerpt returns the crash report: from its first line to the kernel's
// "---[ end" marker, or maxBlock lines.
func (c *Console) Excerpt() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.excerpt, "\n")
}

// Crash returns the first line of a fatal crash report seen, or "".
func (c *Console) Crash() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.crash
}

// rest returns the unfinished last line, clean.
func (c *Console) rest() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(oops.StripEscapes(c.partial))
}
