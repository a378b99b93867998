package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/initkit/initkit/compress"
	"github.com/initkit/initkit/image"
	"github.com/initkit/initkit/internal/atomicfile"
)

func newPack() *cobra.Command {
	var out, comp string
	var level, jobs int
	var crc, owners bool
	var epoch, split string
	cmd := &cobra.Command{
		Use:   "pack DIR -o IMAGE",
		Short: "Pack a directory tree into one image segment",
		Long: `Pack the tree under DIR into a newc archive, compressed, written atomically
to IMAGE (- for standard output). The output is reproducible: entries sorted,
inodes numbered in order, owners 0 unless --keep-owners, every mtime set to
--epoch (default $SOURCE_DATE_EPOCH, else 0). Hardlinks keep one copy of their data.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			start := time.Now()
			f, err := compress.ParseFormat(comp)
			if err != nil {
				return err
			}
			if !f.Writable() {
				return fmt.Errorf("cannot write %s (writable: %v)", f, compress.WritableNames())
			}
			mtime, err := image.Epoch(epoch)
			if err != nil {
				return err
			}
			splitAt, err := image.ParseSize(split)
			if err != nil {
				return err
			}
			files, err := image.FilesFromDir(args[0])
			if err != nil {
				return err
			}
			opts := []image.Option{image.WithCompression(f, compress.WriterOptions{Level: level, Concurrency: jobs}), image.WithModTime(mtime), image.WithSplit(splitAt)}
			if crc {
				opts = append(opts, image.WithCRC())
			}
			if owners {
				opts = append(opts, image.WithOwners())
			}
			write := func(w io.Writer) error { return image.WriteSegment(w, files, opts...) }
			if out == "-" {
				return write(cmd.OutOrStdout())
			}
			if err := atomicfile.Write(out, 0o644, write); err != nil {
				return fmt.Errorf("%s: %w", out, err)
			}
			st, err := os.Stat(out)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%s: %d entries, %d bytes (%s) in %v\n", out, len(files), st.Size(), f, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the image to `FILE` (- for stdout)")
	cmd.MarkFlagRequired("output")
	cmd.Flags().StringVarP(&comp, "compress", "c", "zstd", "compression: none, gzip, zstd, xz or lz4")
	cmd.Flags().IntVar(&level, "level", 0, "compression level (0: the format's default)")
	cmd.Flags().IntVarP(&jobs, "jobs", "j", 0, "compression threads (0: all cores)")
	cmd.Flags().StringVar(&split, "split", "0", "write segments of this much input, compressed at once (0: one segment)")
	cmd.Flags().BoolVar(&crc, "crc", false, "write 070702 headers with data checksums")
	cmd.Flags().BoolVar(&owners, "keep-owners", false, "keep file owners instead of 0:0")
	cmd.Flags().StringVar(&epoch, "epoch", "", "mtime of every entry, in seconds (default $SOURCE_DATE_EPOCH or 0)")
	return cmd
}
