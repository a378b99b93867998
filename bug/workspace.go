// Package bug keeps a workspace per kernel bug: a directory holding what
// the bug needs to be reproduced and bisected - its kernel config, its
// reproducer, a kernel image and vmlinux, a disk image, a git worktree of
// the kernel at the bug's commit and a build directory for it - and a
// manifest, bug.toml, that says where each file came from and its sha256.
//
// A workspace is made from a syzbot bug (its page's JSON lists each
// crash's config, reproducers and commit; its HTML links the kernel,
// vmlinux and disk images) or from files and URLs given one by one.
// Running it again fetches only what is missing or changed.
package bug

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/initkit/initkit/fetch"
	"github.com/initkit/initkit/internal/atomicfile"
	"github.com/initkit/initkit/kernel"
)

// ManifestName is the workspace's manifest.
const ManifestName = "bug.toml"

// The roles of a workspace's files, and the names they are stored under.
const (
	Config  = "config"
	Repro   = "repro"
	Kernel  = "kernel"
	Vmlinux = "vmlinux"
	Disk    = "disk"
	// Report is the crash report the bug was filed with (syzbot's
	// report.txt): initkit decode reads it with the bug's vmlinux.
	Report = "report"
)

// fileNames are where each role's file lives in the workspace. A
// reproducer is repro.c or repro.syz, as its source says.
var fileNames = map[string]string{Config: "config", Kernel: "bzImage", Vmlinux: "vmlinux", Disk: "disk.raw", Report: "report.txt"}

// Worktree and BuildDir are the kernel tree's worktree and its build
// directory, inside the workspace.
const (
	Worktree = "linux"
	BuildDir = "obj"
)

// Manifest is bug.toml.
type Manifest struct {
	Title  string `toml:"title,omitempty" json:"title,omitempty"`
	Syzbot string `toml:"syzbot,omitempty" json:"syzbot,omitempty"` // the bug's page
	// Files are the workspace's files by role: the name it is stored
	// under, where it came from, its hash.
	Files map[string]File `toml:"files,omitempty" json:"files,omitempty"`
	Tree  *Tree           `toml:"tree,omitempty" json:"tree,omitempty"`
	// Repro is the last reproducer run's result.
	Repro *ReproState `toml:"repro,omitempty" json:"repro,omitempty"`
	// Bisected is the first bad commit a bisect named, when one did.
	Bisected string `toml:"bisected,omitempty" json:"bisected,omitempty"`
}

// File is one of the workspace's files.
type File struct {
	Name string `toml:"name" json:"name"`
	fetch.File
}

// Tree is the kernel tree of the bug.
type Tree struct {
	Repo   string `toml:"repo" json:"repo"`
	Commit string `toml:"commit" json:"commit"`
	// Config is the sha256 of the bug's config the build directory was
	// configured from; Built says it holds a built kernel.
	Config string `toml:"config_sha256,omitempty" json:"config_sha256,omitempty"`
	// Purposes and Settings are what it gained over the config
	// (Options): a later bug new keeps them unless it is given others.
	Purposes []string `toml:"purposes,omitempty" json:"purposes,omitempty"`
	Settings []string `toml:"settings,omitempty" json:"settings,omitempty"` // CONFIG_NAME=VALUE
	Built    bool     `toml:"built" json:"built"`
}

// ReproState is what the last run of the reproducer found.
type ReproState struct {
	Time    time.Time `toml:"time" json:"time"`
	Runs    int       `toml:"runs" json:"runs"`
	Crashes int       `toml:"crashes" json:"crashes"`
	Title   string    `toml:"title,omitempty" json:"title,omitempty"` // the first crash's
}

// Workspace is a bug's directory and its manifest.
type Workspace struct {
	Dir string
	Manifest
}

// Open reads the workspace in dir.
func Open(dir string) (*Workspace, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	w := &Workspace{Dir: abs}
	path := filepath.Join(abs, ManifestName)
	data, err := readManifest(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no bug workspace in %s: %w", dir, errors.Unwrap(err))
	}
	if err != nil {
		return nil, err
	}
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w.Manifest); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			return nil, fmt.Errorf("%s:%d:%d: %v", path, row, col, de)
		}
		var sm *toml.StrictMissingError
		if errors.As(err, &sm) {
			return nil, fmt.Errorf("%s: %s", path, strings.TrimSpace(sm.String()))
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for role, f := range w.Files {
		if f.Name == "" || f.Name != filepath.Base(f.Name) || strings.HasPrefix(f.Name, ".") {
			return nil, fmt.Errorf("%s: files.%s: name %q is not a file of the workspace", path, role, f.Name)
		}
	}
	return w, nil
}

// MaxManifest bounds bug.toml: a few KB is a large one. Every command run
// in or below a workspace reads it (Here), so one that is no manifest
// (a FIFO, a link to /dev/zero) must not hang or fill memory.
const MaxManifest = 1 << 20

func readManifest(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (%s), not a bug workspace's manifest", path, st.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxManifest+1))
	if err == nil && len(data) > MaxManifest {
		err = fmt.Errorf("%s: more than %d bytes, not a bug workspace's manifest", path, MaxManifest)
	}
	return data, err
}

// Find opens the workspace a command names: its one argument, else,
// when here is true, the workspace the working directory is in (Here).
// It is nil when neither.
func Find(args []string, here bool) (*Workspace, error) {
	switch {
	case len(args) > 1:
		return nil, fmt.Errorf("one workspace DIR, not %q", args)
	case len(args) == 1:
		return Open(args[0])
	case here:
		return Here()
	}
	return nil, nil
}

// Here opens the workspace the working directory is in: the nearest
// directory holding bug.toml, itself or above it, as git finds .git. A
// developer works in the bug's kernel worktree (linux/) or in a run's
// directory (repro/TIME) as much as in the workspace itself. It is nil
// when there is none.
func Here() (*Workspace, error) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, nil
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, ManifestName)); err == nil {
			return Open(dir)
		}
		if dir == filepath.Dir(dir) {
			return nil, nil
		}
	}
}

// Save writes bug.toml, atomically.
func (w *Workspace) Save() error {
	data, err := toml.Marshal(w.Manifest)
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(w.Dir, ManifestName), 0o644, func(out io.Writer) error {
		_, err := out.Write(data)
		return err
	})
}

// Path returns the path of the file of a role, or "" when the workspace
// has none.
func (w *Workspace) Path(role string) string {
	f, ok := w.Files[role]
	if !ok {
		return ""
	}
	return filepath.Join(w.Dir, f.Name)
}

// Build returns the build directory when the workspace's tree is built.
func (w *Workspace) Build() string {
	if w.Tree == nil || !w.Tree.Built {
		return ""
	}
	return filepath.Join(w.Dir, BuildDir)
}

// KernelPath is the kernel the workspace boots: its build, else its
// fetched image; "" when it has neither (the usual kernel policy then).
func (w *Workspace) KernelPath() string {
	if b := w.Build(); b != "" {
		return b
	}
	return w.Path(Kernel)
}

// KernelTree is the workspace's kernel worktree and its build directory,
// for initkit kernel build run in the workspace; an error when it has
// none.
func (w *Workspace) KernelTree() (kernel.Tree, error) {
	if w.Tree == nil {
		return kernel.Tree{}, fmt.Errorf("%s: the workspace has no kernel tree (initkit bug new %s --tree REPO makes one)", w.Dir, w.Dir)
	}
	return kernel.Tree{Src: filepath.Join(w.Dir, Worktree), Obj: filepath.Join(w.Dir, BuildDir)}, nil
}

// TreeToBuild is the tree initkit kernel build builds: t with src as its
// source, else the worktree and build directory of the workspace the
// working directory is in (t.Obj, when set, stays), returned too so
// that it is marked built once built; it is nil when t.Obj names
// another build directory than the workspace's.
func TreeToBuild(src string, t kernel.Tree) (kernel.Tree, *Workspace, error) {
	if src != "" {
		t.Src = src
		return t, nil, nil
	}
	w, err := Here()
	if err != nil {
		return t, nil, err
	}
	if w == nil {
		return t, nil, errors.New("no SRC given, and the working directory is in no bug workspace: give the kernel tree to build")
	}
	wt, err := w.KernelTree()
	if err != nil {
		return t, nil, err
	}
	if t.Obj != "" {
		if t.Obj, err = filepath.Abs(t.Obj); err != nil {
			return t, nil, err
		}
	}
	if t.Src, t.Obj = wt.Src, cmp.Or(t.Obj, wt.Obj); t.Obj != wt.Obj {
		w = nil
	}
	return t, w, nil
}

// MarkBuilt records that the build directory holds a build of the tree:
// repro and the kernel policy take it from then on.
func (w *Workspace) MarkBuilt() error {
	w.Tree.Built = true
	return w.Save()
}

// State says how far the workspace is: fetched, built, reproduced (with
// the last result), bisected.
func (w *Workspace) State() string {
	var s []string
	if len(w.Files) > 0 {
		roles := make([]string, 0, len(w.Files))
		for r := range w.Files {
			roles = append(roles, r)
		}
		sort.Strings(roles)
		s = append(s, "fetched "+strings.Join(roles, ","))
	}
	if w.Build() != "" {
		s = append(s, "built")
	}
	if r := w.Repro; r != nil {
		if r.Crashes > 0 {
			s = append(s, fmt.Sprintf("reproduced %d/%d", r.Crashes, r.Runs))
		} else {
			s = append(s, fmt.Sprintf("not reproduced in %d runs", r.Runs))
		}
	}
	if w.Bisected != "" {
		s = append(s, "bisected to "+w.Bisected)
	}
	if len(s) == 0 {
		return "empty"
	}
	return strings.Join(s, "; ")
}

// DefaultRoot is where bug ls looks: $INITKIT_BUGS, else ~/bugs.
func DefaultRoot() string {
	if r := os.Getenv("INITKIT_BUGS"); r != "" {
		return r
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, "bugs")
}

// List returns the workspaces directly under root, by name; a directory
// whose bug.toml does not read is returned with its error.
func List(root string) ([]*Workspace, []error) {
	entries, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // no bug yet: bug new makes the root with the first
	}
	if err != nil {
		return nil, []error{err}
	}
	var out []*Workspace
	var errs []error
	for _, e := range entries {
		dir := filepath.Join(root, e.Name())
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, ManifestName)); err != nil {
			continue
		}
		w, err := Open(dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, w)
	}
	return out, errs
}

// Entry is a workspace as bug ls lists it.
type Entry struct {
	Dir   string `json:"dir"`
	State string `json:"state"`
	Manifest
}

// Entries lists ws for bug ls.
func Entries(ws []*Workspace) []Entry {
	out := []Entry{}
	for _, w := range ws {
		out = append(out, Entry{w.Dir, w.State(), w.Manifest})
	}
	return out
}
