package kernel

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/initkit/initkit/kconfig"
)

// Dependency is what an option's Kconfig entry says it depends on.
type Dependency struct {
	Expr    string // a "depends on" expression, as the Kconfig file has it
	Missing []string
}

var kconfigSymbol = regexp.MustCompile(`(!?)\b([A-Z][A-Z0-9_]*)\b`)

// dependencies reads, from the tree's Kconfig files, the "depends on"
// lines of each option named, and which of their symbols cfg lacks (a
// symbol it has unset, or one negated with '!' that it has set): why
// kconfig dropped the option. An option with several entries (one per
// architecture) gets the lines of each.
func dependencies(src string, names []string, cfg kconfig.Config) map[string][]Dependency {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string][]Dependency{}
	filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return nil
		case d.IsDir() && (d.Name() == ".git" || d.Name() == "Documentation" || d.Name() == "tools"):
			return filepath.SkipDir
		case d.IsDir() || !strings.HasPrefix(d.Name(), "Kconfig"):
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return nil
		}
		defer f.Close()
		cur := ""
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := sc.Text()
			// A line ending in '\' goes on in the next (lib/Kconfig.kasan's
			// KASAN depends on four lines).
			for strings.HasSuffix(line, "\\") && sc.Scan() {
				line = strings.TrimRight(strings.TrimSuffix(line, "\\"), " \t") + " " + strings.TrimSpace(sc.Text())
			}
			t := strings.TrimSpace(line)
			if line != "" && line[0] != ' ' && line[0] != '\t' {
				cur = ""
				if name, ok := strings.CutPrefix(t, "config "); ok && want[strings.TrimSpace(name)] {
					cur = strings.TrimSpace(name)
				} else if name, ok := strings.CutPrefix(t, "menuconfig "); ok && want[strings.TrimSpace(name)] {
					cur = strings.TrimSpace(name)
				}
				continue
			}
			if expr, ok := strings.CutPrefix(t, "depends on "); ok && cur != "" {
				out[cur] = append(out[cur], Dependency{Expr: expr, Missing: missing(expr, cfg)})
			}
		}
		return nil
	})
	return out
}

// missing lists the symbols of a dependency expression that cfg does
// not meet, as NAME=value.
func missing(expr string, cfg kconfig.Config) []string {
	var out []string
	for _, m := range kconfigSymbol.FindAllStringSubmatch(expr, -1) {
		name := m[2]
		v := cfg.Value(name)
		if m[1] == "!" && v != "n" || m[1] == "" && v == "n" {
			out = append(out, name+"="+v)
		}
	}
	return out
}

// resolvable are the symbols of deps that are plainly wanted and unset
// (not negated): setting them may let kconfig keep the option.
func resolvable(deps []Dependency) []string {
	var out []string
	for _, d := range deps {
		for _, m := range kconfigSymbol.FindAllStringSubmatch(d.Expr, -1) {
			for _, miss := range d.Missing {
				if m[1] == "" && miss == m[2]+"=n" {
					out = append(out, m[2])
				}
			}
		}
	}
	return out
}
