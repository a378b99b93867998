package oops

import (
	"os"
	"runtime"
	"strings"
	"testing"
)

// inputs are logs that a parser with a hidden quadratic would choke on,
// scaled by n.
var linearInputs = map[string]func(n int) string{
	"reports": func(n int) string {
		b, _ := os.ReadFile("testdata/kasan.log")
		return strings.Repeat(string(b), n)
	},
	"one endless stack": func(n int) string {
		return "BUG: kernel NULL pointer dereference, address: 0000000000000000\nCall Trace:\n" +
			strings.Repeat(" ? some_function+0x10/0x20\n frame_fn+0x1/0x2 [mod]\n", n*200)
	},
	"headers without reports": func(n int) string {
		return strings.Repeat("BUG: something a user printed\nOops: 0002 [#1] SMP\n", n*200)
	},
	"long lines": func(n int) string {
		return strings.Repeat("WARNING: CPU: 0 PID: 1 at x.c:1 f+0x1/0x2 "+strings.Repeat("x", 60000)+"\n", n)
	},
}

// allocated is the bytes parsing s allocates.
func allocated(s string) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	Each(strings.NewReader(s), func(Report) error { return nil })
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// The parser's work grows with its input, no faster: four times the input
// allocates at most about four times as much (time is for the benchmark;
// allocation is its deterministic shadow, and a quadratic shows in it).
func TestParseLinear(t *testing.T) {
	for name, gen := range linearInputs {
		small, big := allocated(gen(50)), allocated(gen(200))
		if ratio := float64(big) / float64(max(small, 1)); ratio > 5 {
			t.Errorf("%s: 4x the input allocates %.1fx (%d to %d bytes)", name, ratio, small, big)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	for name, gen := range linearInputs {
		s := gen(100)
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(s)))
			for b.Loop() {
				Each(strings.NewReader(s), func(Report) error { return nil })
			}
		})
	}
}
