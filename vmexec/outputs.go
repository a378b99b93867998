package vmexec

import (
	"bytes"
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/initkit/initkit/guest"
	"github.com/initkit/initkit/internal/atomicfile"
	"github.com/initkit/initkit/internal/syncbuf"
)

// Bounds on what a guest sends back (Options.Outputs): it is hostile
// until proven otherwise, whatever its headers claim.
var (
	MaxReturned      int64 = 256 << 20 // bytes, all files together
	MaxReturnedFiles       = 10000
)

// GoTestOutputs are the outputs of a go test binary's run that go test
// reads once the binary has exited: -test.gocoverdir (the coverage
// counters of go test -cover), and the profiles (-test.coverprofile,
// cpuprofile, memprofile, blockprofile, mutexprofile, trace), relative to
// -test.outputdir or dir, the directory the binary runs in (Options.Dir:
// "" is /). go test -exec passes them as -test.NAME=VALUE (the testing
// package's flags).
func GoTestOutputs(argv []string, dir string) ([]guest.Output, error) {
	dir, err := filepath.Abs(cmp.Or(dir, "/"))
	if err != nil {
		return nil, err
	}
	flags := map[string]string{}
	for i := 1; i < len(argv); i++ {
		name, value, ok := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(argv[i], "-"), "-"), "=")
		if !strings.HasPrefix(name, "test.") {
			continue
		}
		if !ok && i+1 < len(argv) {
			value = argv[i+1] // -test.gocoverdir DIR
		}
		flags[strings.TrimPrefix(name, "test.")] = value
	}
	var outs []guest.Output
	if d := flags["gocoverdir"]; d != "" {
		outs = append(outs, guest.Output{Path: absIn(dir, d), Dir: true})
	}
	base := dir
	if d := flags["outputdir"]; d != "" {
		base = absIn(dir, d)
	}
	for _, f := range []string{"coverprofile", "cpuprofile", "memprofile", "blockprofile", "mutexprofile", "trace"} {
		if p := flags[f]; p != "" {
			outs = append(outs, guest.Output{Path: absIn(base, p)})
		}
	}
	return outs, nil
}

// absIn is p, absolute, against dir when it is relative.
func absIn(dir, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}

// statusPort takes what the status port carries: the files of the
// outputs, each after its header (guest.FileHeader), which it writes
// where they belong on the host, and the text around them, whose last
// 4096 bytes hold the status line. A command that floods the port only
// has its text dropped.
type statusPort struct {
	token   string
	outputs []guest.Output
	text    syncbuf.Buffer
	line    []byte
	file    *returned // the file whose bytes come next
	total   int64
	files   int
	err     error
}

// returned is a file on its way back: written to a temporary file beside
// its path (none: its bytes are dropped), renamed once whole.
type returned struct {
	path    string
	size    int64
	got     int64
	pending *atomicfile.Pending
}

const maxLine = 4096

func newStatusPort(token string, outputs []guest.Output) *statusPort {
	p := &statusPort{token: token, outputs: outputs}
	p.text.Max = maxLine
	return p
}

// Write implements io.Writer; it never fails, so that the port is read
// to its end: what went wrong is finish's to say.
func (p *statusPort) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		if f := p.file; f != nil {
			k := min(int64(len(b)), f.size-f.got)
			if f.pending != nil {
				if _, err := f.pending.File.Write(b[:k]); err != nil {
					p.fail(err)
					f.pending.Abort()
					f.pending = nil
				}
			}
			f.got += k
			b = b[k:]
			if f.got == f.size {
				p.save(f)
			}
			continue
		}
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			p.addLine(b)
			break
		}
		p.addLine(b[:i])
		b = b[i+1:]
		p.endLine()
	}
	return n, nil
}

func (p *statusPort) addLine(b []byte) {
	p.line = append(p.line, b[:min(len(b), max(0, maxLine-len(p.line)))]...)
}

// endLine takes a whole line: a file's header, or text.
func (p *statusPort) endLine() {
	line := string(p.line)
	p.line = p.line[:0]
	index, size, name, ok := guest.ParseFileHeader(line, p.token)
	if !ok {
		p.text.Write([]byte(line + "\n"))
		return
	}
	path, err := p.target(index, name)
	p.files++
	p.total += size
	switch {
	case err != nil:
	case p.files > MaxReturnedFiles:
		err = fmt.Errorf("the guest sent more than %d files back", MaxReturnedFiles)
	case p.total > MaxReturned:
		err = fmt.Errorf("the guest sent more than %d bytes of files back", MaxReturned)
	}
	f := &returned{path: path, size: size}
	if err == nil {
		err = os.MkdirAll(filepath.Dir(path), 0o755)
	}
	if err == nil {
		f.pending, err = atomicfile.Create(path, 0o644)
	}
	if err != nil {
		p.fail(err) // its bytes are read, and dropped
	}
	p.file = f
	if size == 0 {
		p.save(f)
	}
}

// target is where file name of output index goes on the host: the file
// output itself, or a file directly in the directory output. Anything
// else is refused: the names come from the guest.
func (p *statusPort) target(index int, name string) (string, error) {
	if index >= len(p.outputs) {
		return "", fmt.Errorf("the guest sent a file of output %d; there are %d", index, len(p.outputs))
	}
	o := p.outputs[index]
	if !o.Dir {
		if name != "" {
			return "", fmt.Errorf("the guest sent %q as the file %s", name, o.Path)
		}
		return o.Path, nil
	}
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return "", fmt.Errorf("the guest sent a file named %q for %s", name, o.Path)
	}
	return filepath.Join(o.Path, name), nil
}

// save puts a file that came back whole in its place.
func (p *statusPort) save(f *returned) {
	p.file = nil
	if f.pending != nil {
		if err := f.pending.Commit(); err != nil {
			p.fail(err)
		}
	}
}

func (p *statusPort) fail(err error) {
	if p.err == nil {
		p.err = err
	}
}

// finish ends the port's stream: a file cut short is an error.
func (p *statusPort) finish() error {
	if f := p.file; f != nil {
		if f.pending != nil {
			f.pending.Abort()
		}
		p.fail(fmt.Errorf("the guest's file %s came back cut short: %d of %d bytes", f.path, f.got, f.size))
	}
	if len(p.line) > 0 {
		// Text: a header the stream ended in has no file after it.
		p.text.Write(p.line)
		p.line = p.line[:0]
	}
	return p.err
}

// ParseOutput reads an output as initkit exec's --copy-out takes it: a
// path, relative to the working directory, that names a directory when
// it ends in a slash or is one on the host, else a file.
func ParseOutput(s string) (guest.Output, error) {
	abs, err := filepath.Abs(s)
	if err != nil {
		return guest.Output{}, err
	}
	if abs == "/" {
		return guest.Output{}, fmt.Errorf("--copy-out %s: not the whole root", s)
	}
	st, err := os.Stat(abs)
	dir := strings.HasSuffix(s, "/") || err == nil && st.IsDir()
	return guest.Output{Path: abs, Dir: dir}, nil
}

// SetEnvAndOutputs sets Env and Outputs as initkit exec's flags give them
// for a run of argv: the variables env names (Environ, with the host's
// values), the outputs of a go test binary among argv's flags
// (GoTestOutputs: go test -exec passes them, and reads them back), and
// the paths copyOut names (ParseOutput). Set Dir first.
func (o *Options) SetEnvAndOutputs(argv, env, copyOut []string) error {
	var err error
	if o.Env, err = Environ(env, os.LookupEnv); err != nil {
		return err
	}
	if o.Outputs, err = GoTestOutputs(argv, o.Dir); err != nil {
		return err
	}
	for _, p := range copyOut {
		out, err := ParseOutput(p)
		if err != nil {
			return err
		}
		o.Outputs = append(o.Outputs, out)
	}
	return nil
}
