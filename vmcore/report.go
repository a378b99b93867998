package vmcore

import (
	"context"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// PanicLine is the last "Kernel panic - not syncing" message of the log,
// or "" when the kernel did not panic.
func PanicLine(recs []Record) string {
	for i := len(recs) - 1; i >= 0; i-- {
		if strings.Contains(recs[i].Text, "Kernel panic - not syncing") {
			return strings.TrimSpace(recs[i].Text)
		}
	}
	return ""
}

// CheckVmlinux says whether vmlinux is the kernel that wrote the dump:
// its GNU build-id against VMCOREINFO's BUILD-ID, else its banner's
// release against OSRELEASE.
func (v *File) CheckVmlinux(vmlinux string) error {
	if v.Info == nil {
		return ErrNoInfo
	}
	f, err := elf.Open(vmlinux)
	if err != nil {
		return err
	}
	defer f.Close()
	if id := buildID(f); id != "" && v.Info.BuildID != "" {
		if !strings.EqualFold(id, v.Info.BuildID) {
			return fmt.Errorf("%s is not the kernel of %s: its build-id is %s, the dump's %s (release %s)", vmlinux, v.Name, id, v.Info.BuildID, v.Info.Release)
		}
		return nil
	}
	if s := f.Section(".rodata"); s != nil {
		if b, err := s.Data(); err == nil {
			want := "Linux version " + v.Info.Release + " "
			if !strings.Contains(string(b), want) {
				return fmt.Errorf("%s is not the kernel of %s: its banner lacks %q", vmlinux, v.Name, strings.TrimSpace(want))
			}
		}
	}
	return nil
}

// buildID is the hex of the NT_GNU_BUILD_ID note of f, "" without one.
func buildID(f *elf.File) string {
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NOTE {
			continue
		}
		b, err := s.Data()
		if err != nil {
			continue
		}
		for len(b) >= 12 {
			namesz, descsz, typ := int(binary.LittleEndian.Uint32(b)), int(binary.LittleEndian.Uint32(b[4:])), binary.LittleEndian.Uint32(b[8:])
			desc := 12 + align4(namesz)
			if desc+descsz > len(b) {
				break
			}
			if typ == 3 && string(trimNUL(b[12:12+namesz])) == "GNU" {
				return hex.EncodeToString(b[desc : desc+descsz])
			}
			b = b[desc+align4(descsz):]
		}
	}
	return ""
}

// Summary is what a dump says of itself, and its log, as JSON gives it.
type Summary struct {
	File, Format, Release, BuildID string
	KernelOffset                   uint64
	CrashTime                      *time.Time `json:",omitempty"`
	CPUs                           int
	Panic                          string
	Log                            []LogRecord
}

// LogRecord is a Record as JSON gives it.
type LogRecord struct {
	Seq    uint64 `json:"seq"`
	TimeNS int64  `json:"time_ns"`
	Level  int    `json:"level"`
	Text   string `json:"text"`
}

// Summarize gathers the facts of the dump and its log recs.
func (v *File) Summarize(recs []Record) Summary {
	s := Summary{File: v.Name, Format: v.Format, CPUs: v.CPUs, Panic: PanicLine(recs)}
	if in := v.Info; in != nil {
		s.Release, s.BuildID, s.KernelOffset = in.Release, in.BuildID, in.KernelOffset
		if !in.CrashTime.IsZero() {
			s.CrashTime = &in.CrashTime
		}
	}
	for _, r := range recs {
		s.Log = append(s.Log, LogRecord{r.Seq, int64(r.Time), r.Level, r.Text})
	}
	return s
}

// WriteFacts writes the summary's facts, a line each.
func (s Summary) WriteFacts(w io.Writer) {
	fmt.Fprintf(w, "vmcore:  %s (%s, %d CPU notes)\n", s.File, s.Format, s.CPUs)
	fmt.Fprintf(w, "kernel:  %s, build-id %s, KASLR offset %#x\n", s.Release, s.BuildID, s.KernelOffset)
	if s.CrashTime != nil {
		fmt.Fprintf(w, "crashed: %s\n", s.CrashTime.Format(time.RFC3339))
	} else {
		fmt.Fprintln(w, "crashed: no (a dump taken of a running kernel)")
	}
	if s.Panic != "" {
		fmt.Fprintf(w, "panic:   %s\n", s.Panic)
	}
}

// Crash runs crash(8) non-interactively on the dump at path with
// vmlinux: cmds (default bt, ps, log) on its stdin, then quit.
func Crash(ctx context.Context, vmlinux, path string, cmds []string, stdout, stderr io.Writer) error {
	if len(cmds) == 0 {
		cmds = []string{"bt", "ps", "log"}
	}
	c := exec.CommandContext(ctx, "crash", "-s", vmlinux, path)
	c.Stdin = strings.NewReader(strings.Join(append(cmds, "quit"), "\n") + "\n")
	c.Stdout, c.Stderr = stdout, stderr
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.Run(); err != nil {
		return fmt.Errorf("crash: %w", err)
	}
	return nil
}
