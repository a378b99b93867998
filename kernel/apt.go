package kernel

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// apt runs apt-cache and apt-get for one Debian architecture: with the
// host's own package lists for the host's, else with that architecture's
// lists, which aptFor keeps under the cache. apt-get update then runs as
// the user, into a directory of the user's: no root, no
// dpkg --add-architecture, and the host's apt state untouched.
type apt struct {
	opts []string // -o settings for a foreign architecture
	dir  string   // where its lists and downloads are kept
}

// listsMaxAge is how long a foreign architecture's package lists are used
// before apt-get update refreshes them: the archive moves on, and a
// download of a package it dropped fails (get then refreshes at once).
const listsMaxAge = 6 * time.Hour

// aptFor returns the apt of the Debian architecture arch ("" the host's),
// its lists under cacheDir/apt/ARCH made or refreshed when needed.
func aptFor(ctx context.Context, cacheDir, arch string) (apt, error) {
	host, err := run(ctx, "", "dpkg", "--print-architecture")
	if err != nil {
		return apt{}, err
	}
	if arch == "" || arch == strings.TrimSpace(string(host)) {
		return apt{}, nil
	}
	dir := filepath.Join(cacheDir, "apt", arch)
	a := apt{dir: dir, opts: []string{
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
			return apt{}, err
		}
	}
	return a, a.refresh(ctx, false)
}

// refresh runs apt-get update for a foreign architecture when its lists
// are missing, older than listsMaxAge, or force; one process at a time.
// Lists that exist are kept when the update fails: a fetch works offline
// with what the cache has.
func (a apt) refresh(ctx context.Context, force bool) error {
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
	if err == nil && !force && time.Since(st.ModTime()) < listsMaxAge {
		return nil
	}
	if _, uerr := a.run(ctx, "", "apt-get", "update", "-q"); uerr != nil {
		if err == nil {
			return nil
		}
		return fmt.Errorf("the %s package lists: %w", filepath.Base(a.dir), uerr)
	}
	return os.WriteFile(stamp, nil, 0o644)
}

// run runs an apt tool with the architecture's settings.
func (a apt) run(ctx context.Context, dir, name string, args ...string) ([]byte, error) {
	return run(ctx, dir, name, append(append([]string(nil), a.opts...), args...)...)
}

// get downloads the package pkg into dir and returns its file. For a
// foreign architecture whose lists name a version the archive dropped,
// the lists are refreshed and the download tried again.
func (a apt) get(ctx context.Context, dir, pkg string) (string, error) {
	_, err := a.run(ctx, dir, "apt-get", "download", "-q", pkg)
	if err != nil && a.opts != nil {
		if a.refresh(ctx, true) == nil {
			_, err = a.run(ctx, dir, "apt-get", "download", "-q", pkg)
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
