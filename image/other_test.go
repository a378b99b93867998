package image

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestNotAnImage: a disk, a filesystem or a kernel handed to ls is named
// as what it is, each made by its own tool (a kernel's header by hand),
// and a file that is none of them gets no guess.
func TestNotAnImage(t *testing.T) {
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tree := t.TempDir()
	os.WriteFile(filepath.Join(tree, "f"), []byte("x"), 0o644)
	bz := make([]byte, 4096)
	copy(bz, "MZ")
	copy(bz[0x202:], "HdrS")
	os.WriteFile(filepath.Join(dir, "bzImage"), bz, 0o644)
	os.WriteFile(filepath.Join(dir, "text"), []byte("# a README\n"), 0o644)
	for _, c := range []struct {
		name, want string
		make       []string
	}{
		{"gpt.img", "GPT partition table", []string{"sh", "-c", "truncate -s 8M gpt.img && echo 'label: gpt' | sfdisk -q gpt.img && echo ',,L' | sfdisk -q --append gpt.img"}},
		{"mbr.img", "MBR partition table", []string{"sh", "-c", "truncate -s 8M mbr.img && echo ',,L' | sfdisk -q mbr.img"}},
		{"ext4.img", "ext2/3/4 filesystem", []string{"mke2fs", "-q", "-t", "ext4", "ext4.img", "8M"}},
		{"fat.img", "FAT filesystem", []string{"mkfs.vfat", "-C", "fat.img", "8192"}},
		{"sq.img", "squashfs", []string{"mksquashfs", tree, "sq.img", "-quiet", "-no-progress"}},
		{self, "an ELF file", nil},
		{"bzImage", "bzImage", nil},
		{"text", "", nil},
	} {
		if c.make != nil {
			cmd := exec.Command(c.make[0], c.make[1:]...)
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v: %s", c.name, err, out)
			}
		}
		f, err := os.Open(filepath.Join(dir, c.name))
		if filepath.IsAbs(c.name) {
			f, err = os.Open(c.name)
		}
		if err != nil {
			t.Fatal(err)
		}
		_, err = List(f)
		f.Close()
		if err == nil || !strings.Contains(err.Error(), "no cpio or compression magic") {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if guessed := !regexp.MustCompile(`bytes( [0-9a-f]{2})+$`).MatchString(err.Error()); c.want == "" && guessed || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}
