package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/initkit/initkit/decode"
	"github.com/initkit/initkit/kernel"
)

type decodeFlags struct {
	kernel        kernel.Request
	source, strip string
	modules       []string
	json, noIndex bool
}

func newDecode() *cobra.Command {
	d := &decodeFlags{}
	cmd := &cobra.Command{
		Use:   "decode [LOG | - | FUNC+0xOFF[/0xLEN] | 0xADDR ...]",
		Short: "annotate a kernel oops or panic log with source lines and inline frames",
		Long: `Reads a console log (a file, or stdin), finds every crash report in it (Oops,
BUG, WARNING, panic, general protection fault, KASAN, UBSAN, KFENCE, soft
lockup, hung task, RCU stall) and writes the log back with the source line of
every frame, the inline chain included, from the vmlinux's DWARF. Module
frames ([name]) are resolved in NAME.ko found under --modules. Given
symbols or addresses instead of a log, it resolves each one.

Resolved frames are kept in an index in the cache, keyed by the vmlinux's
build-id, so that decoding the same crash again reads no DWARF.
The vmlinux is --vmlinux, else the one that belongs to the kernel: --kernel,
$INITKIT_KERNEL, kernel in the [boot] table of ./initkit.toml, or the one
initkit kernel fetch cached (with --debug-info).`,
		RunE: func(cmd *cobra.Command, args []string) error { return runDecode(cmd, d, args) },
	}
	f := cmd.Flags()
	kernelFlags(f, &d.kernel)
	f.StringArrayVar(&d.modules, "modules", nil, "`DIR` to find NAME.ko in for module frames (repeatable; default /usr/lib/debug/lib/modules/RELEASE and /lib/modules/RELEASE)")
	f.StringVar(&d.source, "source", "", "kernel source `DIR`: print the lines around each frame")
	f.StringVar(&d.strip, "strip-prefix", "", "remove `PREFIX` from file names (default: the build directory, from DW_AT_comp_dir)")
	f.BoolVar(&d.json, "json", false, "print the reports and their frames as JSON")
	f.BoolVar(&d.noIndex, "no-index", false, "neither read nor write the index")
	return cmd
}

// vmlinux is --vmlinux, else the one the kernel policy finds (setting
// the module directories and the prefix to strip as that kernel's).
func (d *decodeFlags) vmlinux(cmd *cobra.Command) (string, error) {
	if d.kernel.Vmlinux != "" {
		return d.kernel.Vmlinux, nil
	}
	req := d.kernel
	req.NoFetch = true
	k, err := kernel.Choose(cmd.Context(), req)
	if err != nil {
		return "", err
	}
	vmlinux, err := k.NeedVmlinux()
	if err != nil {
		return "", err
	}
	if len(d.modules) == 0 && k.ModulesDir != "" && k.Fetched == nil {
		d.modules = []string{k.ModulesDir}
	}
	if d.strip == "" && k.Source != "" {
		d.strip = k.Source + "/" // an O= build names its sources by their paths in the tree
	}
	return vmlinux, nil
}

func (d *decodeFlags) open(cmd *cobra.Command) (*decode.Decoder, error) {
	vmlinux, err := d.vmlinux(cmd)
	if err != nil {
		return nil, err
	}
	return decode.Open(vmlinux, d.modules, !d.noIndex, decode.Options{StripPrefix: d.strip, Source: d.source})
}

func runDecode(cmd *cobra.Command, d *decodeFlags, args []string) error {
	// A decode allocates a few tens of MB of short-lived DIEs and rows:
	// collecting less often is worth more than the memory it keeps.
	debug.SetGCPercent(400)
	dec, err := d.open(cmd)
	if err != nil {
		return err
	}
	defer dec.Close()
	if len(args) > 0 && args[0] != "-" {
		if _, err := os.Stat(args[0]); errors.Is(err, os.ErrNotExist) {
			return dec.Locations(cmd.OutOrStdout(), args)
		}
	}
	if len(args) > 1 {
		return fmt.Errorf("one log at a time (got %d arguments)", len(args))
	}
	path := "-"
	if len(args) == 1 {
		path = args[0]
	}
	name, log, err := decode.ReadLogFile(path, cmd.InOrStdin())
	if err != nil {
		return err
	}
	var reps []decode.Resolved
	if d.json {
		if reps, err = dec.Reports(log); err == nil {
			err = decode.JSON(cmd.OutOrStdout(), reps)
		}
	} else {
		reps, err = dec.Annotate(log, cmd.OutOrStdout())
	}
	if err != nil {
		return err
	}
	if len(reps) == 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "initkit decode: no crash report in %s\n", name)
	}
	for _, r := range reps {
		for _, w := range r.Warnings {
			fmt.Fprintf(cmd.ErrOrStderr(), "initkit decode: %s line %d: warning: %s\n", name, r.Line, w)
		}
	}
	return nil
}
