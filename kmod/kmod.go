// Package kmod resolves kernel modules and their dependencies in a
// /lib/modules/RELEASE tree, for copying into an initramfs.
//
// It reads modules.dep, modules.alias and modules.softdep when depmod wrote
// them, and otherwise the .modinfo section of each module (depends=, alias=,
// softdep=, firmware=), which is what depmod itself reads: Debian's kernel
// packages ship no modules.dep. modules.builtin lists what needs no file.
// Module names treat '-' and '_' alike, as the kernel does (kernel/params.c
// parameq, scripts/mod/modpost.c).
package kmod

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/initkit/initkit/compress"
	"github.com/initkit/initkit/guest"
)

// Module is one loadable module.
type Module struct {
	Name     string   // normalized: '-' replaced by '_'
	Path     string   // relative to the modules directory, e.g. kernel/drivers/md/dm-crypt.ko
	Depends  []string // normalized names
	SoftPre  []string // softdep pre: modules, loaded first when present
	Aliases  []string // glob patterns, e.g. pci:v00001AF4d*sv*sd*bc*sc*i*
	Firmware []string // paths relative to /lib/firmware
	info     bool     // modinfo read
}

// Index is a modules directory.
type Index struct {
	Dir     string
	mods    map[string]*Module
	builtin map[string]bool
	fromDep bool // depends came from modules.dep
	read    map[string]bool
	aliases bool // every module's aliases are loaded
}

// Normalize returns the canonical form of a module name or file name.
func Normalize(name string) string { return guest.ModuleName(name) }

// Open indexes the modules under dir (a /lib/modules/RELEASE directory):
// those modules.dep lists, as modprobe knows them, or, in a tree depmod
// has not run in, every module file under kernel/.
func Open(dir string) (*Index, error) {
	ix := &Index{Dir: dir, mods: map[string]*Module{}, builtin: map[string]bool{}, read: map[string]bool{}}
	if err := ix.readBuiltin(); err != nil {
		return nil, err
	}
	if err := ix.readDep(); err != nil {
		return nil, err
	}
	if ix.fromDep {
		return ix, nil
	}
	err := filepath.WalkDir(filepath.Join(dir, "kernel"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !isModule(p) {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		ix.add(&Module{Name: Normalize(p), Path: filepath.ToSlash(rel)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("kmod: %w", err)
	}
	return ix, nil
}

// add indexes m unless a module of its name is there: the first one
// found is the one modprobe loads.
func (ix *Index) add(m *Module) {
	if _, dup := ix.mods[m.Name]; !dup {
		ix.mods[m.Name] = m
	}
}

func isModule(p string) bool {
	for _, ext := range []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"} {
		if strings.HasSuffix(p, ext) {
			return true
		}
	}
	return false
}

func (ix *Index) lines(name string, fn func(line string, n int) error) error {
	ix.read[filepath.Join(ix.Dir, name)] = true
	f, err := os.Open(filepath.Join(ix.Dir, name))
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := fn(line, n); err != nil {
			return fmt.Errorf("%s:%d: %w", filepath.Join(ix.Dir, name), n, err)
		}
	}
	return sc.Err()
}

func (ix *Index) readBuiltin() error {
	return ix.lines("modules.builtin", func(line string, _ int) error {
		ix.builtin[Normalize(line)] = true
		return nil
	})
}

// readDep reads modules.dep, "path: dep-path dep-path ...", when present:
// every module depmod found, with its dependencies.
func (ix *Index) readDep() error {
	return ix.lines("modules.dep", func(line string, _ int) error {
		mod, deps, ok := strings.Cut(line, ":")
		if !ok {
			return fmt.Errorf("no colon")
		}
		// module-init-tools wrote absolute paths; kmod's depmod, relative.
		rel := strings.TrimPrefix(strings.TrimPrefix(mod, ix.Dir), "/")
		if !filepath.IsLocal(rel) || !isModule(rel) {
			return fmt.Errorf("%q: not a module path in the directory", mod)
		}
		ix.fromDep = true
		m := &Module{Name: Normalize(rel), Path: rel}
		for _, d := range strings.Fields(deps) {
			m.Depends = append(m.Depends, Normalize(d))
		}
		ix.add(m)
		return nil
	})
}

// Read returns, sorted, every file the index read (present or not), or
// false for an index made by walking a tree without modules.dep, which
// depends on every directory in it: what a resolution kept between
// builds depends on.
func (ix *Index) Read() ([]string, bool) {
	if !ix.fromDep {
		return nil, false
	}
	return slices.Sorted(maps.Keys(ix.read)), true
}

// Builtin reports whether name is built into the kernel.
func (ix *Index) Builtin(name string) bool { return ix.builtin[Normalize(name)] }

// Module returns the module called name, with its .modinfo read.
func (ix *Index) Module(name string) (*Module, error) {
	m := ix.mods[Normalize(name)]
	if m == nil {
		return nil, nil
	}
	if err := ix.info(m); err != nil {
		return nil, err
	}
	return m, nil
}

// info reads a module's .modinfo section once.
func (ix *Index) info(m *Module) error {
	if m.info {
		return nil
	}
	m.info = true
	ix.read[filepath.Join(ix.Dir, m.Path)] = true
	ef, closer, err := openELF(filepath.Join(ix.Dir, m.Path))
	if err != nil {
		return err
	}
	defer closer.Close()
	sec := ef.Section(".modinfo")
	if sec == nil {
		return fmt.Errorf("kmod: %s: no .modinfo section", m.Path)
	}
	raw, err := sec.Data()
	if err != nil {
		return fmt.Errorf("kmod: %s: .modinfo: %w", m.Path, err)
	}
	for _, kv := range bytes.Split(raw, []byte{0}) {
		k, v, ok := strings.Cut(string(kv), "=")
		if !ok {
			continue
		}
		switch k {
		case "depends":
			if !ix.fromDep {
				for _, d := range strings.Split(v, ",") {
					if d != "" {
						m.Depends = append(m.Depends, Normalize(d))
					}
				}
			}
		case "alias":
			m.Aliases = append(m.Aliases, v)
		case "firmware":
			m.Firmware = append(m.Firmware, v)
		case "softdep":
			m.SoftPre = append(m.SoftPre, softPre(v)...)
		}
	}
	return nil
}

// softPre returns the "pre:" modules of a softdep value such as
// "pre: crc32c post: foo".
func softPre(v string) []string {
	var out []string
	pre := false
	for _, f := range strings.Fields(v) {
		switch f {
		case "pre:":
			pre = true
		case "post:":
			pre = false
		default:
			if pre {
				out = append(out, Normalize(f))
			}
		}
	}
	return out
}

// compressedExts are the module compressions ReadFile undoes.
var compressedExts = []string{".xz", ".zst", ".gz"}

// Uncompressed returns path without its compression suffix, and whether
// it had one: the name a module has once ReadFile decompressed it.
func Uncompressed(path string) (string, bool) {
	for _, ext := range compressedExts {
		if plain, ok := strings.CutSuffix(path, ext); ok {
			return plain, true
		}
	}
	return path, false
}

// openELF opens a module as ELF: an uncompressed one in place, where
// only its headers and the sections asked for are read (the .modinfo of
// a 190-module image: a few hundred KB, not 30 MB); a compressed one
// decompressed in memory.
func openELF(path string) (*elf.File, io.Closer, error) {
	if _, compressed := Uncompressed(path); compressed {
		data, err := ReadFile(path)
		if err != nil {
			return nil, nil, err
		}
		ef, err := elf.NewFile(bytes.NewReader(data))
		if err != nil {
			return nil, nil, fmt.Errorf("kmod: %s: %w", path, err)
		}
		return ef, io.NopCloser(nil), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("kmod: %s: %w", path, err)
	}
	return ef, f, nil
}

// ReadFile returns a module's content, decompressed if its name ends in
// .xz, .zst or .gz (as kmod names compressed modules): a kernel without
// CONFIG_MODULE_DECOMPRESS cannot load them itself.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	format := compress.None
	switch {
	case strings.HasSuffix(path, ".xz"):
		format = compress.XZ
	case strings.HasSuffix(path, ".zst"):
		format = compress.Zstd
	case strings.HasSuffix(path, ".gz"):
		format = compress.Gzip
	}
	r, err := compress.NewReader(f, format)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, int64(MaxModule)+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > MaxModule {
		return nil, fmt.Errorf("%s: decompresses to more than %d bytes", path, MaxModule)
	}
	return data, nil
}

// MaxModule bounds a compressed module's content, held in memory: the
// largest modules a distribution ships are some 30 MB, a few hundred
// with their debug information.
var MaxModule = 1 << 30

// Names returns every module name, sorted.
func (ix *Index) Names() []string {
	return slices.Sorted(maps.Keys(ix.mods))
}
