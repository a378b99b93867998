package bisect

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/initkit/initkit/boot"
	"github.com/initkit/initkit/oops"
	"github.com/initkit/initkit/qemu"
	"github.com/initkit/initkit/repro"
)

// countingFarm crashes every other try and counts the farms made.
type countingFarm struct {
	mu    sync.Mutex
	tries int
}

func (f *countingFarm) Try(ctx context.Context, limit time.Duration, log string) (repro.FarmTry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tries++
	if f.tries%2 == 0 {
		return repro.FarmTry{Status: 0, Started: true}, nil
	}
	crash := boot.Result{Outcome: qemu.Outcome{Kind: qemu.Crashed, Line: "BUG: x"}, Identity: &oops.Report{Title: "BUG: x in f"}}
	return repro.FarmTry{Result: crash, Status: -1, Started: true}, nil
}

// TestKernelRunOnFarm: with Job.Farm, a batch's runs go to the farm made
// for that batch (its kernel, the program), none to a local VM; the
// first crash names the bug, and the batch counts it. A unit test of the
// wiring: TestLAVA runs repro on a real farm.
func TestKernelRunOnFarm(t *testing.T) {
	farm := &countingFarm{}
	var asked []repro.Options
	k := &Kernel{Obj: "/nonexistent-obj", Commits: []Commit{{Hash: "0123456789abcdef"}}, RunsDir: t.TempDir(),
		Repro: repro.Options{Argv: []string{"/bin/true"}},
		Farm: func(ctx context.Context, o repro.Options) (repro.Farm, error) {
			asked = append(asked, o)
			return farm, nil
		}}
	b, err := k.Run(context.Background(), 0, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(asked) != 1 || asked[0].Exec.Boot.Kernel.Kernel != "/nonexistent-obj" || asked[0].Argv[0] != "/bin/true" {
		t.Fatalf("farms made: %+v", asked)
	}
	if farm.tries != 4 || b.Runs != 4 || b.Crashes != 2 || k.TitleSeen != "BUG: x in f" {
		t.Errorf("%d tries, batch %+v, title %q; want 4 tries, 4 runs, 2 crashes of BUG: x in f", farm.tries, b, k.TitleSeen)
	}
}

// A bad end that crashes otherwise than the bug was reported is told:
// the bisect would find where that crash starts.
func TestBadEndOtherTitle(t *testing.T) {
	var notes strings.Builder
	k := &Kernel{Obj: "/nonexistent-obj", Commits: []Commit{{Hash: "0123456789abcdef"}}, RunsDir: t.TempDir(),
		Repro: repro.Options{Argv: []string{"/bin/true"}}, BugTitle: "KASAN: use-after-free Read in g", Notes: &notes,
		Farm: func(ctx context.Context, o repro.Options) (repro.Farm, error) { return &countingFarm{}, nil }}
	if _, err := k.Run(context.Background(), 0, 2); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(notes.String(), `the bad end crashed as "BUG: x in f", and the bug was reported as "KASAN: use-after-free Read in g"`) {
		t.Errorf("notes: %q", notes.String())
	}
	notes.Reset()
	k.Title, k.BugTitle = nil, "BUG: x in f"
	if _, err := k.Run(context.Background(), 0, 2); err != nil || notes.Len() != 0 {
		t.Errorf("the bug's own title: %v, notes %q", err, notes.String())
	}
}
