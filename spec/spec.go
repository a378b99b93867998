// Package spec reads initkit.toml, the one file that describes a
// project: the image ([image] and [modules], package initramfs), how it
// boots ([boot]) and the disk it goes on ([disk], package disk). Every
// command that takes the file reads it here, whole and strictly: an
// unknown table or key, or a value of the wrong type, is an error with
// the file's line and column, whichever command reads it. Relative paths
// in it are relative to the file's directory.
package spec

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/initkit/initkit/boot"
	"github.com/initkit/initkit/bug"
	"github.com/initkit/initkit/disk"
	"github.com/initkit/initkit/initramfs"
	"github.com/initkit/initkit/kernel"
)

// DefaultFile is the spec file a command reads when it is given none: in
// the working directory, and only when it is there.
const DefaultFile = "initkit.toml"

// File is a spec file, read.
type File struct {
	// Path is the file read, as given; "" when none was (no -c, and no
	// DefaultFile in the working directory).
	Path string
	// Image is the [image] table with [modules]; nil when the file has
	// neither.
	Image *initramfs.Spec
	Boot  Boot
	Disk  *disk.Spec // nil without a [disk] table
	// here is the kernel of the bug workspace the working directory is,
	// read when no file was named: taken when [boot] names none.
	here kernel.SpecKernel
}

// Boot is the [boot] table: how initkit boot, exec and debug boot the
// project, and which kernel every command takes (kernel.Choose). A flag
// given on the command line wins over the table.
type Boot struct {
	Kernel     string   `toml:"kernel"`      // a kernel image, or a kernel build directory
	Vmlinux    string   `toml:"vmlinux"`     // its vmlinux with DWARF
	ModulesDir string   `toml:"modules_dir"` // its /lib/modules/RELEASE tree
	Append     string   `toml:"append"`      // kernel command line
	Memory     string   `toml:"mem"`         // guest memory, "1G"
	SMP        int      `toml:"smp"`         // guest CPUs
	Accel      string   `toml:"accel"`       // auto, kvm or tcg
	Timeout    Duration `toml:"timeout"`     // "2m"
	Kdump      bool     `toml:"kdump"`       // capture a panic (initkit boot --kdump)
	PanicOn    []string `toml:"panic_on"`    // oops, warn, hung, lockup, rcu
}

// Duration is a time.Duration written as Go writes it ("90s", "2m").
type Duration time.Duration

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err == nil && v < 0 {
		err = fmt.Errorf("negative duration %s", b)
	}
	*d = Duration(v)
	return err
}

// document is the whole file: every table initkit knows.
type document struct {
	Image   *initramfs.Spec    `toml:"image"`
	Modules *initramfs.Modules `toml:"modules"`
	Boot    Boot               `toml:"boot"`
	Disk    *disk.Spec         `toml:"disk"`
}

// Load reads the spec file path; "" is DefaultFile when it exists, and
// otherwise an empty File (no tables: every default). A file named that
// does not exist is an error.
//
// With no file named, the bug workspace the working directory is in (its
// bug.toml, here or above, package bug) gives the kernel when [boot] names none: its
// build, else its kernel image and vmlinux. A developer in a bug's
// workspace means that bug's kernel, as repro and bisect take it.
func Load(path string) (*File, error) {
	if path != "" {
		return load(path, true)
	}
	f := &File{}
	if st, err := os.Stat(DefaultFile); err == nil {
		if !st.Mode().IsRegular() {
			// Found, not named: a FIFO would hang every command run here
			// (-c FILE may name a pipe, as -c <(...) does).
			return nil, fmt.Errorf("spec %s: not a regular file (%s)", DefaultFile, st.Mode().Type())
		}
		var err error
		if f, err = load(DefaultFile, true); err != nil {
			return nil, err
		}
	}
	return f, f.workspaceKernel()
}

// workspaceKernel reads the kernel of the bug workspace the working
// directory is in (bug.Here), if any.
func (f *File) workspaceKernel() error {
	if f.Boot.Kernel != "" {
		return nil
	}
	w, err := bug.Here()
	if err != nil || w == nil {
		return err
	}
	f.here = kernel.SpecKernel{Kernel: w.KernelPath(), From: "the bug workspace " + w.Dir}
	if w.Build() == "" {
		f.here.Vmlinux = w.Path(bug.Vmlinux)
	}
	return nil
}

// load reads path; with fills, the image specs its [disk] fills name are
// read too (one level: a fill's own spec file is read for its [image]).
func load(path string, fills bool) (*File, error) {
	raw, err := readSpec(path)
	if err != nil {
		return nil, err
	}
	var doc document
	dec := toml.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, decodeError(path, err)
	}
	// Absolute: what the file names does not move if the working
	// directory does, and no tool joins a relative one to "/".
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	f := &File{Path: path, Boot: doc.Boot, Disk: doc.Disk}
	f.Boot.resolve(dir)
	if doc.Image != nil || doc.Modules != nil {
		f.Image = doc.Image
		if f.Image == nil {
			f.Image = &initramfs.Spec{}
		}
		if doc.Modules != nil {
			f.Image.Modules = *doc.Modules
		}
		f.Image.From(path, raw)
	}
	if f.Disk != nil {
		f.Disk.RelativeTo(dir)
		if fills {
			if err := f.loadFills(dir); err != nil {
				return nil, err
			}
		}
	}
	return f, nil
}

// MaxSpec bounds a spec file: a few KB is a large one, and -c /dev/zero
// must end.
const MaxSpec = 1 << 20

func readSpec(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("spec %w", err)
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, MaxSpec+1))
	if err != nil {
		return nil, fmt.Errorf("spec %w", err)
	}
	if len(raw) > MaxSpec {
		return nil, fmt.Errorf("spec %s: more than %d bytes: not a spec file", path, MaxSpec)
	}
	return raw, nil
}

// loadFills reads the image spec of every [disk] volume filled from one.
func (f *File) loadFills(dir string) error {
	for _, fill := range f.Disk.Fills() {
		if fill.Spec == "" {
			continue
		}
		p := abs(dir, fill.Spec)
		sub, err := load(p, false)
		if err != nil {
			return fmt.Errorf("%s: [disk] spec %s: %w", f.Path, fill.Spec, err)
		}
		if sub.Image == nil {
			return fmt.Errorf("%s: [disk] spec %s has no [image] table to fill the volume with", f.Path, fill.Spec)
		}
		fill.Image = sub.Image
	}
	return nil
}

func (b *Boot) resolve(dir string) {
	b.Kernel, b.Vmlinux, b.ModulesDir = abs(dir, b.Kernel), abs(dir, b.Vmlinux), abs(dir, b.ModulesDir)
}

// abs makes p, relative to dir, absolute.
func abs(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	a, err := filepath.Abs(filepath.Join(dir, p))
	if err != nil {
		return filepath.Join(dir, p)
	}
	return a
}

// Kernel is the kernel request of a command: its flags', over what the
// [boot] table names.
func (f *File) Kernel(flags kernel.Request) kernel.Request {
	r := flags
	switch {
	case f.Boot.Kernel != "":
		r.Spec = kernel.SpecKernel{Kernel: f.Boot.Kernel, Vmlinux: f.Boot.Vmlinux, ModulesDir: f.Boot.ModulesDir, From: f.Path + " [boot] kernel"}
	case f.here.Kernel != "":
		r.Spec = f.here
	}
	return r
}

// DiskFor is the disk initkit disk create makes. With partitions from
// the command line (parts, as disk.ParsePart reads them) and no spec file
// named, it is flags alone; otherwise it is the [disk] table with the
// flags' size and table over it and parts after its partitions.
func (f *File) DiskFor(flags disk.Spec, parts []string, named bool) (*disk.Spec, error) {
	s := &flags
	if named || len(parts) == 0 {
		if f.Disk == nil {
			return nil, fmt.Errorf("%s: no [disk] table (or give --part)", cmp.Or(f.Path, DefaultFile))
		}
		s = f.Disk
		s.Size, s.Table = cmp.Or(flags.Size, s.Size), cmp.Or(flags.Table, s.Table)
	}
	for _, p := range parts {
		part, err := disk.ParsePart(p)
		if err != nil {
			return nil, err
		}
		s.Partitions = append(s.Partitions, part)
	}
	return s, nil
}

// EmbedImage builds the kernel tree t with the [image] of the spec file
// path inside it: the image as a gen_init_cpio list in the build
// directory, named by CONFIG_INITRAMFS_SOURCE (kernel.Embed).
func EmbedImage(ctx context.Context, path string, t kernel.Tree) error {
	f, err := Load(path)
	if err != nil {
		return err
	}
	if f.Image == nil {
		return fmt.Errorf("%s: no [image] table to embed", path)
	}
	s := f.Image
	s.Output = filepath.Join(cmp.Or(t.Obj, t.Src), "initkit-initramfs.list")
	if err := s.WriteList(); err != nil {
		return err
	}
	return kernel.Embed(ctx, t, s.Output)
}

// decodeError places a decoding error in the file: line and column.
func decodeError(name string, err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) && len(strict.Errors) > 0 {
		e := strict.Errors[0]
		row, col := e.Position()
		what := "unknown key " + strings.Join(e.Key(), ".")
		if len(e.Key()) == 1 {
			what = "unknown table [" + e.Key()[0] + "] (initkit reads [image], [modules], [boot] and [disk])"
		}
		return &initramfs.SpecError{File: name, Line: row, Col: col, Msg: what}
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, col := de.Position()
		return &initramfs.SpecError{File: name, Line: row, Col: col, Msg: typeError(de)}
	}
	return &initramfs.SpecError{File: name, Msg: err.Error()}
}

// typeMismatch is go-toml's message for a value of the wrong type,
// which names Go's types and fields.
var typeMismatch = regexp.MustCompile(`cannot decode TOML (\w+) into .* of type (\S+)$`)

// typeError says what a decoding error means in the file's own words:
// the key, what it holds and what it should.
func typeError(de *toml.DecodeError) string {
	m := typeMismatch.FindStringSubmatch(de.Error())
	if m == nil {
		return de.Error()
	}
	want := map[string]string{"string": "a string", "bool": "true or false", "[]string": "a list of strings"}[m[2]]
	if strings.HasPrefix(m[2], "int") || strings.HasPrefix(m[2], "uint") {
		want = "a whole number"
	} else if strings.HasPrefix(m[2], "*") {
		want = "a table"
	} else if want == "" {
		want = "a " + m[2]
	}
	got := map[string]string{"integer": "a number", "float": "a fraction", "bool": "true or false", "array": "a list", "table": "a table"}[m[1]]
	key := strings.Join(de.Key(), ".")
	msg := fmt.Sprintf("%s: %s, not %s", key, want, cmp.Or(got, "a "+m[1]))
	if h := typeHints[key]; h != "" {
		msg += " (" + h + ")"
	}
	return msg
}

// typeHints say what a key holds where its flag reads otherwise: build's
// --busybox alone means /bin/busybox, and busybox = true is what a user
// writes after it.
var typeHints = map[string]string{
	"image.busybox": `the path of a static busybox: busybox = "/bin/busybox"`,
}

// Apply sets what the [boot] table gives in o where the command's flag
// was not given (set reports whether it was): mem, smp, accel, timeout,
// kdump and panic_on; the table's append comes before the flag's. The
// kernel request is the flags' over the table's (File.Kernel).
func (f *File) Apply(o *boot.Options, set func(flag string) bool) {
	t := f.Boot
	if !set("mem") && t.Memory != "" {
		o.Memory = t.Memory
	}
	if !set("smp") && t.SMP > 0 {
		o.SMP = t.SMP
	}
	if !set("accel") && t.Accel != "" {
		o.Accel = t.Accel
	}
	if !set("timeout") && t.Timeout > 0 {
		o.Timeout = time.Duration(t.Timeout)
	}
	if !set("panic-on") && len(t.PanicOn) > 0 {
		o.PanicOn = t.PanicOn
	}
	if !set("kdump") {
		o.Kdump = o.Kdump || t.Kdump
	}
	o.Append = strings.TrimSpace(t.Append + " " + o.Append)
	o.Kernel = f.Kernel(o.Kernel)
}
