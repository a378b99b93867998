package kernel

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/initkit/initkit/kconfig"
	"github.com/initkit/initkit/symbolize"
)

// Request is what a command was told about the kernel; Choose fills in
// the rest.
type Request struct {
	Kernel     string // a kernel image (--kernel)
	Vmlinux    string // its vmlinux with DWARF (--vmlinux)
	ModulesDir string // its /lib/modules/RELEASE tree (--modules-dir)
	// Spec is the kernel a spec file's [boot] table names, or the bug
	// workspace the working directory is (package spec reads both):
	// taken when neither Kernel nor $INITKIT_KERNEL names one.
	Spec SpecKernel
	// NoFetch makes Choose fail instead of downloading a kernel when it
	// would take the fetched one and the cache has none.
	NoFetch bool
	// Arch is the architecture of the fetched kernel, in QEMU's names,
	// when Choose takes that one ("" the host's): boot --arch aarch64
	// with no kernel named boots Debian's arm64 kernel.
	Arch string
}

// SpecKernel is the kernel of a spec file's [boot] table, its paths
// absolute, and where it was named, for messages.
type SpecKernel struct {
	Kernel, Vmlinux, ModulesDir string
	From                        string // "initkit.toml [boot] kernel"
}

// Choice is the kernel a command works with and what belongs to it.
type Choice struct {
	Image      string // the bootable image
	Vmlinux    string // the vmlinux with DWARF; "" when none was found
	ModulesDir string // the /lib/modules/RELEASE tree; "" when none was found
	Release    string // uname -r of the kernel, when known
	Config     string // the .config it was built with, when found
	Source     string // the source tree of a build directory, when known
	From       string // where Image came from, for messages
	Arch       string // what Image is for, in QEMU's names (ImageArch); "" when it does not say
	// Fetched is the cached kernel package when Image is the fetched one.
	Fetched *Kernel

	config                 kconfig.Config // KernelConfig's answer, read once
	configRead, haveConfig bool
}

// Choose resolves the kernel one policy for every command: the image is
// req.Kernel, else $INITKIT_KERNEL, else the spec file's or the bug
// workspace's (req.Spec),
// else the kernel tree the working directory is when it holds a built
// kernel (a developer decoding in their tree means that tree's vmlinux),
// else the kernel initkit kernel fetch cached (fetched when
// there is none, unless req.NoFetch). The vmlinux and modules are the
// request's when given, else those that belong to that image: the
// fetched package's, or those found beside the image in a distribution's
// layout (/boot/vmlinuz-RELEASE, /lib/modules/RELEASE,
// /usr/lib/debug/boot/vmlinux-RELEASE) or a kernel build tree
// (arch/*/boot/bzImage with vmlinux at the top).
func Choose(ctx context.Context, req Request) (*Choice, error) {
	c := &Choice{Image: req.Kernel, From: "--kernel"}
	if c.Image == "" {
		c.Image, c.From = os.Getenv("INITKIT_KERNEL"), "$INITKIT_KERNEL"
	}
	fromSpec := c.Image == "" && req.Spec.Kernel != ""
	if fromSpec {
		c.Image, c.From = req.Spec.Kernel, req.Spec.From
	}
	if wd, err := os.Getwd(); c.Image == "" && err == nil && builtHere() {
		c.Image, c.From = wd, "the kernel tree in the working directory"
	}
	if c.Image == "" {
		k, err := fetched(ctx, req.NoFetch, req.Arch)
		if err != nil {
			return nil, err
		}
		c = k.choice()
	} else if err := c.besideImage(); err != nil {
		return nil, err
	}
	if fromSpec {
		req.Vmlinux, req.ModulesDir = cmp.Or(req.Vmlinux, req.Spec.Vmlinux), cmp.Or(req.ModulesDir, req.Spec.ModulesDir)
	}
	if req.Vmlinux != "" {
		c.Vmlinux = req.Vmlinux
	}
	if req.ModulesDir != "" {
		c.ModulesDir = req.ModulesDir
	}
	c.Arch = ImageArch(c.Image)
	return c, nil
}

// besideImage checks the image and finds its release, vmlinux and modules.
func (c *Choice) besideImage() error {
	st, err := os.Stat(c.Image)
	if err != nil {
		return fmt.Errorf("kernel %s (from %s): %w", c.Image, c.From, errors.Unwrap(err))
	}
	if st.IsDir() {
		return c.buildDir()
	}
	if dir := filepath.Dir(c.Image); unbootableELF(c.Image) && isBuildDir(dir) {
		// The vmlinux of a build directory that QEMU cannot boot: the
		// directory's image boots, the vmlinux decodes.
		c.Image, c.From = dir, c.From+" (its build directory: QEMU cannot boot the vmlinux)"
		return c.buildDir()
	}
	defer func() { c.Config = FindConfig(c.Image) }()
	c.Release = imageRelease(c.Image)
	dir := filepath.Dir(c.Image)
	var vmlinuxes, modules []string
	if c.Release != "" {
		// A distribution's layout, on the host or unpacked under a root.
		root := filepath.Dir(dir)
		vmlinuxes = append(vmlinuxes,
			filepath.Join(root, "usr/lib/debug/boot/vmlinux-"+c.Release),
			filepath.Join(root, "usr/lib/debug/lib/modules", c.Release, "vmlinux"))
		modules = append(modules, filepath.Join(root, "lib/modules", c.Release), filepath.Join(root, "usr/lib/modules", c.Release))
	}
	// A build tree: arch/ARCH/boot/IMAGE, vmlinux at the top.
	if filepath.Base(dir) == "boot" && filepath.Base(filepath.Dir(filepath.Dir(dir))) == "arch" {
		vmlinuxes = append(vmlinuxes, filepath.Join(dir, "../../../vmlinux"))
	}
	vmlinuxes = append(vmlinuxes, filepath.Join(dir, "vmlinux"))
	if isELF(c.Image) {
		// A vmlinux booted (through its PVH entry, or on arm64) is its
		// own vmlinux.
		vmlinuxes = []string{c.Image}
	}
	c.Vmlinux, c.ModulesDir = first(vmlinuxes), first(modules)
	return nil
}

// buildDir takes a kernel build directory (make O=, or the source tree
// built in place) as the kernel: the manifest initkit kernel build left
// there, or the image make leaves in arch/*/boot.
func (c *Choice) buildDir() error {
	dir := c.Image
	m, err := ReadManifest(dir)
	switch {
	case err == nil:
		c.Image, c.Vmlinux, c.ModulesDir, c.Release, c.Source = m.Image, m.Vmlinux, m.ModulesDir, m.Release, m.Source
		c.Config = filepath.Join(dir, ".config")
		return nil
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("kernel %s (from %s): %w", dir, c.From, err)
	}
	img := first([]string{filepath.Join(dir, "arch/x86/boot/bzImage"), filepath.Join(dir, "arch/arm64/boot/Image")})
	if img == "" {
		return fmt.Errorf("kernel %s (from %s) is a directory with no built kernel (no %s, no arch/*/boot image): build it (initkit kernel build), or give the image", dir, c.From, ManifestName)
	}
	c.Image = img
	return c.besideImage()
}

// isELF says whether path is an ELF file.
func isELF(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	magic := make([]byte, 4)
	_, err = io.ReadFull(f, magic)
	return err == nil && string(magic) == "\x7fELF"
}

// isBuildDir says whether dir holds a built kernel buildDir takes: the
// manifest of initkit kernel build, or the image make leaves.
func isBuildDir(dir string) bool {
	return first([]string{filepath.Join(dir, ManifestName), filepath.Join(dir, "arch/x86/boot/bzImage"), filepath.Join(dir, "arch/arm64/boot/Image")}) != ""
}

// Lacks returns what the kernel's config lacks to boot images with
// initkit on arch: its .config, else the config the image carries
// (IKCONFIG); nothing when neither is found. An image that cannot be
// read (it is no initramfs) is the error.
func (c *Choice) Lacks(arch string, images ...string) ([]kconfig.Purposed, error) {
	cfg, ok := c.KernelConfig()
	if !ok {
		return nil, nil
	}
	var imgs []string
	for _, i := range images {
		if i != "" {
			imgs = append(imgs, i)
		}
	}
	return check(cfg, []string{"boot"}, arch, imgs)
}

// KernelConfig is the kernel's config: its .config, else the config the
// image carries (IKCONFIG, and c.Config then says so); false when
// neither is found.
// It is read once: a boot asks for it up to three times (its root, what
// it lacks, kdump's kexec_file_load).
func (c *Choice) KernelConfig() (kconfig.Config, bool) {
	if !c.configRead {
		c.config, c.haveConfig = c.readConfig()
		c.configRead = true
	}
	return c.config, c.haveConfig
}

func (c *Choice) readConfig() (kconfig.Config, bool) {
	cfg, err := kconfig.Read(c.Config)
	if c.Config == "" || err != nil {
		if cfg, err = embeddedConfigCached(c.Image); err != nil {
			return nil, false
		}
		c.Config = c.Image + " (its embedded config)"
	}
	return cfg, true
}

func first(paths []string) string {
	for _, p := range paths {
		if exists(p) {
			return filepath.Clean(p)
		}
	}
	return ""
}

// NeedVmlinux returns the vmlinux, or an error that says how to get one.
func (c *Choice) NeedVmlinux() (string, error) {
	switch {
	case c.Vmlinux != "":
		return c.Vmlinux, nil
	case c.Fetched != nil && c.Fetched.Arch != "" && c.Fetched.Arch != HostArch():
		return "", fmt.Errorf("no vmlinux with DWARF for %s: run initkit kernel fetch --arch %s --debug-info, or give --vmlinux", c.From, c.Fetched.Arch)
	case c.Fetched != nil:
		return "", fmt.Errorf("no vmlinux with DWARF for %s: run initkit kernel fetch --debug-info, or give --vmlinux", c.From)
	}
	return "", fmt.Errorf("no vmlinux with DWARF found for kernel %s (from %s): give --vmlinux", c.Image, c.From)
}

// NeedModules returns the modules tree, or an error that says what to give.
func (c *Choice) NeedModules() (string, error) {
	if c.ModulesDir != "" {
		return c.ModulesDir, nil
	}
	return "", fmt.Errorf("no modules found for kernel %s (from %s): give the /lib/modules/RELEASE tree with --modules-dir", c.Image, c.From)
}

// choice is the fetched kernel k as Choose gives it.
func (k *Kernel) choice() *Choice {
	return &Choice{Image: k.Image, From: "the fetched kernel " + k.Release, Fetched: k,
		Release: k.Release, Vmlinux: k.DebugVmlinux(), ModulesDir: k.ModulesDir, Config: FindConfig(k.Image)}
}

// ForRelease is the kernel to read a dump or a log of release with, which
// names the kernel that wrote it: c, unless c is the fetched kernel a
// command takes when none is named and release is another (an arm64
// guest's, an older kernel's); then the fetched kernel of that release,
// and false when the cache has none.
func (c *Choice) ForRelease(release string) (*Choice, bool) {
	if c.Fetched == nil || release == "" || release == c.Release {
		return c, true
	}
	dir, err := CacheDir()
	if err != nil {
		return c, false
	}
	for _, k := range Cached(dir) {
		if k.Release == release {
			return k.choice(), true
		}
	}
	return c, false
}

// fetched returns the newest cached kernel for arch, read without asking
// apt (a second or more), or fetches one when the cache has none.
func fetched(ctx context.Context, noFetch bool, arch string) (*Kernel, error) {
	dir, err := CacheDir()
	if err != nil {
		return nil, err
	}
	arch, err = fetchArch("", arch)
	if err != nil {
		return nil, err
	}
	for _, k := range Cached(dir) {
		// An image that does not say its architecture is not refused on it.
		if k.Arch == arch || k.Arch == "" {
			return k, nil
		}
	}
	if noFetch {
		return nil, fmt.Errorf("no kernel given and no %s one in the cache: give --kernel, or run initkit kernel fetch --arch %s", arch, arch)
	}
	k, err := Fetch(ctx, dir, "", arch)
	if err != nil {
		return nil, fmt.Errorf("no kernel given and none could be fetched: %w", err)
	}
	return k, nil
}

// imageRelease reads the release from a kernel image: vmlinuz-RELEASE in
// its name, or the kernel_version string of an x86 bzImage's setup
// header (Documentation/x86/boot.rst: "HdrS" at 0x202, the string's
// offset less 0x200 at 0x20e). Either is untrusted, and becomes a path:
// "" unless it is a release (symbolize.ValidRelease).
func imageRelease(path string) string {
	if r := claimedRelease(path); symbolize.ValidRelease(r) {
		return r
	}
	return ""
}

// claimedRelease is what the image's name or header says its release is.
func claimedRelease(path string) string {
	if r, ok := strings.CutPrefix(filepath.Base(path), "vmlinuz-"); ok {
		return r
	}
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	hdr := make([]byte, 0x210)
	if _, err := f.ReadAt(hdr, 0); err != nil || string(hdr[0x202:0x206]) != "HdrS" {
		return ""
	}
	off := int64(hdr[0x20e]) | int64(hdr[0x20f])<<8
	if off == 0 {
		return ""
	}
	s := make([]byte, 128)
	n, _ := f.ReadAt(s, off+0x200)
	s = s[:n]
	if i := bytes.IndexAny(s, " \x00"); i >= 0 {
		s = s[:i]
	}
	return string(s)
}

// builtHere reports whether the working directory is a kernel build: the
// manifest initkit kernel build leaves, or a vmlinux beside the image
// make leaves in arch/*/boot.
func builtHere() bool {
	if exists(ManifestName) {
		return true
	}
	return exists("vmlinux") && (exists("arch/x86/boot/bzImage") || exists("arch/arm64/boot/Image"))
}
