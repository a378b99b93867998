package main

import (
	"cmp"
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
	var out string
	var o image.PackOptions
	cmd := &cobra.Command{
		Use:   "pack DIR -o IMAGE",
		Short: "Pack a directory tree into one image segment",
		Long:  help("pack"),
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			start := time.Now()
			if out == "-" {
				_, _, err := image.Pack(cmd.OutOrStdout(), args[0], o)
				return err
			}
			var n int
			var f compress.Format
			err := atomicfile.Write(out, 0o644, func(w io.Writer) (err error) {
				n, f, err = image.Pack(w, args[0], o)
				return err
			})
			st, statErr := os.Stat(out)
			if err != nil || statErr != nil {
				return fmt.Errorf("%s: %w", out, cmp.Or(err, statErr))
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%s: %d entries, %d bytes (%s) in %v\n", out, n, st.Size(), f, time.Since(start).Round(time.Millisecond))
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
