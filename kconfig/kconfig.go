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
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// Config is a kernel configuration: option names without "CONFIG_", to
// their values as .config holds them ("y", "m", `"text"`, "64"). An
// option "is not set" is "n"; one absent is not in the map.
type Config map[string]string

// Parse reads a .config.
func Parse(r io.Reader) (Config, error) {
	c := Config{}
	br := bufio.NewReaderSize(io.LimitReader(r, MaxConfig+1), 64<<10)
	var read int64
	for n := 1; ; n++ {
		raw, err := br.ReadSlice('\n')
		read += int64(len(raw))
		switch {
		case read > MaxConfig:
			return nil, fmt.Errorf("line %d: more than %d bytes of config", n, MaxConfig)
		case errors.Is(err, bufio.ErrBufferFull):
			return nil, fmt.Errorf("line %d: longer than %d bytes", n, br.Size())
		case err != nil && err != io.EOF:
			return nil, err
		}
		if err := c.parseLine(strings.TrimSpace(string(raw)), n); err != nil {
			return nil, err
		}
		if err == io.EOF {
			return c, nil
		}
	}
}

// MaxConfig bounds a .config: a distribution's is some 250 KB.
const MaxConfig = 16 << 20

func (c Config) parseLine(line string, n int) error {
	if name, ok := strings.CutPrefix(line, "# CONFIG_"); ok {
		if name, ok = strings.CutSuffix(name, " is not set"); ok {
			c[name] = "n"
		}
		return nil
	}
	if line == "" || line[0] == '#' {
		return nil
	}
	name, val, ok := strings.Cut(line, "=")
	if !ok || !strings.HasPrefix(name, "CONFIG_") || name == "CONFIG_" {
		return fmt.Errorf("line %d: %q is not CONFIG_NAME=VALUE", n, clip(line))
	}
	val, err := value(val)
	if err != nil {
		return fmt.Errorf("line %d: %s: %w", n, name, err)
	}
	c[strings.TrimPrefix(name, "CONFIG_")] = val
	return nil
}

// value is an option's value as it stands in a .config line: a quoted
// string kept with its quotes (Write writes it back as it is), or a word,
// what follows a blank (a CR too) or a '#' being a comment, as Kconfig reads it
// (scripts/kconfig/confdata.c takes y, m or n by its first letter).
func value(v string) (string, error) {
	if strings.HasPrefix(v, `"`) {
		for i := 1; i < len(v); i++ {
			switch v[i] {
			case '\\':
				i++
			case '"':
				return v[:i+1], nil
			}
		}
		return "", errors.New("a string with no closing quote")
	}
	if i := strings.IndexFunc(v, func(r rune) bool { return r == '#' || unicode.IsSpace(r) }); i >= 0 {
		v = v[:i]
	}
	return v, nil
}

// clip shortens a line for an error message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
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
	if n.Exact {
		return v == n.Value
	}
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
