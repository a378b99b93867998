// Package kernel obtains bootable Linux kernels and their modules.
//
// On Debian and Ubuntu hosts, Fetch downloads the package that the flavour's
// meta-package (linux-image-cloud-amd64 by default) currently depends on,
// with apt-get download, and unpacks it with dpkg-deb -x: no root, no
// installation, no hard-coded version. The result is cached by package name
// and version, so a second call costs a directory lookup. A kernel of
// another architecture (arm64 on an amd64 host) comes from that
// architecture's package lists, which Fetch keeps under the cache.
package kernel

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/initkit/initkit/internal/apt"
	"github.com/initkit/initkit/internal/cache"
	"github.com/initkit/initkit/internal/machine"
)

// Kernel is an unpacked kernel package.
type Kernel struct {
	Arch       string // what Image is for, in QEMU's names (ImageArch)
	Package    string // e.g. linux-image-6.1.0-56-cloud-amd64
	Version    string // package version
	Release    string // uname -r, e.g. 6.1.0-56-cloud-amd64
	Dir        string // where the package is unpacked
	Image      string // the bootable image (vmlinuz)
	ModulesDir string // the /lib/modules/RELEASE tree
}

// DefaultFlavour is the meta-package Fetch follows by default on an
// amd64 host: a small kernel that boots fast under QEMU.
const DefaultFlavour = "linux-image-cloud-amd64"

// Flavour is the default flavour for arch (QEMU's names; "" the host's):
// the cloud kernel, built for virtual machines.
func Flavour(arch string) string {
	a, ok := machine.Lookup(arch)
	if !ok {
		a = machine.Host()
	}
	return "linux-image-cloud-" + a.Debian
}

// CacheDir returns $INITKIT_CACHE, or initkit under the user's cache directory.
func CacheDir() (string, error) { return cache.Dir() }

// Fetch returns the kernel that the meta-package flavour depends on, for
// arch (QEMU's names, Kbuild's arm64 too; "" the host's, or the one a
// flavour ending in -arm64 or -amd64 names), from the cache under
// cacheDir or downloaded into it. Concurrent calls are safe: each unpacks
// into its own directory and the first rename wins. An empty cacheDir is
// CacheDir's; an empty flavour is Flavour's.
func Fetch(ctx context.Context, cacheDir, flavour, arch string) (*Kernel, error) {
	arch, err := fetchArch(flavour, arch)
	if err != nil {
		return nil, err
	}
	flavour = cmp.Or(flavour, Flavour(arch))
	if cacheDir == "" {
		if cacheDir, err = CacheDir(); err != nil {
			return nil, err
		}
	}
	if !apt.PackageName.MatchString(flavour) {
		// It goes to apt-cache's argv: "-o..." would configure apt.
		return nil, fmt.Errorf("flavour %q is no Debian package name", flavour)
	}
	m, _ := machine.Lookup(arch)
	a, err := apt.For(ctx, cacheDir, m.Debian)
	if err != nil {
		return nil, fmt.Errorf("kernel fetch %w; elsewhere pass a kernel image with --kernel or $INITKIT_KERNEL", err)
	}
	pkg, err := resolve(ctx, a, flavour)
	if err != nil {
		return nil, err
	}
	version, err := a.Field(ctx, pkg, "Version")
	if err != nil {
		return nil, err
	}
	if !apt.PackageName.MatchString(pkg) || !apt.ValidVersion(version) {
		return nil, fmt.Errorf("flavour %s: apt names %q version %q, not a Debian package", flavour, pkg, version)
	}
	dir := filepath.Join(cacheDir, "kernels", pkg+"_"+version)
	if k, err := open(dir, pkg, version); err == nil {
		return k, nil
	}
	if err := a.Unpack(ctx, dir, pkg); err != nil {
		return nil, err
	}
	return open(dir, pkg, version)
}

// fetchArch settles the architecture of a fetch, in QEMU's names: arch,
// else the one the flavour's name ends in, else the host's.
func fetchArch(flavour, arch string) (string, error) {
	if arch == "" {
		for _, a := range machine.Arches {
			if strings.HasSuffix(flavour, "-"+a.Debian) {
				return a.Name, nil
			}
		}
		return HostArch(), nil
	}
	if a, ok := machine.Lookup(arch); ok {
		return a.Name, nil
	}
	return "", fmt.Errorf("architecture %q: want x86_64 (amd64) or aarch64 (arm64)", arch)
}

// flavourHelp ends an error about a flavour: what one is, and where the
// host's are listed.
const flavourHelp = "a flavour is a meta-package such as " + DefaultFlavour + " or linux-image-amd64 (apt-cache search --names-only '^linux-image-' lists them)"

// resolve returns the kernel package a meta-package depends on.
func resolve(ctx context.Context, a apt.Apt, meta string) (string, error) {
	out, err := a.Run(ctx, "", "apt-cache", "depends", "--no-recommends", "--no-suggests", meta)
	if err != nil {
		return "", fmt.Errorf("flavour %s: apt knows no such package (%w); %s", meta, err, flavourHelp)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == "Depends:" && strings.HasPrefix(f[1], "linux-image-") {
			return f[1], nil
		}
	}
	return "", fmt.Errorf("flavour %s depends on no linux-image- package (if it is a kernel's meta-package, run apt-get update); %s", meta, flavourHelp)
}

func open(dir, pkg, version string) (*Kernel, error) {
	images, _ := filepath.Glob(filepath.Join(dir, "boot", "vmlinuz-*"))
	if len(images) != 1 {
		return nil, fmt.Errorf("%s: want one boot/vmlinuz-*, found %d", dir, len(images))
	}
	release := strings.TrimPrefix(filepath.Base(images[0]), "vmlinuz-")
	mods := filepath.Join(dir, "lib", "modules", release)
	if !exists(mods) {
		mods = filepath.Join(dir, "usr", "lib", "modules", release)
	}
	return &Kernel{Arch: ImageArch(images[0]), Package: pkg, Version: version, Release: release, Dir: dir, Image: images[0], ModulesDir: mods}, nil
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// Cached returns the kernels already in the cache under cacheDir, newest
// first, without asking apt (which takes a second or more): for commands
// that only need a kernel fetched before.
func Cached(cacheDir string) []*Kernel {
	dirs, _ := filepath.Glob(filepath.Join(cacheDir, "kernels", "*_*"))
	var out []*Kernel
	var times []int64
	for _, d := range dirs {
		pkg, version, _ := strings.Cut(filepath.Base(d), "_")
		k, err := open(d, pkg, version)
		if err != nil {
			continue
		}
		st, _ := os.Stat(d)
		out = append(out, k)
		times = append(times, st.ModTime().UnixNano())
	}
	sort.SliceStable(out, func(i, j int) bool { return times[i] > times[j] })
	return out
}
