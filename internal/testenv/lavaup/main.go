// Command lavaup brings the tests' LAVA instance up (testenv.LAVA: a
// server, a scheduler, a publisher and a worker with two QEMU devices,
// on 127.0.0.1), prints what reaches it as shell assignments, then
// "ready", and takes it down when its standard input ends or a signal
// comes: bench/lava.sh runs it as a coprocess. As root, as make test.
package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/initkit/initkit/internal/testenv"
)

func main() {
	l, err := testenv.StartLAVA()
	if err != nil {
		fmt.Fprintf(os.Stderr, "lavaup: %v\n", err)
		os.Exit(1)
	}
	defer testenv.StopLAVA()
	fmt.Printf("LAVA_URL=%s\nLAVA_TOKEN=%s\nLAVA_ARTIFACTS=%s\nready\n", l.URL, l.Token, l.Artifacts)
	done := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(done) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	select {
	case <-done:
	case <-sig:
	}
}
