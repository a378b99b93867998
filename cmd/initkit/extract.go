package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/initkit/initkit/image"
)

func newExtract() *cobra.Command {
	var segment int
	var manifest string
	opt := image.DefaultExtractOptions()
	cmd := &cobra.Command{
		Use:   "extract IMAGE DIR",
		Short: "Unpack every segment of an image into a directory, as the kernel would",
		Long:  help("extract"),
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[1]
			return withInput(cmd, args[0], func(in io.Reader) error {
				opt.Segment = segment
				res, err := image.Extract(in, dir, opt)
				if err != nil {
					return err
				}
				if segment >= len(res.Segments) {
					return fmt.Errorf("no segment %d: the image has %d", segment, len(res.Segments))
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
