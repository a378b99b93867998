package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/initkit/initkit/bug"
	"github.com/initkit/initkit/internal/printable"
	"github.com/initkit/initkit/kconfig"
	"github.com/initkit/initkit/qemu"
)

func newBug() *cobra.Command {
	cmd := &cobra.Command{Use: "bug", Short: "Keep a workspace per kernel bug: its config, reproducer, kernel and tree"}
	cmd.AddCommand(newBugNew(), newBugLs())
	return cmd
}

func newBugNew() *cobra.Command {
	var src bug.Sources
	var o bug.Options
	var sets, fragments []string
	cmd := &cobra.Command{
		Use:   "new DIR",
		Short: "Make a bug's workspace, or bring it up to date: fetch what is missing or changed",
		Long:  help("bug-new"),
		Args:  nArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Log = cmd.ErrOrStderr()
			var err error
			if o.Settings, err = kconfig.Settings(fragments, sets); err != nil {
				return err
			}
			if f, ok := qemu.Terminal(cmd.ErrOrStderr()); ok {
				o.Fetch.Progress = f
			}
			w, err := bug.New(cmd.Context(), args[0], src, o)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", w.Dir, w.State())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&src.Syzbot, "syzbot", "", "a syzbot bug's `URL` or extid: its config, reproducer, kernel, vmlinux, disk and crash report")
	f.StringVar(&src.Config, "config", "", "the kernel config, a `URL` or FILE")
	f.StringVar(&src.Repro, "repro", "", "the reproducer (C, or syz when named .syz), a `URL` or FILE")
	f.StringVar(&src.Kernel, "kernel", "", "a kernel image, a `URL` or FILE (.xz, .gz, .zst are decompressed)")
	f.StringVar(&src.Vmlinux, "vmlinux", "", "the kernel's vmlinux, a `URL` or FILE")
	f.StringVar(&src.Disk, "disk", "", "a disk image, a `URL` or FILE")
	f.StringVar(&src.Report, "report", "", "the crash report, a `URL` or FILE (syzbot's report.txt): initkit decode report.txt in DIR decodes it with the bug's vmlinux")
	f.StringVar(&src.Tree, "tree", "", "a kernel git `REPO`: a worktree of it at --commit becomes DIR/linux, built in DIR/obj")
	f.StringVar(&src.Commit, "commit", "", "the `COMMIT` of --tree (default: the syzbot crash's)")
	f.BoolVar(&src.NoBuild, "no-build", false, "make the worktree and configure its build directory, without building it")
	f.IntVarP(&o.Jobs, "jobs", "j", 0, "make -j `N` (default: the cores)")
	f.StringSliceVar(&o.Purposes, "for", nil, "`PURPOSES` the build's config gains over the bug's own, as kernel config --for (default: the workspace's last, else boot,exec)")
	f.StringArrayVar(&sets, "set", nil, "set `CONFIG_NAME=VALUE` in the build's config too, as kernel config --set (repeatable; default: the workspace's last)")
	f.StringArrayVar(&fragments, "fragment", nil, "set config fragment `FILE`'s options too, as kernel config --fragment (repeatable; /dev/null: drop the workspace's)")
	return cmd
}

func newBugLs() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ls [ROOT]",
		Short: "List the bug workspaces under ROOT ($INITKIT_BUGS, default ~/bugs) with their state",
		Args:  nArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			root := bug.DefaultRoot()
			if len(args) == 1 {
				root = args[0]
			}
			ws, errs := bug.List(root)
			for _, err := range errs {
				printError(cmd.ErrOrStderr(), err)
			}
			if asJSON {
				if err := writeJSON(cmd, bug.Entries(ws)); err != nil {
					return err
				}
			} else {
				if len(ws) == 0 && len(errs) == 0 {
					fmt.Fprintf(cmd.ErrOrStderr(), "initkit bug ls: no bug workspace under %s (initkit bug new DIR makes one)\n", root)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 2, ' ', 0)
				for _, w := range ws {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", w.Dir, w.State(), printable.String(w.Title))
				}
				tw.Flush()
			}
			if len(errs) > 0 {
				return exitCode(exitError)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the workspaces as JSON")
	return cmd
}
