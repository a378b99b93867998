package decode

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/initkit/initkit/internal/cache"
	"github.com/initkit/initkit/kernel"
	"github.com/initkit/initkit/symbolize"
)

// noDWARF is symbolize.ErrNoDWARF said with what to do about it: a
// caller that can go on without file:line (vmcore's log) tells it apart.
type noDWARF string

func (e noDWARF) Error() string { return string(e) }
func (e noDWARF) Unwrap() error { return symbolize.ErrNoDWARF }

// Open returns a Decoder for vmlinux (it must carry DWARF) and the module
// trees in moduleDirs: by default the distribution's places for the
// vmlinux's release, /usr/lib/debug/lib/modules/RELEASE (debug copies)
// then /lib/modules/RELEASE. With index, resolved frames are kept in an
// index in the cache keyed by the vmlinux's build-id, so that a repeat
// decode reads no DWARF; Close saves it.
func Open(vmlinux string, moduleDirs []string, index bool, opts Options) (*Decoder, error) {
	f, err := symbolize.Open(vmlinux)
	if errors.Is(err, symbolize.ErrNoDWARF) {
		return nil, noDWARF(vmlinux + " has no DWARF: " + dwarfAdvice(vmlinux))
	}
	if err != nil {
		return nil, err
	}
	if len(moduleDirs) == 0 {
		moduleDirs = defaultModuleDirs(f.Release())
	}
	res := &symbolize.Resolver{Vmlinux: f, ModulesDirs: moduleDirs}
	if index {
		if dir, err := cache.Dir(); err == nil {
			res.Index, _ = symbolize.OpenIndex(filepath.Join(dir, "symbolize"), f.BuildID())
		}
	}
	return &Decoder{R: res, Opts: opts}, nil
}

// dwarfAdvice says how to get a vmlinux with DWARF: a build directory's
// (a .config beside it) is built again with the debug information on; any
// other is a distribution's, whose DWARF is in its -dbg package.
func dwarfAdvice(vmlinux string) string {
	if _, err := os.Stat(filepath.Join(filepath.Dir(vmlinux), ".config")); err == nil {
		return "its build directory's .config has no CONFIG_DEBUG_INFO: add it " +
			"(initkit kernel config --for dwarf) and build the kernel again"
	}
	return "use the vmlinux of the kernel's -dbg package " +
		"(initkit kernel fetch --debug-info, or /usr/lib/debug/boot/vmlinux-RELEASE from linux-image-RELEASE-dbg)"
}

// Close saves the index, when there is one, and closes the files.
func (d *Decoder) Close() error {
	err := d.R.Index.Save()
	d.R.Close()
	if d.R.Vmlinux != nil {
		d.R.Vmlinux.Close()
	}
	return err
}

// defaultModuleDirs are where a distribution keeps the modules of
// release, their debug copies first.
func defaultModuleDirs(release string) []string {
	if release == "" {
		return nil
	}
	var dirs []string
	for _, d := range []string{"/usr/lib/debug/lib/modules/" + release, "/lib/modules/" + release} {
		if _, err := os.Stat(d); err == nil {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

var symbolArg = regexp.MustCompile(`^([A-Za-z0-9_.$]+)\+0x([0-9a-f]+)(?:/0x([0-9a-f]+))?$`)

// location is one of decode's location arguments: FUNC+0xOFF[/0xLEN]
// (size 0 without a length), or an address (fn "").
type location struct {
	fn              string
	off, size, addr uint64
}

// parseLocation reads a location argument; its error names the argument.
func parseLocation(a string) (location, error) {
	if m := symbolArg.FindStringSubmatch(a); m != nil {
		off, _ := strconv.ParseUint(m[2], 16, 64)
		size, _ := strconv.ParseUint(m[3], 16, 64)
		if m[3] != "" && size == 0 {
			return location{}, fmt.Errorf("%s: a length of 0: the kernel prints the distance to the next symbol, never 0", a)
		}
		return location{fn: m[1], off: off, size: size}, nil
	}
	if addr, err := strconv.ParseUint(strings.TrimPrefix(a, "0x"), 16, 64); err == nil {
		return location{addr: addr}, nil
	}
	return location{}, fmt.Errorf("%s: no such file, and not FUNC+0xOFF[/0xLEN] or 0xADDRESS", a)
}

// Locations resolves symbols (FUNC+0xOFF[/0xLEN]) and addresses, at the
// exact address, as gdb's list *(func+off) does, and writes each with its
// source lines, the inline chain included.
func (d *Decoder) Locations(w io.Writer, locs []string) error {
	for _, a := range locs {
		loc, err := parseLocation(a)
		if err != nil {
			return err
		}
		var fr []symbolize.Frame
		if loc.fn != "" {
			fr, err = d.R.Frame(loc.fn, loc.off, loc.size, "", false)
		} else {
			fr, err = d.R.Addr(loc.addr)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", a, err)
		}
		fmt.Fprintf(w, "%s:\n", a)
		for _, f := range d.Strip(fr) {
			in := ""
			if f.Inlined {
				in = " (inlined)"
			}
			fmt.Fprintf(w, "  %s at %s:%d%s\n", f.Function, f.File, f.Line, in)
		}
	}
	return nil
}

// ForKernel returns a Decoder for the kernel the kernel policy chose: its
// vmlinux (an error says how to get one when none was found), the module
// directories given, else its own modules (a distribution's debug copies
// first, for a fetched kernel), and file names without its source tree's
// prefix when it was built out of tree (an O= build names its sources by
// their paths in the tree).
func ForKernel(k *kernel.Choice, moduleDirs []string, index bool, opts Options) (*Decoder, error) {
	vmlinux, err := k.NeedVmlinux()
	if err != nil {
		return nil, err
	}
	if len(moduleDirs) == 0 && k.ModulesDir != "" && k.Fetched == nil {
		moduleDirs = []string{k.ModulesDir}
	}
	if opts.StripPrefix == "" && k.Source != "" {
		opts.StripPrefix = k.Source + "/"
	}
	return Open(vmlinux, moduleDirs, index, opts)
}
