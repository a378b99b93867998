// Package kconfig reads and edits kernel .config files and knows what a
// kernel needs for each thing initkit does with it (boot it in QEMU,
// debug it, capture a crash dump, unlock LUKS, ...): the options, and
// what goes wrong without each, in words a user recognises. It checks a
// config against those needs and writes the fragment that
// scripts/kconfig/merge_config.sh would merge; the kernel's own kconfig
// (make olddefconfig) resolves the rest.
package kconfig

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Config is a kernel configuration: option names without "CONFIG_", to
// their values as .config holds them ("y", "m", `"text"`, "64"). An
// option "is not set" is "n"; one absent is not in the map.
type Config map[string]string

// Parse reads a .config.
func Parse(r io.Reader) (Config, error) {
	c := Config{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if name, ok := strings.CutPrefix(line, "# CONFIG_"); ok {
			if name, ok = strings.CutSuffix(name, " is not set"); ok {
				c[name] = "n"
			}
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		name, val, ok := strings.Cut(line, "=")
		if !ok || !strings.HasPrefix(name, "CONFIG_") {
			return nil, fmt.Errorf("line %d: %q is not CONFIG_NAME=VALUE", n, line)
		}
		c[strings.TrimPrefix(name, "CONFIG_")] = val
	}
	return c, sc.Err()
}

// Read reads the .config at path.
func Read(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Value returns an option's value, "n" when it is unset or absent.
func (c Config) Value(name string) string {
	if v, ok := c[name]; ok {
		return v
	}
	return "n"
}

// Has reports whether the option is set as a need asks: "y" is met by y;
// "y|m" by y or m; ">=4" by a number of at least 4; anything else by
// that exact value.
func (c Config) Has(n Need) bool {
	v := c.Value(n.Name)
	for _, want := range strings.Split(n.Value, "|") {
		if min, ok := strings.CutPrefix(want, ">="); ok {
			a, err1 := strconv.Atoi(v)
			b, err2 := strconv.Atoi(min)
			if err1 == nil && err2 == nil && a >= b {
				return true
			}
		} else if v == want {
			return true
		}
	}
	return false
}

// Write writes the config in .config syntax, sorted by name.
func (c Config) Write(w io.Writer) error {
	names := make([]string, 0, len(c))
	for n := range c {
		names = append(names, n)
	}
	sort.Strings(names)
	var b bytes.Buffer
	for _, n := range names {
		if c[n] == "n" {
			fmt.Fprintf(&b, "# CONFIG_%s is not set\n", n)
		} else {
			fmt.Fprintf(&b, "CONFIG_%s=%s\n", n, c[n])
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}
