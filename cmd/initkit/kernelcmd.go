package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/initkit/initkit/kernel"
)

func newKernel() *cobra.Command {
	cmd := &cobra.Command{Use: "kernel", Short: "Obtain, configure, check and build kernels to boot"}
	var flavour, cache string
	var debugInfo bool
	fetch := &cobra.Command{
		Use:   "fetch",
		Short: "Download and cache a bootable kernel with its modules",
		Long:  help("kernel-fetch"),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cache == "" {
				var err error
				if cache, err = kernel.CacheDir(); err != nil {
					return err
				}
			}
			k, err := kernel.Fetch(cmd.Context(), cache, flavour)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "kernel:  %s\nmodules: %s\nrelease: %s\npackage: %s %s\n", k.Image, k.ModulesDir, k.Release, k.Package, k.Version)
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
	fetch.Flags().StringVar(&flavour, "flavour", kernel.DefaultFlavour, "meta-package naming the kernel flavour")
	fetch.Flags().BoolVar(&debugInfo, "debug-info", false, "also fetch the matching vmlinux with DWARF (the -dbg package)")
	fetch.Flags().StringVar(&cache, "cache", "", "cache directory (default $INITKIT_CACHE or ~/.cache/initkit)")
	cmd.AddCommand(fetch, newKernelConfig(), newKernelCheck(), newKernelBuild())
	return cmd
}
