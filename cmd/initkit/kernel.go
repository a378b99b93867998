package main

import (
	"fmt"
	"strings"

	"github.com/initkit/initkit/bug"
	"github.com/initkit/initkit/kconfig"
	"github.com/initkit/initkit/kernel"
	"github.com/initkit/initkit/qemu"
	"github.com/initkit/initkit/spec"
	"github.com/spf13/cobra"
)

func newKernel() *cobra.Command {
	cmd := &cobra.Command{Use: "kernel", Short: "Obtain, configure, check and build kernels to boot"}
	var flavour, cache, arch string
	var debugInfo bool
	fetch := &cobra.Command{
		Use:   "fetch",
		Short: "Download and cache a bootable kernel with its modules",
		Long:  help("kernel-fetch"),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, err := kernel.Fetch(cmd.Context(), cache, flavour, arch)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "kernel:  %s\nmodules: %s\nrelease: %s\npackage: %s %s\narch:    %s\n", k.Image, k.ModulesDir, k.Release, k.Package, k.Version, k.Arch)
			if debugInfo {
				v, err := kernel.FetchDebugInfo(cmd.Context(), k)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "vmlinux: %s\n", v)
			}
			return nil
		},
	}
	fetch.Flags().StringVar(&flavour, "flavour", "", "meta-package naming the kernel flavour (default linux-image-cloud-ARCH)")
	fetch.Flags().StringVar(&arch, "arch", "", "the kernel's architecture: x86_64 (amd64) or aarch64 (arm64) (default: the flavour's, else the host's)")
	fetch.Flags().BoolVar(&debugInfo, "debug-info", false, "also fetch the matching vmlinux with DWARF (the -dbg package)")
	fetch.Flags().StringVar(&cache, "cache", "", "cache directory (default $INITKIT_CACHE or ~/.cache/initkit)")
	cmd.AddCommand(fetch, newKernelConfig(), newKernelCheck(), newKernelBuild())
	return cmd
}

// treeFlags are what kernel config and kernel build share.
func treeFlags(cmd *cobra.Command, t *kernel.Tree) {
	cmd.Flags().StringVarP(&t.Obj, "output", "O", "", "build `DIR` (make O=; default: the source tree)")
	cmd.Flags().StringVar(&t.Arch, "arch", "x86_64", "x86_64 or arm64 (aarch64: the same; cross-built with aarch64-linux-gnu-)")
}

func newKernelConfig() *cobra.Command {
	var t kernel.Tree
	var base string
	var purposes, sets, fragments []string
	cmd := &cobra.Command{
		Use:   "config SRC",
		Short: "Make a .config for QEMU with the tree's own kconfig",
		Long:  help("kernel-config"),
		Args:  nArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t.Src = args[0]
			settings, err := kconfig.Settings(fragments, sets)
			if err != nil {
				return err
			}
			res, err := kernel.Configure(cmd.Context(), t, base, purposes, settings...)
			if err != nil {
				return err
			}
			return res.Report(cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	treeFlags(cmd, &t)
	cmd.Flags().StringVar(&base, "base", "tinyconfig", "the config to start from: a make target (tinyconfig, defconfig, ...) or a `FILE`")
	cmd.Flags().StringSliceVar(&purposes, "for", []string{"boot"}, "`PURPOSES` the kernel is for, comma-separated")
	cmd.Flags().StringArrayVar(&sets, "set", nil, "set `CONFIG_NAME=VALUE` too (y, m, n, a number or a \"string\"; repeatable, after the fragments)")
	cmd.Flags().StringArrayVar(&fragments, "fragment", nil, "set the options of config fragment `FILE` too, as merge_config.sh merges it (repeatable)")
	return cmd
}

func newKernelCheck() *cobra.Command {
	var purposes []string
	var arch, img string
	cmd := &cobra.Command{
		Use:   "check CONFIG|KERNEL",
		Short: "Say what a .config (or a kernel's) lacks for each purpose, and why; exit 1 when anything is missing",
		Args:  nArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("arch") {
				arch = "" // the kernel's, when CONFIG is one
			}
			missing, from, err := kernel.CheckConfigOf(args[0], purposes, arch, img)
			if err != nil {
				return err
			}
			if from != args[0] {
				fmt.Fprintf(cmd.ErrOrStderr(), "initkit: %s: a kernel: checking %s\n", args[0], from)
			}
			kconfig.Report(cmd.OutOrStdout(), missing)
			if len(missing) > 0 {
				return exitCode(exitDiffers)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: nothing missing for %s\n", args[0], strings.Join(purposes, ", "))
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&purposes, "for", []string{"boot"}, "`PURPOSES` to check for, comma-separated: "+fmt.Sprint(kconfig.Names()))
	cmd.Flags().StringVar(&arch, "arch", "x86_64", "x86_64 or arm64 (default: the kernel's, for a kernel)")
	cmd.Flags().StringVar(&img, "image", "", "also check that the kernel can unpack this initramfs `IMAGE` (its compressions)")
	return cmd
}

func newKernelBuild() *cobra.Command {
	var t kernel.Tree
	var jobs int
	var specFile string
	cmd := &cobra.Command{
		Use:   "build [SRC]",
		Short: "Build a kernel tree with its own make, and write a manifest that makes the build directory a kernel",
		Long: "Build a kernel tree with its own make, and write a manifest that makes the build directory a kernel.\n" +
			"With no SRC, in a bug workspace (or its worktree): its worktree into its build directory, then marked built.",
		Args: nArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			src := strings.Join(args, "")
			var w *bug.Workspace
			var err error
			if t, w, err = bug.TreeToBuild(src, t); err != nil {
				return err
			}
			t.Log = cmd.ErrOrStderr()
			if f, ok := qemu.Terminal(cmd.ErrOrStderr()); ok {
				t.Log = kernel.Progress(f) // one line on a terminal; the whole log in OBJ
				defer fmt.Fprintln(f)
			}
			if specFile != "" {
				if err := spec.EmbedImage(cmd.Context(), specFile, t); err != nil {
					return err
				}
			}
			m, err := kernel.Build(cmd.Context(), t, jobs)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "kernel:  %s\nvmlinux: %s\nmodules: %s\nrelease: %s\n", m.Image, m.Vmlinux, m.ModulesDir, m.Release)
			if w != nil {
				return w.MarkBuilt()
			}
			return nil
		},
	}
	treeFlags(cmd, &t)
	cmd.Flags().IntVarP(&jobs, "jobs", "j", 0, "parallel jobs (0: one per core)")
	cmd.Flags().StringVar(&specFile, "initramfs", "", "embed the initramfs this spec `FILE` describes in the kernel image (CONFIG_INITRAMFS_SOURCE): it boots with no initrd")
	return cmd
}
