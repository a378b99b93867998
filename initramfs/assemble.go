package initramfs

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/initkit/initkit/cpio"
	"github.com/initkit/initkit/elfdeps"
	"github.com/initkit/initkit/guest"
	"github.com/initkit/initkit/image"
	"github.com/initkit/initkit/internal/machine"
	"github.com/initkit/initkit/kmod"
)

//go:embed shellinit.sh
var shellInit []byte

// recall and keep are the build's cache of resolution results
// (buildcache.Cache.Recall, Keep); without a cache nothing is kept. Each
// says what it did for --explain (what is the resolution's name).
func (s *Spec) recall(what, key string, v any) bool {
	if s.cache == nil || !s.cache.Recall(key, v) {
		return false
	}
	s.explained = append(s.explained, what+": recalled from the cache, every file it read unchanged")
	return true
}

func (s *Spec) keep(what, key string, v any, read []string) {
	switch {
	case s.cache == nil:
	case s.cache.Keep(key, v, read):
		s.explained = append(s.explained, fmt.Sprintf("%s: resolved, kept with the %d paths it read", what, len(read)))
	default:
		s.explained = append(s.explained, what+": resolved, not kept (a file it read changed in the last seconds)")
	}
}

// memoKey names a resolution by its kind and every input it takes
// besides the files it reads.
func memoKey(kind string, inputs ...any) string {
	h := sha256.Sum256(fmt.Appendf(nil, "%q", inputs))
	return kind + " " + hex.EncodeToString(h[:])
}

// Assemble builds the tree a spec describes.
func (s *Spec) Assemble() (*Tree, error) {
	if err := s.expand(); err != nil {
		return nil, err
	}
	t := NewTree()
	for _, p := range s.Replace {
		t.Replace(p)
	}
	for _, e := range s.Entries {
		if err := t.add(e.Name, e, "given in memory"); err != nil {
			return nil, err
		}
	}
	for _, g := range s.GenInit {
		if err := t.ImportGenInitCpio(g); err != nil {
			return nil, err
		}
	}
	steps := []func(*Tree) error{s.addDirs, s.addSymlinks, s.addNodes, s.addClosure, s.addBusybox, s.addRescue, s.addTrees, s.addSSH, s.addModules, s.addInit}
	for _, step := range steps {
		if err := step(t); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (s *Spec) addDirs(t *Tree) error {
	for _, d := range s.Dirs {
		f := strings.Fields(d)
		perm := uint64(0o755)
		if len(f) == 2 {
			var err error
			if perm, err = strconv.ParseUint(f[1], 8, 32); err != nil {
				return s.errorAt(d, "dirs: bad mode %q", f[1])
			}
		} else if len(f) != 1 {
			return s.errorAt(d, `dirs: %q: want "PATH" or "PATH MODE"`, d)
		}
		if err := t.Dir(f[0], uint32(perm), "dirs in the spec"); err != nil {
			return s.errorAt(d, "%v", err)
		}
	}
	return nil
}

func (s *Spec) addSymlinks(t *Tree) error {
	for _, l := range s.Symlinks {
		p, target, ok := strings.Cut(l, "->")
		if !ok {
			return s.errorAt(l, `symlinks: %q: want "PATH -> TARGET"`, l)
		}
		if err := t.Symlink(strings.TrimSpace(p), strings.TrimSpace(target), "symlinks in the spec"); err != nil {
			return s.errorAt(l, "%v", err)
		}
	}
	return nil
}

func (s *Spec) addNodes(t *Tree) error {
	for _, n := range s.Nodes {
		f := strings.Fields(n)
		if len(f) < 4 || len(f) > 7 || (f[1] != "c" && f[1] != "b" && f[1] != "p") {
			return s.errorAt(n, `nodes: %q: want "PATH c|b MAJOR MINOR [MODE [UID GID]]" or "PATH p [MODE]"`, n)
		}
		nums := make([]uint64, 5)
		defaults := []uint64{0, 0, 0o600, 0, 0}
		for i := range nums {
			nums[i] = defaults[i]
			if 2+i < len(f) {
				base := 10
				if i == 2 {
					base = 8
				}
				v, err := strconv.ParseUint(f[2+i], base, 32)
				if err != nil {
					return s.errorAt(n, "nodes: bad number %q in %q", f[2+i], n)
				}
				nums[i] = v
			}
		}
		typ := map[string]uint32{"c": cpio.TypeChar, "b": cpio.TypeBlock, "p": cpio.TypeFIFO}[f[1]]
		if err := t.Node(f[0], typ, uint32(nums[0]), uint32(nums[1]), uint32(nums[2]), uint32(nums[3]), uint32(nums[4]), "nodes in the spec"); err != nil {
			return s.errorAt(n, "%v", err)
		}
	}
	return nil
}

// addClosure adds files and libs with what they need.
func (s *Spec) addClosure(t *Tree) error {
	if len(s.Files) == 0 && len(s.Libs) == 0 && !s.customInit() {
		return nil
	}
	root := s.Sysroot
	if root == "" {
		root = "/"
	}
	for _, f := range s.Files {
		src, dst, _ := strings.Cut(f, ":")
		host := filepath.Join(root, src)
		fi, err := os.Stat(host)
		if err != nil {
			return s.errorAt(f, "files: %v", err)
		}
		if fi.IsDir() {
			return s.errorAt(f, "files: %s is a directory (use tree to add a directory)", src)
		}
		if dst != "" && dst != src {
			if err := t.HostFile(dst, host, "files: "+f); err != nil {
				return s.errorAt(f, "files: %v", err)
			}
		}
	}
	if s.customInit() {
		if err := t.HostFile("/init", s.Init, "init = "+s.Init); err != nil {
			return s.errorAt(s.Init, "init: %v", err)
		}
	}
	entries, err := s.closure()
	if err != nil {
		return err
	}
	for _, e := range entries {
		var err error
		switch e.Kind {
		case elfdeps.Dir:
			err = t.Dir(e.Path, 0o755, e.Why)
		case elfdeps.Symlink:
			err = t.Symlink(e.Path, e.Linkname, e.Why)
		default:
			err = t.HostFile(e.Path, e.Source, e.Why)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// closure resolves what the files, the libs and a custom init need: the
// programs themselves, their libraries and interpreters. The result is
// kept in the build's cache with every path the resolution looked at,
// and recalled while none of them changed.
func (s *Spec) closure() ([]elfdeps.Entry, error) {
	bb := s.busybox()
	key := memoKey("closure", s.Sysroot, s.Files, s.Libs, s.customInit(), s.Init, s.Arch, bb, s.Applets)
	var entries []elfdeps.Entry
	if s.recall("closure", key, &entries) {
		return entries, nil
	}
	r, err := elfdeps.NewResolver(s.Sysroot)
	if err != nil {
		return nil, err
	}
	if a, ok := machine.Lookup(s.Arch); ok {
		r.Machine = a.ELF
	}
	if bb != "" {
		r.Provided = s.provides(bb)
	}
	for _, f := range s.Files {
		src, dst, _ := strings.Cut(f, ":")
		if dst == "" || dst == src {
			err = r.Add(src, "files: "+src)
		} else {
			err = r.AddDeps(src, "files: "+f)
		}
		if err != nil {
			return nil, s.errorAt(f, "files: %v", err)
		}
	}
	for _, l := range s.Libs {
		if err := r.AddLibrary(l, "libs: "+l); err != nil {
			return nil, s.errorAt(l, "libs: %v", err)
		}
	}
	if s.customInit() {
		if err := r.AddDeps(s.hostToTarget(r, s.Init), "init = "+s.Init); err != nil {
			return nil, s.errorAt(s.Init, "init: %v", err)
		}
	}
	addLibgcc(r)
	entries = r.Entries()
	read := r.Read()
	if bb != "" {
		read = append(read, bb)
	}
	s.keep("closure", key, entries, read)
	return entries, nil
}

// provides says which programs busybox bb's applets give the image:
// those linked in a directory of PATH. It reads bb when first asked,
// which only a script's interpreter does: most images have none.
func (s *Spec) provides(bb string) func(p string) bool {
	var applets []string
	read := false
	return func(p string) bool {
		if !read {
			applets, _ = s.applets(bb) // a bad busybox: addBusybox says why
			read = true
		}
		return slices.Contains(pathDirs, path.Dir(p)) && slices.Contains(applets, path.Base(p))
	}
}

// addLibgcc adds libgcc_s.so.1 when glibc is in the closure: glibc
// dlopens it at run time to unwind a thread (pthread_exit, pthread_cancel)
// and aborts without it ("libgcc_s.so.1 must be installed for pthread_exit
// to work"); no program lists it. dracut and mkinitramfs ship it for the
// same reason. A root without it is left as it is.
func addLibgcc(r *elfdeps.Resolver) {
	for _, e := range r.Entries() {
		if path.Base(e.Path) == "libc.so.6" {
			r.AddLibrary("libgcc_s.so.1", "glibc loads it to unwind threads (pthread_exit)")
			return
		}
	}
}

func (s *Spec) customInit() bool {
	return s.Init != "" && s.Init != "shell" && s.Init != "initkit" && s.Init != "none"
}

// hostToTarget names a host path as the resolver sees it.
func (s *Spec) hostToTarget(r *elfdeps.Resolver, p string) string {
	abs, _ := filepath.Abs(p)
	if rel, err := filepath.Rel(r.Root, abs); err == nil && !strings.HasPrefix(rel, "..") {
		return "/" + filepath.ToSlash(rel)
	}
	return abs
}

// addBusybox adds a static busybox as /bin/busybox and a link for every
// applet it has. The applet names are read from the binary (it keeps them
// as one NUL-separated list beginning "[\0[[\0"), not by running it, so a
// busybox for another machine works too. /sbin links to bin, so that the
// kernel finds /sbin/modprobe for request_module.
func (s *Spec) addBusybox(t *Tree) error {
	bb := s.busybox()
	if bb == "" {
		return nil
	}
	applets, err := s.applets(bb)
	if err != nil {
		return err
	}
	why := "busybox " + bb
	programs := t.programNames()
	if err := t.HostFile("/bin/busybox", bb, why); err != nil {
		return err
	}
	for _, a := range applets {
		if a == "busybox" || strings.Contains(a, "/") || programs[a] {
			continue // a program of that name was added: it wins, wherever in PATH it is
		}
		if err := t.Symlink("/bin/"+a, "busybox", "applet of "+why); err != nil {
			var ce *ConflictError
			if errors.As(err, &ce) {
				continue // a real program of that name was asked for: it wins
			}
			return err
		}
	}
	switch n := t.nodes["/sbin"]; {
	case n == nil:
		return t.Symlink("/sbin", "bin", "so that /sbin/modprobe reaches busybox")
	case n.file.Type() == cpio.TypeDir && t.nodes["/sbin/modprobe"] == nil:
		return t.Symlink("/sbin/modprobe", "../bin/busybox", "kernel request_module runs /sbin/modprobe")
	}
	return nil
}

// applets returns the applets of busybox bb the image links: every one it
// has, or the spec's applets (and the shell init's). The list is kept in
// the build's cache with bb and recalled while bb is unchanged: reading
// its 2 MB for the list was a tenth of a rebuild that changed one script.
func (s *Spec) applets(bb string) ([]string, error) {
	key := memoKey("applets", bb, s.Applets, s.shellInit())
	var applets []string
	if s.recall("busybox applets", key, &applets) {
		return applets, nil
	}
	applets, err := s.readApplets(bb)
	if err == nil {
		s.keep("busybox applets", key, applets, []string{bb})
	}
	return applets, err
}

// readApplets reads the applet list out of busybox bb.
func (s *Spec) readApplets(bb string) ([]string, error) {
	data, err := os.ReadFile(bb)
	if err != nil {
		return nil, s.errorAt(s.Busybox, "busybox: %v", err)
	}
	if ef, err := elf.NewFile(bytes.NewReader(data)); err != nil {
		return nil, s.errorAt(s.Busybox, "busybox %s: %v", bb, err)
	} else {
		for _, p := range ef.Progs {
			if p.Type == elf.PT_INTERP {
				return nil, s.errorAt(s.Busybox, "busybox %s is dynamically linked; use a static one (Debian: busybox-static)", bb)
			}
		}
	}
	applets := appletNames(data)
	if len(applets) == 0 {
		return nil, s.errorAt(s.Busybox, "busybox %s: no applet list found in the binary", bb)
	}
	if len(s.Applets) > 0 {
		want := s.Applets
		if s.shellInit() {
			want = append(slices.Clone(want), shellInitApplets...)
		}
		if applets, err = pickApplets(applets, want); err != nil {
			return nil, s.errorAt(s.Busybox, "busybox %s: %v", bb, err)
		}
	}
	return applets, nil
}

// pathDirs are the directories of the PATH the inits give their programs.
var pathDirs = []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}

// programNames returns the names of what the tree holds in a PATH
// directory (after the tree's symlinks, so /bin of a merged /usr counts).
func (t *Tree) programNames() map[string]bool {
	dirs := map[string]bool{}
	for _, d := range pathDirs {
		if p, ok := t.lookup(d + "/x"); ok {
			dirs[path.Dir(p)] = true
		}
	}
	names := map[string]bool{}
	for p, n := range t.nodes {
		if dirs[path.Dir(p)] && n.file.Type() != cpio.TypeDir {
			names[path.Base(p)] = true
		}
	}
	return names
}

// shellInitApplets are the commands the generated shell init runs, linked
// whatever the spec's applets say.
var shellInitApplets = []string{"sh", "cat", "findfs", "insmod", "ls", "mkdir", "mount", "sleep", "switch_root", "tr", "uname", "usleep"}

// pickApplets returns want, sorted and without repeats, or an error naming
// the applets of want that have lacks.
func pickApplets(have, want []string) ([]string, error) {
	var missing []string
	for _, a := range want {
		if !slices.Contains(have, a) {
			missing = append(missing, a)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("no applet %s", strings.Join(missing, ", "))
	}
	want = slices.Clone(want)
	slices.Sort(want)
	return slices.Compact(want), nil
}

// busybox returns the busybox to use: the spec's, or the host's static one
// when the shell init needs one and none was named.
// BusyboxPath is the busybox the image gets: Busybox, else the host's
// /bin/busybox for the shell init; "" for none.
func (s *Spec) BusyboxPath() string { return s.busybox() }

func (s *Spec) busybox() string {
	if s.Busybox != "" || !s.shellInit() {
		return s.Busybox
	}
	if _, err := os.Stat("/bin/busybox"); err == nil {
		return "/bin/busybox"
	}
	return ""
}

func (s *Spec) shellInit() bool { return s.Init == "shell" }

func appletNames(bin []byte) []string {
	i := bytes.Index(bin, []byte("[\x00[[\x00"))
	if i < 0 {
		return nil
	}
	var out []string
	for _, name := range bytes.Split(bin[i:], []byte{0}) {
		if len(name) == 0 {
			break
		}
		out = append(out, string(name))
	}
	return out
}

func (s *Spec) addTrees(t *Tree) error {
	for _, tr := range s.Trees {
		src, dst, _ := strings.Cut(tr, ":")
		if dst == "" {
			dst = "/"
		}
		files, err := image.FilesFromDir(src)
		if err != nil {
			return s.errorAt(tr, "tree: %v", err)
		}
		for _, f := range files {
			if f.Source != "" && slices.Contains(s.TreeSkip, f.Source) {
				continue
			}
			f.UID, f.GID = 0, 0
			if err := t.add(path.Join(dst, f.Name), f, "tree "+src); err != nil {
				return s.errorAt(tr, "tree: %v", err)
			}
		}
	}
	return nil
}

// addModules adds the modules asked for with their dependencies under
// /lib/modules/RELEASE, decompressed unless the kernel can do it itself,
// their firmware when present, the subset of modules.dep and modules.alias
// that covers them, modules.builtin, and guest.LoadList: the load order.
// NetDrivers are the Ethernet drivers network = true ships, when the
// kernel has them as modules: QEMU's NICs (virtio-net, e1000, e1000e,
// rtl8139, ne2k_pci; virtio_pci too, the bus virtio-net's device appears
// on) and the common ones of hardware and clouds.
var NetDrivers = []string{"virtio_pci", "virtio_net", "e1000", "e1000e", "8139cp", "8139too", "ne2k-pci", "igb", "ixgbe", "ena", "gve", "vmxnet3", "hv_netvsc", "r8169", "tg3", "bnx2"}

// DiskDrivers are the disk drivers an image with storage (a root on LUKS,
// LVM or md, on a disk) ships when the kernel has them as modules,
// loaded when their device is there: QEMU's disks (virtio-blk on
// virtio-pci, NVMe, AHCI, virtio-scsi) and those of clouds.
var DiskDrivers = []string{"virtio_pci", "virtio_blk", "virtio_scsi", "nvme", "ahci", "sd_mod", "xen-blkfront", "hv_storvsc"}

func (s *Spec) addModules(t *Tree) error {
	m := s.Modules
	if len(m.Names)+len(m.Auto) == 0 && !s.Network && len(s.Storage) == 0 {
		return nil
	}
	dir, release, err := s.modulesDir()
	if err != nil {
		return err
	}
	r, err := s.resolveModules(dir, release)
	if err != nil {
		return err
	}
	base := "/lib/modules/" + release
	var load bytes.Buffer
	shipped := map[string]string{}
	for _, mod := range r.Modules {
		rel := mod.Path
		why := "module " + mod.Name + ": " + r.Why[mod.Name]
		src := filepath.Join(dir, mod.Path)
		if plain, compressed := kmod.Uncompressed(rel); r.Decompress && compressed {
			rel = plain
			data, err := kmod.ReadFile(src)
			if err != nil {
				return err
			}
			err = t.Data(base+"/"+rel, data, 0o644, why+" (decompressed)")
			if err != nil {
				return err
			}
		} else if err := t.HostFile(base+"/"+rel, src, why); err != nil {
			return err
		}
		shipped[mod.Name] = rel
		for _, fw := range mod.Firmware {
			if err := s.addFirmware(t, fw, mod.Name); err != nil {
				return err
			}
		}
	}
	for _, mod := range r.Modules {
		if r.AtBoot[mod.Name] {
			fmt.Fprintln(&load, shipped[mod.Name])
		}
	}
	dep, alias := kmod.Metadata(r.Modules, shipped)
	why := "module metadata for " + strings.Join(r.Asked, ", ")
	for name, data := range map[string][]byte{"modules.dep": dep, "modules.alias": alias, guest.LoadList: load.Bytes()} {
		if err := t.Data(base+"/"+name, data, 0o644, why); err != nil {
			return err
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "modules.builtin")); err == nil {
		return t.HostFile(base+"/modules.builtin", filepath.Join(dir, "modules.builtin"), why)
	}
	return nil
}

// modules is the spec's modules resolved: what to ship, why, and which
// to load at boot.
type modules struct {
	Asked      []string // the names and aliases asked for, drivers included
	Modules    []*kmod.Module
	Why        map[string]string
	AtBoot     map[string]bool // the closure of [modules] names; auto modules wait for a device
	Decompress bool            // the kernel cannot load compressed modules
}

// resolveModules resolves the spec's modules in dir. The result is kept
// in the build's cache with every file it read, and recalled while none
// of them changed.
func (s *Spec) resolveModules(dir, release string) (*modules, error) {
	m := s.Modules
	key := memoKey("modules", dir, release, m.Names, m.Auto, s.Network, len(s.Storage) > 0)
	r := &modules{}
	if s.recall("modules", key, r) {
		return r, nil
	}
	ix, err := kmod.Open(dir)
	if err != nil {
		return nil, err
	}
	all := append(append([]string{}, m.Names...), m.Auto...)
	var optional []string
	if s.Network {
		optional = append(optional, NetDrivers...)
	}
	if len(s.Storage) > 0 {
		optional = append(optional, DiskDrivers...)
	}
	for _, d := range optional {
		if m, err := ix.Module(d); err == nil && m != nil && !slices.Contains(all, d) {
			all = append(all, d)
		}
	}
	res, err := ix.Resolve(all...)
	if err != nil {
		return nil, s.errorAt(firstMissing(all), "modules: %v", err)
	}
	r = &modules{Asked: all, Modules: res.Modules, Why: res.Why, AtBoot: map[string]bool{}}
	if len(m.Names) > 0 {
		named, err := ix.Resolve(m.Names...)
		if err != nil {
			return nil, s.errorAt(firstMissing(m.Names), "modules: %v", err)
		}
		for _, mod := range named.Modules {
			r.AtBoot[mod.Name] = true
		}
	}
	config := kernelConfig(dir, release)
	r.Decompress = !kernelDecompresses(config)
	if read, ok := ix.Read(); ok {
		s.keep("modules", key, r, append(read, config))
	} else if s.cache != nil {
		s.explained = append(s.explained, "modules: resolved, not kept (a modules tree without modules.dep)")
	}
	return r, nil
}

func firstMissing(names []string) string {
	if len(names) > 0 {
		return names[0]
	}
	return ""
}

// modulesDir returns the modules tree and its release: [modules] dir, or
// /lib/modules/RELEASE in the sysroot for [modules] kernel or the running
// kernel's release.
func (s *Spec) modulesDir() (string, string, error) {
	m := s.Modules
	if m.Dir != "" {
		release := m.Kernel
		if release == "" {
			release = filepath.Base(m.Dir)
		}
		return m.Dir, release, nil
	}
	release := m.Kernel
	if release == "" {
		var u unix.Utsname
		if err := unix.Uname(&u); err != nil {
			return "", "", err
		}
		release = unix.ByteSliceToString(u.Release[:])
	}
	dir := filepath.Join(s.Sysroot, "/lib/modules", release)
	if _, err := os.Stat(dir); err != nil {
		return "", "", fmt.Errorf("modules: no %s (give [modules] dir or --modules-dir)", dir)
	}
	return dir, release, nil
}

// kernelConfig is the kernel's config beside the modules tree
// (boot/config-RELEASE, as Debian packages it).
func kernelConfig(modDir, release string) string {
	return filepath.Join(modDir, "..", "..", "..", "boot", "config-"+release)
}

// kernelDecompresses reports whether the kernel's config enables
// CONFIG_MODULE_DECOMPRESS. Without a config the answer is no.
func kernelDecompresses(config string) bool {
	f, err := os.Open(config)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if sc.Text() == "CONFIG_MODULE_DECOMPRESS=y" {
			return true
		}
	}
	return false
}

func (s *Spec) addFirmware(t *Tree, name, mod string) error {
	dir := s.Modules.Firmware
	if dir == "" {
		dir = filepath.Join(s.Sysroot, "/lib/firmware")
	}
	for _, cand := range []string{name, name + ".xz", name + ".zst"} {
		src := filepath.Join(dir, cand)
		if _, err := os.Stat(src); err == nil {
			return t.HostFile("/lib/firmware/"+cand, src, "firmware of module "+mod)
		}
	}
	return nil // firmware for hardware that may not be there: optional
}

// addInit adds /init: the initkit init (the default), the generated shell
// init, or nothing more for a custom one (added with the closure). Both
// of ours get their mount points and /dev/console, which the kernel opens
// for init's stdin, stdout and stderr before running it.
func (s *Spec) addInit(t *Tree) error {
	if s.customInit() || s.Init == "none" {
		return nil
	}
	for _, d := range []string{"/dev", "/proc", "/sys", "/run", guest.NewRoot} {
		if err := t.Dir(d, 0o755, "mount point of the init"); err != nil {
			return err
		}
	}
	if err := t.Node("/dev/console", cpio.TypeChar, 5, 1, 0o600, 0, 0, "console of the init"); err != nil {
		return err
	}
	if s.Init == "shell" {
		if s.busybox() == "" {
			return s.errorAt(s.Init, `the shell init needs busybox: give busybox = "PATH" (a static one; Debian: busybox-static)`)
		}
		return t.Data("/init", shellInit, 0o755, `init = "shell": generated busybox script`)
	}
	bin, err := FindInitFor(s.InitBinary, s.Arch)
	if errors.Is(err, ErrNoInit) {
		err = fmt.Errorf(`init = "initkit" %w, or use init = "shell"`, err)
	}
	if err != nil {
		at := "initkit"
		if s.InitBinary != "" {
			at = s.InitBinary
		}
		return s.errorAt(at, "%v", err)
	}
	return t.HostFile("/init", bin, `init = "initkit": `+bin)
}

// ErrNoInit means that FindInit found no initkit-init program.
var ErrNoInit = errors.New(`needs the initkit-init program: build it (make build puts it beside initkit, or ` +
	`CGO_ENABLED=0 go install github.com/initkit/initkit/cmd/initkit-init@latest) or set INITKIT_INIT`)

// FindInit finds initkit-init: explicit when not empty, else
// $INITKIT_INIT, the directory of the running program, then PATH. It
// checks that the program is static: it runs before any library could be
// found.
func FindInit(explicit string) (string, error) { return FindInitFor(explicit, "") }

// FindInitFor is FindInit for a guest of architecture arch (QEMU's
// names; "" the host's): for another than the host's it finds
// initkit-init-ARCH beside the running program or in PATH, and refuses a
// program of another machine, given or found: the kernel would panic with
// "Failed to execute /init (error -8)".
func FindInitFor(explicit, arch string) (string, error) {
	name, want := "initkit-init", machine.Host()
	if arch != "" && arch != want.Name {
		var ok bool
		if want, ok = machine.Lookup(arch); !ok {
			return "", fmt.Errorf("initkit-init for %s: initkit boots x86_64 and aarch64 guests", arch)
		}
		name = "initkit-init-" + want.Name
	}
	foreign := want != machine.Host()
	cands := []string{explicit, os.Getenv("INITKIT_INIT")}
	if exe, err := os.Executable(); err == nil {
		cands = append(cands, filepath.Join(filepath.Dir(exe), name))
	}
	if p, err := exec.LookPath(name); err == nil {
		cands = append(cands, p)
	}
	for _, c := range cands {
		if c == "" {
			continue
		}
		named := c == explicit || c == os.Getenv("INITKIT_INIT")
		f, err := elf.Open(c)
		if err != nil {
			if named {
				return "", fmt.Errorf("initkit-init %s: %v", c, err)
			}
			continue
		}
		defer f.Close()
		if foreign && f.Machine != want.ELF {
			if c == explicit {
				return "", fmt.Errorf("initkit-init %s is for %s, and the guest is %s: give one built with GOARCH=%s", c, f.Machine, want.Name, want.GOARCH)
			}
			continue // $INITKIT_INIT names the host's
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				return "", fmt.Errorf("initkit-init %s is dynamically linked: build it with CGO_ENABLED=0", c)
			}
		}
		// The program itself goes into the image, not a link to it.
		return filepath.EvalSymlinks(c)
	}
	if foreign {
		return "", fmt.Errorf("needs %s, the initkit init built for %s: make build puts it beside initkit, or build it with CGO_ENABLED=0 GOARCH=%s go build -o %s github.com/initkit/initkit/cmd/initkit-init", name, want.Name, want.GOARCH, name)
	}
	return "", ErrNoInit
}
