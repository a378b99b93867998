package oops

import (
	"regexp"
	"sync"
)

// A lazyRE is a regular expression compiled on its first use. Every
// initkit command links this package, and compiling its expressions (some
// 180, with the kinds' prefixes) as the program started took 13 ms of
// every command's start (GODEBUG=inittrace=1): a build or a boot that
// reads no log paid it too.
type lazyRE struct {
	expr string
	once sync.Once
	re   *regexp.Regexp
}

// expressions are every lazyRE made, for the test that compiles them all.
var expressions []*lazyRE

func lazy(expr string) *lazyRE {
	l := &lazyRE{expr: expr}
	expressions = append(expressions, l)
	return l
}

func (l *lazyRE) get() *regexp.Regexp {
	l.once.Do(func() { l.re = regexp.MustCompile(l.expr) })
	return l.re
}

func (l *lazyRE) String() string                       { return l.expr }
func (l *lazyRE) MatchString(s string) bool            { return l.get().MatchString(s) }
func (l *lazyRE) FindStringSubmatch(s string) []string { return l.get().FindStringSubmatch(s) }
func (l *lazyRE) FindStringIndex(s string) []int       { return l.get().FindStringIndex(s) }
func (l *lazyRE) ReplaceAll(src, repl []byte) []byte   { return l.get().ReplaceAll(src, repl) }
func (l *lazyRE) ReplaceAllString(src, repl string) string {
	return l.get().ReplaceAllString(src, repl)
}
func (l *lazyRE) FindAllStringSubmatch(s string, n int) [][]string {
	return l.get().FindAllStringSubmatch(s, n)
}
