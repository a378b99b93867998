package initramfs_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/initkit/initkit/cpio"
	"github.com/initkit/initkit/image"
	"github.com/initkit/initkit/initramfs"
)

// A tree from a spec built in memory: a generated file, a directory with
// its mode, a symlink and a device node, with no init of initkit's.
func ExampleSpec_Assemble() {
	s := &initramfs.Spec{
		Init:     "none",
		Dirs:     []string{"/etc 0755"},
		Symlinks: []string{"/etc/mtab -> /proc/self/mounts"},
		Nodes:    []string{"/dev/console c 5 1 0600"},
		Entries: []image.File{{Header: cpio.Header{Name: "etc/hostname", Mode: cpio.TypeReg | 0o644},
			Data: []byte("guest\n")}},
	}
	tree, err := s.Assemble()
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range tree.Files() {
		fmt.Println(image.ModeString(f.Mode), f.Name)
	}
	// Output:
	// drwxr-xr-x dev
	// crw------- dev/console
	// drwxr-xr-x etc
	// -rw-r--r-- etc/hostname
	// lrwxrwxrwx etc/mtab
}

// Build writes the image, reproducibly and atomically.
func ExampleSpec_Build() {
	dir, _ := os.MkdirTemp("", "example-")
	defer os.RemoveAll(dir)
	epoch := int64(0)
	s := &initramfs.Spec{Output: filepath.Join(dir, "initrd.img"), Compress: "gzip", Init: "none", Epoch: &epoch,
		Dirs: []string{"/proc", "/sys"}}
	res, err := s.Build("", 0)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(res.Tree.Files()), "entries,", res.Output.Compression)
	// Output: 2 entries, gzip
}
