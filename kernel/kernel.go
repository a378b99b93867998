// Package kernel obtains bootable Linux kernels and their modules.
//
// On Debian and Ubuntu hosts, Fetch downloads the package that the flavour's
// meta-package (linux-image-cloud-amd64 by default) currently depends on,
// with apt-get download, and unpacks it with dpkg-deb -x: no root, no
// installation, no hard-coded version. The result is cached by package name
// and version, so a second call costs a directory lookup.
package kernel

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/initkit/initkit/internal/cache"
)

// Kernel is an unpacked kernel package.
type Kernel struct {
	Package    string // e.g. linux-image-6.1.0-56-cloud-amd64
	Version    string // package version
	Release    string // uname -r, e.g. 6.1.0-56-cloud-amd64
	Dir        string // where the package is unpacked
	Image      string // the bootable image (vmlinuz)
	ModulesDir string // the /lib/modules/RELEASE tree
}

// DefaultFlavour is the meta-package Fetch follows by default: a small
// kernel that boots fast under QEMU.
const DefaultFlavour = "linux-image-cloud-amd64"

// CacheDir returns $INITKIT_CACHE, or initkit under the user's cache directory.
func CacheDir() (string, error) { return cache.Dir() }

// Fetch returns the kernel that the meta-package flavour depends on, from
// the cache under cacheDir or downloaded into it. Concurrent calls are safe:
// each unpacks into its own directory and the first rename wins. An empty
// cacheDir is CacheDir's.
func Fetch(ctx context.Context, cacheDir, flavour string) (*Kernel, error) {
	if flavour == "" {
		flavour = DefaultFlavour
	}
	if cacheDir == "" {
		var err error
		if cacheDir, err = CacheDir(); err != nil {
			return nil, err
		}
	}
	for _, tool := range []string{"apt-cache", "apt-get", "dpkg-deb"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("kernel fetch needs %s (a Debian or Ubuntu host); elsewhere pass a kernel image with --kernel or $INITKIT_KERNEL", tool)
		}
	}
	if !packageName.MatchString(flavour) {
		// It goes to apt-cache's argv: "-o..." would configure apt.
		return nil, fmt.Errorf("flavour %q is no Debian package name", flavour)
	}
	pkg, err := resolve(ctx, flavour)
	if err != nil {
		return nil, err
	}
	version, err := aptField(ctx, pkg, "Version")
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cacheDir, "kernels", pkg+"_"+version)
	if k, err := open(dir, pkg, version); err == nil {
		return k, nil
	}
	if err := download(ctx, cacheDir, dir, pkg); err != nil {
		return nil, err
	}
	return open(dir, pkg, version)
}

// packageName is what Debian policy (5.6.1) allows a package's name.
var packageName = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)

// flavourHelp ends an error about a flavour: what one is, and where the
// host's are listed.
const flavourHelp = "a flavour is a meta-package such as " + DefaultFlavour + " or linux-image-amd64 (apt-cache search --names-only '^linux-image-' lists them)"

// resolve returns the kernel package a meta-package depends on.
func resolve(ctx context.Context, meta string) (string, error) {
	out, err := run(ctx, "", "apt-cache", "depends", "--no-recommends", "--no-suggests", meta)
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

func aptField(ctx context.Context, pkg, field string) (string, error) {
	out, err := run(ctx, "", "apt-cache", "show", "--no-all-versions", pkg)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, field+": "); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("apt-cache show %s: no %s field", pkg, field)
}

func download(ctx context.Context, cacheDir, dir, pkg string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".fetch-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if _, err := run(ctx, tmp, "apt-get", "download", "-q", pkg); err != nil {
		return err
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, pkg+"_*.deb"))
	if len(debs) != 1 {
		return fmt.Errorf("apt-get download %s left %d packages, want 1", pkg, len(debs))
	}
	root := filepath.Join(tmp, "root")
	if _, err := run(ctx, "", "dpkg-deb", "-x", debs[0], root); err != nil {
		return err
	}
	if err := os.Rename(root, dir); err != nil && !exists(dir) {
		return err
	}
	return nil
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
	return &Kernel{Package: pkg, Version: version, Release: release, Dir: dir, Image: images[0], ModulesDir: mods}, nil
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func run(ctx context.Context, dir, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
		return nil, err
	}
	return out, nil
}

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
