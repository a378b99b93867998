package main

import (
	"fmt"
	"io"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/initkit/initkit/decode"
	"github.com/initkit/initkit/kernel"
	"github.com/initkit/initkit/spec"
)

type decodeFlags struct {
	file          string
	kernel        kernel.Request
	source, strip string
	modules       []string
	json, noIndex bool
	title         bool
}

func newDecode() *cobra.Command {
	d := &decodeFlags{}
	cmd := &cobra.Command{
		Use:   "decode [LOG | - | FUNC+0xOFF[/0xLEN] | 0xADDR ...]",
		Short: "Annotate a kernel oops or panic log with source lines and inline frames",
		Long:  help("decode"),
		RunE:  func(cmd *cobra.Command, args []string) error { return runDecode(cmd, d, args) },
	}
	f := cmd.Flags()
	specFlag(f, &d.file)
	kernelFlags(f, &d.kernel)
	f.StringArrayVar(&d.modules, "modules", nil, "`DIR` to find NAME.ko in for module frames (repeatable; default /usr/lib/debug/lib/modules/RELEASE and /lib/modules/RELEASE)")
	f.StringVar(&d.source, "source", "", "kernel source `DIR`: print the lines around each frame")
	f.StringVar(&d.strip, "strip-prefix", "", "remove `PREFIX` from file names (default: the build directory, from DW_AT_comp_dir)")
	f.BoolVar(&d.json, "json", false, "print the reports and their frames as JSON")
	f.BoolVar(&d.noIndex, "no-index", false, "neither read nor write the index")
	f.BoolVar(&d.title, "title", false, "print each report's title, one a line (no vmlinux needed or read)")
	return cmd
}

// choose is the kernel whose vmlinux decodes: --vmlinux alone, else the
// kernel policy's (never fetched).
func (d *decodeFlags) choose(cmd *cobra.Command) (*kernel.Choice, error) {
	if d.kernel.Vmlinux != "" {
		return &kernel.Choice{Vmlinux: d.kernel.Vmlinux, From: "--vmlinux"}, nil
	}
	sf, err := spec.Load(d.file)
	if err != nil {
		return nil, err
	}
	req := sf.Kernel(d.kernel)
	req.NoFetch = true
	return kernel.Choose(cmd.Context(), req)
}

// open opens the decoder of what a names: the chosen kernel's vmlinux,
// or for a log the fetched kernel's of the release it names. The kernel
// is chosen before the log is read: with none, stdin is never waited on.
func (d *decodeFlags) open(cmd *cobra.Command, a *decode.Args) (*decode.Decoder, error) {
	k, err := d.choose(cmd)
	if err == nil {
		if err := a.Read(cmd.InOrStdin()); err != nil {
			return nil, err
		}
		k, _ = k.ForRelease(a.Release())
		var dec *decode.Decoder
		if dec, err = decode.ForKernel(k, d.modules, !d.noIndex, decode.Options{StripPrefix: d.strip, Source: d.source}); err == nil {
			return dec, nil
		}
	}
	if a.Log != "" {
		err = fmt.Errorf("%w (--title gives each report's title without a vmlinux)", err)
	}
	return nil, err
}

func runDecode(cmd *cobra.Command, d *decodeFlags, args []string) error {
	// A decode allocates a few tens of MB of short-lived DIEs and rows:
	// collecting less often is worth more than the memory it keeps.
	debug.SetGCPercent(400)
	a, err := decode.ParseArgs(args)
	if err != nil {
		return err
	}
	if d.title {
		return titles(cmd, a)
	}
	dec, err := d.open(cmd, &a)
	if err != nil {
		return err
	}
	defer dec.Close()
	return dec.WriteArgs(a, cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr(), d.json)
}

// titles prints the title of every report in the log, as --title asks.
func titles(cmd *cobra.Command, a decode.Args) error {
	if a.Log == "" {
		return fmt.Errorf("--title reads a log: %s is no file", a.Locations[0])
	}
	return withInput(cmd, a.Log, func(in io.Reader) error {
		n, err := decode.Titles(cmd.OutOrStdout(), in)
		if n == 0 && err == nil {
			// As decode without --title says: an empty stdout is no
			// failure, but a script's log may be the wrong one.
			fmt.Fprintf(cmd.ErrOrStderr(), "initkit decode: no crash report in %s\n", a.Log)
		}
		return err
	})
}
