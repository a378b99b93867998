// Command initkit builds, inspects, boots and debugs Linux initramfs images.
//
// Exit codes: 0 success; 1 a comparison found differences (diff); 2 an
// error, with one line on stderr naming the file and byte offset at fault.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/initkit/initkit/internal/interrupt"
	"github.com/initkit/initkit/internal/printable"
	"github.com/initkit/initkit/kernel"
	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes shared by every command.
const (
	exitOK      = 0
	exitDiffers = 1
	exitError   = 2
)

// exitCode carries a non-error exit status out of a command.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit %d", int(e)) }

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRoot()
	root.SetArgs(optionalValues(args))
	root.SetIn(stdin)
	root.SetOut(interrupt.Stdout(stdout))
	root.SetErr(stderr)
	ctx, stop := interrupt.Watch(stderr)
	defer stop()
	err := root.ExecuteContext(ctx)
	var code exitCode
	switch {
	case interrupt.Code() != 0:
		// Its reader went away ("initkit ls IMG | head") among them: a
		// filter ends silently, as if SIGPIPE had killed it.
		return interrupt.Code()
	case err == nil:
		return exitOK
	case errors.As(err, &code):
		return int(code)
	}
	printError(stderr, err)
	return exitError
}

// printError prints an error on stderr, escaped for the terminal: errors
// name files, entries, labels and log lines that come from untrusted
// input.
func printError(w io.Writer, err error) {
	fmt.Fprintf(w, "initkit: %s\n", printable.Text(err.Error()))
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "initkit",
		Short:         "Build, boot, debug and decode Linux early userspace",
		Long:          help("initkit"),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newVersion(), newLs(), newExtract(), newDiff(), newCat(), newPack(), newKernel(), newBoot(), newBuild(), newExec(), newDebug(), newDecode(), newDisk(), newVmcore(), newBug(), newRepro(), newBisect(), newLava())
	return root
}

func newVersion() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the initkit version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), "initkit", version)
			return nil
		},
	}
}

// openInput opens an image: a file, standard input for "-", or the
// initramfs built into a kernel image, which it says on stderr.
func openInput(cmd *cobra.Command, name string) (io.ReadCloser, error) {
	if name == "-" {
		return io.NopCloser(cmd.InOrStdin()), nil
	}
	r, builtin, err := kernel.OpenInitramfs(name)
	if builtin && err == nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "initkit: %s: a kernel image: its built-in initramfs\n", name)
	}
	return r, err
}

// withInput runs fn on the opened input and prefixes its errors with the
// file name, so every message says which file was at fault.
func withInput(cmd *cobra.Command, name string, fn func(io.Reader) error) error {
	f, err := openInput(cmd, name)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := fn(f); err != nil {
		var code exitCode
		if errors.As(err, &code) {
			return err
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// optionalValues joins "--gdb PORT" into "--gdb=PORT" and "--busybox
// PATH" into "--busybox=PATH": --gdb alone means port 1234 and build's
// --busybox alone /bin/busybox, and pflag takes a flag whose value is
// optional only as "--gdb=PORT", leaving "--gdb 1334" a stray argument.
// (build --busybox -o IMG took "-o" for busybox's path.)
func optionalValues(args []string) []string {
	out := slices.Clone(args)
	for i := 0; i+1 < len(out) && out[i] != "--"; i++ {
		next := out[i+1]
		_, err := strconv.Atoi(next)
		if out[i] == "--gdb" && err == nil || out[i] == "--busybox" && !strings.HasPrefix(next, "-") {
			out = slices.Replace(out, i, i+2, out[i]+"="+next)
		}
	}
	return out
}

// writeJSON prints v as indented JSON on stdout: every --json output.
func writeJSON(cmd *cobra.Command, v any) error {
	enc := json.NewEncoder(cmd.OutOrStdout())
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// nArgs accepts from min to max arguments (max -1: any number), and
// otherwise says what the command takes: cobra's own "accepts 1 arg(s),
// received 0" names neither the command nor its arguments.
func nArgs(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= min && (max < 0 || len(args) <= max) {
			return nil
		}
		given := fmt.Sprintf("%d arguments", len(args))
		if len(args) == 1 {
			given = "1 argument"
		}
		return fmt.Errorf("usage: %s (%s given)", cmd.UseLine(), given)
	}
}

// refuseZero refuses a 0 given for one of the flags named: the libraries
// read 0 as their default, and a zero typed on the command line is a
// mistake, not a wish for the default (repro --runs 0 did 10 runs).
func refuseZero(cmd *cobra.Command, names ...string) error {
	zero := map[string]string{"int": "0", "duration": "0s", "float64": "0"}
	for _, name := range names {
		f := cmd.Flags().Lookup(name)
		if f.Changed && f.Value.String() == zero[f.Value.Type()] {
			return fmt.Errorf("--%s %s: want more than 0", name, f.Value)
		}
	}
	return nil
}
