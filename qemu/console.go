package qemu

import (
	"bytes"
	"regexp"
	"sync"
)

// crashPattern matches the first line of the reports the kernel prints when
// it crashes or finds itself broken (kernel/panic.c, lib/bug.c,
// arch/x86/mm/fault.c, mm/kasan/report.c, lib/ubsan.c).
var crashPattern = regexp.MustCompile(`Kernel panic - not syncing|Oops:|BUG: |general protection fault|KASAN:|UBSAN:|Attempted to kill init`)

// ansiPattern matches the escape sequences a console log should not keep.
var ansiPattern = regexp.MustCompile("\x1b\\[[0-9;?]*[A-Za-z]")

// Console receives a guest's console output: it keeps a clean copy (no CR,
// no ANSI escapes) and remembers the first crash report line it sees.
type Console struct {
	mu      sync.Mutex
	partial []byte
	log     bytes.Buffer
	crash   string
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
	b = ansiPattern.ReplaceAll(bytes.ReplaceAll(b, []byte("\r"), nil), nil)
	c.log.Write(b)
	c.log.WriteByte('\n')
	if c.crash == "" && crashPattern.Match(b) {
		c.crash = string(b)
	}
}

// Log returns the cleaned console text so far, the unfinished last line included.
func (c *Console) Log() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.log.String() + string(ansiPattern.ReplaceAll(bytes.ReplaceAll(c.partial, []byte("\r"), nil), nil))
}

// Crash returns the first crash report line seen, or "".
func (c *Console) Crash() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.crash
}
