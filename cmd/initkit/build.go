package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/initkit/initkit/boot"
	"github.com/initkit/initkit/image"
	"github.com/initkit/initkit/initramfs"
	"github.com/initkit/initkit/internal/watch"
	"github.com/initkit/initkit/kernel"
	"github.com/initkit/initkit/spec"
)

// buildFlags are build's flags: the spec's, and how to build it.
type buildFlags struct {
	specFile, format, base, cacheSize string
	flags                             initramfs.Spec
	adds, modules                     []string
	kernel                            kernel.Request
	jobs                              int
	epoch                             int64
	explain, noCache, watching        bool
}

func newBuild() *cobra.Command {
	var b buildFlags
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Build an initramfs from a spec or from flags",
		Long:  help("build"),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !b.watching {
				_, err := b.build(cmd)
				return err
			}
			return watchLoop(cmd, "build", b.specFile, func(context.Context) ([]string, error) { return b.build(cmd) })
		},
	}
	f := cmd.Flags()
	specFlag(f, &b.specFile)
	f.StringVarP(&b.flags.Output, "output", "o", "", "write the image to `FILE`")
	f.StringArrayVar(&b.adds, "add", nil, "add a host file with its libraries, or a directory whole, `SRC[:DST]` (repeatable)")
	f.StringVar(&b.flags.Busybox, "busybox", "", "static busybox `PATH` to install with its applets (--busybox alone: /bin/busybox)")
	f.Lookup("busybox").NoOptDefVal = "/bin/busybox"
	f.BoolVar(&b.flags.Network, "network", false, "ship the kernel's Ethernet drivers, loaded when their device is there (for ip=)")
	f.StringArrayVar(&b.flags.SSHKeys, "ssh-key", nil, "a public key `FILE` (or line) that may unlock the LUKS root over SSH: adds dropbear (repeatable)")
	f.StringVar(&b.flags.SSHHostKey, "ssh-host-key", "", "dropbear's host key, an OpenSSH ed25519 private key `FILE` (default: a new one, its fingerprint printed)")
	f.StringSliceVar(&b.flags.Storage, "storage", nil, "what the root may sit on: `lvm,md,luks` (their tools and modules)")
	f.StringSliceVar(&b.flags.Applets, "applets", nil, "link only these busybox `APPLETS` (comma-separated; default: all)")
	f.StringArrayVar(&b.modules, "module", nil, "kernel module `NAME` or alias, with its dependencies (repeatable)")
	f.StringArrayVar(&b.flags.Modules.Auto, "module-auto", nil, "kernel module `NAME` or alias shipped, loaded only when a device asks for it (repeatable)")
	f.StringVar(&b.flags.Modules.Kernel, "kernel-release", "", "kernel release of the modules, in /lib/modules of the --sysroot")
	f.StringVar(&b.flags.Modules.Dir, "modules-dir", "", "a /lib/modules/RELEASE `DIR` to take modules from (default: the modules of the kernel that boots the image, as initkit boot picks it)")
	f.StringVar(&b.kernel.Kernel, "kernel", "", "the kernel `FILE` the image is for: its modules are taken")
	f.StringVar(&b.flags.Compress, "compress", "", "none, gzip, zstd (default), xz or lz4")
	f.IntVar(&b.flags.Level, "level", 0, "compression level (0: the format's default)")
	f.IntVarP(&b.jobs, "jobs", "j", 0, "compression threads (0: all cores)")
	f.StringVar(&b.flags.Split, "split", "", "pieces of at most this much input, compressed at once and cached each (default 8M; 0: one segment)")
	f.StringVar(&b.flags.Init, "init", "", "init: initkit (default: the static Go init, initkit-init), shell (a generated busybox script), none, or a `PATH`")
	f.StringVar(&b.flags.Sysroot, "sysroot", "", "resolve programs and libraries inside `DIR` (nothing in it is run)")
	f.Int64Var(&b.epoch, "epoch", 0, "mtime of every entry (default $SOURCE_DATE_EPOCH or 0)")
	f.BoolVar(&b.explain, "explain", false, "print every entry and why it is in the image, then what the cache gave: the module and closure resolutions recalled or made, every piece reused or why it was compressed")
	f.BoolVar(&b.watching, "watch", false, "build again whenever an input changes (the spec, its files, trees, programs and modules), until Ctrl-C")
	f.BoolVar(&b.noCache, "no-cache", false, "compress every piece, without the piece cache ($INITKIT_CACHE/pieces)")
	f.StringVar(&b.cacheSize, "cache-size", "512M", "bound the piece cache to this `SIZE`: the least recently used pieces go")
	f.StringVar(&b.format, "format", "image", "image; list: a gen_init_cpio list for CONFIG_INITRAMFS_SOURCE (generated files in OUTPUT.d); dir: the tree, its device nodes listed in OUTPUT.list")
	f.StringVar(&b.base, "base", "", "append the --add files as a new segment to a copy of `IMAGE`")
	return cmd
}

// build builds the image once and returns its inputs, for --watch.
func (b *buildFlags) build(cmd *cobra.Command) ([]string, error) {
	start := time.Now()
	if b.format != "image" && b.format != "list" && b.format != "dir" {
		return nil, fmt.Errorf("--format %s: want image, list or dir", b.format)
	}
	img, err := b.spec(cmd)
	if err != nil {
		return nil, err
	}
	switch b.format {
	case "list":
		return nil, img.WriteList()
	case "dir":
		return nil, img.WriteDir()
	}
	res, err := img.Build(b.base, b.jobs)
	if err != nil {
		return nil, err
	}
	files := res.Tree.Files()
	if b.explain {
		for _, line := range append(res.Tree.Explain(), res.Cache...) {
			fmt.Fprintln(cmd.OutOrStdout(), line)
		}
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "%s: %d entries, %d bytes in, %d bytes out (%s), %v\n",
		res.Output.Path, len(files), initramfs.InputBytes(files), res.Bytes, res.Output.Compression, time.Since(start).Round(time.Millisecond))
	return res.Inputs(), nil
}

// spec is the image to build: the spec file's [image], the flags over it,
// and the modules of the kernel that will boot it.
func (b *buildFlags) spec(cmd *cobra.Command) (*initramfs.Spec, error) {
	sf, err := spec.Load(b.specFile)
	if err != nil {
		return nil, err
	}
	img := cmp.Or(sf.Image, &initramfs.Spec{})
	if b.base != "" {
		img = img.Appended()
	}
	img.Override(&b.flags)
	img.Log = cmd.ErrOrStderr()
	if err := img.AddPaths(b.adds...); err != nil {
		return nil, err
	}
	img.Modules.Names = append(img.Modules.Names, b.modules...)
	if cmd.Flags().Changed("epoch") {
		img.Epoch = &b.epoch
	}
	img.NoCache = b.noCache
	if img.CacheSize, err = image.ParseSize(b.cacheSize); err != nil {
		return nil, fmt.Errorf("--cache-size: %w", err)
	}
	return img, boot.ForKernel(cmd.Context(), img, sf.Kernel(b.kernel))
}

// watchLoop is watch.Loop until Ctrl-C, the spec file watched too.
func watchLoop(cmd *cobra.Command, name, specFile string, step func(context.Context) ([]string, error)) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	watch.Loop(ctx, cmd.ErrOrStderr(), name, []string{cmp.Or(specFile, spec.DefaultFile)}, step)
	return nil
}
