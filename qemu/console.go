package qemu

import (
	"bytes"
	"regexp"
	"sync"

	"github.com/initkit/initkit/oops"
)

// Console receives a guest's console output: it keeps a clean copy (no CR,
// no ANSI escapes), remembers the first line that starts a fatal crash
// report (package oops decides which), and matches the lines against
// expectations.
type Console struct {
	mu      sync.Mutex
	partial []byte
	log     bytes.Buffer
	crash   string

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
	return len(p), nil
}

func (c *Console) line(b []byte) {
	b = oops.StripEscapes(b)
	c.log.Write(b)
	c.log.WriteByte('\n')
	if c.crash == "" && oops.FatalLine(string(b)) {
		c.crash = string(b)
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
	if c.matched < len(c.expect) && c.expect[c.matched].Match(b) {
		c.matched++
		if c.matched == len(c.expect) {
			c.finish()
		}
	}
}

// Log returns the cleaned console text so far, the unfinished last line included.
func (c *Console) Log() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.log.String() + string(oops.StripEscapes(c.partial))
}

// Crash returns the first line of a fatal crash report seen, or "".
func (c *Console) Crash() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.crash
}
