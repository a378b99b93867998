// Package bisect finds the commit that introduced a bug whose reproducer
// crashes only some of the time. Instead of git bisect's one verdict per
// commit, it keeps a probability for each candidate first-bad commit,
// updates it with every run (Bayes' rule, under the model below), runs
// next where a batch of runs is expected to teach the most per unit of
// cost (a build costs more than more runs on a built commit), and stops
// when one commit holds the confidence asked for.
//
// The model: commits 0..N in order, 0 the good end, N the bad end; one
// first-bad commit K in 1..N. Before K the reproducer crashes with the
// bug's title only by mistake (rate Epsilon per run); from K on it
// crashes with an unknown rate p, uniform a priori (Beta(1,1)) and
// integrated out of the posterior; the choice of the next commit takes
// its estimate from the runs on commits that crashed.
package bisect

import (
	"math"
)

// Obs is what the runs on one commit found.
type Obs struct {
	Runs    int `json:"runs"`
	Crashes int `json:"crashes"` // crashes with the bug's title
	// Untestable says the commit did not build (or boot): no runs, and
	// never a verdict.
	Untestable bool `json:"untestable,omitempty"`
}

// Epsilon is the rate at which a good commit is taken to crash with the
// bug's title: small, not zero, so that one wrong run cannot make the
// posterior impossible.
const Epsilon = 0.001

// Model is the evidence on commits 0..N.
type Model struct {
	Obs []Obs // one per commit, 0 the good end, len-1 the bad end
}

// N is the index of the bad end.
func (m Model) N() int { return len(m.Obs) - 1 }

// Rate estimates the crash rate of a bad commit: the runs on commits at or
// after the first that crashed, with a Beta(1,1) prior; clamped away from
// 0 and 1.
func (m Model) Rate() float64 {
	first := -1
	for i, o := range m.Obs {
		if o.Crashes > 0 {
			first = i
			break
		}
	}
	runs, crashes := 0, 0
	if first >= 0 {
		for _, o := range m.Obs[first:] {
			runs += o.Runs
			crashes += o.Crashes
		}
	}
	p := float64(crashes+1) / float64(runs+2)
	return math.Min(0.99, math.Max(0.02, p))
}

// Posterior returns P(K = k) for k in 0..N (k = 0 holds 0: commit 0 is
// good by assumption). The unknown rate p is integrated out under its
// Beta(1,1) prior: the commits from k on, with X crashes in R runs, weigh
// B(X+1, R-X+1), not p^X (1-p)^(R-X) at an estimate of p, which would be
// overconfident after a few runs.
func (m Model) Posterior() []float64 {
	n := m.N()
	logs := make([]float64, n+1)
	logs[0] = math.Inf(-1)
	var good float64 // log-likelihood of commits < k being good
	var runs, crashes int
	for _, o := range m.Obs {
		runs += o.Runs
		crashes += o.Crashes
	}
	maxLog := math.Inf(-1)
	for k := 1; k <= n; k++ {
		prev := m.Obs[k-1]
		good += binomLog(prev.Runs, prev.Crashes, Epsilon)
		runs -= prev.Runs
		crashes -= prev.Crashes
		logs[k] = good + logBeta(crashes+1, runs-crashes+1)
		maxLog = math.Max(maxLog, logs[k])
	}
	post := make([]float64, n+1)
	sum := 0.0
	for k := 1; k <= n; k++ {
		post[k] = math.Exp(logs[k] - maxLog)
		sum += post[k]
	}
	for k := range post {
		post[k] /= sum
	}
	return post
}

// logBeta is log B(a, b).
func logBeta(a, b int) float64 {
	la, _ := math.Lgamma(float64(a))
	lb, _ := math.Lgamma(float64(b))
	lab, _ := math.Lgamma(float64(a + b))
	return la + lb - lab
}

// binomLog is the log-likelihood of x crashes in r runs at rate p (the
// binomial coefficient left out: it is the same under every hypothesis).
func binomLog(r, x int, p float64) float64 {
	return float64(x)*math.Log(p) + float64(r-x)*math.Log1p(-p)
}

// Entropy is the entropy of a distribution, in bits.
func Entropy(p []float64) float64 {
	h := 0.0
	for _, q := range p {
		if q > 0 {
			h -= q * math.Log2(q)
		}
	}
	return h
}

// Best returns the most probable first-bad commit and its probability.
func Best(post []float64) (int, float64) {
	best := 0
	for k, q := range post {
		if q > post[best] {
			best = k
		}
	}
	return best, post[best]
}

// Range returns the smallest range of commits [lo, hi] whose probability
// together reaches conf.
func Range(post []float64, conf float64) (lo, hi int) {
	lo, hi = 0, len(post)-1
	best := math.Inf(1)
	// Two pointers: for each lo, the first hi that reaches conf.
	sum, j := 0.0, 0
	for i := range post {
		for j < len(post) && sum < conf {
			sum += post[j]
			j++
		}
		if sum >= conf && float64(j-1-i) < best {
			best, lo, hi = float64(j-1-i), i, j-1
		}
		sum -= post[i]
	}
	return lo, hi
}

// Gain returns the expected entropy (bits) a batch of runs on commit i
// removes from the posterior. It costs O(runs): the posterior after an
// outcome scales the commits <= i by one factor and the rest by another,
// so its entropy follows from four sums.
func Gain(post []float64, i, runs int, p float64) float64 {
	var a, s1 float64 // mass and sum q log q of k <= i: commit i bad
	for k := 0; k <= i && k < len(post); k++ {
		a += post[k]
		if post[k] > 0 {
			s1 += post[k] * math.Log(post[k])
		}
	}
	var s2 float64
	for k := i + 1; k < len(post); k++ {
		if post[k] > 0 {
			s2 += post[k] * math.Log(post[k])
		}
	}
	b := 1 - a
	h := -(s1 + s2) // nats
	expected := 0.0
	for x := 0; x <= runs; x++ {
		lb := binomCoef(runs, x) * math.Exp(binomLog(runs, x, p))       // P(x | i bad)
		lg := binomCoef(runs, x) * math.Exp(binomLog(runs, x, Epsilon)) // P(x | i good)
		z := lb*a + lg*b
		if z <= 0 {
			continue
		}
		// Entropy of q' = q*l/z, with l = lb on k <= i and lg above.
		hx := math.Log(z)
		if lb > 0 {
			hx -= lb / z * (s1 + a*math.Log(lb))
		}
		if lg > 0 {
			hx -= lg / z * (s2 + b*math.Log(lg))
		}
		expected += z * hx
	}
	return (h - expected) / math.Ln2
}

func binomCoef(n, k int) float64 {
	c := 1.0
	for j := 1; j <= k; j++ {
		c = c * float64(n-k+j) / float64(j)
	}
	return c
}

// lookahead is the batch a choice is weighed for, however small the
// batch run: one run says little on a good commit (a clean run is
// likely on a bad one too), and a choice made for one run creeps up the
// range a commit at a time; weighed for five, it goes where a few runs
// settle something (measured in TestSimulation: fewer runs at every rate).
const lookahead = 5

// Next chooses the commit to run next: the testable one with the most
// expected information per unit of cost, a batch of runs costing 1 and a
// build buildCost more where built says the commit is not built.
func (m Model) Next(runs int, buildCost float64, built func(i int) bool) (int, float64) {
	post := m.Posterior()

	p := m.Rate()
	best, bestScore, bestGain := -1, 0.0, 0.0
	for i := 0; i <= m.N(); i++ {
		if m.Obs[i].Untestable {
			continue
		}
		g := Gain(post, i, max(runs, lookahead), p) / float64(max(runs, lookahead)) * float64(runs)
		cost := 1.0
		if built != nil && !built(i) {
			cost += buildCost
		}
		if s := g / cost; best < 0 || s > bestScore {
			best, bestScore, bestGain = i, s, g
		}
	}
	return best, bestGain
}
