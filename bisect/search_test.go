package bisect

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
)

// scripted is a Tester over a history with an untestable commit, which
// cancels its context after a number of batches.
type scripted struct {
	h          *history
	broken     int
	builds     int
	batches    int
	stopAfter  int
	cancel     context.CancelFunc
	builtOrder []int
}

func (s *scripted) Build(_ context.Context, i int) error {
	s.builds++
	s.builtOrder = append(s.builtOrder, i)
	if i == s.broken {
		return ErrUntestable
	}
	return nil
}

func (s *scripted) Run(ctx context.Context, i, runs int) (Batch, error) {
	s.batches++
	if s.stopAfter > 0 && s.batches == s.stopAfter {
		s.cancel()
		return Batch{}, context.Canceled
	}
	return simTester{s.h}.Run(ctx, i, runs)
}

// An interrupted search resumes from its saved state to the same answer,
// never building the broken commit twice nor calling it bad.
func TestSearchResumes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bisect.json")
	h := &history{n: 8, k: 6, u: 2, p: 0.4, q: 1, rng: rand.New(rand.NewPCG(1, 2))}
	commits := make([]Commit, 9)
	for i := range commits {
		commits[i] = Commit{Hash: fmt.Sprintf("%040x", i+1), Subject: "commit"}
	}
	saved := &Saved{Good: "a", Bad: "i", Commits: commits, Confidence: 0.95, State: NewState(8)}
	ctx, cancel := context.WithCancel(context.Background())
	tester := &scripted{h: h, broken: 4, stopAfter: 6, cancel: cancel}
	save := func(st *State) error { return saved.Save(path) }
	if _, err := Search(ctx, saved.State, tester, Options{Runs: 2}, save); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted search: %v", err)
	}
	loaded, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	before := len(loaded.State.Steps)
	if before != 5 {
		t.Errorf("%d steps saved before the interrupt, want 5", before)
	}
	tester.stopAfter = 0
	res, err := Search(context.Background(), loaded.State, tester, Options{Runs: 2}, func(*State) error { return loaded.Save(path) })
	if err != nil {
		t.Fatal(err)
	}
	if res.First != 6 || res.Probability < 0.95 {
		t.Errorf("result %+v, want commit 6 at 0.95 or more", res)
	}
	if loaded.State.Obs[4].Runs != 0 || (loaded.State.Obs[4].Untestable && res.First == 4) {
		t.Errorf("the broken commit: %+v", loaded.State.Obs[4])
	}
	if !strings.HasPrefix(loaded.Where(), "first bad commit: "+commits[6].Hash+" commit (probability 0.9") {
		t.Errorf("Where: %s", loaded.Where())
	}
	for n, st := range loaded.State.Steps[:before] {
		if d := loaded.Describe(n+1, st); !strings.HasPrefix(d, "step ") {
			t.Errorf("Describe: %s", d)
		}
	}
}

func TestSearchRefuses(t *testing.T) {
	// A bad end that never crashes, a good end that does.
	for _, c := range []struct {
		h    *history
		want string
	}{
		{&history{n: 4, k: 5, p: 0.5, rng: rand.New(rand.NewPCG(1, 1))}, "the bad end did not crash in 30 runs"},
		{&history{n: 4, k: 0, p: 1, rng: rand.New(rand.NewPCG(1, 1))}, "the good end crashed"},
	} {
		_, err := Search(context.Background(), NewState(4), simTester{c.h}, Options{Runs: 2}, func(*State) error { return nil })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want %q", err, c.want)
		}
	}
}

// TestLoadRefuses: a saved bisect is in a workspace that may come from
// elsewhere; one that does not hold together is an error naming the file
// and what is wrong, never a panic, an option passed to git or a NaN in
// the model. Subjects are shown escaped.
func TestLoadRefuses(t *testing.T) {
	good := func() *Saved {
		commits := []Commit{{strings.Repeat("a", 40), "good"}, {strings.Repeat("b", 64), "bad \x1b]0;title\a"}}
		s := &Saved{Commits: commits, Confidence: 0.95, State: NewState(1)}
		s.State.Obs[1] = Obs{Runs: 3, Crashes: 2}
		s.State.Steps = []Step{{Commit: 1, Batch: Batch{Runs: 3, Crashes: 2}, Top: []Candidate{{1, 0.9}}}}
		return s
	}
	path := filepath.Join(t.TempDir(), "bisect.json")
	if err := good().Save(path); err != nil {
		t.Fatal(err)
	}
	s, err := Load(path)
	if err != nil {
		t.Fatalf("a good state: %v", err)
	}
	if d := s.Describe(1, s.State.Steps[0]); strings.ContainsRune(d, '\x1b') || !strings.Contains(d, `bad \x1b]0;title\x07`) {
		t.Errorf("Describe shows the subject raw: %q", d)
	}
	for name, spoil := range map[string]func(*Saved){
		"short hash":         func(s *Saved) { s.Commits[0].Hash = "abc" },
		"option for git":     func(s *Saved) { s.Commits[1].Hash = "--orphan=x" + strings.Repeat("0", 30) },
		"step past the end":  func(s *Saved) { s.State.Steps[0].Commit = 2 },
		"negative candidate": func(s *Saved) { s.State.Steps[0].Top[0].Commit = -1 },
		"more crashes":       func(s *Saved) { s.State.Obs[1] = Obs{Runs: 1, Crashes: 5} },
		"negative runs":      func(s *Saved) { s.State.Steps[0].Runs = -3 },
		"built past the end": func(s *Saved) { s.State.Built = 7 },
		"confidence":         func(s *Saved) { s.Confidence = 1.5 },
		"no confidence":      func(s *Saved) { s.Confidence = 0 },
		"probability":        func(s *Saved) { s.State.Steps[0].Top[0].Probability = 2 },
		"title":              func(s *Saved) { s.Title = "(" },
	} {
		s := good()
		spoil(s)
		if err := s.Save(path); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(path); err == nil || !strings.HasPrefix(err.Error(), path+": ") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestOptionsCheck: what cannot be a count, a cost or a probability is
// refused, named; 0 is each one's default.
func TestOptionsCheck(t *testing.T) {
	if err := (&Options{}).Check(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{Runs: -1}, "runs per batch -1"},
		{Options{Confidence: 1}, "confidence 1: want a probability"},
		{Options{Confidence: -0.5}, "confidence -0.5"},
		{Options{BuildCost: -2}, "build cost -2"},
		{Options{MaxRuns: -1}, "max runs -1"},
	} {
		if err := c.o.Check(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.o, err, c.want)
		}
	}
}
