package pid1

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
)

// The init runs a few tools (cryptsetup, lvm, mdadm, busybox's network
// applets, makedumpfile) with os.StartProcess rather than os/exec: the
// init has a size budget, and os/exec's Cmd, its path lookup and its
// context plumbing cost it 53 KB (measured: 2,511,010 to 2,457,762
// bytes) for what these two functions do.

// runTool runs path with args, its stdin the string given (none:
// /dev/null), its stdout and stderr the files given, to its end.
func runTool(path string, args []string, stdin string, stdout, stderr *os.File) error {
	in, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer in.Close()
	if stdin != "" {
		r, w, err := os.Pipe()
		if err != nil {
			return err
		}
		defer r.Close()
		go func() { io.WriteString(w, stdin); w.Close() }()
		in = r
	}
	p, err := os.StartProcess(path, append([]string{path}, args...), &os.ProcAttr{Files: []*os.File{in, stdout, stderr}})
	if err != nil {
		return err
	}
	return waitTool(context.Background(), p)
}

// toolOutput runs path with args, env added to the init's environment,
// until it ends or ctx does (then it is killed), and returns its stdout
// and stderr together.
func toolOutput(ctx context.Context, path string, args, env []string) ([]byte, error) {
	null, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer null.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	p, err := os.StartProcess(path, append([]string{path}, args...), &os.ProcAttr{Env: append(os.Environ(), env...), Files: []*os.File{null, w, w}})
	w.Close()
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	done := make(chan struct{})
	go func() { out.ReadFrom(r); close(done) }()
	err = waitTool(ctx, p)
	<-done // what the tool left running still holds the pipe: killed with ctx
	return out.Bytes(), err
}

// waitTool waits for p, killing it when ctx ends; an exit that is not
// 0 is an error that says how it ended ("exit status 5", "signal:
// killed").
func waitTool(ctx context.Context, p *os.Process) error {
	stop := context.AfterFunc(ctx, func() { p.Kill() })
	defer stop()
	st, err := p.Wait()
	if err != nil {
		return err
	}
	if !st.Success() {
		return errors.New(st.String())
	}
	return nil
}
