package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/initkit/initkit/internal/atomicfile"
	"github.com/initkit/initkit/kernel"
	"github.com/initkit/initkit/qemu"
)

// Exit codes of initkit boot, beyond the shared ones.
const (
	exitCrash   = 3 // the kernel panicked, oopsed or lost init
	exitTimeout = 4 // --timeout was reached
	exitQEMU    = 5 // QEMU could not start or failed
)

func newBoot() *cobra.Command {
	var cfg qemu.Config
	var timeout time.Duration
	var logPath string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "boot",
		Short: "Boot a kernel and initramfs in QEMU and turn the outcome into an exit code",
		Long: `Boot a kernel with an initramfs in QEMU (TCG by default), stream the serial
console, save it without ANSI escapes to --log, and exit with:
  0  the guest powered off
  3  the kernel panicked, oopsed, hit a BUG, or init died
  4  --timeout was reached (QEMU is killed)
  5  QEMU failed to start
The kernel is --kernel, else $INITKIT_KERNEL, else the one initkit kernel fetch cached.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.Kernel == "" {
				k, err := defaultKernel(cmd.Context())
				if err != nil {
					return err
				}
				cfg.Kernel = k
			}
			if dryRun {
				fmt.Fprintln(cmd.OutOrStdout(), shellQuote(append([]string{"qemu-system-x86_64"}, cfg.Args()...)))
				return nil
			}
			return boot(cmd, cfg, timeout, logPath)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Kernel, "kernel", os.Getenv("INITKIT_KERNEL"), "kernel image `FILE` to boot")
	f.StringVar(&cfg.Initrd, "initrd", "", "initramfs `IMAGE`")
	f.StringVar(&cfg.Append, "append", "", "extra kernel command line")
	f.StringVar(&cfg.Memory, "mem", "1G", "guest memory")
	f.IntVar(&cfg.SMP, "smp", 1, "guest CPUs")
	f.DurationVar(&timeout, "timeout", 0, "stop the guest after this long (0: no limit)")
	f.StringVar(&logPath, "log", "", "save the console to `FILE` (default: initkit-boot.log in the current directory)")
	f.BoolVar(&dryRun, "dry-run", false, "print the QEMU command instead of running it")
	return cmd
}

func defaultKernel(ctx context.Context) (string, error) {
	dir, err := kernel.CacheDir()
	if err != nil {
		return "", err
	}
	k, err := kernel.Fetch(ctx, dir, "")
	if err != nil {
		return "", fmt.Errorf("no --kernel given and none could be fetched: %w", err)
	}
	return k.Image, nil
}

func boot(cmd *cobra.Command, cfg qemu.Config, timeout time.Duration, logPath string) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	console := &qemu.Console{}
	err := qemu.Run(ctx, cfg, io.MultiWriter(cmd.OutOrStdout(), console))
	if logPath == "" {
		logPath = "initkit-boot.log"
	}
	if werr := atomicfile.Write(logPath, 0o644, func(w io.Writer) error {
		_, err := io.WriteString(w, console.Log())
		return err
	}); werr != nil {
		return werr
	}
	logPath, _ = filepath.Abs(logPath)
	verdict := func(code int, format string, a ...any) error {
		fmt.Fprintf(cmd.ErrOrStderr(), "initkit boot: "+format+" (console log: %s)\n", append(a, logPath)...)
		return exitCode(code)
	}
	switch {
	case console.Crash() != "":
		return verdict(exitCrash, "kernel crash: %s", strings.TrimSpace(console.Crash()))
	case errors.Is(err, qemu.ErrTimeout):
		return verdict(exitTimeout, "timed out after %v", timeout)
	case ctx.Err() != nil:
		return verdict(exitTimeout, "interrupted")
	case err != nil:
		return verdict(exitQEMU, "%v", err)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "initkit boot: guest powered off (console log: %s)\n", logPath)
	return nil
}

// shellQuote renders args so that a shell would split them back the same.
func shellQuote(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=/.,:@+") == "" {
			out[i] = a
		} else {
			out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(out, " ")
}
