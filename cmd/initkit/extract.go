package main

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/initkit/initkit/cpio"
	"github.com/initkit/initkit/image"
	"github.com/initkit/initkit/internal/atomicfile"
)

// nodesManifest is where extract lists the device nodes it did not create,
// inside the target directory unless --manifest says otherwise.
const nodesManifest = ".initkit-nodes"

func newExtract() *cobra.Command {
	var segment int
	var manifest string
	opt := image.DefaultExtractOptions()
	cmd := &cobra.Command{
		Use:   "extract IMAGE DIR",
		Short: "Unpack every segment of an image into a directory, as the kernel would",
		Long: `Unpack the segments of IMAGE into DIR in order, later files replacing earlier
ones, as the kernel does. Nothing is ever written outside DIR: absolute names,
names with "..", and symlinks leading out of DIR are refused with an error
naming the entry. Modes, mtimes, symlinks and hardlinks are restored; owners
and device nodes only when running as root. Device nodes not created are
listed in DIR/` + nodesManifest + ` in gen_init_cpio "nod" syntax.`,
		Args: cobra.ExactArgs(2),
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
				if len(res.Skipped) == 0 {
					return nil
				}
				path := manifest
				if path == "" {
					path = filepath.Join(dir, nodesManifest)
				}
				if err := writeNodes(path, res.Skipped); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "initkit: %d device nodes not created; listed in %s\n", len(res.Skipped), path)
				return nil
			})
		},
	}
	cmd.Flags().IntVar(&segment, "segment", -1, "only segment `N` (counting from 0)")
	cmd.Flags().StringVar(&manifest, "manifest", "", "list skipped device nodes in `FILE` (default DIR/"+nodesManifest+")")
	cmd.Flags().BoolVar(&opt.Nodes, "nodes", opt.Nodes, "create device nodes (default: only when running as root)")
	cmd.Flags().BoolVar(&opt.Owners, "owners", opt.Owners, "apply owners from the image (default: only when running as root)")
	return cmd
}

func writeNodes(path string, nodes []cpio.Header) error {
	var b bytes.Buffer
	for _, n := range nodes {
		kind := "c"
		if n.Type() == cpio.TypeBlock {
			kind = "b"
		}
		fmt.Fprintf(&b, "nod /%s %04o %d %d %s %d %d\n", n.Name, n.Perm(), n.UID, n.GID, kind, n.RDevMajor, n.RDevMinor)
	}
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		_, err := w.Write(b.Bytes())
		return err
	})
}
