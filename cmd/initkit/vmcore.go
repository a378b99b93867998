package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/initkit/initkit/decode"
	"github.com/initkit/initkit/vmcore"
)

type vmcoreFlags struct {
	decodeFlags
	tail     int
	crash    bool
	crashCmd []string
}

func newVmcore() *cobra.Command {
	v := &vmcoreFlags{}
	cmd := &cobra.Command{
		Use:   "vmcore VMCORE",
		Short: "Read a kernel memory dump: its facts, its kernel log, its crash reports decoded",
		Long: `Opens an ELF vmcore (a capture kernel's /proc/vmcore, QEMU's dump-guest-memory)
or a kdump-compressed one (makedumpfile, QEMU's kdump-zlib), natively: it
prints the dump's facts (release, build-id, crash time, CPUs, panic), the
kernel log from the printk ring buffer, and every crash report in it
decoded to file:line with inline frames, as initkit decode does, with the
vmlinux the kernel policy finds (--vmlinux, --kernel, ...). A vmlinux of
another kernel is refused. --crash runs crash(8) on the same files instead
(bt, ps and log, or --crash-cmd).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runVmcore(cmd, v, args[0]) },
	}
	f := cmd.Flags()
	kernelFlags(f, &v.kernel)
	f.StringArrayVar(&v.modules, "modules", nil, "`DIR` to find NAME.ko in for module frames (repeatable)")
	f.BoolVar(&v.json, "json", false, "print the facts, the log and the decoded reports as JSON")
	f.IntVar(&v.tail, "tail", 0, "print only the last `N` lines of the log (0: all)")
	f.BoolVar(&v.crash, "crash", false, "run crash(8) non-interactively on the dump and the vmlinux")
	f.StringArrayVar(&v.crashCmd, "crash-cmd", nil, "crash `COMMAND` to run (repeatable; default bt, ps, log)")
	return cmd
}

func runVmcore(cmd *cobra.Command, v *vmcoreFlags, path string) error {
	d, err := vmcore.Open(path)
	if err != nil {
		return err
	}
	defer d.Close()
	vmlinux, vmErr := v.vmlinux(cmd)
	if vmErr == nil && d.Info != nil {
		if err := d.CheckVmlinux(vmlinux); err != nil {
			return err
		}
	}
	if v.crash {
		if vmErr != nil {
			return vmErr
		}
		return vmcore.Crash(cmd.Context(), vmlinux, path, v.crashCmd, cmd.OutOrStdout(), cmd.ErrOrStderr())
	}
	recs, err := d.Log()
	if err != nil {
		return fmt.Errorf("%s: the kernel log: %w", path, err)
	}
	log := vmcore.FormatLog(recs)
	var reps []decode.Resolved
	var dec *decode.Decoder
	if vmErr == nil {
		if dec, err = decode.Open(vmlinux, v.modules, true, decode.Options{}); err != nil {
			return err
		}
		defer dec.Close()
		if reps, err = dec.Reports([]byte(log)); err != nil {
			return err
		}
	}
	if v.json {
		return vmcoreJSON(cmd, d, recs, reps)
	}
	w := cmd.OutOrStdout()
	d.Summarize(recs).WriteFacts(w)
	all := strings.SplitAfter(log, "\n")
	shown := all
	if v.tail > 0 && v.tail < len(all) {
		shown = all[len(all)-v.tail-1:]
	}
	fmt.Fprintf(w, "--- kernel log (%d records) ---\n%s", len(recs), strings.Join(shown, ""))
	switch {
	case vmErr != nil:
		fmt.Fprintf(cmd.ErrOrStderr(), "initkit vmcore: crash reports not decoded: %v\n", vmErr)
	case len(reps) == 0:
		fmt.Fprintln(w, "--- no crash report in the log ---")
	default:
		fmt.Fprintf(w, "--- %d crash report(s), decoded ---\n", len(reps))
		_, err = dec.Annotate([]byte(strings.Join(all[reps[0].Line-1:], "")), w)
	}
	return err
}

func vmcoreJSON(cmd *cobra.Command, d *vmcore.File, recs []vmcore.Record, reps []decode.Resolved) error {
	out := struct {
		vmcore.Summary
		Reports []decode.Resolved
	}{d.Summarize(recs), reps}
	e := json.NewEncoder(cmd.OutOrStdout())
	e.SetIndent("", "  ")
	return e.Encode(out)
}
