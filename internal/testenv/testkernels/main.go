// Command testkernels builds the kernels the VM tests boot that initkit
// builds itself (testenv.TestKernels), into the cache, before go test
// runs: make kernels. Each is built once per machine; a warm cache makes
// this a few seconds. It says what it builds, and every 30 s how far the
// build is.
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/initkit/initkit/internal/testenv"
)

func main() {
	start := time.Now()
	defer testenv.RemoveTemps()
	for _, k := range testenv.TestKernels {
		m, err := k.Build(os.Stderr)
		if err != nil {
			fmt.Fprintf(os.Stderr, "testkernels: %s: %v\n", k.Name, err)
			testenv.RemoveTemps()
			os.Exit(1)
		}
		fmt.Printf("%-12s %s\n", k.Name, testenv.Obj(m))
	}
	fmt.Fprintf(os.Stderr, "testkernels: ready in %v\n", time.Since(start).Round(time.Second))
}
