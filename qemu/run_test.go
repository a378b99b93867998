package qemu

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// These boot the real kernel under TCG with no initrd: it panics at the
// root mount within seconds, or, with -S, never runs at all.

func tcg(t *testing.T, extra ...string) Config {
	return Config{Kernel: testKernel(t), Accel: "tcg", Extra: extra}
}

func re(s string) []*regexp.Regexp { return []*regexp.Regexp{regexp.MustCompile(s)} }

func TestBootOutcomes(t *testing.T) {
	cases := []struct {
		name   string
		cfg    func(t *testing.T) Config
		watch  Watch
		want   Kind
		within time.Duration
	}{
		{"crash", func(t *testing.T) Config { return tcg(t) }, Watch{}, Crashed, 60 * time.Second},
		{"expect met", func(t *testing.T) Config { return tcg(t) }, Watch{Expect: re(`Linux version`)}, ExpectMet, 60 * time.Second},
		{"fail matched", func(t *testing.T) Config { return tcg(t) }, Watch{Fail: re(`Command line:`)}, FailMatched, 60 * time.Second},
		{"timeout", func(t *testing.T) Config { return tcg(t, "-S") }, Watch{Timeout: 2 * time.Second}, TimedOut, 10 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			log := filepath.Join(t.TempDir(), "console.log")
			c.watch.LogPath = log
			start := time.Now()
			o := Boot(context.Background(), c.cfg(t), c.watch)
			if o.Kind != c.want {
				t.Fatalf("outcome %v (%s), want %v; log:\n%s", o.Kind, o, c.want, readFile(log))
			}
			if d := time.Since(start); d > c.within {
				t.Errorf("took %v", d)
			}
			if o.LogPath != log {
				t.Errorf("LogPath = %q, want %q", o.LogPath, log)
			}
			if o.Kind == Crashed && (!strings.Contains(o.Crash, "Kernel panic") || !strings.Contains(readFile(log), o.Line)) {
				t.Errorf("crash %q, block:\n%s", o.Line, o.Crash)
			}
			if o.Kind == FailMatched && !strings.Contains(o.Line, "Command line:") {
				t.Errorf("deciding line %q", o.Line)
			}
		})
	}
}

func readFile(p string) string { b, _ := os.ReadFile(p); return string(b) }

// Ready fires without ending the run; Stop then ends it as a power-off.
func TestGuestReadyAndStop(t *testing.T) {
	t.Parallel()
	g, err := Start(context.Background(), tcg(t, "-no-shutdown"), Watch{Ready: regexp.MustCompile(`Linux version`), CrashGrace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-g.Ready():
	case <-g.Done():
		t.Fatalf("the guest ended before it was ready: %s", g.Log())
	case <-time.After(60 * time.Second):
		t.Fatalf("never ready: %s", g.Log())
	}
	g.Stop()
	select {
	case <-g.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Stop did not end the guest")
	}
	if o := g.Wait(); o.Kind != PoweredOff && o.Kind != Crashed {
		t.Errorf("outcome after Stop: %v %v", o.Kind, o.Err)
	}
}

// The caller's context ending is an interruption, not a timeout.
func TestBootInterrupted(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	o := Boot(ctx, tcg(t, "-S"), Watch{Timeout: time.Minute})
	if o.Kind != Interrupted {
		t.Fatalf("outcome %v, want interrupted", o.Kind)
	}
}

func TestOutcomeString(t *testing.T) {
	for o, want := range map[*Outcome]string{
		{Kind: Crashed, Line: " Kernel panic - not syncing: x "}: "kernel crash: Kernel panic - not syncing: x",
		{Kind: TimedOut, Pending: "ok", Timeout: time.Minute}:    `timed out after 1m0s before "ok" matched`,
		{Kind: ExpectMissed, Pending: "ok"}:                      `the guest stopped before "ok" matched`,
		{Kind: PoweredOff}:                                       "guest powered off",
	} {
		if got := o.String(); got != want {
			t.Errorf("%v: %q, want %q", o.Kind, got, want)
		}
	}
}

func TestDryRunResolvesAuto(t *testing.T) {
	a, err := DryRun(Config{Kernel: "k"})
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Join(a, " ")
	if !strings.HasPrefix(args, "qemu-system-x86_64 ") || !regexp.MustCompile(`-accel (tcg|kvm) `).MatchString(args) {
		t.Errorf("DryRun: %s", args)
	}
}
