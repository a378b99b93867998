package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/initkit/initkit/internal/cache"
)

// KernelSource is the tarball of Debian's linux-source-6.1, which make
// test installs: the tree the own-kernel tests configure and build.
const KernelSource = "/usr/src/linux-source-6.1.tar.xz"

var (
	sourceOnce = sync.OnceValues(unpackSource)
	devOnce    = sync.OnceValues(func() (string, error) {
		src, err := sourceOnce()
		if err != nil {
			return "", err
		}
		return makeDevTree(src)
	})
	builds     sync.Map // *TestKernel -> its build, once in this process
	seedOnce   = sync.OnceValues(func() (string, error) { return makeWorktree(".worktree-seed") })
	bisectOnce = sync.OnceValues(func() (string, error) { return makeWorktree(".worktree-bisect") })
)

// Source returns the kernel tree unpacked from KernelSource into the
// cache, once per version of the tarball.
func Source(t testing.TB) string {
	t.Helper()
	return must(t, "kernel source", sourceOnce)
}

func unpackSource() (string, error) {
	st, err := os.Stat(KernelSource)
	if err != nil {
		return "", fmt.Errorf("%w (make test installs linux-source-6.1)", err)
	}
	dir, err := cache.Dir()
	if err != nil {
		return "", err
	}
	key := fmt.Sprintf("%d-%d", st.Size(), st.ModTime().Unix())
	out := filepath.Join(dir, "src", "linux-source-6.1-"+key)
	unlock, err := lock(out)
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(out, "Makefile")); err == nil {
		return out, nil
	}
	tmp := out + ".unpacking"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", err
	}
	if b, err := command("tar", "-xf", KernelSource, "-C", tmp, "--strip-components=1").CombinedOutput(); err != nil {
		return "", fmt.Errorf("unpack %s: %v\n%s", KernelSource, err, b)
	}
	return out, os.Rename(tmp, out)
}

// lock takes an exclusive lock beside path, for work that parallel tests
// (and parallel test processes) must do once.
func lock(path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// pruneOld removes the builds of the same test kernel under other keys
// (an older source or set of needs): a kernel build is hundreds of
// megabytes.
func pruneOld(obj string) {
	prefix := obj[:strings.LastIndexByte(obj, '-')+1]
	old, _ := filepath.Glob(prefix + "*")
	for _, o := range old {
		if o != obj && o != obj+".lock" && len(o) == len(obj) {
			os.RemoveAll(o)
			os.Remove(o + ".lock")
		}
	}
}

// DevTree returns a git repository of Source with one commit, tagged
// base, made once per machine in the cache: the tree a kernel developer
// works in, for the tests that commit to it in a worktree.
func DevTree(t testing.TB) string {
	t.Helper()
	return must(t, "kernel git tree", devOnce)
}

func makeDevTree(src string) (string, error) {
	out := src + ".git-tree"
	unlock, err := lock(out)
	if err != nil {
		return "", err
	}
	defer unlock()
	if err := Git(out, "rev-parse", "-q", "--verify", "base"); err == nil {
		return out, nil
	}
	os.RemoveAll(out)
	tmp := out + ".making"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", err
	}
	if b, err := command("cp", "-a", src+"/.", tmp).CombinedOutput(); err != nil {
		return "", fmt.Errorf("copy %s: %v\n%s", src, err, b)
	}
	// Debian's linux-source ignores everything at its top level (its
	// packaging's .gitignore): add by force.
	for _, args := range [][]string{{"init", "-q"}, {"add", "-f", "-A", "."}, {"commit", "-q", "-m", "linux-source-6.1"}, {"tag", "base"}} {
		if err := Git(tmp, args...); err != nil {
			return "", err
		}
	}
	return out, os.Rename(tmp, out)
}

// SeedWorktree returns a git worktree of DevTree at its base, made once
// per machine: the tree TestSeedNullDereference commits a bug to and
// rebuilds (SeedDebug and SeedDwarf are built in it).
func SeedWorktree() (string, error) { return seedOnce() }

// BisectWorktree returns another worktree of DevTree, made once per
// machine: TestBisect commits its history there and bisects it in
// Bisect's build directory.
func BisectWorktree() (string, error) { return bisectOnce() }

// makeWorktree makes the worktree of DevTree at base named dev+suffix.
func makeWorktree(suffix string) (string, error) {
	dev, err := devOnce()
	if err != nil {
		return "", err
	}
	wt := dev + suffix
	unlock, err := lock(wt)
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(wt, "Makefile")); err == nil {
		return wt, nil
	}
	os.RemoveAll(wt)
	Git(dev, "worktree", "prune")
	return wt, Git(dev, "worktree", "add", "-q", "--detach", wt, "base")
}

// Git runs git in dir as a fixed test identity.
func Git(dir string, args ...string) error {
	cmd := command("git", append([]string{"-C", dir, "-c", "user.email=test@initkit", "-c", "user.name=initkit test"}, args...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("git %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	return nil
}

// command is exec.Command for a child that must not outlive the test
// process: a killed test must not leave a cp or tar writing into the
// cache behind it.
func command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}
