package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/initkit/initkit/decode"
	"github.com/initkit/initkit/kernel"
	"github.com/initkit/initkit/symbolize"
)

type decodeFlags struct {
	vmlinux, source, strip string
	modules                []string
	json, noIndex          bool
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
build-id, so that decoding the same crash again reads no DWARF.`,
		RunE: func(cmd *cobra.Command, args []string) error { return runDecode(cmd, d, args) },
	}
	f := cmd.Flags()
	f.StringVar(&d.vmlinux, "vmlinux", "", "vmlinux with DWARF (default: the fetched kernel's, from initkit kernel fetch --debug-info)")
	f.StringArrayVar(&d.modules, "modules", nil, "`DIR` to find NAME.ko in for module frames (repeatable; default /usr/lib/debug/lib/modules/RELEASE and /lib/modules/RELEASE)")
	f.StringVar(&d.source, "source", "", "kernel source `DIR`: print the lines around each frame")
	f.StringVar(&d.strip, "strip-prefix", "", "remove `PREFIX` from file names (default: the build directory, from DW_AT_comp_dir)")
	f.BoolVar(&d.json, "json", false, "print the reports and their frames as JSON")
	f.BoolVar(&d.noIndex, "no-index", false, "neither read nor write the index")
	return cmd
}

var symbolArg = regexp.MustCompile(`^([A-Za-z0-9_.$]+)\+0x([0-9a-f]+)(?:/0x([0-9a-f]+))?$`)

func runDecode(cmd *cobra.Command, d *decodeFlags, args []string) error {
	// A decode allocates a few tens of MB of short-lived DIEs and rows:
	// collecting less often is worth more than the memory it keeps.
	debug.SetGCPercent(400)
	res, closeAll, err := openResolver(d.vmlinux, d.modules, !d.noIndex)
	if err != nil {
		return err
	}
	defer closeAll()
	dec := &decode.Decoder{R: res, Opts: decode.Options{StripPrefix: d.strip, Source: d.source}}
	if len(args) > 0 && args[0] != "-" {
		if _, err := os.Stat(args[0]); errors.Is(err, os.ErrNotExist) {
			return oneShot(cmd.OutOrStdout(), dec, args)
		}
	}
	name, log, err := readLog(cmd.InOrStdin(), args)
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
	return res.Index.Save()
}

func readLog(stdin io.Reader, args []string) (string, []byte, error) {
	if len(args) == 0 || args[0] == "-" {
		b, err := io.ReadAll(stdin)
		return "stdin", b, err
	}
	if len(args) > 1 {
		return "", nil, fmt.Errorf("one log at a time (got %d arguments)", len(args))
	}
	b, err := os.ReadFile(args[0])
	return args[0], b, err
}

// openResolver opens the vmlinux (the fetched kernel's by default), its
// modules directories and, unless disabled, its index.
func openResolver(vmlinux string, modules []string, index bool) (*symbolize.Resolver, func(), error) {
	if vmlinux == "" {
		var err error
		if vmlinux, err = cachedVmlinux(); err != nil {
			return nil, nil, err
		}
	}
	f, err := symbolize.Open(vmlinux)
	if errors.Is(err, symbolize.ErrNoDWARF) {
		return nil, nil, fmt.Errorf("%s has no DWARF: use the vmlinux of the kernel's -dbg package "+
			"(initkit kernel fetch --debug-info, or /usr/lib/debug/boot/vmlinux-RELEASE from linux-image-RELEASE-dbg)", vmlinux)
	}
	if err != nil {
		return nil, nil, err
	}
	if len(modules) == 0 {
		modules = defaultModuleDirs(f.Release())
	}
	res := &symbolize.Resolver{Vmlinux: f, ModulesDirs: modules}
	if index {
		if dir, err := kernel.CacheDir(); err == nil {
			res.Index, _ = symbolize.OpenIndex(filepath.Join(dir, "symbolize"), f.BuildID())
		}
	}
	return res, func() { res.Close(); f.Close() }, nil
}

// oneShot resolves symbols and addresses given on the command line, at
// the exact address, as gdb's list *(func+off) does.
func oneShot(w io.Writer, dec *decode.Decoder, args []string) error {
	for _, a := range args {
		var fr []symbolize.Frame
		var err error
		if m := symbolArg.FindStringSubmatch(a); m != nil {
			off, _ := strconv.ParseUint(m[2], 16, 64)
			size, _ := strconv.ParseUint(m[3], 16, 64)
			fr, err = dec.R.Frame(m[1], off, size, "", false)
		} else if addr, perr := strconv.ParseUint(strings.TrimPrefix(a, "0x"), 16, 64); perr == nil {
			fr, err = dec.R.Addr(addr)
		} else {
			return fmt.Errorf("%s: not a log file, FUNC+0xOFF[/0xLEN] or 0xADDRESS", a)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", a, err)
		}
		fmt.Fprintf(w, "%s:\n", a)
		for _, f := range dec.Strip(fr) {
			in := ""
			if f.Inlined {
				in = " (inlined)"
			}
			fmt.Fprintf(w, "  %s at %s:%d%s\n", f.Function, f.File, f.Line, in)
		}
	}
	return dec.R.Index.Save()
}

// cachedVmlinux is the DWARF vmlinux of the newest kernel in the cache.
func cachedVmlinux() (string, error) {
	dir, err := kernel.CacheDir()
	if err != nil {
		return "", err
	}
	for _, k := range kernel.Cached(dir) {
		if p := k.DebugVmlinux(); p != "" {
			return p, nil
		}
	}
	return "", fmt.Errorf("no --vmlinux given and none in the cache: give --vmlinux, or run initkit kernel fetch --debug-info")
}

// defaultModuleDirs are where a distribution keeps the modules of
// release, their debug copies first.
func defaultModuleDirs(release string) []string {
	if release == "" {
		return nil
	}
	var dirs []string
	for _, d := range []string{"/usr/lib/debug/lib/modules/" + release, "/lib/modules/" + release} {
		if _, err := os.Stat(d); err == nil {
			dirs = append(dirs, d)
		}
	}
	return dirs
}
