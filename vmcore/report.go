package vmcore

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/initkit/initkit/decode"
	"github.com/initkit/initkit/internal/atomicfile"
	"github.com/initkit/initkit/internal/printable"
	"github.com/initkit/initkit/internal/procgroup"
	"github.com/initkit/initkit/kernel"
	"github.com/initkit/initkit/oops"
	"github.com/initkit/initkit/symbolize"
)

// CheckVmlinux says whether vmlinux is the kernel that wrote the dump:
// its GNU build-id against VMCOREINFO's BUILD-ID, else its banner's
// release against OSRELEASE.
func (v *File) CheckVmlinux(vmlinux string) error {
	if v.Info == nil {
		return ErrNoInfo
	}
	id, err := symbolize.Identify(vmlinux)
	if err != nil {
		return err
	}
	if id.BuildID != "" && v.Info.BuildID != "" {
		if !strings.EqualFold(id.BuildID, v.Info.BuildID) {
			return fmt.Errorf("%s is not the kernel of %s: its build-id is %s, the dump's %s (release %s)", vmlinux, v.Name, id.BuildID, v.Info.BuildID, v.Info.Release)
		}
		return nil
	}
	if id.Release != "" && id.Release != v.Info.Release {
		return fmt.Errorf("%s is not the kernel of %s: its release is %s, the dump's %s", vmlinux, v.Name, id.Release, v.Info.Release)
	}
	return nil
}

// Summary is what a dump says of itself.
type Summary struct {
	File         string     `json:"file"`
	Format       string     `json:"format"`
	Arch         string     `json:"arch"`
	Release      string     `json:"release"`
	BuildID      string     `json:"build_id"`
	KernelOffset uint64     `json:"kernel_offset"`
	CrashTime    *time.Time `json:"crash_time,omitempty"`
	CPUs         int        `json:"cpus"`
	Panic        string     `json:"panic,omitempty"`
}

// LogRecord is a Record as JSON gives it.
type LogRecord struct {
	Seq    uint64 `json:"seq"`
	TimeNS int64  `json:"time_ns"`
	Level  int    `json:"level"`
	Text   string `json:"text"`
}

// Summarize gathers the facts of the dump and of its log recs.
func (v *File) Summarize(recs []Record) Summary {
	s := Summary{File: v.Name, Format: v.Format, Arch: v.Arch, CPUs: v.CPUs, Panic: panicLine(recs)}
	if in := v.Info; in != nil {
		s.Release, s.BuildID, s.KernelOffset = in.Release, in.BuildID, in.KernelOffset
		if !in.CrashTime.IsZero() {
			s.CrashTime = &in.CrashTime
		}
	}
	return s
}

// WriteFacts writes the summary's facts, a line each; what the dump says
// (its release, its panic line) is escaped for the terminal.
func (s Summary) WriteFacts(w io.Writer) {
	fmt.Fprintf(w, "vmcore:  %s (%s, %s, %d CPU notes)\n", s.File, s.Format, s.Arch, s.CPUs)
	fmt.Fprintf(w, "kernel:  %s, build-id %s, KASLR offset %#x\n", printable.String(s.Release), s.BuildID, s.KernelOffset)
	switch {
	case s.CrashTime != nil && s.CrashTime.Year() < 2000:
		// CRASHTIME is the kernel's wall clock, which only an RTC driver
		// sets: a tinyconfig arm64 kernel (no PL031) crashes in 1970.
		fmt.Fprintf(w, "crashed: yes, by its crash kernel, %v after the epoch (the guest's clock was never set: no RTC driver)\n", s.CrashTime.Sub(time.Unix(0, 0)))
	case s.CrashTime != nil:
		fmt.Fprintf(w, "crashed: %s\n", s.CrashTime.Format(time.RFC3339))
	case s.Panic != "":
		// QEMU's dump of a kernel that panicked (boot --dump-on-crash):
		// no crash kernel ran to note the time.
		fmt.Fprintln(w, "crashed: yes, by its log (the dump was taken by QEMU after the panic, not by a crash kernel)")
	default:
		fmt.Fprintln(w, "crashed: no (a dump taken of a running kernel)")
	}
	if s.Panic != "" {
		fmt.Fprintf(w, "panic:   %s\n", printable.String(s.Panic))
	}
}

// Crash runs crash(8) non-interactively on the dump at path with
// vmlinux: cmds (default bt, ps, log) on its stdin, then quit.
//
// A dump is from the guest: crash may take forever on a corrupt one, so
// it runs for at most limit (DefaultCrashLimit when 0), and is killed
// with anything it started.
func Crash(ctx context.Context, vmlinux, path string, cmds []string, limit time.Duration, stdout, stderr io.Writer) error {
	if len(cmds) == 0 {
		cmds = []string{"bt", "ps", "log"}
	}
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(limit, DefaultCrashLimit))
	defer cancel()
	// Nothing in the working directory configures crash: no ./.crashrc
	// (nor $HOME's: --no_crashrc) runs its commands, and crash runs in an
	// empty directory of its own, the files named by absolute paths.
	var err error
	if vmlinux, err = filepath.Abs(vmlinux); err != nil {
		return err
	}
	if path, err = filepath.Abs(path); err != nil {
		return err
	}
	dir, err := atomicfile.TempDir("crash")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	c := exec.CommandContext(ctx, "crash", "-s", "--no_crashrc", vmlinux, path)
	c.Dir = dir
	c.Stdin = strings.NewReader(strings.Join(append(cmds, "quit"), "\n") + "\n")
	c.Stdout, c.Stderr = stdout, stderr
	procgroup.Own(c)
	err = c.Run()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("crash: still running on %s after %v: stopped (--crash-timeout)", path, cmp.Or(limit, DefaultCrashLimit))
	}
	if err != nil {
		return fmt.Errorf("crash: %w", err)
	}
	return nil
}

// DefaultCrashLimit is how long crash may run on a dump by default.
const DefaultCrashLimit = 10 * time.Minute

// panicLine is the last "Kernel panic - not syncing" message of the log.
func panicLine(recs []Record) string {
	texts := make([]string, len(recs))
	for i, r := range recs {
		texts[i] = r.Text
	}
	return oops.PanicLine(texts)
}

// ReportOptions say what Report shows of a dump, and with which kernel.
type ReportOptions struct {
	// Kernel is the kernel the policy chose for the dump (KernelErr:
	// why there is none); its vmlinux must be the dump's kernel.
	Kernel     *kernel.Choice
	KernelErr  error
	ModuleDirs []string // where a module frame's NAME.ko is found
	Tail       int      // the last lines of the log (0: all)
	JSON       bool
	// Crash runs crash(8) with CrashCmds instead (default bt, ps, log).
	Crash     bool
	CrashCmds []string
	// CrashLimit bounds crash's run (0: DefaultCrashLimit).
	CrashLimit time.Duration
}

// Report is initkit vmcore: the dump at path shown (Show) with its crash
// reports decoded by the kernel's vmlinux, or crash(8) run on both. A
// vmlinux that is not the dump's kernel is an error; no vmlinux is one
// only for crash(8), and otherwise a note on warn.
func Report(ctx context.Context, path string, o ReportOptions, w, warn io.Writer) error {
	if o.Tail < 0 || o.CrashLimit < 0 {
		return fmt.Errorf("tail %d, crash limit %v: neither can be negative (0: all, the default)", o.Tail, o.CrashLimit)
	}
	v, err := Open(path)
	if err != nil {
		return err
	}
	defer v.Close()
	o.Kernel, o.KernelErr = dumpsKernel(v, o.Kernel, o.KernelErr)
	var vmlinux string
	vmErr := o.KernelErr
	if vmErr == nil {
		vmlinux, vmErr = o.Kernel.NeedVmlinux()
	}
	if vmErr == nil && v.Info != nil {
		if err := v.CheckVmlinux(vmlinux); err != nil {
			return err
		}
	}
	if o.Crash {
		if host := kernel.HostArch(); v.Arch != host {
			// crash(8) reads the dumps of the machine it was built for
			// (Debian's: the host's); it said "not a supported file format".
			return fmt.Errorf("%s: an %s dump, and crash(8) reads %s dumps only (it is built for the host's machine): without --crash, initkit vmcore shows its facts, log and reports", path, v.Arch, host)
		}
		if vmErr != nil {
			return vmErr
		}
		return Crash(ctx, vmlinux, path, o.CrashCmds, o.CrashLimit, w, warn)
	}
	var dec *decode.Decoder
	if vmErr == nil {
		dec, err = decode.ForKernel(o.Kernel, o.ModuleDirs, true, decode.Options{})
		switch {
		case errors.Is(err, symbolize.ErrNoDWARF):
			// The facts and the log need none: only file:line does.
			vmErr, dec = err, nil
		case err != nil:
			return err
		default:
			defer dec.Close()
		}
	}
	if vmErr != nil && !o.JSON {
		defer fmt.Fprintf(warn, "initkit vmcore: crash reports not decoded: %v\n", vmErr)
	}
	return v.Show(w, dec, o.Tail, o.JSON)
}

// dumpsKernel is the kernel to read v with: k, unless k is the fetched
// kernel a command takes when none is named and the dump is of another
// release (an arm64 guest's, an older kernel's): then the fetched kernel
// of the dump's release, or none, which leaves the reports undecoded
// rather than refusing the dump for a vmlinux the user never gave.
func dumpsKernel(v *File, k *kernel.Choice, err error) (*kernel.Choice, error) {
	if err != nil || v.Info == nil {
		return k, err
	}
	own, ok := k.ForRelease(v.Info.Release)
	if !ok {
		return nil, fmt.Errorf("the dump is of kernel %s, and none of that release was given or fetched (the fetched one is %s): give --vmlinux or --kernel", printable.String(v.Info.Release), k.Release)
	}
	return own, nil
}

// Show writes what initkit vmcore prints of the dump: its facts, its
// kernel log (the last tail lines; 0 for all), and its crash reports
// decoded with dec (nil: not decoded); or, asJSON, the same as JSON: the
// facts, "log" (each record) and "reports". The log is written a piece
// at a time: its text is the largest thing a dump gives.
func (v *File) Show(w io.Writer, dec *decode.Decoder, tail int, asJSON bool) error {
	recs, err := v.Log()
	truncated := errors.Is(err, ErrLogTruncated)
	if err != nil && !truncated {
		return fmt.Errorf("%s: the kernel log: %w", v.Name, err)
	}
	log := FormatLog(recs)
	var reps []decode.Resolved
	if dec != nil {
		if reps, err = dec.Reports([]byte(log)); err != nil {
			return err
		}
	} else {
		// Undecoded, the reports still have their titles: they come from
		// the log alone.
		found, err := oops.Parse(strings.NewReader(log))
		if err != nil {
			return err
		}
		for _, r := range found {
			reps = append(reps, decode.Unresolved(r))
		}
	}
	bw := bufio.NewWriter(w)
	if asJSON {
		err = v.writeJSON(bw, recs, reps)
	} else {
		err = v.writeText(bw, recs, log, reps, dec, tail, truncated)
	}
	if err != nil {
		return err
	}
	return bw.Flush()
}

func (v *File) writeText(w io.Writer, recs []Record, log string, reps []decode.Resolved, dec *decode.Decoder, tail int, truncated bool) error {
	v.Summarize(recs).WriteFacts(w)
	all := strings.SplitAfter(log, "\n")
	shown := all
	if tail > 0 && tail < len(all) {
		shown = all[len(all)-tail-1:]
	}
	fmt.Fprintf(w, "--- kernel log (%d records) ---\n", len(recs))
	for _, l := range shown {
		io.WriteString(w, l)
	}
	if truncated {
		fmt.Fprintf(w, "--- %v ---\n", ErrLogTruncated)
	}
	switch {
	case len(reps) == 0:
		fmt.Fprintln(w, "--- no crash report in the log ---")
	case dec == nil:
		fmt.Fprintf(w, "--- %d crash report(s) ---\n", len(reps))
		for _, r := range reps {
			fmt.Fprintf(w, "report: %s\n", r.Title)
			for _, in := range r.Code { // the Code: line needs no vmlinux
				fmt.Fprintf(w, "  code: %s\n", printable.String(in.String()))
			}
		}
	default:
		fmt.Fprintf(w, "--- %d crash report(s), decoded ---\n", len(reps))
		from := 0
		for _, l := range all[:reps[0].Line-1] {
			from += len(l)
		}
		_, err := dec.Annotate([]byte(log[from:]), w)
		return err
	}
	return nil
}

// writeJSON writes the facts, the log a record at a time, and the reports.
func (v *File) writeJSON(w io.Writer, recs []Record, reps []decode.Resolved) error {
	facts, err := json.Marshal(v.Summarize(recs))
	if err != nil {
		return err
	}
	w.Write(facts[:len(facts)-1])
	io.WriteString(w, `,"log":[`)
	for i, r := range recs {
		b, err := json.Marshal(LogRecord{r.Seq, int64(r.Time), r.Level, r.Text})
		if err != nil {
			return err
		}
		if i > 0 {
			io.WriteString(w, ",")
		}
		w.Write(b)
	}
	b, err := json.Marshal(reps)
	if err != nil {
		return err
	}
	io.WriteString(w, `],"reports":`)
	w.Write(b)
	_, err = io.WriteString(w, "}\n")
	return err
}
