package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/initkit/initkit/initramfs"
)

func newBuild() *cobra.Command {
	var specFile string
	var flags initramfs.Spec
	var adds, modules []string
	var explain bool
	var base string
	var jobs int
	var epoch int64
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Build an initramfs from a spec or from flags",
		Long: `Build an initramfs: busybox with its applets, programs with their shared
libraries, kernel modules with their dependencies, device nodes as archive
entries (no root needed), and an init. The spec is the [image] and [modules]
tables of initkit.toml (-c FILE; ./initkit.toml when present); flags add to it
or override it. The output is byte-identical for the same inputs and written
atomically.

With --base IMAGE, the files of --add go into one segment appended to a copy
of IMAGE: the kernel unpacks it last, over the base, with no rebuild.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			start := time.Now()
			spec, err := loadSpec(specFile)
			if err != nil {
				return err
			}
			if base != "" {
				// Only the added files: the base has its init already.
				*spec = initramfs.Spec{Init: "none", Output: spec.Output, Compress: spec.Compress, Epoch: spec.Epoch, Sysroot: spec.Sysroot}
			}
			merge(spec, &flags, adds, modules)
			if cmd.Flags().Changed("epoch") {
				spec.Epoch = &epoch
			}
			out, tree, n, err := spec.Build(base, jobs)
			if err != nil {
				return err
			}
			files := tree.Files()
			if explain {
				for _, line := range tree.Explain() {
					fmt.Fprintln(cmd.OutOrStdout(), line)
				}
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%s: %d entries, %d bytes in, %d bytes out (%s), %v\n",
				out.Path, len(files), initramfs.InputBytes(files), n, out.Compression, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&specFile, "config", "c", "", "spec `FILE` (default ./initkit.toml when present)")
	f.StringVarP(&flags.Output, "output", "o", "", "write the image to `FILE`")
	f.StringArrayVar(&adds, "add", nil, "add a host file with its libraries, `SRC[:DST]` (repeatable)")
	f.StringVar(&flags.Busybox, "busybox", "", "static busybox `PATH` to install with its applets")
	f.StringSliceVar(&flags.Applets, "applets", nil, "link only these busybox `APPLETS` (comma-separated; default: all)")
	f.StringArrayVar(&modules, "module", nil, "kernel module `NAME` or alias, with its dependencies (repeatable)")
	f.StringArrayVar(&flags.Modules.Auto, "module-auto", nil, "kernel module `NAME` or alias shipped, loaded only when a device asks for it (repeatable)")
	f.StringVar(&flags.Modules.Kernel, "kernel-release", "", "kernel release of the modules (default: the running kernel's)")
	f.StringVar(&flags.Modules.Dir, "modules-dir", "", "a /lib/modules/RELEASE `DIR` to take modules from")
	f.StringVar(&flags.Compress, "compress", "", "none, gzip, zstd (default), xz or lz4")
	f.IntVar(&flags.Level, "level", 0, "compression level (0: the format's default)")
	f.IntVarP(&jobs, "jobs", "j", 0, "compression threads (0: all cores)")
	f.StringVar(&flags.Split, "split", "", "segments of this much input, compressed at once (default 16M; 0: one segment)")
	f.StringVar(&flags.Init, "init", "", "init: initkit (default: the static Go init, initkit-init), shell (a generated busybox script), none, or a `PATH`")
	f.StringVar(&flags.Sysroot, "sysroot", "", "resolve programs and libraries inside `DIR` (nothing in it is run)")
	f.Int64Var(&epoch, "epoch", 0, "mtime of every entry (default $SOURCE_DATE_EPOCH or 0)")
	f.BoolVar(&explain, "explain", false, "print every entry and why it is in the image")
	f.StringVar(&base, "base", "", "append the --add files as a new segment to a copy of `IMAGE`")
	return cmd
}

func loadSpec(name string) (*initramfs.Spec, error) {
	if name == "" {
		if _, err := os.Stat("initkit.toml"); err != nil {
			return &initramfs.Spec{}, nil
		}
		name = "initkit.toml"
	}
	s, err := initramfs.Load(name)
	if err != nil && errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("spec %s: %w", name, err)
	}
	return s, err
}

// merge applies the flags over the spec.
func merge(s, f *initramfs.Spec, adds, modules []string) {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&s.Output, f.Output)
	set(&s.Busybox, f.Busybox)
	set(&s.Compress, f.Compress)
	set(&s.Init, f.Init)
	set(&s.Sysroot, f.Sysroot)
	set(&s.Split, f.Split)
	set(&s.Modules.Kernel, f.Modules.Kernel)
	set(&s.Modules.Dir, f.Modules.Dir)
	if f.Level != 0 {
		s.Level = f.Level
	}
	if len(f.Applets) > 0 {
		s.Applets = f.Applets
	}
	for _, a := range adds {
		// Without a sysroot, a relative SRC is relative to the working
		// directory, as on any command line.
		if src, dst, _ := strings.Cut(a, ":"); s.Sysroot == "" && !filepath.IsAbs(src) {
			if abs, err := filepath.Abs(src); err == nil {
				a = abs
				if dst != "" {
					a += ":" + dst
				}
			}
		}
		s.Files = append(s.Files, a)
	}
	s.Modules.Names = append(s.Modules.Names, modules...)
	s.Modules.Auto = append(s.Modules.Auto, f.Modules.Auto...)
}
