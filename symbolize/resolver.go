package symbolize

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
)

// Resolver resolves frames of a kernel and its modules, remembering what
// it resolved in an Index when it has one.
type Resolver struct {
	Vmlinux *File
	// ModulesDirs are searched for NAME.ko: a /lib/modules/RELEASE tree
	// or its debug twin under /usr/lib/debug/lib/modules/RELEASE.
	ModulesDirs []string
	Index       *Index
	modules     map[string]*File
	paths       map[string]string
}

// Frame resolves name+off (of length size) in the vmlinux, or in module
// when it is not "". A return address (every frame but the faulting
// instruction) is looked up at address-1: a call that ends a function
// returns to the first byte of the next one.
func (r *Resolver) Frame(name string, off, size uint64, module string, returnAddr bool) ([]Frame, error) {
	key := fmt.Sprintf("%s|%s+%#x/%#x|%v", module, name, off, size, returnAddr)
	if fr, ok := r.Index.get(key); ok {
		return fr, nil
	}
	f := r.Vmlinux
	if module != "" {
		var err error
		if f, err = r.module(module); err != nil {
			return nil, err
		}
	}
	if f == nil {
		return nil, fmt.Errorf("no vmlinux")
	}
	addrs, err := f.LookupAll(name, off, size)
	if err != nil {
		return nil, err
	}
	var fr []Frame
	for i, addr := range addrs {
		if returnAddr && off > 0 {
			addr--
		}
		got, err := f.PC(addr, name)
		if err != nil {
			return nil, err
		}
		if i > 0 && !sameFrames(fr, got) {
			return nil, fmt.Errorf("symbol %s is ambiguous: %d definitions of length %#x resolve to different lines", name, len(addrs), size)
		}
		fr = got
	}
	r.Index.put(key, fr)
	return fr, nil
}

func sameFrames(a, b []Frame) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Preload looks up the symbols of frames about to be resolved in one pass
// per file. names maps a module ("" for the vmlinux) to symbol names.
func (r *Resolver) Preload(names map[string][]string) {
	for mod, ns := range names {
		f := r.Vmlinux
		if mod != "" {
			var err error
			if f, err = r.module(mod); err != nil {
				continue // the frames will report it
			}
		}
		if f != nil {
			f.Preload(ns)
		}
	}
}

// Addr resolves an address of the vmlinux.
func (r *Resolver) Addr(addr uint64) ([]Frame, error) {
	return r.Vmlinux.PC(addr, "")
}

// module opens NAME.ko from the module directories, once.
func (r *Resolver) module(name string) (*File, error) {
	if f, ok := r.modules[name]; ok {
		return f, nil
	}
	if r.paths == nil {
		r.paths = map[string]string{}
		r.modules = map[string]*File{}
		for _, dir := range r.ModulesDirs {
			filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() && strings.HasSuffix(p, ".ko") {
					n := strings.ReplaceAll(strings.TrimSuffix(d.Name(), ".ko"), "-", "_")
					if _, dup := r.paths[n]; !dup {
						r.paths[n] = p
					}
				}
				return nil
			})
		}
	}
	p, ok := r.paths[strings.ReplaceAll(name, "-", "_")]
	if !ok {
		return nil, fmt.Errorf("module %s: no %s.ko in %s (give --modules DIR)", name, name, strings.Join(r.ModulesDirs, ", "))
	}
	f, err := Open(p)
	if err != nil {
		return nil, err
	}
	r.modules[name] = f
	return f, nil
}

// Close closes the module files (not the vmlinux).
func (r *Resolver) Close() {
	for _, f := range r.modules {
		f.Close()
	}
}

// Release reads the kernel release from the vmlinux's linux_banner
// ("Linux version RELEASE (...").
func (f *File) Release() string {
	s := f.ef.Section(".rodata")
	if s == nil {
		return ""
	}
	b, err := f.data(s)
	if err != nil {
		return ""
	}
	return bannerRelease(b)
}
