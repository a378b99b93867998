package testenv

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/initkit/initkit/internal/cache"
	"github.com/initkit/initkit/kconfig"
	"github.com/initkit/initkit/kernel"
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
	builds sync.Map // key -> *sync.Once guarding one build in this process
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

// OwnKernel returns a kernel built from Source for arch with the
// purposes' needs over tinyconfig, as initkit kernel config and kernel
// build make it. It is cached under the cache's kbuild/, keyed by the
// source and everything that goes into the config, so make test builds
// each kernel once per machine (a first build takes minutes: see README).
func OwnKernel(t testing.TB, arch string, purposes ...string) *kernel.Manifest {
	t.Helper()
	src := Source(t)
	needs, err := kconfig.Needs(purposes, arch)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\ntinyconfig\n%v\n", src, arch, needs)
	key := hex.EncodeToString(h.Sum(nil))[:16]
	dir, err := cache.Dir()
	if err != nil {
		t.Fatal(err)
	}
	obj := filepath.Join(dir, "kbuild", arch+"-"+strings.Join(purposes, "-")+"-"+key)
	once, _ := builds.LoadOrStore(obj, &sync.Once{})
	var m *kernel.Manifest
	once.(*sync.Once).Do(func() { m, err = buildOwn(src, obj, arch, purposes) })
	if m == nil && err == nil {
		m, err = kernel.ReadManifest(obj)
	}
	if err != nil {
		t.Fatalf("own kernel %s: %v (log: %s)", obj, err, filepath.Join(obj, "initkit-build.log"))
	}
	return m
}

func buildOwn(src, obj, arch string, purposes []string) (*kernel.Manifest, error) {
	unlock, err := lock(obj)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if m, err := kernel.ReadManifest(obj); err == nil {
		return m, nil
	}
	if err := os.MkdirAll(obj, 0o755); err != nil {
		return nil, err
	}
	log, err := os.Create(filepath.Join(obj, "initkit-build.log"))
	if err != nil {
		return nil, err
	}
	defer log.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()
	tree := kernel.Tree{Src: src, Obj: obj, Arch: arch, Log: log}
	res, err := kernel.Configure(ctx, tree, "tinyconfig", purposes)
	if err != nil {
		return nil, err
	}
	if len(res.Dropped) > 0 {
		return nil, fmt.Errorf("kconfig dropped %v", res.Dropped)
	}
	m, err := kernel.Build(ctx, tree, 0)
	if err == nil {
		pruneOld(obj)
	}
	return m, err
}

// pruneOld removes the builds of the same arch and purposes under other
// keys (an older source or set of needs): a kernel build is hundreds of
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
