package vmexec

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/initkit/initkit/internal/testenv"
)

// BenchmarkExecImage is what initkit exec does before QEMU starts: the
// image of one command, busybox and the initkit init, with the run's own
// files in a last segment. The first run is reported as first-ms (an
// empty cache); every run after it, as exec runs the same program again,
// as the time per op.
func BenchmarkExecImage(b *testing.B) {
	initBin, err := testenv.BuildInitOnce()
	if err != nil {
		b.Fatal(err)
	}
	b.Setenv("INITKIT_CACHE", b.TempDir())
	o := Options{InitBinary: initBin, Busybox: "/bin/busybox"}
	if _, err := os.Stat(o.Busybox); err != nil {
		b.Fatal(err)
	}
	out := filepath.Join(b.TempDir(), "exec.img")
	argv := []string{"/usr/bin/env", "true"}
	start := time.Now()
	if err := buildImage(out, "", argv, "token0", o, "", ""); err != nil {
		b.Fatal(err)
	}
	first := time.Since(start)
	for b.Loop() {
		if err := buildImage(out, "", argv, "token1", o, "", ""); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(first.Microseconds())/1000, "first-ms")
}
