package repro

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Summary is what the runs found.
type Summary struct {
	// Title is the regular expression a crash's title had to match to
	// count ("" for any crash).
	Title string `json:"title_regexp,omitempty"`
	// Runs counts the runs that gave an answer: crashes, hangs and clean
	// ends, not the failures of the infrastructure.
	Runs   int          `json:"runs"`
	Counts map[Kind]int `json:"counts"`
	// Rate is the share of counted runs that crashed as Title says, and
	// RateLow and RateHigh its 95 % interval (Wilson's).
	Rate     float64 `json:"rate"`
	RateLow  float64 `json:"rate_low"`
	RateHigh float64 `json:"rate_high"`
	// Crashes are the titles seen, most frequent first, with the first
	// run's logs of each.
	Crashes []TitleCount `json:"crashes"`
	Retried int          `json:"retried"` // tries the infrastructure failed, then tried again
	Results []RunResult  `json:"results"`
	// Interrupted says the runs were stopped before they were all done.
	Interrupted bool `json:"interrupted,omitempty"`
	// BugTitle is the title the bug was reported with (a workspace's,
	// from syzbot), which Write says whether a crash had.
	BugTitle string `json:"bug_title,omitempty"`
}

// TitleCount is one crash title and how often it was seen.
type TitleCount struct {
	Title    string `json:"title"`
	Count    int    `json:"count"`
	Matching bool   `json:"matching"` // it counts (Options.Title)
	Log      string `json:"log"`      // the console log of its first run
}

func (s *Summary) add(r RunResult) {
	if s.Counts == nil {
		s.Counts = map[Kind]int{}
	}
	s.Counts[r.Kind]++
	s.Retried += r.Tries - 1
	s.Results = append(s.Results, r)
	if r.Kind == Crash || r.Kind == OtherCrash {
		for i := range s.Crashes {
			if s.Crashes[i].Title == r.Title {
				s.Crashes[i].Count++
				return
			}
		}
		s.Crashes = append(s.Crashes, TitleCount{Title: r.Title, Count: 1, Matching: r.Kind == Crash,
			Log: filepath.Join(r.Dir, "console.log")})
	}
}

func (s *Summary) finish() {
	sort.Slice(s.Results, func(i, j int) bool { return s.Results[i].N < s.Results[j].N })
	sort.SliceStable(s.Crashes, func(i, j int) bool { return s.Crashes[i].Count > s.Crashes[j].Count })
	s.Runs = s.Counts[Crash] + s.Counts[OtherCrash] + s.Counts[Hang] + s.Counts[Clean]
	s.Rate, s.RateLow, s.RateHigh = Wilson(s.Counts[Crash], s.Runs)
}

// Wilson returns k/n and the Wilson score interval at 95 % around it: it
// stays inside [0, 1] and means something for k = 0 or k = n, where the
// normal approximation says [0, 0].
func Wilson(k, n int) (rate, low, high float64) {
	if n == 0 {
		return 0, 0, 1
	}
	const z = 1.959963984540054 // the normal quantile of 0.975
	p := float64(k) / float64(n)
	nf := float64(n)
	den := 1 + z*z/nf
	mid := (p + z*z/(2*nf)) / den
	half := z * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf)) / den
	return p, math.Max(0, mid-half), math.Min(1, mid+half)
}

// Exit codes of initkit repro, for git bisect run: 0 good, 1 to 124 bad,
// 125 skip, above 127 abort.
const (
	ExitNoCrash = 0
	ExitCrash   = 1
	ExitNoBoot  = 125 // the kernel did not boot: git bisect skips the commit
	ExitInfra   = 128 // the infrastructure failed: git bisect aborts
)

// ExitCode says the summary as git bisect run understands it: a crash
// that counts is bad; else a kernel that did not boot is a skip; else a
// failure of the infrastructure aborts; else good.
func (s *Summary) ExitCode() int {
	switch {
	case s.Counts[Crash] > 0:
		return ExitCrash
	case s.Counts[NoBoot] > 0:
		return ExitNoBoot
	case s.Counts[Infra] > 0:
		return ExitInfra
	}
	return ExitNoCrash
}

// Line says one run in a line.
func (r RunResult) Line() string {
	s := fmt.Sprintf("run %d: %s", r.N, strings.ReplaceAll(string(r.Kind), "_", " "))
	switch {
	case r.Title != "":
		s += ": " + r.Title
	case r.Status != nil:
		s += fmt.Sprintf(" (exit %d)", *r.Status)
	case r.Detail != "":
		s += " (" + r.Detail + ")"
	}
	s += fmt.Sprintf(" after %v", r.Duration.Round(100*time.Millisecond))
	if r.Tries > 1 {
		s += fmt.Sprintf(", try %d", r.Tries)
	}
	return s
}

// Write prints the summary for a person.
func (s *Summary) Write(w io.Writer) error {
	var parts []string
	for _, k := range []Kind{Crash, OtherCrash, Hang, Clean, NoBoot, Infra} {
		if n := s.Counts[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, strings.ReplaceAll(string(k), "_", " ")))
		}
	}
	if len(parts) == 0 {
		parts = append(parts, "none finished")
	}
	what := "runs"
	if len(s.Results) == 1 {
		what = "run"
	}
	if s.Interrupted {
		what += " before the interrupt"
	}
	fmt.Fprintf(w, "%d %s: %s", len(s.Results), what, strings.Join(parts, ", "))
	if s.Retried > 0 {
		fmt.Fprintf(w, " (%d tries retried)", s.Retried)
	}
	fmt.Fprintf(w, "\nreproduced in %d of %d runs: rate %.2f (95%% interval %.2f-%.2f)\n", s.Counts[Crash], s.Runs, s.Rate, s.RateLow, s.RateHigh)
	for _, c := range s.Crashes {
		label := "crash"
		if !c.Matching {
			label = "other crash"
		}
		fmt.Fprintf(w, "  %3d  %-11s %s\n       first log: %s\n", c.Count, label, c.Title, c.Log)
	}
	s.writeBugTitle(w)
	_, err := fmt.Fprint(w)
	return err
}

// writeBugTitle says whether the crashes are the reported bug's: a
// reproducer can crash the kernel another way, on another tree.
func (s *Summary) writeBugTitle(w io.Writer) {
	if s.BugTitle == "" || len(s.Crashes) == 0 {
		return
	}
	for _, c := range s.Crashes {
		if c.Title == s.BugTitle {
			runs := "runs"
			if c.Count == 1 {
				runs = "run"
			}
			fmt.Fprintf(w, "the bug's own crash: %s, in %d %s\n", s.BugTitle, c.Count, runs)
			return
		}
	}
	hint := ""
	if s.Title == "" {
		hint = " (--title counts only the crash you give)"
	}
	fmt.Fprintf(w, "not the bug's own crash: it was reported as %s%s\n", s.BugTitle, hint)
}
