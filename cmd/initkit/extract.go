package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/initkit/initkit/image"
	"github.com/initkit/initkit/internal/atomicfile"
)

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
naming the entry. Modes, mtimes, symlinks and hardlinks are restored, owners
when running as root. Safe for an untrusted image by default: device nodes
are not created (--nodes) but listed beside DIR, in DIR.initkit-nodes
(gen_init_cpio "nod" lines), and setuid and setgid bits are not applied
(--same-permissions).`,
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
				for _, k := range res.Kept {
					fmt.Fprintf(cmd.ErrOrStderr(), "initkit: /%s: kept the non-empty directory a %s would replace, as the kernel does\n", k.Name, image.TypeName(k.Mode))
				}
				if n := len(res.NoSetID); n > 0 {
					fmt.Fprintf(cmd.ErrOrStderr(), "initkit: setuid and setgid bits not applied to %d files, /%s first (--same-permissions applies them)\n", n, res.NoSetID[0].Name)
				}
				if len(res.Skipped) == 0 {
					return nil
				}
				if manifest == "" {
					abs, err := filepath.Abs(dir)
					if err != nil {
						return err
					}
					manifest = abs + ".initkit-nodes"
				}
				if err := atomicfile.Write(manifest, 0o644, func(w io.Writer) error { _, err := w.Write(image.NodeList(res.Skipped)); return err }); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "initkit: %d device nodes not created; listed in %s\n", len(res.Skipped), manifest)
				return nil
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
