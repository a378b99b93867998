// Package decode annotates kernel crash logs with source lines: it finds
// the reports (package oops), resolves every frame (package symbolize)
// and writes the log back with each frame's file:line and inline chain,
// as the kernel's scripts/decode_stacktrace.sh does, or as JSON.
package decode

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"syscall"

	"github.com/initkit/initkit/compress"
	"github.com/initkit/initkit/internal/printable"
	"github.com/initkit/initkit/kernel"
	"github.com/initkit/initkit/oops"
	"github.com/initkit/initkit/symbolize"
)

// Options control the output.
type Options struct {
	StripPrefix string // removed from file names, beyond the build directory (always removed)
	Source      string // a source tree: print the lines around each frame
	Context     int    // source lines before and after (default 2)
}

// Resolved is a report with its frames resolved.
type Resolved struct {
	oops.Report
	Resolved []FrameResult `json:"frames"`
	Code     []Instruction `json:"code,omitempty"` // the Code: line disassembled
	Warnings []string      `json:"warnings,omitempty"`
}

// FrameResult is one frame of the log and where it is in the source.
type FrameResult struct {
	oops.Frame
	Source []symbolize.Frame `json:"source,omitempty"`
	Error  string            `json:"error,omitempty"`
}

// Decoder resolves reports with a Resolver.
type Decoder struct {
	R    *symbolize.Resolver
	Opts Options
}

// Reports parses log and resolves every frame of every report.
func (d *Decoder) Reports(log []byte) ([]Resolved, error) {
	reps, err := oops.Parse(bytes.NewReader(log))
	if err != nil {
		return nil, err
	}
	names := map[string][]string{}
	for _, rep := range reps {
		for _, f := range rep.Frames {
			if f.Func != "" {
				names[f.Module] = append(names[f.Module], f.Func)
			}
		}
		if rep.RIP != nil && rep.RIP.Func != "" {
			names[rep.RIP.Module] = append(names[rep.RIP.Module], rep.RIP.Func)
		}
	}
	d.R.Preload(names)
	// The kernel prints its KASLR offset only when it panics: an Oops
	// that panic_on_oops turns into a panic is decoded with the offset the
	// panic printed after it.
	for i := len(reps) - 2; i >= 0; i-- {
		if reps[i].Offset == 0 {
			reps[i].Offset = reps[i+1].Offset
		}
	}
	release := ""
	out := make([]Resolved, 0, len(reps))
	for _, rep := range reps {
		res := Resolved{Report: rep, Code: Disassemble(rep)}
		if rep.Version != "" && d.R.Vmlinux != nil {
			if release == "" {
				release = d.R.Vmlinux.Release()
			}
			if release != "" && release != rep.Version {
				res.Warnings = append(res.Warnings, fmt.Sprintf("the log is from kernel %s but the vmlinux is %s: lines may be wrong", rep.Version, release))
			}
		}
		frames := rep.Frames
		if rep.RIP != nil && !ripInTrace(rep) {
			frames = append([]oops.Frame{*rep.RIP}, frames...)
		}
		for _, f := range frames {
			fr := FrameResult{Frame: f}
			if f.Inline {
				// A symbolized log's [inline] frame: its line is in the log.
				res.Resolved = append(res.Resolved, fr)
				continue
			}
			src, err := d.frame(f, rep.Offset)
			switch {
			case f.Unreliable && errors.Is(err, symbolize.ErrNoUnit):
				// A "? " frame is a stale word of the stack, often a
				// function's address rather than a return address
				// ("? rest_init+0xd0/0xd0" is kernel_init's): no
				// source line, and no error to show for it.
			case err != nil:
				fr.Error = err.Error()
			default:
				fr.Source = d.Strip(src)
			}
			res.Resolved = append(res.Resolved, fr)
		}
		out = append(out, res)
	}
	return out, nil
}

// frame resolves a frame: by symbol, or by address for a kernel without
// KALLSYMS, less the KASLR offset its report printed ("Kernel Offset:"),
// and one byte back for a return address, as for symbols.
func (d *Decoder) frame(f oops.Frame, kaslr uint64) ([]symbolize.Frame, error) {
	if f.Func != "" {
		if f.Len == 0 {
			return nil, fmt.Errorf("%s+%#x/0x0: a length of 0, which no kernel prints", f.Func, f.Off)
		}
		return d.R.Frame(f.Func, f.Off, f.Len, f.Module, !f.IsRIP)
	}
	a := f.Addr - kaslr
	if !f.IsRIP {
		a--
	}
	return d.R.Addr(a)
}

func ripInTrace(r oops.Report) bool {
	for _, f := range r.Frames {
		if f.Line == r.RIP.Line {
			return true
		}
	}
	return false
}

// Strip removes Options.StripPrefix from the frames' file names, as the
// annotated output does.
func (d *Decoder) Strip(fr []symbolize.Frame) []symbolize.Frame {
	prefix := d.Opts.StripPrefix // the build directory is already stripped
	out := make([]symbolize.Frame, len(fr))
	for i, f := range fr {
		if prefix != "" {
			f.File = strings.TrimPrefix(strings.TrimPrefix(f.File, strings.TrimSuffix(prefix, "/")), "/")
		}
		out[i] = f
	}
	return out
}

// Annotate writes log with every frame line annotated, and returns the
// reports it found.
func (d *Decoder) Annotate(log []byte, w io.Writer) ([]Resolved, error) {
	reps, err := d.Reports(log)
	if err != nil {
		return nil, err
	}
	byLine := map[int][]FrameResult{}
	warnAt := map[int][]string{}
	titleAt := map[int]string{}
	codeAt := map[int][]Instruction{}
	for _, r := range reps {
		if len(r.Code) > 0 {
			codeAt[r.CodeLine] = r.Code
		}
		for _, f := range r.Resolved {
			byLine[f.Line] = append(byLine[f.Line], f)
		}
		warnAt[r.Line] = r.Warnings
		titleAt[r.Line] = r.Title
	}
	bw := bufio.NewWriter(w)
	for n, rest := 1, log; len(rest) > 0; n++ {
		// Lines as oops.Parse counts them; a long one passes through whole.
		raw, next, _ := bytes.Cut(rest, []byte("\n"))
		rest = next
		// A log is untrusted: its colours are dropped, as the parser
		// drops them, and any other escape is shown, not sent to the
		// terminal; so are the names the vmlinux's DWARF gives.
		line := printable.String(string(oops.StripEscapes(raw)))
		if strings.HasPrefix(line, reportPrefix) || strings.HasPrefix(line, warningPrefix) || strings.HasPrefix(line, codePrefix) {
			continue // a decode's own note: this decode writes its own
		}
		if title, ok := titleAt[n]; ok {
			fmt.Fprintf(bw, "%s%s\n", reportPrefix, printable.String(title))
		}
		for _, warn := range warnAt[n] {
			fmt.Fprintf(bw, "%s%s\n", warningPrefix, printable.String(warn))
		}
		fs, ok := byLine[n]
		if !ok {
			fmt.Fprintln(bw, line)
			for _, in := range codeAt[n] {
				fmt.Fprintf(bw, "%s%s\n", codePrefix, printable.String(in.String()))
			}
			continue
		}
		if annotatedRE.MatchString(line) {
			// Decoded before (syzbot's report.txt, a decoded CI log, this
			// decode's own output): the line keeps the annotation it has.
			fmt.Fprintln(bw, line)
		} else {
			fmt.Fprintf(bw, "%s%s\n", line, printable.String(annotation(fs[0])))
		}
		d.source(bw, fs[0])
	}
	return reps, bw.Flush()
}

// The notes Annotate writes before a report's first line.
const (
	reportPrefix  = "initkit decode: report: "
	warningPrefix = "initkit decode: warning: "
	codePrefix    = "initkit decode: code: "
)

// annotatedRE matches a frame that carries its source location already:
// "func+0x1a/0x40 [mod] file.c:12" as syzbot, decode_stacktrace.sh and
// annotation write it, " ??:0" and " (unresolved: ...)" too, after a
// symbol or a bare address.
var annotatedRE = regexp.MustCompile(`(?:\+0x[0-9a-f]+/0x[0-9a-f]+(?: \[[A-Za-z0-9_]+\])?|\b0x[0-9a-f]{8,16}) (?:[^\s:]+:\d+\b|\(unresolved: )`)

// annotation is what follows a frame: " file:line", and for an inlined
// location the chain out to the symbol's own function.
func annotation(f FrameResult) string {
	if f.Error != "" {
		return " (unresolved: " + f.Error + ")"
	}
	if len(f.Source) == 0 {
		return ""
	}
	s := " " + loc(f.Source[0])
	if len(f.Source) > 1 {
		var chain []string
		for i := 1; i < len(f.Source); i++ {
			chain = append(chain, fmt.Sprintf("inlined into %s at %s", f.Source[i].Function, loc(f.Source[i])))
		}
		s += fmt.Sprintf(" [%s %s]", f.Source[0].Function, strings.Join(chain, ", "))
	}
	return s
}

func loc(f symbolize.Frame) string {
	if f.File == "" {
		return "??:0"
	}
	return fmt.Sprintf("%s:%d", f.File, f.Line)
}

// source prints the lines around the innermost location, like gdb's
// list *(func+off).
func (d *Decoder) source(w io.Writer, f FrameResult) {
	if d.Opts.Source == "" || len(f.Source) == 0 || f.Source[0].File == "" {
		return
	}
	lines, err := sourceLines(d.Opts.Source, f.Source[0].File)
	if err != nil {
		return
	}
	ctx := d.Opts.Context
	if ctx == 0 {
		ctx = 2
	}
	at := f.Source[0].Line
	for i := at - ctx; i <= at+ctx; i++ {
		if i < 1 || i > len(lines) {
			continue
		}
		mark := " "
		if i == at {
			mark = ">"
		}
		fmt.Fprintf(w, "    %s %5d  %s\n", mark, i, printable.String(lines[i-1]))
	}
}

// maxSource bounds a source file read for its lines: the kernel's
// largest are some 1 MB.
const maxSource = 16 << 20

// sourceLines returns the lines of file in the tree dir. The name comes
// from the vmlinux's DWARF, which is untrusted, and so is the tree: the
// file is opened inside dir (os.Root: no "..", no symlink out of it), only
// a regular file is read (a FIFO would block), and at most maxSource
// bytes of it. A name left absolute (no prefix stripped) is taken under
// dir, as filepath.Join would.
func sourceLines(dir, file string) ([]string, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	// O_NONBLOCK: opening a FIFO for reading would wait for a writer.
	f, err := root.OpenFile(strings.TrimLeft(file, "/"), os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", file)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSource))
	if err != nil {
		return nil, err
	}
	return strings.Split(string(b), "\n"), nil
}

// JSON writes the resolved reports as JSON.
func JSON(w io.Writer, reps []Resolved) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(reps)
}

// MaxLog bounds what ReadLog reads: more than any console log of a boot,
// and a bound on memory whatever the input (/dev/zero).
const MaxLog = 256 << 20

// ReadLog reads a whole log from r, named name in errors, up to MaxLog.
func ReadLog(r io.Reader, name string) ([]byte, error) { return readLog(r, name, MaxLog) }

func readLog(r io.Reader, name string, max int64) ([]byte, error) {
	r, closer, err := uncompressed(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	defer closer.Close()
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: more than %d bytes: not a console log; decode the part around the crash", name, max)
	}
	if err := checkText(b[:min(len(b), textSniff)]); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return b, nil
}

// uncompressed reads a log stored compressed (a CI artifact's
// console.log.xz, a .gz) as the text it holds: by its magic number,
// gzip, bzip2, xz, zstd or lz4; anything else as it is.
func uncompressed(r io.Reader) (io.Reader, io.Closer, error) {
	br := bufio.NewReader(r)
	magic, _ := br.Peek(compress.MagicLen)
	switch f := compress.Detect(magic); f {
	case compress.Gzip, compress.Bzip2, compress.XZ, compress.Zstd, compress.LZ4, compress.LZ4Frame:
		rc, err := compress.NewReader(br, f)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", f, err)
		}
		return &namedReader{r: rc, name: f.String()}, rc, nil
	}
	return br, io.NopCloser(nil), nil
}

// namedReader says which decompressor an error came from, and ends a
// stream that inflates past MaxLog: a bomb of short lines would keep
// --title reading for hours.
type namedReader struct {
	r    io.Reader
	name string
	n    int64
}

func (n *namedReader) Read(p []byte) (int, error) {
	c, err := n.r.Read(p)
	if n.n += int64(c); n.n > MaxLog {
		return c, fmt.Errorf("%s: decompresses to more than %d bytes: not a console log", n.name, MaxLog)
	}
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%s: %w", n.name, err)
	}
	return c, err
}

// textSniff is how much of a log checkText looks at.
const textSniff = 64 << 10

// checkText refuses what is no console log: more than 16 bytes and 1 %
// of head are NULs or control characters that no console writes (a tab, the line
// ends, a backspace, a bell and the escape of colours are fine). A disk
// image or a vmcore given by mistake would be written back as megabytes
// of escapes, "annotated", with no report found.
func checkText(head []byte) error {
	bad, first := 0, -1
	for i, c := range head {
		if c < 0x20 && !strings.ContainsRune("\t\n\r\x1b\b\a\f\v", rune(c)) {
			if bad++; first < 0 {
				first = i
			}
		}
	}
	if bad <= 16 || bad*100 <= len(head) { // a serial line's noise
		return nil
	}
	what := ""
	switch {
	case bytes.HasPrefix(head, []byte("\x7fELF")), bytes.HasPrefix(head, []byte("KDUMP   ")), bytes.HasPrefix(head, []byte("makedumpfile")):
		what = " (a vmcore? initkit vmcore reads it)"
	}
	return fmt.Errorf("binary data, not a console log: %d of its first %d bytes are control characters, the first at offset %d%s", bad, len(head), first, what)
}

// ReadLogFile reads the log at path, "-" for r (standard input, named
// "stdin"), up to MaxLog; it returns the name errors should give it.
func ReadLogFile(path string, r io.Reader) (string, []byte, error) {
	if path == "-" {
		b, err := ReadLog(r, "stdin")
		return "stdin", b, err
	}
	f, err := os.Open(path)
	if err != nil {
		return path, nil, err
	}
	defer f.Close()
	b, err := ReadLog(f, path)
	return path, b, err
}

// Block returns a crash report (a block of console lines) annotated with
// its frames' source lines and its code, decoded with the vmlinux of the
// kernel the policy chose (ForKernel): what boot, exec and repro show of a
// crash.
func Block(k *kernel.Choice, moduleDirs []string, block string) (string, error) {
	dec, err := ForKernel(k, moduleDirs, true, Options{})
	if err != nil {
		return "", err
	}
	defer dec.Close()
	var out strings.Builder
	if _, err := dec.Annotate([]byte(block), &out); err != nil {
		return "", err
	}
	return strings.TrimRight(out.String(), "\n"), nil
}

// Unresolved is a report as Resolved with no vmlinux: its frames as the
// log has them, its identity whole.
func Unresolved(r oops.Report) Resolved {
	res := Resolved{Report: r, Resolved: []FrameResult{}, Code: Disassemble(r)}
	for _, f := range r.Frames {
		res.Resolved = append(res.Resolved, FrameResult{Frame: f})
	}
	return res
}

// Titles writes the title of every report in log, one a line, in order:
// nothing for a log without one, and returns how many. It needs no
// vmlinux: a title comes from the log alone.
// The log is read as it comes, a report at a time: memory is bounded
// whatever its size.
func Titles(w io.Writer, log io.Reader) (int, error) {
	log, closer, err := uncompressed(log)
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	br := bufio.NewReaderSize(log, textSniff)
	head, _ := br.Peek(textSniff)
	if err := checkText(head); err != nil {
		return 0, err
	}
	log = br
	bw := bufio.NewWriter(w)
	n := 0
	err = oops.Each(log, func(r oops.Report) error {
		n++
		_, err := fmt.Fprintln(bw, r.Title)
		return err
	})
	return n, cmp.Or(err, bw.Flush())
}

// Args is what initkit decode's arguments name: one log (a file, "-" or
// none for stdin) or locations (FUNC+0xOFF[/0xLEN], 0xADDR) when the first
// is no file. ParseArgs checks them before any vmlinux is opened, so a
// mistyped log path is named as such, not as a missing kernel.
type Args struct {
	Log       string   // "-" for stdin; "" when Locations are given
	Locations []string // the symbols and addresses to resolve

	name string // the log's name in messages, once Read
	text []byte // the log, once Read
}

// Read reads the log (stdin for "-"), up to MaxLog, for WriteArgs, so
// that Release can tell which kernel wrote it before a vmlinux is opened.
func (a *Args) Read(stdin io.Reader) error {
	if a.Log == "" || a.text != nil {
		return nil
	}
	var err error
	a.name, a.text, err = ReadLogFile(a.Log, stdin)
	return err
}

// Release is the kernel release the log's first report names ("CPU: 0
// PID: 1 Comm: ... 6.1.0-57-cloud-arm64 #1"), "" when none does or the
// log was not Read: the kernel to decode it with
// (kernel.Choice.ForRelease).
func (a Args) Release() string {
	var release string
	oops.Each(bytes.NewReader(a.text), func(r oops.Report) error {
		if release = r.Version; release != "" {
			return errFound
		}
		return nil
	})
	return release
}

// errFound ends an oops.Each that found what it looked for.
var errFound = errors.New("found")

// ParseArgs sorts decode's arguments into a log or locations.
func ParseArgs(args []string) (Args, error) {
	if len(args) == 0 {
		return Args{Log: "-"}, nil
	}
	if args[0] != "-" {
		if _, err := os.Stat(args[0]); errors.Is(err, os.ErrNotExist) {
			for _, a := range args {
				if _, err := parseLocation(a); err != nil {
					return Args{}, err
				}
			}
			return Args{Locations: args}, nil
		}
	}
	if len(args) > 1 {
		return Args{}, fmt.Errorf("one log at a time (got %d arguments)", len(args))
	}
	return Args{Log: args[0]}, nil
}

// WriteArgs decodes what initkit decode's arguments name: locations
// (Locations) or one log (WriteLog).
func (d *Decoder) WriteArgs(a Args, stdin io.Reader, w, warn io.Writer, asJSON bool) error {
	if a.Log == "" {
		return d.Locations(w, a.Locations)
	}
	if err := a.Read(stdin); err != nil {
		return err
	}
	return d.WriteLog(w, warn, a.name, a.text, asJSON)
}

// WriteLog writes the log read from name with every report annotated
// (or, asJSON, its reports as JSON) to w, and tells warn when the log
// holds no report and what each report's frames warn of.
func (d *Decoder) WriteLog(w, warn io.Writer, name string, log []byte, asJSON bool) error {
	var reps []Resolved
	var err error
	if asJSON {
		if reps, err = d.Reports(log); err == nil {
			err = JSON(w, reps)
		}
	} else {
		reps, err = d.Annotate(log, w)
	}
	if err != nil {
		return err
	}
	if len(reps) == 0 {
		fmt.Fprintf(warn, "initkit decode: no crash report in %s\n", name)
	}
	for _, r := range reps {
		for _, m := range r.Warnings {
			fmt.Fprintf(warn, "initkit decode: %s line %d: warning: %s\n", name, r.Line, m)
		}
	}
	return nil
}
