package kconfig

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Options a user sets (initkit kernel config --set and --fragment) are
// needs whose value is taken as it is: Exact, no alternatives, and the
// Purpose names where they were asked for.

// Setting parses one option as --set takes it: CONFIG_NAME=VALUE, or
// NAME=VALUE, VALUE being y, m, n, a number, or a "string". It is
// written into .config, so a value that would be more than one value
// there (a blank, a '#', a newline) is refused, not quoted.
func Setting(s string) (Purposed, error) {
	name, val, ok := strings.Cut(s, "=")
	name = strings.TrimPrefix(name, "CONFIG_")
	if !ok || !optionName.MatchString(name) {
		return Purposed{}, fmt.Errorf("--set %q: not CONFIG_NAME=VALUE", clip(s))
	}
	if !plainValue.MatchString(val) && !quotedValue.MatchString(val) {
		return Purposed{}, fmt.Errorf("--set %s: value %q is not y, m, n, a number or a \"string\" (quotes included)", clip(s), clip(val))
	}
	return Purposed{Need: Need{Name: name, Value: val, Exact: true}, Purpose: "--set"}, nil
}

var (
	optionName = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
	plainValue = regexp.MustCompile(`^(y|m|n|-?[0-9]+|0[xX][0-9a-fA-F]+)$`)
	// A string as scripts/kconfig/confdata.c writes one: '"' and '\'
	// escaped with '\', and nothing below a space.
	quotedValue = regexp.MustCompile(`^"([^"\\\x00-\x1f\x7f]|\\["\\])*"$`)
)

// Fragment reads a config fragment, the options of a .config file (as
// scripts/kconfig/merge_config.sh merges them), each one a setting whose
// Purpose is path.
func Fragment(path string) ([]Purposed, error) {
	c, err := Read(path)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(c))
	for n := range c {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]Purposed, 0, len(names))
	for _, n := range names {
		out = append(out, Purposed{Need: Need{Name: n, Value: c[n], Exact: true}, Purpose: path})
	}
	return out, nil
}

// Settings reads the fragments' options and then the --set ones, in
// that order: a later one wins (Merge). It returns nil only when none is
// named: an empty fragment (/dev/null) gives none, and says so.
func Settings(fragments, sets []string) ([]Purposed, error) {
	var out []Purposed
	if len(fragments)+len(sets) > 0 {
		out = []Purposed{}
	}
	for _, f := range fragments {
		opts, err := Fragment(f)
		if err != nil {
			return nil, fmt.Errorf("--fragment %w", err)
		}
		out = append(out, opts...)
	}
	for _, s := range sets {
		o, err := Setting(s)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// Merge returns the purposes' needs and then the settings, the last
// setting of an option winning, as in merge_config.sh. A setting that
// would unmeet a purpose's need is an error naming both: the config
// would not do what the purpose asks.
func Merge(needs, settings []Purposed) ([]Purposed, error) {
	last := map[string]int{}
	for i, s := range settings {
		last[s.Name] = i
	}
	out := append([]Purposed(nil), needs...)
	for i, s := range settings {
		if last[s.Name] != i {
			continue
		}
		for _, n := range needs {
			if n.Name == s.Name && !n.Set && !(Config{s.Name: s.Value}).Has(n.Need) {
				return nil, fmt.Errorf("CONFIG_%s=%s (%s) goes against the purpose %s, which needs %s: without it, %s", s.Name, s.Value, s.Purpose, n.Purpose, n.Value, n.Why)
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// PurposeFor returns the first purpose, by name, that needs option name:
// one that sets it with what it needs, for a setting kconfig dropped.
func PurposeFor(name string) (string, bool) {
	for _, p := range Names() {
		for _, n := range Purposes[p] {
			if n.Name == name && !n.Set {
				return p, true
			}
		}
	}
	return "", false
}
