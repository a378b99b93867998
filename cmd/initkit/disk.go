package main

import (
	"github.com/spf13/cobra"

	"github.com/initkit/initkit/boot"
	"github.com/initkit/initkit/disk"
	"github.com/initkit/initkit/internal/interrupt"
	"github.com/initkit/initkit/kernel"
	"github.com/initkit/initkit/probe"
	"github.com/initkit/initkit/spec"
	"github.com/initkit/initkit/vmexec"
)

func newDisk() *cobra.Command {
	cmd := &cobra.Command{Use: "disk", Short: "Make disk images without root, list them, copy files in and out"}
	cmd.AddCommand(newDiskCreate(), newDiskLs(), newDiskCp(), newDiskCopyOut(), newDiskCat(), newDiskDebian())
	return cmd
}

func newDiskCreate() *cobra.Command {
	var file string
	var flags disk.Spec
	var parts []string
	var k kernel.Request
	var busybox string
	cmd := &cobra.Command{
		Use:   "create [OUT]",
		Short: "Make a disk image: partitions, filesystems from trees, LUKS2, md RAID and LVM",
		Long:  help("disk-create"),
		Args:  nArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			interrupt.Graceful(interrupt.Stops...)
			sf, err := spec.Load(file)
			if err != nil {
				return err
			}
			s, err := sf.DiskFor(flags, parts, file != "")
			if err != nil {
				return err
			}
			if len(args) == 1 {
				s.Output = args[0]
			}
			o := disk.Options{VM: vmexec.Options{Boot: boot.Options{Notes: cmd.ErrOrStderr(), Kernel: sf.Kernel(k)}, Busybox: busybox}}
			return disk.Create(cmd.Context(), s, o)
		},
	}
	f := cmd.Flags()
	specFlag(f, &file)
	f.StringVar(&flags.Size, "size", "", "disk `SIZE` (1G), a sparse file")
	f.StringVar(&flags.Table, "table", "", "partition table: gpt (default), mbr or none")
	f.StringArrayVar(&parts, "part", nil, "a partition `NAME:SIZE:FS[:TREE]` (repeatable)")
	f.StringVar(&busybox, "busybox", "/bin/busybox", "static busybox `PATH` for the VM's script")
	kernelFlags(f, &k)
	return cmd
}

func newDiskLs() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ls IMAGE[:PART] [PATH]",
		Short: "List a disk image's partitions and what each holds, or the files of a directory in one",
		Long:  help("disk-ls"),
		Args:  nArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			img, part := disk.Target(args[0])
			if len(args) == 1 && part == "" {
				l, err := probe.List(img)
				if err != nil {
					return err
				}
				return l.Write(cmd.OutOrStdout(), img, asJSON)
			}
			files, err := disk.ReadDir(cmd.Context(), img, part, append(args, "/")[1])
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd, files)
			}
			return disk.WriteFiles(cmd.OutOrStdout(), files)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newDiskCp() *cobra.Command {
	return &cobra.Command{
		Use:   "cp IMAGE[:PART] SRC... DST",
		Short: "Copy host files into an ext2/3/4 or vfat partition of an image, without root or a VM",
		Args:  nArgs(3, -1),
		RunE: func(cmd *cobra.Command, args []string) error {
			interrupt.Graceful(interrupt.Stops...)
			img, part := disk.Target(args[0])
			return disk.Copy(cmd.Context(), img, part, args[1:len(args)-1], args[len(args)-1])
		},
	}
}

func newDiskCopyOut() *cobra.Command {
	return &cobra.Command{
		Use:   "copy-out IMAGE[:PART] PATH... DIR",
		Short: "Copy files and directories out of an ext2/3/4 or vfat partition of an image into DIR, without root or a VM",
		Long:  help("disk-copy-out"),
		Args:  nArgs(3, -1),
		RunE: func(cmd *cobra.Command, args []string) error {
			interrupt.Graceful(interrupt.Stops...)
			img, part := disk.Target(args[0])
			return disk.CopyOut(cmd.Context(), img, part, args[1:len(args)-1], args[len(args)-1])
		},
	}
}

func newDiskCat() *cobra.Command {
	return &cobra.Command{
		Use:   "cat IMAGE[:PART] PATH",
		Short: "Print a file of an ext2/3/4 or vfat partition of an image",
		Long:  help("disk-cat"),
		Args:  nArgs(2, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			img, part := disk.Target(args[0])
			return disk.Cat(cmd.Context(), img, part, args[1], cmd.OutOrStdout())
		},
	}
}

func newDiskDebian() *cobra.Command {
	var o disk.DebianOptions
	var k kernel.Request
	var file string
	cmd := &cobra.Command{
		Use:   "debian OUT",
		Short: "Make a bootable Debian root disk without root (mmdebstrap's unshare mode)",
		Long:  help("disk-debian"),
		Args:  nArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			interrupt.Graceful(interrupt.Stops...)
			sf, err := spec.Load(file)
			if err != nil {
				return err
			}
			choice, err := kernel.Choose(cmd.Context(), sf.Kernel(k))
			if err != nil {
				return err
			}
			o.Output, o.ModulesDir = args[0], choice.ModulesDir
			return disk.Debian(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Suite, "suite", "bookworm", "Debian `SUITE`")
	f.StringSliceVar(&o.Packages, "packages", nil, "more `PACKAGES` (comma-separated)")
	f.StringVar(&o.SSHKey, "ssh-key", "", "root's authorized `KEY.pub`; installs openssh-server")
	f.StringVar(&o.Size, "size", "2G", "disk `SIZE`")
	f.StringVar(&o.Mirror, "mirror", "", "Debian mirror `URL` (default: the host's apt mirror)")
	specFlag(f, &file)
	kernelFlags(f, &k)
	return cmd
}
