// Package apt downloads Debian packages as the user, without installing
// them: apt-cache and apt-get download with the host's own package lists
// for the host's architecture, and for another (arm64 on an amd64 host)
// with that architecture's lists, kept under initkit's cache. apt-get
// update then runs as the user, into a directory of the user's: no root,
// no dpkg --add-architecture, and the host's apt state untouched.
package apt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/initkit/initkit/internal/atomicfile"
)

// Apt runs apt-cache and apt-get for one Debian architecture.
type Apt struct {
	opts []string // -o settings for a foreign architecture
	dir  string   // where its lists and downloads are kept
}

// ListsMaxAge is how long a foreign architecture's package lists are used
// before apt-get update refreshes them: the archive moves on, and a
// download of a package it dropped fails (Download then refreshes at once).
const ListsMaxAge = 6 * time.Hour

// PackageName is what Debian policy (5.6.1) allows a package's name: a
// name goes to apt's argv, where "-o..." would configure apt.
var PackageName = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)

// versionRE is what Debian policy (5.6.12) allows a version: an epoch,
// then letters, digits and . + ~ - (and : after an epoch).
var versionRE = regexp.MustCompile(`^([0-9]+:)?[0-9A-Za-z.+~:-]+$`)

// ValidVersion says whether v is a Debian version: what apt answers
// becomes a path of the cache, and a repository's answer is no path.
func ValidVersion(v string) bool { return versionRE.MatchString(v) }

// For returns the Apt of the Debian architecture arch ("" the host's),
// its lists under cacheDir/apt/ARCH made or refreshed when needed.
func For(ctx context.Context, cacheDir, arch string) (Apt, error) {
	for _, tool := range []string{"apt-cache", "apt-get", "dpkg-deb"} {
		if _, err := exec.LookPath(tool); err != nil {
			return Apt{}, fmt.Errorf("needs %s (a Debian or Ubuntu host)", tool)
		}
	}
	host, err := Run(ctx, "", "dpkg", "--print-architecture")
	if err != nil {
		return Apt{}, err
	}
	if arch == "" || arch == strings.TrimSpace(string(host)) {
		return Apt{}, nil
	}
	if !PackageName.MatchString(arch) {
		return Apt{}, fmt.Errorf("architecture %q is no Debian architecture", arch)
	}
	dir := filepath.Join(cacheDir, "apt", arch)
	a := Apt{dir: dir, opts: []string{
		"-o", "APT::Architecture=" + arch,
		"-o", "APT::Architectures::=" + arch,
		"-o", "Dir::State::Lists=" + filepath.Join(dir, "lists"),
		"-o", "Dir::Cache=" + filepath.Join(dir, "cache"),
		// The host's installed packages are of its own architecture:
		// none of them bears on what to download.
		"-o", "Dir::State::status=/dev/null",
	}}
	for _, d := range []string{"lists/partial", "cache/archives/partial"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return Apt{}, err
		}
	}
	return a, a.refresh(ctx, false)
}

// refresh runs apt-get update for a foreign architecture when its lists
// are missing, older than ListsMaxAge, or force; one process at a time.
// Lists that exist are kept when the update fails: a fetch works offline
// with what the cache has.
func (a Apt) refresh(ctx context.Context, force bool) error {
	lock, err := os.OpenFile(a.dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return err
	}
	stamp := filepath.Join(a.dir, "updated")
	st, err := os.Stat(stamp)
	if err == nil && !force && time.Since(st.ModTime()) < ListsMaxAge {
		return nil
	}
	if _, uerr := a.Run(ctx, "", "apt-get", "update", "-q"); uerr != nil {
		if err == nil {
			return nil
		}
		return fmt.Errorf("the %s package lists: %w", filepath.Base(a.dir), uerr)
	}
	return os.WriteFile(stamp, nil, 0o644)
}

// Run runs an apt tool (apt-cache, apt-get) with the architecture's
// settings, in dir.
func (a Apt) Run(ctx context.Context, dir, name string, args ...string) ([]byte, error) {
	return Run(ctx, dir, name, append(append([]string(nil), a.opts...), args...)...)
}

// Field is a field of the candidate version of pkg (apt-cache show).
func (a Apt) Field(ctx context.Context, pkg, field string) (string, error) {
	v, err := a.Fields(ctx, pkg, field)
	if err != nil {
		return "", err
	}
	return v[0], nil
}

// Fields are fields of the candidate version of pkg, in the order asked,
// from one apt-cache show (which takes most of a second).
func (a Apt) Fields(ctx context.Context, pkg string, fields ...string) ([]string, error) {
	out, err := a.Run(ctx, "", "apt-cache", "show", "--no-all-versions", pkg)
	if err != nil {
		return nil, err
	}
	vals := make([]string, len(fields))
	for _, line := range strings.Split(string(out), "\n") {
		for i, f := range fields {
			if v, ok := strings.CutPrefix(line, f+": "); ok && vals[i] == "" {
				vals[i] = strings.TrimSpace(v)
			}
		}
	}
	for i, v := range vals {
		if v == "" {
			return nil, fmt.Errorf("apt-cache show %s: no %s field", pkg, fields[i])
		}
	}
	return vals, nil
}

// Download downloads the package pkg into dir and returns its file. For a
// foreign architecture whose lists name a version the archive dropped,
// the lists are refreshed and the download tried again.
func (a Apt) Download(ctx context.Context, dir, pkg string) (string, error) {
	_, err := a.Run(ctx, dir, "apt-get", "download", "-q", pkg)
	if err != nil && a.opts != nil {
		if a.refresh(ctx, true) == nil {
			_, err = a.Run(ctx, dir, "apt-get", "download", "-q", pkg)
		}
	}
	if err != nil {
		return "", err
	}
	debs, _ := filepath.Glob(filepath.Join(dir, pkg+"_*.deb"))
	if len(debs) != 1 {
		return "", fmt.Errorf("apt-get download %s left %d packages, want 1", pkg, len(debs))
	}
	return debs[0], nil
}

// Unpacked returns the directory under cacheDir/debs where pkg's
// candidate version is unpacked (dpkg-deb -x), downloading and unpacking
// it the first time. Which version that is, apt is asked at most every
// ListsMaxAge: a program that boots a guest each run (exec) must not pay
// for apt-cache each time. Concurrent calls are safe: each unpacks into
// its own directory and the first rename wins.
func (a Apt) Unpacked(ctx context.Context, cacheDir, pkg string) (string, error) {
	if !PackageName.MatchString(pkg) {
		return "", fmt.Errorf("%q is no Debian package name", pkg)
	}
	debs := filepath.Join(cacheDir, "debs")
	current := filepath.Join(debs, pkg+"_"+a.arch()+".current")
	if st, err := os.Stat(current); err == nil && time.Since(st.ModTime()) < ListsMaxAge {
		if name, err := os.ReadFile(current); err == nil && filepath.Base(string(name)) == string(name) {
			if dir := filepath.Join(debs, string(name)); exists(dir) {
				return dir, nil
			}
		}
	}
	v, err := a.Fields(ctx, pkg, "Version", "Architecture")
	if err != nil {
		return "", err
	}
	version, arch := v[0], v[1]
	if !ValidVersion(version) || !PackageName.MatchString(arch) {
		return "", fmt.Errorf("%s: version %q, architecture %q: not Debian's", pkg, version, arch)
	}
	name := pkg + "_" + strings.ReplaceAll(version, ":", "%3a") + "_" + arch
	dir := filepath.Join(debs, name)
	if !exists(dir) {
		if err := a.Unpack(ctx, dir, pkg); err != nil {
			return "", err
		}
	}
	return dir, atomicfile.Write(current, 0o644, func(w io.Writer) error {
		_, err := io.WriteString(w, name)
		return err
	})
}

// arch is the architecture a names, "host" for the host's.
func (a Apt) arch() string {
	if a.dir == "" {
		return "host"
	}
	return filepath.Base(a.dir)
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// Unpack downloads pkg and unpacks it as dir, atomically.
func (a Apt) Unpack(ctx context.Context, dir, pkg string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".fetch-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	deb, err := a.Download(ctx, tmp, pkg)
	if err != nil {
		return err
	}
	root := filepath.Join(tmp, "root")
	if _, err := Run(ctx, "", "dpkg-deb", "-x", deb, root); err != nil {
		return err
	}
	if err := os.Rename(root, dir); err != nil {
		if _, serr := os.Stat(dir); serr != nil {
			return err
		}
	}
	return nil
}

// Run runs a program and returns its stdout; its stderr is in the error.
func Run(ctx context.Context, dir, name string, args ...string) ([]byte, error) {
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
