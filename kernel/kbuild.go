package kernel

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/initkit/initkit/internal/atomicfile"
	"github.com/initkit/initkit/internal/git"
	"github.com/initkit/initkit/internal/procgroup"
	"github.com/initkit/initkit/internal/syncbuf"
	"github.com/initkit/initkit/kconfig"
	"github.com/initkit/initkit/symbolize"
)

// Tree is a kernel source tree and the directory it builds into (make
// O=); Obj empty builds in Src.
type Tree struct {
	Src, Obj string
	Arch     string    // x86_64 (default) or arm64
	Log      io.Writer // make's output; discarded when nil
}

func (t Tree) obj() string {
	if t.Obj == "" {
		return t.Src
	}
	return t.Obj
}

func (t Tree) arch() string { return KbuildArch(t.Arch) }

// KbuildArch is Kbuild's name of an architecture: "" is x86_64, and
// aarch64 (QEMU's and initkit boot's name) is arm64.
func KbuildArch(arch string) string {
	switch arch {
	case "":
		return "x86_64"
	case "aarch64":
		return "arm64"
	}
	return arch
}

// ImagePath is the bootable image make builds: bzImage, or arm64's Image.
func (t Tree) ImagePath() string {
	if t.arch() == "arm64" {
		return filepath.Join(t.obj(), "arch", "arm64", "boot", "Image")
	}
	return filepath.Join(t.obj(), "arch", "x86", "boot", "bzImage")
}

// kbuildPath is what a path Kbuild is given may hold: its makefiles
// paste O= and the source path into shell commands and make variables
// unquoted, where a blank splits a path, a backtick or $(...) runs a
// command and a ':' or '#' is make syntax.
var kbuildPath = regexp.MustCompile(`^[A-Za-z0-9/._+,@~=-]+$`)

// checkPath refuses a path Kbuild cannot take as it is.
func checkPath(what, p string) error {
	if !kbuildPath.MatchString(p) {
		return fmt.Errorf("%s %q: Kbuild takes paths of letters, digits and / . _ + , @ ~ = - only (its makefiles paste them into shell commands unquoted)", what, p)
	}
	return nil
}

// check refuses a tree whose paths Kbuild cannot take, before anything
// is written or run.
func (t Tree) check() error {
	// It goes to make as ARCH=, which Kbuild pastes into commands.
	if err := kconfig.CheckArch(t.arch()); err != nil {
		return err
	}
	for what, p := range map[string]string{"the source tree": t.Src, "the build directory (-O)": t.obj()} {
		abs, err := filepath.Abs(p)
		if err != nil {
			return err
		}
		if err := checkPath(what, abs); err != nil {
			return err
		}
	}
	// Before make says "No rule to make target" of a directory that is
	// no kernel tree, or of one that is not there.
	for _, top := range []string{"Kconfig", "Makefile"} {
		if _, err := os.Stat(filepath.Join(t.Src, top)); err != nil {
			return fmt.Errorf("%s: not a kernel source tree (no %s at its top)", t.Src, top)
		}
	}
	return nil
}

// make runs the tree's own make with targets. arm64 is cross-built with
// Debian's aarch64-linux-gnu- toolchain on any other host.
func (t Tree) make(ctx context.Context, args ...string) error {
	if err := t.check(); err != nil {
		return err
	}
	all := []string{"-C", t.Src}
	if t.Obj != "" {
		abs, err := filepath.Abs(t.Obj)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return err
		}
		all = append(all, "O="+abs)
	}
	all = append(all, "ARCH="+t.arch())
	cross := ""
	if t.arch() == "arm64" && runtime.GOARCH != "arm64" {
		cross = "aarch64-linux-gnu-"
		all = append(all, "CROSS_COMPILE="+cross)
	}
	vars, env := t.ccache(cross)
	cmd := exec.CommandContext(ctx, "make", slices.Concat(all, vars, args)...)
	cmd.Env = append(os.Environ(), env...)
	// make runs compilers in children: a cancelled build stops them all.
	procgroup.Own(cmd)
	// SIGTERM first: make then deletes the target it was writing
	// (a half-written object would look up to date to the next build);
	// whatever is left after 10 s is killed.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	out := t.Log
	if out == nil {
		out = io.Discard
	}
	tail := &syncbuf.Buffer{Max: 4096}
	cmd.Stdout, cmd.Stderr = io.MultiWriter(out, tail), io.MultiWriter(out, tail)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("make %s in %s: %w\n%s", strings.Join(args, " "), t.Src, err, strings.TrimSpace(tail.String()))
	}
	return nil
}

// CCacheEnv names the environment variable that turns ccache on for
// builds: the directory it caches in. Unset (or "off"), builds run the
// compiler as they always did: a build directory built once without
// ccache would be built again whole with it, Kbuild seeing every
// command change.
const CCacheEnv = "INITKIT_CCACHE"

// ccache returns what runs the compiler under ccache when CCacheEnv asks
// for it: make's CC and ccache's environment. Kbuild gives the compiler
// absolute paths in the source tree and the build directory; with their
// common parent as ccache's base directory they are hashed relative, so
// that a tree and a build laid out alike elsewhere (each bug workspace's
// linux/ and obj/, a bisect going back to a commit built before)
// compile from the cache. The configuration runs the same way: Kbuild
// records the compiler it was configured with.
func (t Tree) ccache(cross string) (vars, env []string) {
	dir := os.Getenv(CCacheEnv)
	if dir == "" || dir == "off" {
		return nil, nil
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	env = []string{"CCACHE_DIR=" + dir, "CCACHE_NOHASHDIR=true"}
	if base := commonDir(t.Src, t.obj()); base != "/" {
		env = append(env, "CCACHE_BASEDIR="+base)
	}
	return []string{"CC=ccache " + cross + "gcc"}, env
}

// commonDir is the deepest directory holding both a and b, absolute.
func commonDir(a, b string) string {
	a, _ = filepath.Abs(a)
	b, _ = filepath.Abs(b)
	for a != "/" && !strings.HasPrefix(b+"/", a+"/") {
		a = filepath.Dir(a)
	}
	return a
}

// ConfigResult is what Configure did.
type ConfigResult struct {
	Path    string             // the .config
	Added   []kconfig.Purposed // the options set for the purposes, and the dependencies they lacked
	Dropped []kconfig.Purposed // set, but not kept by kconfig (a dependency is missing)
	// Depends says, for each option dropped, what its Kconfig entry
	// depends on and which of it the config lacks.
	Depends map[string][]Dependency
}

// Configure writes OBJ/.config: base (a make target such as tinyconfig or
// defconfig, or a config file kept whole), then what the purposes need,
// resolved by the tree's kconfig (make olddefconfig), as
// scripts/kconfig/merge_config.sh -m does; then the settings, the
// options the user sets (kconfig.Setting, kconfig.Fragment), which
// kconfig resolves the same way. It reports every option it added, with
// why, and those kconfig dropped.
func Configure(ctx context.Context, t Tree, base string, purposes []string, settings ...kconfig.Purposed) (*ConfigResult, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	needs, err := kconfig.Needs(purposes, t.arch())
	if err != nil {
		return nil, err
	}
	if needs, err = kconfig.Merge(needs, settings); err != nil {
		return nil, err
	}
	path := filepath.Join(t.obj(), ".config")
	// A new config makes the last build's manifest a lie until the next
	// build writes one again.
	if err := os.Remove(filepath.Join(t.obj(), ManifestName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if st, err := os.Stat(base); err == nil && !st.IsDir() {
		data, err := os.ReadFile(base)
		if err != nil {
			return nil, err
		}
		// Checked before the build directory's .config is replaced.
		if c, err := kconfig.Parse(bytes.NewReader(data)); err != nil {
			return nil, fmt.Errorf("base config %s: %w", base, err)
		} else if len(c) == 0 {
			return nil, fmt.Errorf("base config %s: no CONFIG_ option in it", base)
		}
		if err := os.MkdirAll(t.obj(), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return nil, err
		}
	} else if err := t.make(ctx, base); err != nil {
		return nil, err
	}
	c, err := kconfig.Read(path)
	if err != nil {
		return nil, err
	}
	res := &ConfigResult{Path: path, Added: c.Apply(needs)}
	if err := atomicfile.Write(path, 0o644, c.Write); err != nil {
		return nil, err
	}
	if err := t.make(ctx, "olddefconfig"); err != nil {
		return nil, err
	}
	if c, err = kconfig.Read(path); err != nil {
		return nil, err
	}
	res.Dropped = c.Missing(needs)
	if len(res.Dropped) > 0 {
		// Once: what the dropped options depend on and lack is set too,
		// and kconfig asked again.
		if err := t.resolve(ctx, c, res); err != nil {
			return nil, err
		}
		if c, err = kconfig.Read(path); err != nil {
			return nil, err
		}
		res.Dropped = c.Missing(needs)
		res.Depends = dependencies(t.Src, names(res.Dropped), c)
	}
	return res, nil
}

// resolve sets the unset symbols the dropped options depend on, reports
// them among the options added, and runs kconfig again.
func (t Tree) resolve(ctx context.Context, c kconfig.Config, res *ConfigResult) error {
	deps := dependencies(t.Src, names(res.Dropped), c)
	var added []kconfig.Purposed
	for _, d := range res.Dropped {
		for _, sym := range resolvable(deps[d.Name]) {
			if c.Value(sym) == "n" {
				c[sym] = "y"
				added = append(added, kconfig.Purposed{Purpose: d.Purpose, Need: kconfig.Need{Name: sym, Value: "y",
					Why: "CONFIG_" + d.Name + " cannot be enabled (" + cmp.Or(d.Why, "asked for by "+d.Purpose) + ")"}})
			}
		}
	}
	if len(added) == 0 {
		return nil
	}
	res.Added = append(res.Added, added...)
	if err := atomicfile.Write(res.Path, 0o644, c.Write); err != nil {
		return err
	}
	return t.make(ctx, "olddefconfig")
}

func names(ps []kconfig.Purposed) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

// Manifest is what Build leaves in the build directory, for every
// command that takes the directory as its kernel.
type Manifest struct {
	Image      string `json:"image"`
	Vmlinux    string `json:"vmlinux"`
	SystemMap  string `json:"system_map"`
	ModulesDir string `json:"modules_dir,omitempty"` // the /lib/modules/RELEASE tree, when MODULES=y
	Release    string `json:"release"`
	Source     string `json:"source"` // the tree built: DWARF names its files by their paths there`
	Arch       string `json:"arch"`
	ConfigHash string `json:"config_sha256"`
	Commit     string `json:"git_commit,omitempty"`
}

// ManifestName is the manifest's file name in the build directory, and
// LogName the make log's.
const (
	ManifestName = "initkit-kernel.json"
	LogName      = "initkit-make.log"
)

// Build builds the image, and the modules when the config has MODULES=y
// (installed under OBJ/initkit-modules), with jobs parallel jobs (0: one
// per core), and writes the manifest.
func Build(ctx context.Context, t Tree, jobs int) (*Manifest, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	// The manifest's paths are absolute: a build made with -O obj is
	// booted from anywhere.
	var err error
	if t.Src, err = filepath.Abs(t.Src); err != nil {
		return nil, err
	}
	if t.Obj != "" {
		if t.Obj, err = filepath.Abs(t.Obj); err != nil {
			return nil, err
		}
	}
	if jobs < 0 {
		return nil, fmt.Errorf("jobs %d: want 1 or more (0: one per core)", jobs)
	}
	if jobs == 0 {
		jobs = runtime.NumCPU()
	}
	c, err := kconfig.Read(filepath.Join(t.obj(), ".config"))
	if err != nil {
		return nil, fmt.Errorf("no config to build with (initkit kernel config makes one): %w", err)
	}
	// A build cut short leaves no manifest: the last one would name an
	// image that no longer matches the config.
	if err := os.Remove(filepath.Join(t.obj(), ManifestName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	// The whole make log is kept beside the build, whatever t.Log shows.
	logf, err := os.Create(filepath.Join(t.obj(), LogName))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	if t.Log != nil {
		t.Log = io.MultiWriter(t.Log, logf)
	} else {
		t.Log = logf
	}
	targets := []string{"-j" + strconv.Itoa(jobs), filepath.Base(t.ImagePath())}
	if c.Value("MODULES") == "y" {
		targets = append(targets, "modules")
	}
	if c.Value("GDB_SCRIPTS") == "y" {
		targets = append(targets, "scripts_gdb") // vmlinux-gdb.py beside vmlinux, for gdb's lx- commands
	}
	if err := t.make(ctx, targets...); err != nil {
		return nil, err
	}
	m := &Manifest{Image: t.ImagePath(), Vmlinux: filepath.Join(t.obj(), "vmlinux"), SystemMap: filepath.Join(t.obj(), "System.map"), Arch: t.arch()}
	if m.Source, err = filepath.Abs(t.Src); err != nil {
		return nil, err
	}
	rel, err := os.ReadFile(filepath.Join(t.obj(), "include", "config", "kernel.release"))
	if err != nil {
		return nil, err
	}
	if m.Release = strings.TrimSpace(string(rel)); !symbolize.ValidRelease(m.Release) {
		return nil, fmt.Errorf("%s: %q is not a kernel release", filepath.Join(t.obj(), "include", "config", "kernel.release"), m.Release)
	}
	if c.Value("MODULES") == "y" {
		staging := filepath.Join(t.obj(), "initkit-modules")
		if err := t.make(ctx, "modules_install", "INSTALL_MOD_PATH="+staging); err != nil {
			return nil, err
		}
		m.ModulesDir = filepath.Join(staging, "lib", "modules", m.Release)
	}
	cfg, err := os.ReadFile(filepath.Join(t.obj(), ".config"))
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(cfg)
	m.ConfigHash = hex.EncodeToString(sum[:])
	if out, err := git.Lines(ctx, t.Src, "rev-parse", "HEAD"); err == nil && len(out) == 1 {
		m.Commit = out[0]
	}
	return m, m.write(filepath.Join(t.obj(), ManifestName))
}

func (m *Manifest) write(path string) error {
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(m)
	})
}

// ReadManifest reads the manifest Build left in dir. A manifest whose
// config_sha256 is not that of dir's .config describes an older build
// (the config changed since, and no build finished): it is an error
// that says so, not a kernel to boot.
func ReadManifest(dir string) (*Manifest, error) {
	p := filepath.Join(dir, ManifestName)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	cfg, err := os.ReadFile(filepath.Join(dir, ".config"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if m.Release != "" && !symbolize.ValidRelease(m.Release) {
		return nil, fmt.Errorf("%s: %q is not a kernel release", p, m.Release)
	}
	if err := m.confined(dir); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if sum := sha256.Sum256(cfg); hex.EncodeToString(sum[:]) != m.ConfigHash {
		return nil, fmt.Errorf("%s: the build is stale: %s/.config changed since it was built (run initkit kernel build)", p, dir)
	}
	return &m, nil
}

// confined checks that the files the manifest names are in dir, the
// build directory: a manifest from elsewhere (a build someone sent)
// would name what initkit then boots, decodes with and reads, and a
// moved build names the files of its old place.
func (m *Manifest) confined(dir string) error {
	root, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return err
	}
	for _, f := range []struct{ key, path string }{{"image", m.Image}, {"vmlinux", m.Vmlinux}, {"system_map", m.SystemMap}, {"modules_dir", m.ModulesDir}} {
		p := f.path
		if p == "" {
			continue
		}
		ok := filepath.IsAbs(p) && (within(root, p) || within(real, p))
		if resolved, err := filepath.EvalSymlinks(p); ok && err == nil {
			ok = within(real, resolved)
		}
		if !ok {
			return fmt.Errorf("its %s %q is not in the build directory %s: a manifest from elsewhere, or a build moved since (run initkit kernel build again)", f.key, p, root)
		}
	}
	return nil
}

// within says whether path is dir or below it, lexically.
func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && filepath.IsLocal(rel)
}

// Embed makes the next Build put an initramfs inside the kernel image:
// sources (gen_init_cpio lists, as initkit build --format list writes
// them, or directories) become CONFIG_INITRAMFS_SOURCE. One image then
// boots with no initrd.
func Embed(ctx context.Context, t Tree, sources ...string) error {
	for i, s := range sources {
		abs, err := filepath.Abs(s)
		if err != nil {
			return err
		}
		if err := checkPath("the initramfs source", abs); err != nil {
			return err
		}
		sources[i] = abs
	}
	path := filepath.Join(t.obj(), ".config")
	c, err := kconfig.Read(path)
	if err != nil {
		return fmt.Errorf("no config to embed the initramfs in (initkit kernel config makes one): %w", err)
	}
	c["INITRAMFS_SOURCE"] = strconv.Quote(strings.Join(sources, " "))
	if err := atomicfile.Write(path, 0o644, c.Write); err != nil {
		return err
	}
	return t.make(ctx, "olddefconfig")
}

// Report writes every option added, with what goes wrong without it, to
// w, and the count to notes; options kconfig dropped are an error that
// names each (on notes, as initkit kernel check names what is missing).
func (r *ConfigResult) Report(w, notes io.Writer) error {
	for _, a := range r.Added {
		fmt.Fprintf(w, "CONFIG_%s=%s (%s)%s\n", a.Name, a.Value, a.Purpose, why(a, ": without it, "))
	}
	if len(r.Dropped) == 0 {
		fmt.Fprintf(notes, "%s: %d options added\n", r.Path, len(r.Added))
		return nil
	}
	var names []string
	for _, d := range r.Dropped {
		fmt.Fprintf(notes, "CONFIG_%s=%s dropped by kconfig (%s)%s\n", d.Name, d.Value, d.Purpose, why(d, ": "))
		for _, dep := range r.Depends[d.Name] {
			if len(dep.Missing) > 0 {
				fmt.Fprintf(notes, "  it depends on %s, and the config has %s\n", dep.Expr, strings.Join(dep.Missing, ", "))
			}
		}
		if p, ok := kconfig.PurposeFor(d.Name); ok && d.Exact {
			fmt.Fprintf(notes, "  --for %s sets it with what it needs\n", p)
		}
		names = append(names, "CONFIG_"+d.Name)
	}
	return fmt.Errorf("%s: kconfig dropped %s: a dependency of theirs is missing, or the tree has no such option (above)", r.Path, strings.Join(names, ", "))
}

// why is a need's reason after sep; an option the user set has none to
// give.
func why(p kconfig.Purposed, sep string) string {
	if p.Exact {
		return ""
	}
	return sep + p.Why
}
