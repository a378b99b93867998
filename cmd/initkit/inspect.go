package main

import (
	"bufio"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/initkit/initkit/image"
)

func newLs() *cobra.Command {
	var asJSON bool
	var segment int
	cmd := &cobra.Command{
		Use:   "ls IMAGE",
		Short: "List every segment of an image and its entries",
		Long:  help("ls"),
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withInput(cmd, args[0], func(in io.Reader) error {
				l, err := image.List(in)
				if err != nil {
					return err
				}
				if segment >= len(l.Segments) {
					return fmt.Errorf("no segment %d: the image has %d", segment, len(l.Segments))
				}
				out := bufio.NewWriter(cmd.OutOrStdout())
				defer out.Flush()
				if asJSON {
					return l.WriteJSON(out, segment)
				}
				l.WriteText(out, segment)
				return nil
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
		Args:  cobra.ExactArgs(2),
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
		Args:  cobra.ExactArgs(2),
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
