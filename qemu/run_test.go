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

// standIn writes a QEMU stand-in that runs script with the path of its
// first file chardev in $f: what a guest's writes to that port would do.
func standIn(t *testing.T, script string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "qemu")
	body := "#!/bin/sh\nfor a; do case $a in file,*) f=${a##*path=};; esac; done\n" + script + "\n"
	if err := os.WriteFile(bin, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestFileBound: a guest that writes more than a port's bound to its host
// file is stopped, the run failed with the bound named and the file
// emptied; one that stays under it is left alone. The real guest's flood
// is vmtest's TestPortBound.
func TestFileBound(t *testing.T) {
	for _, c := range []struct {
		name, script string
		crashed      bool
		overrun      bool
	}{
		{"flood", "head -c 8M /dev/zero > $f; sleep 30", false, true},
		{"crash then flood", "echo 'Kernel panic - not syncing: sysrq triggered crash'; head -c 8M /dev/zero > $f; sleep 30", true, true},
		{"within", "head -c 512K /dev/zero > $f", false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "port.out")
			cfg := Config{Binary: standIn(t, c.script), Kernel: "k", Accel: "tcg", Devices: []Device{PortToFile{Name: "p", Path: path, Max: 1 << 20}}}
			start := time.Now()
			o := Boot(context.Background(), cfg, Watch{Kdump: true})
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("took %v", d)
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			bound := func(err error) bool {
				return err != nil && strings.Contains(err.Error(), "more than 1 MiB to its virtio-serial port p")
			}
			switch {
			case !c.overrun && (o.Kind != PoweredOff || st.Size() != 512<<10):
				t.Errorf("within the bound: %v (%v), file of %d bytes", o.Kind, o.Err, st.Size())
			case c.overrun && st.Size() != 0:
				t.Errorf("the file holds %d bytes after the overrun", st.Size())
			case c.overrun && c.crashed && (o.Kind != Crashed || !bound(o.DumpErr)):
				t.Errorf("crash then flood: %v, dump error %v; want the crash, and the overrun as the dump's error", o.Kind, o.DumpErr)
			case c.overrun && !c.crashed && (o.Kind != Failed || !bound(o.Err)):
				t.Errorf("flood: %v (%v), want Failed naming the bound", o.Kind, o.Err)
			}
		})
	}
}

// A port with no bound is refused: every file a guest writes has one.
func TestPortNeedsBound(t *testing.T) {
	if _, err := (Config{Kernel: "k", Devices: []Device{PortToFile{Name: "p", Path: "f"}}}).Args(); err == nil {
		t.Error("a PortToFile without Max was accepted")
	}
}
