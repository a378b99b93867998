package main

import (
	"bufio"
	"fmt"
	"io"
	"time"

	"github.com/initkit/initkit/image"
	"github.com/spf13/cobra"
)

func newLs() *cobra.Command {
	var asJSON bool
	var segment int
	cmd := &cobra.Command{
		Use:   "ls IMAGE",
		Short: "List every segment of an image and its entries",
		Long:  help("ls"),
		Args:  nArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withInput(cmd, args[0], func(in io.Reader) error {
				l, err := image.List(in)
				if err != nil {
					return err
				}
				out := bufio.NewWriter(cmd.OutOrStdout())
				defer out.Flush()
				return l.Write(out, segment, asJSON)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().IntVar(&segment, "segment", -1, "only segment `N` (counting from 0)")
	return cmd
}

func newCat() *cobra.Command {
	return &cobra.Command{
		Use:   "cat IMAGE PATH",
		Short: "Print one file of an image",
		Long:  help("cat"),
		Args:  nArgs(2, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withInput(cmd, args[0], func(in io.Reader) error {
				return image.CopyFile(cmd.OutOrStdout(), in, args[1])
			})
		},
	}
}

func newDiff() *cobra.Command {
	return &cobra.Command{
		Use:   "diff A B",
		Short: "Compare the trees two images unpack to",
		Long:  help("diff"),
		Args:  nArgs(2, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var trees [2]map[string]*image.Node
			for i, name := range args {
				err := withInput(cmd, name, func(in io.Reader) (err error) {
					trees[i], _, err = image.Tree(in)
					return err
				})
				if err != nil {
					return err
				}
			}
			changes := image.Compare(trees[0], trees[1])
			out := bufio.NewWriter(cmd.OutOrStdout())
			for _, c := range changes {
				fmt.Fprintln(out, c)
			}
			if err := out.Flush(); err != nil {
				return err
			}
			if len(changes) > 0 {
				return exitCode(exitDiffers)
			}
			return nil
		},
	}
}

func newExtract() *cobra.Command {
	var segment int
	var manifest string
	opt := image.DefaultExtractOptions()
	cmd := &cobra.Command{
		Use:   "extract IMAGE DIR",
		Short: "Unpack every segment of an image into a directory, as the kernel would",
		Long:  help("extract"),
		Args:  nArgs(2, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[1]
			return withInput(cmd, args[0], func(in io.Reader) error {
				opt.Segment = segment
				res, err := image.Extract(in, dir, opt)
				if err != nil {
					return err
				}
				return res.Notes(cmd.ErrOrStderr(), dir, manifest)
			})
		},
	}
	f := cmd.Flags()
	f.IntVar(&segment, "segment", -1, "only segment `N` (counting from 0)")
	f.StringVar(&manifest, "manifest", "", "list skipped device nodes in `FILE` (default DIR.initkit-nodes, beside DIR: no entry can be there)")
	f.BoolVar(&opt.Nodes, "nodes", false, "create device nodes (needs root)")
	f.BoolVar(&opt.SetID, "same-permissions", false, "apply setuid and setgid bits")
	f.BoolVar(&opt.Owners, "owners", opt.Owners, "apply owners from the image (default: only when running as root)")
	return cmd
}

func newPack() *cobra.Command {
	var out string
	var o image.PackOptions
	cmd := &cobra.Command{
		Use:   "pack DIR -o IMAGE",
		Short: "Pack a directory tree into one image segment",
		Long:  help("pack"),
		Args:  nArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			start := time.Now()
			if out == "-" {
				_, _, err := image.Pack(cmd.OutOrStdout(), args[0], o)
				return err
			}
			p, err := image.PackFile(out, args[0], o)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%s: %d entries, %d bytes (%s) in %v\n", out, p.Entries, p.Bytes, p.Format, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&out, "output", "o", "", "write the image to `FILE` (- for stdout)")
	cmd.MarkFlagRequired("output")
	f.StringVarP(&o.Compress, "compress", "c", "zstd", "compression: none, gzip, zstd, xz or lz4")
	f.IntVar(&o.Level, "level", 0, "compression level (0: the format's default)")
	f.IntVarP(&o.Jobs, "jobs", "j", 0, "compression threads (0: all cores)")
	f.StringVar(&o.Split, "split", "0", "write segments of this much input, compressed at once (0: one segment)")
	f.BoolVar(&o.CRC, "crc", false, "write 070702 headers with data checksums")
	f.BoolVar(&o.Owners, "keep-owners", false, "keep file owners instead of 0:0")
	f.StringVar(&o.Epoch, "epoch", "", "mtime of every entry, in seconds (default $SOURCE_DATE_EPOCH or 0)")
	return cmd
}
