package testenv

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/initkit/initkit/internal/cache"
	"github.com/initkit/initkit/kconfig"
	"github.com/initkit/initkit/kernel"
)

// A TestKernel is a kernel the VM tests boot that initkit builds itself,
// from linux-source-6.1 over tinyconfig, with initkit kernel config and
// initkit kernel build as a user runs them. Each is built once per
// machine into the cache, keyed by all that goes into it; make test
// builds them all before the tests start (make kernels), outside go
// test's timeout, and a test that finds one missing builds it.
type TestKernel struct {
	Name     string
	Arch     string   // x86_64 (default) or arm64
	Purposes []string // initkit kernel config --for
	// From is the kernel whose build directory this one starts as a copy
	// of: with Set or Embed changing a few options, make rebuilds a few
	// files instead of the whole tree (minutes saved on each). Without
	// Purposes, its config is From's with Set, as it is: kernel config
	// is not run (it would set what boot needs again).
	From *TestKernel
	// Set are options set in From's config before the purposes are
	// applied: "VIRTIO_BLK=m", "KALLSYMS=n".
	Set []string
	// Embed is an initkit.toml whose [image] is built into the kernel
	// (kernel build --initramfs); {{busybox}} is the static busybox.
	Embed string
	// Seed builds in a worktree of DevTree instead of the kernel source,
	// into Seed's directory beside it: the seed worktree (SeedWorktree),
	// or Worktree's when it is "bisect" (BisectWorktree).
	Seed     string
	Worktree string
}

// The test kernels. All is the one tinyconfig kernel with every purpose
// the VM tests try on it (kasan is a build of its own and not among
// them); the others change it, or build for another architecture or
// source tree.
var (
	All = &TestKernel{Name: "x86_64-all", Purposes: []string{"boot", "exec", "debug", "dwarf", "kdump", "luks", "lvm", "raid", "net"}}
	// Modules has virtio_blk as a module, which initkit build ships.
	Modules = &TestKernel{Name: "modules", From: All, Set: []string{"VIRTIO_BLK=m"}}
	// Embedded carries its initramfs, and boots with no -initrd.
	Embedded = &TestKernel{Name: "embedded", From: All, Embed: "[image]\nbusybox = \"{{busybox}}\"\napplets = [\"sh\", \"poweroff\"]\ninit = \"init.sh\"\nnodes = [\"/dev/console c 5 1 0600\"]\n"}
	// ARM64 can crash into a dump initkit vmcore reads: kdump gives it
	// the crash core, whose VMCOREINFO the dump is read by.
	ARM64 = &TestKernel{Name: "arm64", Arch: "arm64", Purposes: []string{"boot", "kdump"}}
	// SeedDebug and SeedDwarf are built in the seed worktree, where a
	// test commits a bug and rebuilds: with the symbol table, and
	// without it (bare addresses in an oops) nor eventfd, which the Go
	// runtime of the initkit init needs: each option is one nearly
	// every file depends on, and one build serves both.
	SeedDebug = &TestKernel{Name: "seed-debug", Seed: "obj-debug", Purposes: []string{"debug"}}
	SeedDwarf = &TestKernel{Name: "seed-dwarf", Seed: "obj-dwarf", From: SeedDebug, Set: []string{"KALLSYMS=n", "EVENTFD=n"}}
	// Bisect is built in the bisect worktree, where TestBisect commits a
	// history and bisects it, rebuilding as it goes.
	Bisect = &TestKernel{Name: "bisect", Seed: "obj-bisect", Worktree: "bisect", Purposes: []string{"exec"}}
)

// TestKernels are every test kernel, in the order make kernels builds
// them: each after the one it starts from.
var TestKernels = []*TestKernel{All, Modules, Embedded, SeedDebug, SeedDwarf, Bisect, ARM64}

// EmbeddedInit is the init script of Embedded's image: it prints
// "embedded-42" and powers off.
const EmbeddedInit = "#!/bin/busybox sh\n/bin/busybox echo \"embedded-$((6*7))\"\n/bin/busybox poweroff -f\n"

// Kernel returns the build of k, building it first when the cache has
// none: its manifest, whose Image is in the build directory.
func (k *TestKernel) Get(t testing.TB) *kernel.Manifest {
	t.Helper()
	m, err := k.Build(nil)
	if err != nil {
		t.Fatalf("test kernel %s: %v", k.Name, err)
	}
	return m
}

// Obj returns the build directory of a manifest's kernel.
func Obj(m *kernel.Manifest) string {
	return filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(m.Image)))) // OBJ/arch/ARCH/boot/IMAGE
}

// Build returns k's build from the cache, or builds it, reporting each
// build on progress (nil: none). Parallel callers, in this process or
// others, wait for one build.
func (k *TestKernel) Build(progress io.Writer) (*kernel.Manifest, error) {
	once, _ := builds.LoadOrStore(k, sync.OnceValues(func() (*kernel.Manifest, error) { return k.build(progress) }))
	return once.(func() (*kernel.Manifest, error))()
}

func (k *TestKernel) arch() string {
	if k.Arch == "" {
		return "x86_64"
	}
	return k.Arch
}

// Dir returns k's build directory, built or not.
func (k *TestKernel) Dir() (string, error) {
	_, obj, err := k.dirs()
	return obj, err
}

// dirs returns the tree k builds from and its build directory, named
// by a key of all that goes into the build.
func (k *TestKernel) dirs() (src, obj string, err error) {
	switch {
	case k.Worktree == "bisect":
		src, err = BisectWorktree()
	case k.Seed != "":
		src, err = SeedWorktree()
	default:
		src, err = sourceOnce()
	}
	if err != nil {
		return "", "", err
	}
	key, err := k.key(src)
	if err != nil {
		return "", "", err
	}
	if k.Seed != "" {
		return src, src + "." + k.Seed + "-" + key, nil
	}
	dir, err := cache.Dir()
	return src, filepath.Join(dir, "kbuild", k.Name+"-"+key), err
}

// key hashes all that goes into k: the source, the options, the image.
func (k *TestKernel) key(src string) (string, error) {
	needs, err := kconfig.Needs(k.Purposes, k.arch())
	if err != nil {
		return "", err
	}
	// The options and their values, not the tables' wording: a reason
	// reworded must not cost a kernel build.
	var opts []string
	for _, n := range needs {
		opts = append(opts, n.Name+"="+n.Value)
	}
	slices.Sort(opts)
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%v\n%v\n%s\n%s\n", src, k.arch(), slices.Compact(opts), k.Set, k.Embed, EmbeddedInit)
	if k.From != nil {
		from, err := k.From.key(src)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "from %s\n", from)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func (k *TestKernel) build(progress io.Writer) (*kernel.Manifest, error) {
	var from *kernel.Manifest
	if k.From != nil {
		var err error
		if from, err = k.From.Build(progress); err != nil {
			return nil, fmt.Errorf("%s, which %s starts from: %w", k.From.Name, k.Name, err)
		}
	}
	src, obj, err := k.dirs()
	if err != nil {
		return nil, err
	}
	unlock, err := lock(obj)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if m, err := kernel.ReadManifest(obj); err == nil {
		return m, nil
	}
	start := time.Now()
	if progress != nil {
		fmt.Fprintf(progress, "building test kernel %s in %s\n", k.Name, obj)
	}
	if k.Worktree == "bisect" {
		// TestBisect leaves the tree at a commit of its history and,
		// stopped during a build, the build directory without its
		// manifest: back to base, and built again where it is.
		if err := Git(src, "checkout", "-q", "-f", "--detach", "base"); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(filepath.Join(obj, ".config")); err != nil || k.Worktree != "bisect" {
		if err := k.configure(src, obj, from); err != nil {
			return nil, err
		}
	}
	m, err := k.make(src, obj, progress)
	if err != nil {
		return nil, fmt.Errorf("%w (log: %s)", err, filepath.Join(obj, kernel.LogName))
	}
	if progress != nil {
		fmt.Fprintf(progress, "built test kernel %s in %v\n", k.Name, time.Since(start).Round(time.Second))
	}
	pruneOld(obj)
	return m, nil
}

// configure writes obj's .config: tinyconfig with the purposes, or From's
// build directory copied with Set changed and the purposes applied.
func (k *TestKernel) configure(src, obj string, from *kernel.Manifest) error {
	base := "tinyconfig"
	os.RemoveAll(obj)
	if from != nil {
		// cp -a keeps the times make compares: only what the changes
		// touch is rebuilt.
		if b, err := command("cp", "-a", Obj(from), obj).CombinedOutput(); err != nil {
			return fmt.Errorf("copy %s: %v\n%s", Obj(from), err, b)
		}
		if err := Relocate(Obj(from), obj); err != nil {
			return err
		}
		c, err := kconfig.Read(filepath.Join(obj, ".config"))
		if err != nil {
			return err
		}
		for _, s := range k.Set {
			name, value, _ := strings.Cut(s, "=")
			c.Apply([]kconfig.Purposed{{Need: kconfig.Need{Name: name, Value: value}}})
		}
		base = filepath.Join(obj, "initkit-test-base.config")
		if len(k.Purposes) == 0 {
			base = filepath.Join(obj, ".config")
		}
		if err := writeConfig(base, c); err != nil || len(k.Purposes) == 0 {
			return err
		}
	}
	purposes := strings.Join(append([]string{"boot"}, k.Purposes...), ",")
	out, err := initkit("kernel", "config", src, "-O", obj, "--arch", k.arch(), "--base", base, "--for", purposes)
	if err != nil {
		return fmt.Errorf("kernel config: %v\n%s", err, out)
	}
	if strings.Contains(out, "dropped") {
		return fmt.Errorf("kernel config dropped options:\n%s", out)
	}
	return nil
}

// make runs initkit kernel build, with the image of Embed built in.
func (k *TestKernel) make(src, obj string, progress io.Writer) (*kernel.Manifest, error) {
	args := []string{"kernel", "build", src, "-O", obj, "--arch", k.arch()}
	if k.Embed != "" {
		spec, err := k.embedSpec(obj)
		if err != nil {
			return nil, err
		}
		args = append(args, "--initramfs", spec)
	}
	if err := initkitProgress(progress, k.Name, args...); err != nil {
		return nil, fmt.Errorf("kernel build: %v", err)
	}
	return kernel.ReadManifest(obj)
}

// embedSpec writes Embed's spec and init script into dir.
func (k *TestKernel) embedSpec(dir string) (string, error) {
	busybox, err := findBusybox()
	if err != nil {
		return "", err
	}
	spec := filepath.Join(dir, "initkit-test-embed", "initkit.toml")
	if err := os.MkdirAll(filepath.Dir(spec), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(spec), "init.sh"), []byte(EmbeddedInit), 0o755); err != nil {
		return "", err
	}
	return spec, os.WriteFile(spec, []byte(strings.ReplaceAll(k.Embed, "{{busybox}}", busybox)), 0o644)
}

func writeConfig(path string, c kconfig.Config) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := c.Write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Initkit returns cmd/initkit built once, with the initkit-init it boots
// beside it, and initkit-init-aarch64, as make build lays them out.
var Initkit = sync.OnceValues(func() (string, error) {
	dir, err := tempDir("initkit-test-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "initkit")
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(file), "..", "..", "cmd", "initkit")
	if out, err := exec.Command("go", "build", "-o", bin, src).CombinedOutput(); err != nil {
		return "", fmt.Errorf("build initkit: %v\n%s", err, out)
	}
	init, err := BuildInitOnce()
	if err != nil {
		return "", err
	}
	if err := buildInitFor(filepath.Join(dir, "initkit-init-aarch64"), "arm64"); err != nil {
		return "", err
	}
	return bin, os.Symlink(init, filepath.Join(dir, "initkit-init"))
})

// initkit runs the initkit CLI and returns its output.
func initkit(args ...string) (string, error) {
	bin, err := Initkit()
	if err != nil {
		return "", err
	}
	out, err := command(bin, args...).CombinedOutput()
	return string(out), err
}

// initkitProgress runs the initkit CLI, and every 30 s says on progress
// (when not nil) how long it has run and the last line it wrote: a kernel
// build takes minutes, and make kernels must not look stuck. The output's
// tail is in the error.
func initkitProgress(progress io.Writer, name string, args ...string) error {
	bin, err := Initkit()
	if err != nil {
		return err
	}
	var out tailBuffer
	cmd := command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	start := time.Now()
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("%v\n%s", err, out.String())
			}
			return nil
		case <-tick.C:
			if progress != nil {
				fmt.Fprintf(progress, "  %s: %v: %s\n", name, time.Since(start).Round(time.Second), out.last())
			}
		}
	}
}

// tailBuffer keeps the last 8 KiB written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > 8<<10 {
		b.buf = b.buf[len(b.buf)-8<<10:]
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// last returns the last complete line written.
func (b *tailBuffer) last() string {
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// Relocate makes a copy of the build directory from, at to, build as
// from would: objtool's build (tools/objtool) records its commands with
// absolute paths, and a changed command rebuilds objtool, which every
// object file depends on: the whole kernel would be built again. Its
// command files are rewritten for the new place, their times kept.
func Relocate(from, to string) error {
	return filepath.WalkDir(filepath.Join(to, "tools", "objtool"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(p, ".cmd") || strings.HasSuffix(p, ".d")) {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(b, []byte(from)) {
			return err
		}
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		if err := os.WriteFile(p, bytes.ReplaceAll(b, []byte(from), []byte(to)), st.Mode()); err != nil {
			return err
		}
		return os.Chtimes(p, st.ModTime(), st.ModTime())
	})
}
