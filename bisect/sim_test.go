package bisect

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
)

// history is a simulated commit range: the bug from commit k on, crashing
// a run with probability p; an unrelated bug crashing commit u alone (with
// another title) at rate q.
type history struct {
	n, k, u int
	p, q    float64
	rng     *rand.Rand
}

// run is one run on commit i: a crash with the bug's title, and any crash.
func (h *history) run(i int) (bug, any bool) {
	bug = i >= h.k && h.rng.Float64() < h.p
	other := i == h.u && h.rng.Float64() < h.q
	return bug, bug || other
}

// simTester runs a history for Search: only the bug's title counts.
type simTester struct{ h *history }

func (s simTester) Build(context.Context, int) error { return nil }

func (s simTester) Run(_ context.Context, i, runs int) (Batch, error) {
	b := Batch{Runs: runs, Other: map[string]int{}}
	for range runs {
		if bug, any := s.h.run(i); bug {
			b.Crashes++
		} else if any {
			b.Other["unrelated"]++
		}
	}
	return b, nil
}

// syzkaller's rule: a binary search, 10 runs a commit, bad at max(2,
// runs/6) crashes of any title.
func syzkallerRule(h *history) (int, int) {
	lo, hi, runs := 0, h.n, 0
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		crashes := 0
		for range 10 {
			if _, any := h.run(mid); any {
				crashes++
			}
		}
		runs += 10
		if crashes >= max(2, 10/6) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi, runs
}

// gitBisect is plain git bisect run: one run a commit, any crash bad.
func gitBisect(h *history) (int, int) {
	lo, hi, runs := 0, h.n, 0
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		_, any := h.run(mid)
		runs++
		if any {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi, runs
}

// simOptions are the search's in the simulation: one run a batch, and
// builds nearly free, for the runs are what the goal counts;
// BISECT_SIM_RUNS and BISECT_SIM_BUILD_COST change them (bench/bisect-sim.sh).
func simOptions() (Options, bool) {
	o := Options{Runs: 1, BuildCost: 0.01}
	runs, _ := strconv.Atoi(os.Getenv("BISECT_SIM_RUNS"))
	cost, _ := strconv.ParseFloat(os.Getenv("BISECT_SIM_BUILD_COST"), 64)
	if runs > 0 {
		o.Runs = runs
	}
	if cost > 0 {
		o.BuildCost = cost
	}
	return o, runs == 0 && cost == 0
}

type tally struct{ right, runs, builds, n int }

func (t tally) String() string {
	return fmt.Sprintf("%5.1f%% right, %6.1f runs, %5.1f builds", 100*float64(t.right)/float64(t.n), float64(t.runs)/float64(t.n), float64(t.builds)/float64(t.n))
}

// TestSimulation compares the three rules over random histories of 100
// commits, each with an unrelated crash in a good commit: initkit must be
// right at least 95 % of the time at a rate of 0.3, with fewer runs than
// syzkaller's rule. The table is bench/bisect-sim.sh's.
func TestSimulation(t *testing.T) {
	// Short: the goal holds on the first 60 histories too, checked.
	histories := 400
	if testing.Short() {
		histories = 60
	}
	table, _ := os.Create(os.Getenv("BISECT_SIM_TABLE"))
	if table == nil {
		table = os.Stdout
	}
	opts, goal := simOptions()
	fmt.Fprintf(table, "| rate | initkit (%d runs a batch, a build costs %g batches) |", opts.Runs, opts.BuildCost)
	fmt.Fprintln(table, " syzkaller's rule (10 runs a commit) | git bisect run (1 run) |")
	fmt.Fprintln(table, "|---:|---|---|---|")
	for _, p := range []float64{0.1, 0.3, 0.5, 1} {
		var ik, syz, git tally
		for seed := range histories {
			rng := rand.New(rand.NewPCG(uint64(seed), uint64(p*1000)))
			k := 1 + rng.IntN(100)
			u := rng.IntN(max(k, 1)) // a good commit, or the good end's neighbour
			h := &history{n: 100, k: k, u: u, p: p, q: 0.5, rng: rng}
			st := NewState(100)
			res, err := Search(context.Background(), st, simTester{h}, opts, func(*State) error { return nil })
			if err != nil {
				res.First = -1 // the bad end never crashed: no answer
			}
			ik.n++
			ik.runs += res.Runs
			ik.builds += res.Builds
			if res.First == k {
				ik.right++
			}
			for _, rule := range []struct {
				f func(*history) (int, int)
				t *tally
			}{{syzkallerRule, &syz}, {gitBisect, &git}} {
				got, runs := rule.f(&history{n: 100, k: k, u: u, p: p, q: 0.5, rng: rand.New(rand.NewPCG(uint64(seed), 7))})
				rule.t.n++
				rule.t.runs += runs
				rule.t.builds += 7 // a binary search over 100 commits
				if got == k {
					rule.t.right++
				}
			}
		}
		fmt.Fprintf(table, "| %.1f | %s | %s | %s |\n", p, ik, syz, git)
		if p == 0.3 && goal {
			if float64(ik.right) < 0.95*float64(ik.n) {
				t.Errorf("at rate 0.3, initkit is right in %d of %d", ik.right, ik.n)
			}
			if ik.runs >= syz.runs {
				t.Errorf("at rate 0.3, initkit spent %d runs, syzkaller's rule %d", ik.runs, syz.runs)
			}
		}
	}
}
