package bisect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/initkit/initkit/internal/atomicfile"
	"github.com/initkit/initkit/internal/git"
	"github.com/initkit/initkit/internal/printable"
	"github.com/initkit/initkit/kernel"
	"github.com/initkit/initkit/repro"
)

// Commit is one commit of the range.
type Commit struct {
	Hash    string `json:"hash"`
	Subject string `json:"subject"`
}

// Commits lists good, then the commits from good to bad along bad's
// first parents, bad last.
func Commits(ctx context.Context, tree, good, bad string) ([]Commit, error) {
	for _, c := range []string{good, bad} {
		if strings.HasPrefix(c, "-") || c == "" {
			return nil, fmt.Errorf("%q: not a commit", c)
		}
	}
	first, err := git.Lines(ctx, tree, "log", "-1", "--format=%H %s", "--end-of-options", good)
	if err != nil {
		return nil, err
	}
	rest, err := git.Lines(ctx, tree, "log", "--reverse", "--first-parent", "--format=%H %s", "--end-of-options", good+".."+bad)
	if err != nil {
		return nil, err
	}
	if len(rest) == 0 {
		return nil, fmt.Errorf("%s is not after %s on %s's first parents", bad, good, bad)
	}
	var out []Commit
	for _, l := range append(first, rest...) {
		h, s, _ := strings.Cut(l, " ")
		out = append(out, Commit{h, s})
	}
	return out, nil
}

// Kernel tests commits of a kernel tree: it checks one out, builds it
// incrementally in one build directory (kernel config keeps the
// directory's .config and adds what Purposes need, then kernel build), and
// runs the reproducer with package repro on the build.
type Kernel struct {
	Tree, Obj string
	Commits   []Commit
	Purposes  []string // default boot and exec
	Jobs      int      // make -j (default: the cores)
	// Repro is how each batch runs: the program, the guest, the bounds;
	// Runs, Jobs, Dir and Title are set for each batch.
	Repro repro.Options
	// Title is the crash that counts; nil until the bad end's first
	// crash names it (TitleSeen).
	Title     *regexp.Regexp
	TitleSeen string
	// BugTitle is the title the bug was reported with (its workspace's):
	// a first crash with another is told to Notes.
	BugTitle string
	// Farm, when set, makes each batch's farm (Job.Farm).
	Farm func(ctx context.Context, o repro.Options) (repro.Farm, error)
	// RunsDir holds a directory per batch.
	RunsDir string
	Log     io.Writer // builds' output (nil: only in OBJ's make log)
	Notes   io.Writer // a line per build and per build that failed
}

// Build checks commit i out and builds it; a build that fails is
// ErrUntestable.
func (k *Kernel) Build(ctx context.Context, i int) error {
	if k.Notes != nil {
		fmt.Fprintf(k.Notes, "bisect: building %s %s\n", k.Commits[i].Hash[:12], printable.String(k.Commits[i].Subject))
	}
	// A checkout killed halfway leaves git's index.lock behind, and the
	// next git refuses the tree: it runs to its end, even on Ctrl-C.
	if _, err := git.Lines(context.WithoutCancel(ctx), k.Tree, "checkout", "-q", "--detach", k.Commits[i].Hash); err != nil {
		return err
	}
	t := kernel.Tree{Src: k.Tree, Obj: k.Obj, Log: k.Log}
	config := filepath.Join(k.Obj, ".config")
	base := filepath.Join(k.Obj, "initkit-bisect.config")
	data, err := os.ReadFile(config)
	if err != nil {
		return fmt.Errorf("the build directory has no .config to build with: %w", err)
	}
	if err := atomicfile.Write(base, 0o644, func(w io.Writer) error { _, err := w.Write(data); return err }); err != nil {
		return err
	}
	purposes := k.Purposes
	if len(purposes) == 0 {
		purposes = []string{"boot", "exec"}
	}
	if _, err := kernel.Configure(ctx, t, base, purposes); err != nil {
		return k.untestable(ctx, i, err)
	}
	if _, err := kernel.Build(ctx, t, k.Jobs); err != nil {
		return k.untestable(ctx, i, err)
	}
	return nil
}

func (k *Kernel) untestable(ctx context.Context, i int, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if k.Notes != nil {
		fmt.Fprintf(k.Notes, "bisect: %s is untestable: %s\n", k.Commits[i].Hash[:12], firstError(err.Error()))
	}
	return fmt.Errorf("%w: %v", ErrUntestable, err)
}

// Run runs the reproducer runs times, at once, on the build.
func (k *Kernel) Run(ctx context.Context, i, runs int) (Batch, error) {
	o := k.Repro
	o.Runs, o.Jobs, o.All, o.Title = runs, runs, true, k.Title
	o.Exec.Boot.Chosen = nil
	o.Exec.Boot.Kernel = kernel.Request{Kernel: k.Obj}
	o.Dir = filepath.Join(k.RunsDir, fmt.Sprintf("%s-%d", k.Commits[i].Hash[:12], nextBatch(k.RunsDir, k.Commits[i].Hash[:12])))
	if k.Farm != nil {
		var err error
		if o.Farm, err = k.Farm(ctx, o); err != nil {
			return Batch{}, err
		}
	}
	s, err := repro.Run(ctx, o)
	if err != nil {
		return Batch{}, err
	}
	if ctx.Err() != nil {
		return Batch{}, ctx.Err()
	}
	switch {
	case s.Runs == 0 && s.Counts[repro.NoBoot] > 0:
		return Batch{}, fmt.Errorf("%w: the kernel did not boot", ErrUntestable)
	case s.Counts[repro.Infra] > 0:
		return Batch{}, fmt.Errorf("the infrastructure failed: %s", firstDetail(s))
	}
	b := Batch{Runs: s.Runs, Other: map[string]int{}}
	if k.Title == nil && len(s.Crashes) > 0 {
		// The bad end's first crash names the bug.
		k.TitleSeen = s.Crashes[0].Title
		k.Title = regexp.MustCompile("^" + regexp.QuoteMeta(k.TitleSeen) + "$")
		if k.BugTitle != "" && k.BugTitle != k.TitleSeen && k.Notes != nil {
			fmt.Fprintf(k.Notes, "bisect: the bad end crashed as %q, and the bug was reported as %q: the bisect follows the first (--title to follow another)\n", k.TitleSeen, k.BugTitle)
		}
	}
	for _, c := range s.Crashes {
		if k.Title != nil && k.Title.MatchString(c.Title) {
			b.Crashes += c.Count
			b.Title = c.Title
		} else {
			b.Other[c.Title] += c.Count
		}
	}
	return b, nil
}

func nextBatch(dir, prefix string) int {
	m, _ := filepath.Glob(filepath.Join(dir, prefix+"-*"))
	return len(m) + 1
}

func firstDetail(s *repro.Summary) string {
	for _, r := range s.Results {
		if r.Kind == repro.Infra {
			return r.Detail
		}
	}
	return "?"
}

// Saved is a bisect as it is kept on disk: the range, the title, the
// search's state.
type Saved struct {
	Good    string   `json:"good"`
	Bad     string   `json:"bad"`
	Commits []Commit `json:"commits"`
	Title   string   `json:"title,omitempty"` // the regular expression of the crash that counts
	// Confidence is the probability at which the search stops.
	Confidence float64 `json:"confidence"`
	State      *State  `json:"state"`
}

// ErrNoState is a resume with nothing saved.
var ErrNoState = errors.New("no bisect to resume")

// Load reads a saved bisect.
func Load(path string) (*Saved, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist", ErrNoState, path)
	}
	if err != nil {
		return nil, err
	}
	var s Saved
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if s.State == nil || len(s.State.Obs) != len(s.Commits) || len(s.Commits) < 2 {
		return nil, fmt.Errorf("%s: not a bisect's state", path)
	}
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &s, nil
}

// fullHash is a commit as git log's %H gives it (SHA-1 or SHA-256).
var fullHash = regexp.MustCompile(`^(?:[0-9a-f]{40}|[0-9a-f]{64})$`)

// check refuses a saved bisect that does not hold together. The file is
// in a workspace, which may come from elsewhere: its hashes go to git,
// its numbers index the commits and feed the model.
func (s *Saved) check() error {
	n := len(s.Commits)
	for i, c := range s.Commits {
		if !fullHash.MatchString(c.Hash) {
			return fmt.Errorf("commit %d: %q is not a commit hash", i, c.Hash)
		}
	}
	if !(s.Confidence > 0 && s.Confidence < 1) {
		return fmt.Errorf("confidence %v: want a probability between 0 and 1", s.Confidence)
	}
	if _, err := regexp.Compile(s.Title); err != nil {
		return fmt.Errorf("title: %w", err)
	}
	st := s.State
	if st.Built < -1 || st.Built >= n {
		return fmt.Errorf("built %d: no such commit", st.Built)
	}
	counts := func(runs, crashes int) bool { return runs >= 0 && crashes >= 0 && crashes <= runs }
	for i, o := range st.Obs {
		if !counts(o.Runs, o.Crashes) {
			return fmt.Errorf("commit %d: %d crashes in %d runs", i, o.Crashes, o.Runs)
		}
	}
	for i, step := range st.Steps {
		if step.Commit < 0 || step.Commit >= n || !counts(step.Runs, step.Crashes) {
			return fmt.Errorf("step %d: commit %d, %d crashes in %d runs", i+1, step.Commit, step.Crashes, step.Runs)
		}
		for _, c := range step.Top {
			if c.Commit < 0 || c.Commit >= n || !(c.Probability >= 0 && c.Probability <= 1) {
				return fmt.Errorf("step %d: candidate %d with probability %v", i+1, c.Commit, c.Probability)
			}
		}
	}
	return nil
}

// Save writes a bisect's state, atomically.
func (s *Saved) Save(path string) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, 0o644, func(w io.Writer) error { _, err := w.Write(append(data, '\n')); return err })
}

// Describe says a step in a line: the commit, its runs and crashes, the
// other crashes, and the top candidates.
func (s *Saved) Describe(n int, st Step) string {
	c := s.Commits[st.Commit]
	var b strings.Builder
	fmt.Fprintf(&b, "step %d: %s %s: ", n, c.Hash[:12], printable.String(c.Subject))
	if st.Untestable {
		b.WriteString("untestable")
	} else {
		fmt.Fprintf(&b, "%d runs, %d crashed", st.Runs, st.Crashes)
		for t, n := range st.Other {
			fmt.Fprintf(&b, ", other crash %q x%d", t, n)
		}
	}
	b.WriteString("; top:")
	for _, cand := range st.Top {
		fmt.Fprintf(&b, " %s %.2f", s.Commits[cand.Commit].Hash[:12], cand.Probability)
	}
	return b.String()
}

// Where says where a bisect stands: the first bad commit with its
// probability, or the smallest range that holds the confidence; and the
// runs and builds spent.
func (s *Saved) Where() string {
	st := s.State
	post := st.Posterior()
	k, p := Best(post)
	runs, builds := 0, 0
	for _, step := range st.Steps {
		runs += step.Runs
		if step.Build {
			builds++
		}
	}
	if p >= s.Confidence {
		c := s.Commits[k]
		return fmt.Sprintf("first bad commit: %s %s (probability %.3f), after %d runs and %d builds", c.Hash, printable.String(c.Subject), p, runs, builds)
	}
	lo, hi := Range(post, s.Confidence)
	return fmt.Sprintf("not settled: the first bad commit is in %s..%s with probability %.2f (the best, %s, %.3f), after %d runs and %d builds",
		s.Commits[lo].Hash[:12], s.Commits[hi].Hash[:12], s.Confidence, s.Commits[k].Hash[:12], p, runs, builds)
}

// firstError is the first line of a build's output that says "error",
// else its last line.
func firstError(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for _, l := range lines {
		if strings.Contains(l, "error:") || strings.Contains(l, "Error ") {
			return strings.TrimSpace(l)
		}
	}
	return lines[len(lines)-1]
}
