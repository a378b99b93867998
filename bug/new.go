package bug

import (
	"bytes"
	"cmp"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/initkit/initkit/fetch"
	gitcmd "github.com/initkit/initkit/internal/git"
	"github.com/initkit/initkit/kconfig"
	"github.com/initkit/initkit/kernel"
)

// Sources say what a workspace is made from. Each file is a URL (http or
// https) or a local file; those given override what the syzbot bug has.
type Sources struct {
	Syzbot                                       string // a bug's URL or extid
	Config, Repro, Kernel, Vmlinux, Disk, Report string
	// Tree is a kernel git repository a worktree is made of, at Commit
	// (default: the syzbot crash's commit), and built unless NoBuild.
	Tree, Commit string
	NoBuild      bool // configure the build directory, and stop there
}

// Options are how New works.
type Options struct {
	Fetch fetch.Options // bounds, and progress on a terminal
	Log   io.Writer     // what New did, a line each (default: nowhere)
	// Purposes are what the build's config gains over the bug's own
	// (nil: those of the workspace's last build, else boot and exec, what
	// initkit repro's guests need).
	Purposes []string
	// Settings are the user's own options, set after the purposes'
	// (kconfig.Settings; nil: those of the workspace's last build).
	// bisect's builds keep them: they start from the build directory's
	// .config.
	Settings []kconfig.Purposed
	Jobs     int // make -j (default: the cores)
}

// New makes the workspace dir, or brings it up to date: files missing, or
// whose source or content changed, are fetched; the others are kept.
func New(ctx context.Context, dir string, src Sources, o Options) (*Workspace, error) {
	if src.Tree == "" && (src.Commit != "" || src.NoBuild) {
		// Said before anything is made: they would be ignored.
		return nil, errors.New("--commit and --no-build are about the kernel tree: give --tree REPO")
	}
	_, err := os.Lstat(dir)
	created := errors.Is(err, os.ErrNotExist)
	w, err := fill(ctx, dir, src, o)
	if err != nil && created {
		// A workspace this call made and left empty (a source that
		// could not be had) is litter; one with what was fetched
		// before the error is kept, to be brought up to date.
		os.Remove(dir)
	}
	return w, err
}

func fill(ctx context.Context, dir string, src Sources, o Options) (*Workspace, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	w, err := Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		abs, _ := filepath.Abs(dir)
		w, err = &Workspace{Dir: abs}, nil
	}
	if err != nil {
		return nil, err
	}
	if w.Files == nil {
		w.Files = map[string]File{}
	}
	wanted, err := w.sources(ctx, src, o)
	if err != nil {
		return w, err
	}
	for _, role := range []string{Config, Repro, Kernel, Vmlinux, Disk, Report} {
		if wanted[role] == "" {
			continue
		}
		if err := w.ensure(ctx, role, wanted[role], o); err != nil {
			return w, fmt.Errorf("%s: %w", role, err)
		}
		if err := w.Save(); err != nil {
			return w, err
		}
	}
	if src.Tree != "" {
		if err := w.tree(ctx, src, o); err != nil {
			return w, err
		}
	}
	return w, w.Save()
}

// sources returns each role's source: the user's, else the syzbot bug's.
func (w *Workspace) sources(ctx context.Context, src Sources, o Options) (map[string]string, error) {
	wanted := map[string]string{Config: src.Config, Repro: src.Repro, Kernel: src.Kernel, Vmlinux: src.Vmlinux, Disk: src.Disk, Report: src.Report}
	if src.Syzbot == "" {
		return wanted, nil
	}
	page, err := SyzbotPage(src.Syzbot)
	if err != nil {
		return nil, err
	}
	b, err := FetchSyzbot(ctx, cmp.Or(o.Fetch.Client, http.DefaultClient), page)
	if err != nil {
		return nil, err
	}
	w.Syzbot, w.Title = page, b.Title
	if w.Tree == nil && b.Crash.SourceCommit != "" {
		w.Tree = &Tree{Commit: b.Crash.SourceCommit}
	}
	fmt.Fprintf(o.Log, "syzbot: %s\n", b.Title)
	syz := map[string]string{Config: b.Crash.KernelConfig, Repro: cmp.Or(b.Crash.CRepro, b.Crash.SyzRepro),
		Kernel: b.Assets[Kernel], Vmlinux: b.Assets[Vmlinux], Disk: b.Assets[Disk], Report: b.Crash.Report}
	for role, s := range syz {
		wanted[role] = cmp.Or(wanted[role], s)
	}
	if src.Repro == "" && b.Crash.CRepro == "" && b.Crash.SyzRepro != "" {
		wanted[Repro] = "syz:" + b.Crash.SyzRepro // stored as repro.syz
	}
	return wanted, nil
}

// ensure makes the file of a role the one source names.
func (w *Workspace) ensure(ctx context.Context, role, source string, o Options) error {
	name := fileNames[role]
	if role == Repro {
		name = "repro.c"
		if s, ok := strings.CutPrefix(source, "syz:"); ok {
			source, name = s, "repro.syz"
		} else if strings.HasSuffix(fetch.URLPath(source), ".syz") {
			name = "repro.syz"
		}
	}
	remote := strings.HasPrefix(source, "http://") || strings.HasPrefix(source, "https://")
	id := source
	if !remote {
		if strings.Contains(source, "://") {
			return fmt.Errorf("%s: only http(s) URLs and local files are fetched", source)
		}
		abs, err := filepath.Abs(source)
		if err != nil {
			return err
		}
		source, id = abs, "file://"+abs
	}
	dest := filepath.Join(w.Dir, name)
	if old, ok := w.Files[role]; ok && old.URL == id && old.Name == name && w.intact(old) && (remote || sameSource(source, old)) {
		fmt.Fprintf(o.Log, "%s: up to date (%s)\n", role, name)
		return nil
	}
	var f fetch.File
	var err error
	fo := o.Fetch
	fo.Check = checks[role]
	if remote {
		f, err = fetch.Get(ctx, source, dest, fo)
	} else {
		f, err = fetch.Copy(source, dest, fo)
		f.URL = id
	}
	if err != nil {
		return err
	}
	if old, ok := w.Files[role]; ok && old.Name != name {
		os.Remove(filepath.Join(w.Dir, old.Name)) // repro.c replaced by repro.syz
	}
	w.Files[role] = File{Name: name, File: f}
	fmt.Fprintf(o.Log, "%s: %s from %s (%d bytes, sha256 %s)\n", role, name, f.URL, f.Size, f.SHA256[:16])
	return nil
}

// checks are what the file of a role must be, checked before it
// replaces the workspace's: a file given for another role, or an HTML
// error page a server sent with 200, is refused where it would fail a
// build or a boot later, far from its cause.
var checks = map[string]func(string) error{
	Config:  isConfig,
	Kernel:  kernel.Bootable,
	Vmlinux: isVmlinux,
	Repro:   text("a C or syz reproducer", " (a program runs with initkit repro --repro FILE)"),
	Disk:    func(path string) error { return notHTML(path, "a disk image") },
	Report:  text("a crash report", ""),
}

// notHTML refuses an HTML page given as what a role wants: an error
// page, or a sign-in page, that a server sent with 200.
func notHTML(path, what string) error {
	head, err := fileHead(path, 512)
	if err != nil {
		return err
	}
	h := bytes.ToLower(bytes.TrimSpace(head))
	if bytes.HasPrefix(h, []byte("<!doctype html")) || bytes.HasPrefix(h, []byte("<html")) {
		return errors.New("an HTML page, not " + what)
	}
	return nil
}

// fileHead is the first n bytes of the file at path, or all of a
// shorter one.
func fileHead(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	head := make([]byte, n)
	got, err := io.ReadFull(f, head)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return nil, err
	}
	return head[:got], nil
}

// isConfig refuses what is no kernel config: a line that is neither a
// comment nor CONFIG_NAME=VALUE, or no option at all.
func isConfig(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	c, err := kconfig.Parse(f)
	if err == nil && len(c) == 0 {
		err = errors.New("no CONFIG_ option in it: not a kernel config")
	}
	return err
}

// isVmlinux refuses what is no ELF file with a .text section.
func isVmlinux(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("not a vmlinux: %w", err)
	}
	defer f.Close()
	if f.Section(".text") == nil {
		return errors.New("an ELF file with no .text section: not a vmlinux")
	}
	return nil
}

// text refuses a file given as what (a reproducer, a crash report) that
// is no text: a NUL in its first 64 KB (hint says what to do with a
// program), or an HTML page, a sign-in page a server sent with 200.
func text(what, hint string) func(string) error {
	return func(path string) error {
		head, err := fileHead(path, 64<<10)
		if err != nil {
			return err
		}
		if i := bytes.IndexByte(head, 0); i >= 0 {
			return fmt.Errorf("a NUL byte at offset %d: not %s%s", i, what, hint)
		}
		return notHTML(path, what)
	}
}

// intact says the file on disk is the one recorded.
func (w *Workspace) intact(f File) bool {
	sum, _, err := fetch.Hash(filepath.Join(w.Dir, f.Name))
	return err == nil && sum == f.SHA256
}

// sameSource says a local source still holds what was copied from it
// (compressed sources are copied again: their hash is the inflated one).
func sameSource(path string, f File) bool {
	if f.Compression != "" {
		return false
	}
	sum, _, err := fetch.Hash(path)
	return err == nil && sum == f.SHA256
}

// tree makes the worktree of src.Tree at the commit, and builds it with
// the bug's config as base.
func (w *Workspace) tree(ctx context.Context, src Sources, o Options) error {
	commit := src.Commit
	if commit == "" && w.Tree != nil {
		commit = w.Tree.Commit
	}
	if commit == "" {
		return fmt.Errorf("--tree %s: which commit? (--commit, or a syzbot bug that names one)", src.Tree)
	}
	if strings.HasPrefix(commit, "-") || strings.ContainsAny(commit, " \t\n") {
		return fmt.Errorf("--commit %q: not a commit", commit)
	}
	repo, err := filepath.Abs(src.Tree)
	if err != nil {
		return err
	}
	full, err := git(ctx, repo, "rev-parse", "--verify", "--end-of-options", commit+"^{commit}")
	if err != nil {
		return fmt.Errorf("--tree %s: %w", src.Tree, err)
	}
	wt := filepath.Join(w.Dir, Worktree)
	if _, err := os.Stat(wt); errors.Is(err, os.ErrNotExist) {
		if _, err := git(ctx, repo, "worktree", "add", "--detach", wt, full); err != nil {
			return err
		}
		fmt.Fprintf(o.Log, "tree: worktree %s of %s at %s\n", wt, repo, full[:12])
	} else if head, err := git(ctx, wt, "rev-parse", "HEAD"); err != nil || head != full {
		return fmt.Errorf("%s is at %s, not %s: remove it, or check %s out there", wt, cmp.Or(head, "no commit"), full[:12], commit)
	}
	config := ""
	if f, ok := w.Files[Config]; ok {
		config = f.SHA256
	}
	next := &Tree{Repo: repo, Commit: full, Config: config}
	if err := next.gains(w.Tree, &o); err != nil {
		return err
	}
	done := w.Tree != nil && w.Tree.Commit == full && w.Tree.Config == config &&
		slices.Equal(purposes(w.Tree.Purposes), next.Purposes) && slices.Equal(w.Tree.Settings, next.Settings)
	if done && (w.Tree.Built || src.NoBuild) {
		return nil
	}
	w.Tree = next
	return w.build(ctx, src.NoBuild, o)
}

// purposes are p, or by default what initkit repro's guests need.
func purposes(p []string) []string {
	if len(p) == 0 {
		return []string{"boot", "exec"}
	}
	return p
}

// gains sets the purposes and settings t's build gains over the bug's
// config: o's, else those of the build before (prev), else the default;
// o is given them too.
func (t *Tree) gains(prev *Tree, o *Options) error {
	if o.Purposes == nil && prev != nil {
		o.Purposes = prev.Purposes
	}
	o.Purposes = purposes(o.Purposes)
	if o.Settings == nil && prev != nil {
		for _, s := range prev.Settings {
			p, err := kconfig.Setting(s)
			if err != nil {
				return fmt.Errorf("%s: tree.settings: %w", ManifestName, err)
			}
			o.Settings = append(o.Settings, p)
		}
	}
	t.Purposes = o.Purposes
	for _, s := range o.Settings {
		t.Settings = append(t.Settings, "CONFIG_"+s.Name+"="+s.Value)
	}
	return nil
}

// build configures the worktree's build directory, and builds it unless
// configOnly.
func (w *Workspace) build(ctx context.Context, configOnly bool, o Options) error {
	t := kernel.Tree{Src: filepath.Join(w.Dir, Worktree), Obj: filepath.Join(w.Dir, BuildDir), Log: o.Log}
	base := w.Path(Config)
	if base == "" {
		base = "defconfig"
	}
	res, err := kernel.Configure(ctx, t, base, purposes(o.Purposes), o.Settings...)
	if err != nil {
		return err
	}
	if err := res.Report(o.Log, o.Log); err != nil || configOnly {
		return err
	}
	if _, err := kernel.Build(ctx, t, o.Jobs); err != nil {
		return err
	}
	w.Tree.Built = true
	return nil
}

// git runs git in dir and returns its output's first line.
func git(ctx context.Context, dir string, args ...string) (string, error) {
	lines, err := gitcmd.Lines(ctx, dir, args...)
	if err != nil || len(lines) == 0 {
		return "", err
	}
	return lines[0], nil
}
