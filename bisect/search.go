package bisect

import (
	"context"
	"errors"
	"fmt"
	"sort"
)

// Tester builds commits and runs the reproducer on them.
type Tester interface {
	// Build makes commit i the one Run runs; ErrUntestable when it does
	// not build.
	Build(ctx context.Context, i int) error
	// Run runs the reproducer runs times on the commit built and says
	// how many crashed with the bug's title, and the other crashes.
	Run(ctx context.Context, i, runs int) (Batch, error)
}

// Batch is what one batch of runs found.
type Batch struct {
	Runs    int            `json:"runs"`
	Crashes int            `json:"crashes"`
	Other   map[string]int `json:"other,omitempty"` // other crashes, by title: reported, never counted
	// Title is the first matching crash's title.
	Title string `json:"title,omitempty"`
}

// ErrUntestable is a commit that does not build or boot.
var ErrUntestable = errors.New("untestable")

// Options tune a search.
type Options struct {
	Runs       int     // runs per batch (default 1): the cores, for real runs
	Confidence float64 // stop when one commit holds this (default 0.95)
	// BuildCost is a build's cost in batches of runs (default 2).
	BuildCost float64
	MaxRuns   int // give up with the range found after so many runs (default 400)
	// CalibrationRuns bounds the runs on the bad end before it is
	// declared not to crash (default 30: a rate of 0.1 crashes in 30 runs
	// 96 times in 100).
	CalibrationRuns int
}

// Check refuses what cannot be a count, a cost or a probability (0 is
// each one's default).
func (o *Options) Check() error {
	switch {
	case o.Runs < 0:
		return fmt.Errorf("runs per batch %d: want 1 or more (0: the cores)", o.Runs)
	case o.Confidence < 0 || o.Confidence >= 1:
		return fmt.Errorf("confidence %v: want a probability, above 0 and below 1", o.Confidence)
	case o.BuildCost < 0:
		return fmt.Errorf("build cost %v: cannot be negative", o.BuildCost)
	case o.MaxRuns < 0 || o.CalibrationRuns < 0:
		return fmt.Errorf("max runs %d, calibration runs %d: cannot be negative", o.MaxRuns, o.CalibrationRuns)
	}
	return nil
}

func (o *Options) defaults() {
	o.Runs = max(o.Runs, 1)
	if o.Confidence <= 0 {
		o.Confidence = 0.95
	}
	if o.BuildCost <= 0 {
		o.BuildCost = 2
	}
	if o.MaxRuns <= 0 {
		o.MaxRuns = 400
	}
	if o.CalibrationRuns <= 0 {
		o.CalibrationRuns = 30
	}
}

// Step is one batch of runs, or one build that failed.
type Step struct {
	Commit     int         `json:"commit"`
	Batch                  // what the runs found
	Untestable bool        `json:"untestable,omitempty"`
	Build      bool        `json:"build,omitempty"` // the commit was built first
	Top        []Candidate `json:"top"`             // the most probable first-bad commits after it
}

// Candidate is a commit and its probability of being the first bad one.
type Candidate struct {
	Commit      int     `json:"commit"`
	Probability float64 `json:"probability"`
}

// State is a search, saved after every step so that it can resume.
type State struct {
	Model
	Built int    `json:"built"` // the commit built last (-1: none)
	Steps []Step `json:"steps"`
	Done  bool   `json:"done"`
}

// NewState starts a search over n+1 commits, 0 good and n bad.
func NewState(n int) *State {
	return &State{Model: Model{Obs: make([]Obs, n+1)}, Built: -1}
}

// Result is where a search ended.
type Result struct {
	// First is the first bad commit, when one reached the confidence;
	// -1 otherwise, and Lo..Hi is the smallest range that holds it.
	First       int     `json:"first"`
	Probability float64 `json:"probability"`
	Lo          int     `json:"lo"`
	Hi          int     `json:"hi"`
	Runs        int     `json:"runs"`
	Builds      int     `json:"builds"`
}

// Search runs the bisect from where st is, calling save after every step
// and step (when not nil) to report it.
func Search(ctx context.Context, st *State, t Tester, o Options, save func(*State) error) (Result, error) {
	o.defaults()
	n := st.N()
	if n < 1 {
		return Result{}, errors.New("nothing to bisect: the good and bad ends are the same commit")
	}
	for !st.Done {
		if err := ctx.Err(); err != nil {
			return st.result(o), err
		}
		i, err := st.next(o)
		if err != nil {
			return st.result(o), err
		}
		if i < 0 {
			st.Done = true
			break
		}
		if err := st.step(ctx, t, i, o); err != nil {
			return st.result(o), err
		}
		if err := save(st); err != nil {
			return st.result(o), err
		}
	}
	return st.result(o), save(st)
}

// next is the commit to run next, -1 when the search is over: the bad end
// until it crashes, the good end once, then the best per cost.
func (st *State) next(o Options) (int, error) {
	n := st.N()
	bad, good := st.Obs[n], st.Obs[0]
	switch {
	case bad.Crashes == 0 && bad.Runs >= o.CalibrationRuns:
		return -1, fmt.Errorf("the bad end did not crash in %d runs: nothing to bisect (another --title?)", bad.Runs)
	case bad.Crashes == 0:
		return n, nil
	case good.Crashes > 0:
		return -1, fmt.Errorf("the good end crashed with the bug's title in %d of %d runs: it is not good", good.Crashes, good.Runs)
	case good.Runs == 0 && !good.Untestable:
		return 0, nil
	}
	post := st.Posterior()
	if _, p := Best(post); p >= o.Confidence || st.runs() >= o.MaxRuns {
		return -1, nil
	}
	i, gain := st.Next(o.Runs, o.BuildCost, func(i int) bool { return i == st.Built })
	if gain < 1e-4 {
		return -1, nil // what is left to learn, untestable commits hide
	}
	return i, nil
}

// step builds commit i when it is not the one built, and runs a batch.
func (st *State) step(ctx context.Context, t Tester, i int, o Options) error {
	build := st.Built != i
	if build {
		err := t.Build(ctx, i)
		switch {
		case errors.Is(err, ErrUntestable):
			st.Obs[i].Untestable = true
			st.Built = -1
			st.Steps = append(st.Steps, Step{Commit: i, Untestable: true, Build: true, Top: st.top()})
			return nil
		case err != nil:
			return err
		}
		st.Built = i
	}
	b, err := t.Run(ctx, i, o.Runs)
	if errors.Is(err, ErrUntestable) {
		st.Obs[i].Untestable = true
		st.Steps = append(st.Steps, Step{Commit: i, Untestable: true, Build: build, Top: st.top()})
		return nil
	}
	if err != nil {
		return err
	}
	st.Obs[i].Runs += b.Runs
	st.Obs[i].Crashes += b.Crashes
	st.Steps = append(st.Steps, Step{Commit: i, Batch: b, Build: build, Top: st.top()})
	return nil
}

// top is the three most probable first-bad commits.
func (st *State) top() []Candidate {
	post := st.Posterior()
	var c []Candidate
	for k, p := range post {
		c = append(c, Candidate{k, p})
	}
	sort.SliceStable(c, func(a, b int) bool { return c[a].Probability > c[b].Probability })
	return c[:min(3, len(c))]
}

func (st *State) runs() int {
	n := 0
	for _, o := range st.Obs {
		n += o.Runs
	}
	return n
}

func (st *State) result(o Options) Result {
	post := st.Posterior()
	r := Result{First: -1, Runs: st.runs()}
	for _, s := range st.Steps {
		if s.Build {
			r.Builds++
		}
	}
	k, p := Best(post)
	r.Probability = p
	if p >= o.Confidence {
		r.First, r.Lo, r.Hi = k, k, k
	} else {
		r.Lo, r.Hi = Range(post, o.Confidence)
	}
	return r
}
