package bisect

import (
	"math"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// Posteriors computed by hand from the model's formula.
func TestPosterior(t *testing.T) {
	for _, c := range []struct {
		name string
		obs  []Obs
		want []float64
	}{
		{"no evidence: uniform", []Obs{{}, {}, {}}, []float64{0, 0.5, 0.5}},
		// p = (1+1)/(1+2); K=1: p; K=2: epsilon.
		{"a crash at 1", []Obs{{}, {Runs: 1, Crashes: 1}, {}}, []float64{0, 0.66667 / (0.66667 + 0.001), 0.001 / (0.66667 + 0.001)}},
		// p integrated out: K=1: commits 1, 2 bad, 1 crash in 4 runs:
		// B(2, 4) = 1/20; K=2: commit 1 good, 0.999^2, and commit 2 bad,
		// 1 crash in 2 runs: B(2, 2) = 1/6.
		{"two clean runs at 1", []Obs{{}, {Runs: 2}, {Runs: 2, Crashes: 1}},
			[]float64{0, 0.05 / (0.05 + 0.998001/6), 0.998001 / 6 / (0.05 + 0.998001/6)}},
		// An untestable commit has no evidence: K=1 and K=2 stay alike.
		// 2 and 3 crash every run; K=3 would make 2 good: epsilon^3. K=1 and
		// K=2 differ only in commit 1, which did not build: alike.
		{"untestable", []Obs{{}, {Untestable: true}, {Runs: 3, Crashes: 3}, {Runs: 3, Crashes: 3}}, []float64{0, 0.5, 0.5, 0}},
		// A bad end that does not crash says nothing about K.
		{"bad end silent", []Obs{{}, {}, {}, {Runs: 4}}, []float64{0, 1.0 / 3, 1.0 / 3, 1.0 / 3}},
	} {
		got := Model{Obs: c.obs}.Posterior()
		for k := range c.want {
			if !near(got[k], c.want[k], 1e-3) {
				t.Errorf("%s: posterior %v, want %v", c.name, got, c.want)
				break
			}
		}
	}
}

func TestGain(t *testing.T) {
	// Uniform over K in {1,2}, one run on commit 1 at p = 0.5: by hand,
	// 1 - (0.2505*0.0208 + 0.7495*0.9186) = 0.3063 bits.
	if g := Gain([]float64{0, 0.5, 0.5}, 1, 1, 0.5); !near(g, 0.3063, 2e-3) {
		t.Errorf("gain %.4f, want 0.3063", g)
	}
	// Running the bad end teaches nothing about K when it is known bad.
	if g := Gain([]float64{0, 0.5, 0.5}, 2, 3, 0.5); !near(g, 0, 1e-9) {
		t.Errorf("gain at the bad end %.4f, want 0", g)
	}
	// A certain posterior has nothing to learn.
	if g := Gain([]float64{0, 1, 0}, 1, 3, 0.5); !near(g, 0, 1e-9) {
		t.Errorf("gain on a certain posterior %.4f", g)
	}
}

func TestNextHalves(t *testing.T) {
	m := Model{Obs: make([]Obs, 17)}
	m.Obs[16] = Obs{Runs: 10, Crashes: 10}
	// A reliable reproducer on 16 candidates: the middle, as git bisect.
	if i, _ := m.Next(1, 0, nil); i != 8 && i != 7 {
		t.Errorf("next %d, want the middle", i)
	}
	// A build costs much: more runs on a built commit win when they
	// teach about as much.
	m.Obs[8] = Obs{Runs: 1}
	built := func(i int) bool { return i == 8 || i == 16 || i == 0 }
	m2 := Model{Obs: append([]Obs(nil), m.Obs...)}
	m2.Obs[16] = Obs{Runs: 10, Crashes: 3}
	if i, _ := m2.Next(1, 100, built); i != 8 {
		t.Errorf("next %d with costly builds, want the built commit 8", i)
	}
	m.Obs[4] = Obs{Untestable: true}
	for range 3 {
		if i, _ := m.Next(1, 0, nil); i == 4 {
			t.Error("chose an untestable commit")
		}
	}
}

func TestRange(t *testing.T) {
	post := []float64{0, 0.1, 0.45, 0.44, 0.01}
	if lo, hi := Range(post, 0.85); lo != 2 || hi != 3 {
		t.Errorf("range %d-%d, want 2-3", lo, hi)
	}
	if k, p := Best(post); k != 2 || p != 0.45 {
		t.Errorf("best %d %v", k, p)
	}
}
