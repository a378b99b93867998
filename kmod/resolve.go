package kmod

import (
	"fmt"
	"sort"
	"strings"
)

// Resolution is the modules to ship, in an order they can be loaded in.
type Resolution struct {
	Modules []*Module         // dependencies before the modules needing them
	Builtin []string          // asked for but built in: nothing to ship
	Why     map[string]string // module name -> why it is included
}

// runtimeDeps names modules a module requests at run time through
// request_module, which modules.dep cannot know: dm-crypt instantiates
// crypto templates such as xts(aes) and ecb(aes) for the LUKS default
// cipher aes-xts-plain64, and fails with "Error allocating crypto tfm
// (-ENOENT)" when they cannot be loaded.
var runtimeDeps = map[string][]string{
	"dm_crypt": {"xts", "ecb"},
}

// Resolve returns the modules needed to load the given modules or aliases.
// An alias (anything with a ':' or a glob) resolves to every module whose
// alias patterns it matches.
func (ix *Index) Resolve(names ...string) (*Resolution, error) {
	res := &Resolution{Why: map[string]string{}}
	seen := map[string]bool{}
	var visit func(name, why string, optional bool) error
	visit = func(name, why string, optional bool) error {
		name = Normalize(name)
		if seen[name] {
			return nil
		}
		if ix.Builtin(name) {
			seen[name] = true
			res.Builtin = append(res.Builtin, name)
			return nil
		}
		m, err := ix.Module(name)
		if err != nil {
			return err
		}
		if m == nil {
			if optional {
				return nil
			}
			return ix.unknown(name)
		}
		seen[name] = true
		for _, d := range m.SoftPre {
			if err := visit(d, "soft dependency of "+name, true); err != nil {
				return err
			}
		}
		for _, d := range m.Depends {
			if err := visit(d, name+" depends on it", false); err != nil {
				return err
			}
		}
		for _, d := range runtimeDeps[name] {
			if err := visit(d, name+" requests it at run time", true); err != nil {
				return err
			}
		}
		res.Modules = append(res.Modules, m)
		res.Why[name] = why
		return nil
	}
	for _, n := range names {
		if isAlias(n) {
			mods, err := ix.MatchAlias(n)
			if err != nil {
				return nil, err
			}
			if len(mods) == 0 {
				return nil, fmt.Errorf("kmod: no module has an alias matching %q", n)
			}
			for _, m := range mods {
				if err := visit(m, "alias "+n, false); err != nil {
					return nil, err
				}
			}
			continue
		}
		if err := visit(n, "asked for", false); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func isAlias(s string) bool { return strings.ContainsAny(s, ":*?[") }

// unknown builds the error for a missing module, naming the nearest names.
func (ix *Index) unknown(name string) error {
	type cand struct {
		name string
		d    int
	}
	var cs []cand
	for n := range ix.mods {
		cs = append(cs, cand{n, distance(name, n)})
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].d < cs[j].d || cs[i].d == cs[j].d && cs[i].name < cs[j].name })
	var near []string
	for i := 0; i < len(cs) && i < 3; i++ {
		near = append(near, cs[i].name)
	}
	return fmt.Errorf("kmod: no module %q in %s (nearest: %s)", name, ix.Dir, strings.Join(near, ", "))
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// MatchAlias returns the modules whose alias patterns match alias. For a
// concrete modalias, such as a device's
// "pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00", that is every
// module modprobe would consider. A glob, such as "pci:v00001AF4d00001001*",
// leaves fields open that class-wide patterns (ata_generic's
// "pci:v*d*sv*sd*bc01sc01i*") also match; of the patterns it can match,
// only the most specific are kept: those with the longest literal prefix.
func (ix *Index) MatchAlias(alias string) ([]string, error) {
	if err := ix.loadAliases(); err != nil {
		return nil, err
	}
	glob := strings.ContainsAny(alias, "*?")
	best := -1
	var out []string
	for _, name := range ix.Names() {
		spec := -1
		for _, pat := range ix.mods[name].Aliases {
			if globsIntersect(pat, alias) {
				spec = max(spec, literalPrefix(pat))
			}
		}
		switch {
		case spec < 0:
		case !glob || spec == best:
			out = append(out, name)
		case spec > best:
			best, out = spec, []string{name}
		}
	}
	return out, nil
}

func literalPrefix(pattern string) int {
	if i := strings.IndexAny(pattern, "*?["); i >= 0 {
		return i
	}
	return len(pattern)
}

// loadAliases reads modules.alias, or every module's .modinfo without it.
func (ix *Index) loadAliases() error {
	if ix.aliases {
		return nil
	}
	ix.aliases = true
	found := false
	err := ix.lines("modules.alias", func(line string, _ int) error {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == "alias" {
			if m := ix.mods[Normalize(f[2])]; m != nil {
				found = true
				m.Aliases = append(m.Aliases, f[1])
			}
		}
		return nil
	})
	if err != nil || found {
		return err
	}
	for _, m := range ix.mods {
		if err := ix.info(m); err != nil {
			return err
		}
	}
	return nil
}

// globsIntersect reports whether some string matches both patterns, where
// '*' matches any run of characters and '?' any one character. ok[j] is
// whether a[i:] and b[j:] have a common match, computed row by row from
// the end: time len(a)*len(b) and memory len(b), whatever a hostile
// modules.alias line (up to a MB) holds.
func globsIntersect(a, b string) bool {
	ok := make([]bool, len(b)+1)  // row i+1
	cur := make([]bool, len(b)+1) // row i
	for i := len(a); i >= 0; i-- {
		for j := len(b); j >= 0; j-- {
			switch {
			case i == len(a) && j == len(b):
				cur[j] = true
			case i < len(a) && a[i] == '*':
				cur[j] = ok[j] || (j < len(b) && cur[j+1])
			case j < len(b) && b[j] == '*':
				cur[j] = cur[j+1] || (i < len(a) && ok[j])
			case i == len(a) || j == len(b):
				cur[j] = false
			default:
				cur[j] = (a[i] == b[j] || a[i] == '?' || b[j] == '?') && ok[j+1]
			}
		}
		ok, cur = cur, ok
	}
	return ok[0]
}
