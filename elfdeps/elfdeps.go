// Package elfdeps finds what a program needs to run in an initramfs: the
// ELF interpreter and the shared libraries named by DT_NEEDED, searched the
// way glibc's ld.so searches (elf/dl-load.c: DT_RPATH when there is no
// DT_RUNPATH, then DT_RUNPATH, then the ld.so.conf directories, then the
// default directories), and the interpreters of #! scripts. Everything is
// resolved inside a root directory (a sysroot), reading files only: nothing
// is run, so a foreign or cross root works as well as the host's.
package elfdeps

import (
	"bufio"
	"bytes"
	"cmp"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/initkit/initkit/internal/machine"
)

// Kind is the type of an Entry.
type Kind int

// Entry kinds.
const (
	File Kind = iota
	Symlink
	Dir
)

// Entry is one path the closure needs in the target tree.
type Entry struct {
	Path     string // absolute path in the target tree
	Kind     Kind
	Source   string // host path of a File
	Linkname string // target of a Symlink, as the link holds it
	Why      string // the first reason it was added, for --explain
}

// Resolver computes closures inside Root.
type Resolver struct {
	Root string // "/" or a sysroot
	// Machine, when set, is the machine the image runs on: a program for
	// another (the host's x86-64 dash in an arm64 image) is an error
	// naming it, not an image whose init dies with "exec format error".
	Machine elf.Machine
	// Provided, when set, says whether the image holds a program at
	// target path p of its own (a busybox applet). A script's interpreter
	// that Root lacks, or has only for another machine, is left to it.
	Provided func(p string) bool

	searchDirs []string // ld.so.conf directories, then the defaults
	entries    map[string]*Entry
	done       map[string]bool // objects already scanned, by target path
	// compat remembers compatible's answers: sixty programs that need
	// libc would otherwise open and parse each candidate sixty times.
	compat map[compatKey]bool
	// stats remembers what walk found at each host path: two hundred
	// closures walk /usr/lib/x86_64-linux-gnu two hundred times.
	stats map[string]stat
	// read is every host path looked at: what a result kept between
	// builds depends on (Read).
	read map[string]bool
}

type stat struct {
	mode os.FileMode
	link string // a symlink's target
	err  error
}

// lstat is os.Lstat, and os.Readlink for a symlink, remembered.
func (r *Resolver) lstat(host string) stat {
	if st, ok := r.stats[host]; ok {
		return st
	}
	r.read[host] = true
	var st stat
	fi, err := os.Lstat(host)
	switch {
	case err != nil:
		st.err = err
	case fi.Mode()&os.ModeSymlink != 0:
		st.mode = fi.Mode()
		st.link, st.err = os.Readlink(host)
	default:
		st.mode = fi.Mode()
	}
	r.stats[host] = st
	return st
}

type compatKey struct {
	path    string
	class   elf.Class
	machine elf.Machine
}

// NewResolver returns a Resolver for the tree at root ("" means "/").
func NewResolver(root string) (*Resolver, error) {
	if root == "" {
		root = "/"
	}
	r := &Resolver{Root: root, entries: map[string]*Entry{}, done: map[string]bool{}, compat: map[compatKey]bool{}, stats: map[string]stat{}, read: map[string]bool{}}
	dirs, err := r.ldSoConf("/etc/ld.so.conf", 0)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	r.searchDirs = append(dirs, defaultDirs...)
	return r, nil
}

// defaultDirs are ld.so's trusted directories on x86_64 Debian-style and
// lib64-style systems (elf/dl-load.c, SYSTEM_DIRS, plus the multiarch
// directories Debian's ld.so.conf.d normally lists).
var defaultDirs = []string{
	"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
	"/lib64", "/usr/lib64", "/lib", "/usr/lib",
}

// ldSoConf reads an ld.so.conf file, following include lines.
func (r *Resolver) ldSoConf(name string, depth int) ([]string, error) {
	if depth > 8 {
		return nil, fmt.Errorf("%s: includes nested too deep", name)
	}
	r.read[r.host(name)] = true
	// Resolved inside Root: a sysroot's /etc/ld.so.conf may be a symlink,
	// absolute or not, which the host's open would follow out of it.
	real, err := r.resolveTarget(name)
	if err != nil {
		return nil, err
	}
	r.read[r.host(real)] = true
	data, err := os.ReadFile(r.host(real))
	if err != nil {
		return nil, err
	}
	var dirs []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		switch {
		case line == "" || strings.HasPrefix(line, "hwcap "):
		case strings.HasPrefix(line, "include "):
			pattern := strings.TrimSpace(strings.TrimPrefix(line, "include "))
			if !path.IsAbs(pattern) {
				pattern = path.Join(path.Dir(name), pattern)
			}
			r.read[filepath.Dir(r.host(pattern))+"/"] = true // listed: a file added there counts
			dir, err := r.resolveDir(path.Dir(pattern))
			if err != nil {
				continue // no directory: nothing included
			}
			r.read[r.host(dir)+"/"] = true
			matches, _ := filepath.Glob(filepath.Join(r.host(dir), path.Base(pattern)))
			sort.Strings(matches)
			for _, m := range matches {
				sub, err := r.ldSoConf(r.target(m), depth+1)
				if err != nil {
					return nil, err
				}
				dirs = append(dirs, sub...)
			}
		default:
			dirs = append(dirs, line)
		}
	}
	return dirs, sc.Err()
}

// host maps a target path to the host path inside Root: ".." stops at
// Root as it stops at / (an include line or a DT_NEEDED name is
// untrusted).
func (r *Resolver) host(p string) string {
	return filepath.Join(r.Root, filepath.FromSlash(path.Clean("/"+p)))
}

// target maps a host path inside Root back to a target path.
func (r *Resolver) target(h string) string {
	rel, err := filepath.Rel(r.Root, h)
	if err != nil {
		return h
	}
	return "/" + filepath.ToSlash(rel)
}

// Read returns, sorted, every host path the resolver looked at: the
// files it read, the paths it looked up, found or not, and the
// directories it listed, named with a final "/". A closure kept between
// builds is the same while each of them is.
func (r *Resolver) Read() []string {
	return slices.Sorted(maps.Keys(r.read))
}

// Entries returns everything added so far, sorted by path.
func (r *Resolver) Entries() []Entry {
	out := make([]Entry, 0, len(r.entries))
	for _, e := range r.entries {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// Add adds the program or library at target path p (inside Root) with its
// closure. why says why p is wanted.
func (r *Resolver) Add(p, why string) error {
	real, err := r.addPath(p, why)
	if err != nil {
		return err
	}
	return r.scan(real, p)
}

// AddDeps adds what the program at target path p needs, but not p itself:
// for a program the image holds under another name.
func (r *Resolver) AddDeps(p, why string) error {
	real, err := r.resolveTarget(p)
	if err != nil {
		return err
	}
	return r.scan(real, p)
}

// AddLibrary adds a library by soname, as for a dlopen'ed one.
func (r *Resolver) AddLibrary(soname, why string) error {
	p, err := r.findLib(soname, nil, "", elf.ELFCLASS64, cmp.Or(r.Machine, elf.EM_X86_64))
	if err != nil {
		return fmt.Errorf("library %s (%s): %w", soname, why, err)
	}
	return r.Add(p, why)
}

// addPath adds p to the tree: every symlink met on the way (a usrmerge
// /lib -> usr/lib, libc.so.6 -> libc-2.36.so) as a symlink, the
// directories that hold them, and the final file. It returns the resolved
// target path of the file.
func (r *Resolver) addPath(p, why string) (string, error) {
	return r.walk(p, false, func(e *Entry) {
		e.Why = why
		r.put(e)
	})
}

// resolveTarget follows the symlinks of a target path inside Root.
func (r *Resolver) resolveTarget(p string) (string, error) { return r.walk(p, false, nil) }

// resolveDir follows the symlinks of a target directory inside Root.
func (r *Resolver) resolveDir(p string) (string, error) { return r.walk(p, true, nil) }

// walk resolves the target path p inside Root one component at a time,
// following symlinks (an absolute target starts again at Root, never at
// the host's /), and calls visit, when not nil, for every directory,
// symlink and the final file met. It returns the resolved path, which
// is a directory only when dirOK.
func (r *Resolver) walk(p string, dirOK bool, visit func(*Entry)) (string, error) {
	if visit == nil {
		visit = func(*Entry) {}
	}
	cur := "/"
	rest := strings.Split(strings.Trim(path.Clean(p), "/"), "/")
	for hops := 0; len(rest) > 0; {
		name := rest[0]
		rest = rest[1:]
		next := path.Join(cur, name)
		st := r.lstat(r.host(next))
		if st.err != nil && st.mode&os.ModeSymlink == 0 {
			return "", fmt.Errorf("%s: %w", p, st.err)
		}
		switch {
		case st.mode&os.ModeSymlink != 0:
			if hops++; hops > 40 {
				return "", fmt.Errorf("%s: too many symlinks", p)
			}
			if st.err != nil {
				return "", st.err
			}
			link := st.link
			visit(&Entry{Path: next, Kind: Symlink, Linkname: link})
			if path.IsAbs(link) {
				cur = "/"
			}
			rest = append(strings.Split(strings.Trim(link, "/"), "/"), rest...)
		case st.mode.IsDir():
			if len(rest) == 0 && !dirOK {
				return "", fmt.Errorf("%s is a directory", p)
			}
			visit(&Entry{Path: next, Kind: Dir})
			cur = next
		default:
			if len(rest) > 0 {
				return "", fmt.Errorf("%s: %s is not a directory", p, next)
			}
			visit(&Entry{Path: next, Kind: File, Source: r.host(next)})
			cur = next
		}
	}
	return cur, nil
}

func (r *Resolver) put(e *Entry) {
	if name := path.Clean(e.Path); name == "/" || name == "." || name == ".." {
		return
	}
	if _, ok := r.entries[e.Path]; !ok {
		r.entries[e.Path] = e
	}
}

// scan adds what the file at target path real needs. asked is the path it
// was asked for by, whose directory is $ORIGIN.
func (r *Resolver) scan(real, asked string) error {
	if r.done[real] {
		return nil
	}
	r.done[real] = true
	r.read[r.host(real)] = true
	f, err := os.Open(r.host(real))
	if err != nil {
		return err
	}
	defer f.Close()
	var magic [4]byte
	if n, _ := f.ReadAt(magic[:], 0); n < 2 {
		return nil
	}
	if string(magic[:2]) == "#!" {
		return r.script(f, real)
	}
	if string(magic[:]) != elf.ELFMAG {
		return nil // data, not a program
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		return fmt.Errorf("%s: %w", real, err)
	}
	if !r.runs(ef.Machine) {
		return fmt.Errorf("%s is a program for %s, and the image is for %s", real, machine.Name(ef.Machine), machine.Name(r.Machine))
	}
	return r.elf(ef, real, path.Dir(asked))
}

func (r *Resolver) script(f *os.File, p string) error {
	line, _ := bufio.NewReader(f).ReadString('\n')
	fields := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "#!"))
	if len(fields) == 0 {
		return fmt.Errorf("%s: #! line without an interpreter", p)
	}
	if !r.leftToImage(fields[0]) {
		if err := r.Add(fields[0], "interpreter of "+p); err != nil {
			return fmt.Errorf("%s: #!%s: %w", p, fields[0], err)
		}
	}
	if path.Base(fields[0]) != "env" {
		return nil
	}
	name := envCommand(fields[1:])
	if name == "" || strings.Contains(name, "/") && !path.IsAbs(name) {
		return nil // env alone prints the environment; a relative path is the guest's
	}
	return r.addCommand(name, "command "+fields[0]+" runs for "+p)
}

// guestPath is where env(1) looks for a command in the guest: the PATH
// initkit's init gives (internal/pid1), with /usr/local/sbin, so a
// command the host keeps in any of them is shipped.
var guestPath = []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}

// addCommand adds the command env(1) would run for a #! line: a path, or
// a name searched in guestPath inside Root.
func (r *Resolver) addCommand(name, why string) error {
	if path.IsAbs(name) {
		return r.Add(name, why)
	}
	for _, dir := range guestPath {
		p := path.Join(dir, name)
		if real, err := r.resolveTarget(p); err == nil && r.lstat(r.host(real)).mode.IsRegular() {
			if r.leftToImage(p) {
				return nil
			}
			if err := r.Add(p, why); err != nil {
				return fmt.Errorf("%s: %w", why, err)
			}
			return nil
		}
	}
	if r.leftToImage("/bin/" + name) {
		return nil
	}
	return fmt.Errorf("%s: no %s in %s", why, name, strings.Join(guestPath, ":"))
}

// leftToImage says whether the image's own program (Provided) serves as
// the interpreter p: Root lacks p, or has it only for another machine
// than the image's (an arm64 image's #!/bin/sh is busybox's, not the
// host's dash). Otherwise Root's is shipped, as the script asked.
func (r *Resolver) leftToImage(p string) bool {
	if r.Provided == nil || !r.Provided(p) {
		return false
	}
	real, err := r.resolveTarget(p)
	if err != nil {
		return true
	}
	r.read[r.host(real)] = true
	f, err := elf.Open(r.host(real))
	if err != nil {
		return false // a script, or no program: Add says what it is
	}
	defer f.Close()
	return !r.runs(f.Machine)
}

// runs says whether the image's machine runs programs for m: its own,
// and the 32-bit ones its kernel may run (CONFIG_IA32_EMULATION,
// CONFIG_COMPAT), for which ld.so's search finds their own libraries.
func (r *Resolver) runs(m elf.Machine) bool {
	switch r.Machine {
	case 0, m:
		return true
	case elf.EM_X86_64:
		return m == elf.EM_386
	case elf.EM_AARCH64:
		return m == elf.EM_ARM
	}
	return false
}

// envCommand returns the command of env's arguments on a #! line, as GNU
// env reads them: options (-i, -u NAME, -C DIR, -S STRING), NAME=VALUE
// assignments, then the command. The kernel passes what follows the
// interpreter as one argument, which -S splits as the fields split here.
func envCommand(args []string) string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-u" || a == "--unset" || a == "-C" || a == "--chdir":
			i++
		case strings.HasPrefix(a, "--split-string="):
			return strings.TrimPrefix(a, "--split-string=")
		case strings.HasPrefix(a, "-S") && len(a) > 2:
			return a[2:]
		case strings.HasPrefix(a, "-") || strings.Contains(a, "="):
		default:
			return a
		}
	}
	return ""
}

func (r *Resolver) elf(ef *elf.File, p, origin string) error {
	for _, prog := range ef.Progs {
		if prog.Type == elf.PT_INTERP {
			b := make([]byte, prog.Filesz)
			if _, err := prog.ReadAt(b, 0); err != nil {
				return fmt.Errorf("%s: PT_INTERP: %w", p, err)
			}
			interp := strings.TrimRight(string(b), "\x00")
			if err := r.Add(interp, "ELF interpreter of "+p); err != nil {
				return err
			}
		}
	}
	return r.libraries(ef, p, origin)
}

// object is one ELF object of a program's link map.
type object struct {
	f      *elf.File
	path   string   // target path
	origin string   // $ORIGIN: the directory it was asked for in
	rpath  []string // DT_RPATH of the objects that loaded it, inherited when it has no DT_RUNPATH
}

// libraries adds the shared libraries of the program ef as ld.so loads
// them (elf/dl-deps.c): breadth first, and a library whose soname is
// already loaded satisfies every later DT_NEEDED of that name, whoever
// needs it. So a library may rely on a directory only the executable's
// RUNPATH names (systemd's libsystemd-core needs libsystemd-shared, which
// only systemd's own RUNPATH finds). Each object's own DT_RUNPATH and
// $ORIGIN apply to its own needs; DT_RPATH, when there is no DT_RUNPATH,
// also applies to what the objects it loads need.
func (r *Resolver) libraries(ef *elf.File, p, origin string) error {
	loaded := map[string]bool{}
	queue := []object{{f: ef, path: p, origin: origin}}
	for len(queue) > 0 {
		o := queue[0]
		queue = queue[1:]
		needed, _ := o.f.DynString(elf.DT_NEEDED)
		dirs, rpath := searchPath(o)
		for _, lib := range needed {
			if loaded[lib] {
				continue
			}
			found, err := r.findLib(lib, dirs, o.path, ef.Class, ef.Machine)
			if err != nil {
				return err
			}
			loaded[lib] = true
			real, err := r.addPath(found, o.path+" needs "+lib)
			if err != nil {
				return err
			}
			if r.done[real] {
				continue // its own needs were resolved when it was first added
			}
			r.done[real] = true
			r.read[r.host(real)] = true
			lf, err := elf.Open(r.host(real))
			if err != nil {
				return fmt.Errorf("%s: %w", real, err)
			}
			defer lf.Close()
			if so, _ := lf.DynString(elf.DT_SONAME); len(so) > 0 {
				loaded[so[0]] = true
			}
			queue = append(queue, object{f: lf, path: real, origin: path.Dir(found), rpath: rpath})
		}
	}
	return nil
}

// searchPath returns the directories an object's own needs are searched
// in before the defaults, and the DT_RPATH list the objects it loads
// inherit.
func searchPath(o object) (dirs, rpath []string) {
	expand := func(list []string) []string {
		var out []string
		for _, s := range list {
			for _, d := range strings.Split(s, ":") {
				out = append(out, strings.NewReplacer("$ORIGIN", o.origin, "${ORIGIN}", o.origin).Replace(d))
			}
		}
		return out
	}
	runpath, _ := o.f.DynString(elf.DT_RUNPATH)
	if len(runpath) > 0 {
		return expand(runpath), nil
	}
	own, _ := o.f.DynString(elf.DT_RPATH)
	rpath = append(expand(own), o.rpath...)
	return rpath, rpath
}

// MissingError reports a library that no search directory holds.
type MissingError struct {
	Lib, NeededBy string
	Searched      []string
}

func (e *MissingError) Error() string {
	by := ""
	if e.NeededBy != "" {
		by = ", needed by " + e.NeededBy + ","
	}
	return fmt.Sprintf("library %s%s not found in %s", e.Lib, by, strings.Join(e.Searched, ":"))
}

// findLib returns the target path of the library lib for an object of the
// given class and machine, searching dirs first.
func (r *Resolver) findLib(lib string, dirs []string, by string, class elf.Class, machine elf.Machine) (string, error) {
	if strings.Contains(lib, "/") {
		return lib, nil
	}
	all := append(append([]string(nil), dirs...), r.searchDirs...)
	for _, d := range all {
		cand := path.Join(d, lib)
		if r.compatible(cand, class, machine) {
			return cand, nil
		}
	}
	return "", &MissingError{Lib: lib, NeededBy: by, Searched: all}
}

// compatible reports whether p is an ELF object of the wanted class and
// machine: like ld.so, a search skips a 32-bit library in a 64-bit search.
func (r *Resolver) compatible(p string, class elf.Class, machine elf.Machine) bool {
	k := compatKey{p, class, machine}
	ok, seen := r.compat[k]
	if !seen {
		ok = r.isCompatible(p, class, machine)
		r.compat[k] = ok
	}
	return ok
}

func (r *Resolver) isCompatible(p string, class elf.Class, machine elf.Machine) bool {
	real, err := r.resolveTarget(p)
	if err != nil {
		return false
	}
	r.read[r.host(real)] = true
	f, err := os.Open(r.host(real))
	if err != nil {
		return false
	}
	defer f.Close()
	// The ELF header is enough: elf.NewFile would read every section
	// header too.
	var id [20]byte
	if _, err := io.ReadFull(f, id[:]); err != nil || string(id[:4]) != elf.ELFMAG {
		return false
	}
	var m elf.Machine
	switch elf.Data(id[elf.EI_DATA]) {
	case elf.ELFDATA2LSB:
		m = elf.Machine(binary.LittleEndian.Uint16(id[18:]))
	case elf.ELFDATA2MSB:
		m = elf.Machine(binary.BigEndian.Uint16(id[18:]))
	default:
		return false
	}
	return elf.Class(id[elf.EI_CLASS]) == class && m == machine
}
