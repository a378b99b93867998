package pid1

import (
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path"
	"strings"

	"github.com/initkit/initkit/guest"

	"golang.org/x/sys/unix"
)

// modules knows the modules the image ships under /lib/modules/RELEASE
// (written by initkit build: modules.dep, modules.alias and initkit.load,
// the subset that covers what the spec asked for) and loads them.
type modules struct {
	dir     string              // /lib/modules/RELEASE
	deps    map[string][]string // module path -> paths it depends on
	paths   map[string]string   // module name -> path
	aliases []alias             // modules.alias, in file order
	order   []string            // initkit.load: the load order of the spec's modules
	builtin map[string]bool     // modules.builtin, read when first needed
	loaded  map[string]bool     // tried by this init (one loaded before it gives EEXIST, which is fine)
	log     func(format string, args ...any)
}

type alias struct{ pattern, name string }

// openModules reads the image's module metadata. An image without modules
// has none of these files: that is no error.
func openModules(dir string, log func(string, ...any)) *modules {
	m := &modules{dir: dir, deps: map[string][]string{}, paths: map[string]string{},
		loaded: map[string]bool{}, log: log}
	eachLine(dir+"/modules.dep", func(l string) {
		p, deps, ok := strings.Cut(l, ":")
		if !ok {
			return
		}
		m.deps[p] = strings.Fields(deps)
		m.paths[guest.ModuleName(p)] = p
	})
	eachLine(dir+"/modules.alias", func(l string) {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "alias" {
			m.aliases = append(m.aliases, alias{f[1], guest.ModuleName(f[2])})
		}
	})
	eachLine(dir+"/"+guest.LoadList, func(l string) { m.order = append(m.order, l) })
	return m
}

// isBuiltin reports whether the kernel has name built in. modules.builtin
// lists some hundreds of names, and a boot whose modules are all in the
// image never asks: it is read at the first question.
func (m *modules) isBuiltin(name string) bool {
	if m.builtin == nil {
		m.builtin = map[string]bool{}
		eachLine(m.dir+"/modules.builtin", func(l string) { m.builtin[guest.ModuleName(l)] = true })
	}
	return m.builtin[name]
}

// eachLine calls fn for each line of a file that is neither blank nor a
// comment; a file that cannot be read has none.
func eachLine(name string, fn func(string)) {
	if b, err := readFile(name); err == nil {
		lines(b, fn)
	}
}

// loadAll loads initkit.load in order, then the named modules. One at a
// time: loading independent modules concurrently gained nothing measurable
// at boot under TCG, with one CPU or two.
func (m *modules) loadAll(names []string) {
	for _, p := range m.order {
		m.loadName(guest.ModuleName(p))
	}
	for _, n := range names {
		m.loadName(guest.ModuleName(n))
	}
}

// loadName loads a module after its dependencies. A module that is
// built in or already loaded is done; one the image lacks is reported.
func (m *modules) loadName(name string) bool {
	if m.loaded[name] {
		return true
	}
	p, ok := m.paths[name]
	if !ok {
		if m.isBuiltin(name) {
			return true
		}
		m.log("module %s is not in the image", name)
		m.loaded[name] = true // say it once
		return false
	}
	m.loaded[name] = true
	for _, d := range m.deps[p] {
		m.loadName(guest.ModuleName(d))
	}
	if err := m.insert(m.dir + "/" + p); err != nil {
		m.log("loading %s: %v", p, err)
		return false
	}
	m.log("loaded %s", name)
	return true
}

// insert loads one module file. Plain .ko files go to finit_module. A
// gzip'ed one is decompressed here; xz and zstd ones are handed to the
// kernel to decompress (MODULE_INIT_COMPRESSED_FILE), since initkit build
// decompresses them when the kernel cannot.
func (m *modules) insert(file string) error {
	if strings.HasSuffix(file, ".gz") {
		return insertGzip(file)
	}
	fd, err := unix.Open(file, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var flags int
	if strings.HasSuffix(file, ".xz") || strings.HasSuffix(file, ".zst") {
		flags = unix.MODULE_INIT_COMPRESSED_FILE
	}
	return ignoreExist(unix.FinitModule(fd, "", flags))
}

// insertGzip loads a gzip'ed module, decompressed here: finit_module
// takes only the compressions the kernel was built to decompress.
func insertGzip(file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return err
	}
	return ignoreExist(unix.InitModule(data, ""))
}

func ignoreExist(err error) error {
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	return err
}

// forAlias loads the modules whose modules.alias patterns match a
// device's modalias. It reports whether it loaded any.
func (m *modules) forAlias(modalias string) bool {
	any := false
	for _, a := range m.aliases {
		if m.loaded[a.name] {
			continue
		}
		if ok, _ := path.Match(a.pattern, modalias); ok {
			m.log("%s wants %s", modalias, a.name)
			any = m.loadName(a.name) || any
		}
	}
	return any
}

// wantedBeyond reports whether modules.alias names a module that is
// neither loaded nor built in nor among those loadAll(names) loads, with
// their dependencies: one that only a device could ask for.
func (m *modules) wantedBeyond(names []string) bool {
	will := map[string]bool{}
	var add func(name string)
	add = func(name string) {
		if will[name] {
			return
		}
		will[name] = true
		for _, d := range m.deps[m.paths[name]] {
			add(guest.ModuleName(d))
		}
	}
	for _, p := range m.order {
		add(guest.ModuleName(p))
	}
	for _, n := range names {
		add(guest.ModuleName(n))
	}
	for _, a := range m.aliases {
		if !m.loaded[a.name] && !will[a.name] && !m.isBuiltin(a.name) {
			return true
		}
	}
	return false
}

// pending reports whether some module of modules.alias is not loaded yet:
// without one, there is nothing a device could ask for.
func (m *modules) pending() bool {
	for _, a := range m.aliases {
		if !m.loaded[a.name] {
			return true
		}
	}
	return false
}

// coldplug loads modules for the devices that exist now, once: each
// device on a bus has /sys/bus/BUS/devices/*/modalias, and only the buses
// the image's aliases name ("pci:...", "virtio:...") are read. Devices
// that appear later, such as those of a virtio bus driver just loaded,
// arrive as uevents on a socket opened before this walk.
func (m *modules) coldplug() {
	if !m.pending() {
		return
	}
	buses := map[string]bool{}
	for _, a := range m.aliases {
		if bus, _, ok := strings.Cut(a.pattern, ":"); ok && !strings.ContainsAny(bus, "*?[") {
			buses[bus] = true
		}
	}
	for bus := range buses {
		devs, _ := readDir("/sys/bus/" + bus + "/devices")
		for _, d := range devs {
			if a := readTrimmed("/sys/bus/" + bus + "/devices/" + d.name + "/modalias"); a != "" {
				m.forAlias(a)
			}
		}
	}
}
