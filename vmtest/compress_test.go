package vmtest

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"

	"github.com/initkit/initkit/compress"
	"github.com/initkit/initkit/cpio"
	"github.com/initkit/initkit/image"
)

// bootTimeout bounds one TCG boot; a tiny image reaches userspace in 2-3 s,
// but two parallel boots on a loaded 2-core machine need headroom.
const bootTimeout = 120 * time.Second

// TestCompressionsBoot proves the kernel accepts each compression we write:
// the /init inside the image must run and print a marker it computes.
func TestCompressionsBoot(t *testing.T) {
	for _, f := range []compress.Format{compress.None, compress.Gzip, compress.Zstd, compress.XZ, compress.LZ4} {
		t.Run(f.String(), func(t *testing.T) {
			t.Parallel()
			files := BaseFiles(t, `echo "initkit-marker:`+f.String()+`:$((6*7))"`)
			console := Boot(t, WriteImage(t, Segment(t, f, files)), bootTimeout)
			if want := "initkit-marker:" + f.String() + ":42"; !strings.Contains(console, want) {
				t.Fatalf("console lacks %q:\n%s", want, console)
			}
		})
	}
}

// TestZstdBestWindowBoots: zstd levels 10 and above write frames that
// declare a 32 MiB window (compress.BestWindow); the kernel's unzstd must
// accept it for an initramfs.
func TestZstdBestWindowBoots(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	files := BaseFiles(t, `echo "initkit-marker:best:$((6*7))"`)
	if err := image.WriteSegment(&buf, files, image.WithCompression(compress.Zstd, compress.WriterOptions{Level: 19})); err != nil {
		t.Fatal(err)
	}
	// The frame header: magic, descriptor (no single-segment flag), then
	// the window descriptor, exponent and mantissa (RFC 8878 3.1.1.1.2).
	b := buf.Bytes()
	if b[4]&0x20 != 0 {
		t.Fatalf("a single-segment frame declares no window")
	}
	log := 10 + int(b[5]>>3)
	if window := 1<<log + (1<<log)/8*int(b[5]&7); window != compress.BestWindow {
		t.Fatalf("window %d, want %d", window, compress.BestWindow)
	}
	console := Boot(t, WriteImage(t, b), bootTimeout)
	if !strings.Contains(console, "initkit-marker:best:42") {
		t.Fatalf("console lacks the marker:\n%s", console)
	}
}

// TestMultiSegmentBoot boots an image laid out like a distribution's: a
// stored early archive padded to 512 bytes, then compressed segments. A file
// of the last segment replaces the same file of an earlier one.
func TestMultiSegmentBoot(t *testing.T) {
	t.Parallel()
	early := Segment(t, compress.None, []image.File{Dir("etc"), Text("etc/early", "early-ok\n", 0o644), Text("etc/who", "first\n", 0o644)})
	main := Segment(t, compress.Zstd, BaseFiles(t, `echo "who:$(cat /etc/who) early:$(cat /etc/early)"`))
	last := Segment(t, compress.Gzip, []image.File{Dir("etc"), Text("etc/who", "last\n", 0o644)})
	pad := make([]byte, (512-len(early)%512)%512+512)
	console := Boot(t, WriteImage(t, early, pad, main, last), bootTimeout)
	if want := "who:last early:early-ok"; !strings.Contains(console, want) {
		t.Fatalf("console lacks %q:\n%s", want, console)
	}
}

// TestSplitBoots: an image written with image.WithSplit, several whole
// archives each compressed on its own, boots with every file of every
// segment, and a hardlink set whose names sort far apart stays linked.
func TestSplitBoots(t *testing.T) {
	for _, f := range []compress.Format{compress.Zstd, compress.XZ, compress.Gzip} {
		t.Run(f.String(), func(t *testing.T) {
			t.Parallel()
			files := BaseFiles(t, `echo "split:$(cat /z/last):$(stat -c %h /z/link):$(cat /a/link)"`)
			files = append(files, Dir("a"), Dir("m"), Dir("z"), Text("z/last", "last-ok", 0o644))
			filler := bytes.Repeat([]byte("initkit filler "), 8<<10)
			for i := range 8 {
				files = append(files, image.File{Header: cpio.Header{Name: fmt.Sprintf("m/f%d", i), Mode: cpio.TypeReg | 0o644}, Data: filler})
			}
			for _, name := range []string{"a/link", "z/link"} {
				files = append(files, image.File{Header: cpio.Header{Name: name, Mode: cpio.TypeReg | 0o644}, Data: []byte("linked"), LinkGroup: "l"})
			}
			img := Segment(t, f, files, image.WithSplit(256<<10))
			r := image.NewReader(bytes.NewReader(img))
			for _, err := r.Next(); err == nil; _, err = r.Next() {
			}
			if n := len(r.Segments()); n < 3 {
				t.Fatalf("%d segments, want at least 3", n)
			}
			console := Boot(t, WriteImage(t, img), bootTimeout)
			if want := "split:last-ok:2:linked"; !strings.Contains(console, want) {
				t.Fatalf("console lacks %q:\n%s", want, console)
			}
		})
	}
}

// twoFrames compresses the first half of what it is given as one zstd
// frame and the rest as another.
type twoFrames struct {
	w   io.Writer
	buf bytes.Buffer
}

func (z *twoFrames) Write(p []byte) (int, error) { return z.buf.Write(p) }

func (z *twoFrames) Close() error {
	b := z.buf.Bytes()
	for _, part := range [][]byte{b[:len(b)/2], b[len(b)/2:]} {
		zw, err := compress.NewWriter(z.w, compress.Zstd, compress.WriterOptions{})
		if err != nil {
			return err
		}
		zw.Write(part)
		if err := zw.Close(); err != nil {
			return err
		}
	}
	return nil
}

// TestKernelRejectedFramings pins the two framings the kernel refuses: xz
// with the CRC64 check (lib/xz accepts CRC32 or none) and the modern lz4
// frame (lib/decompress_unlz4.c reads the legacy one), which is why
// package compress never writes them.
func TestKernelRejectedFramings(t *testing.T) {
	cpioData := Segment(t, compress.None, BaseFiles(t, `echo "initkit-marker:$((6*7))"`))
	cases := map[string]func(io.Writer) (io.WriteCloser, error){
		"xz-crc64":  func(w io.Writer) (io.WriteCloser, error) { return xz.WriterConfig{CheckSum: xz.CRC64}.NewWriter(w) },
		"lz4-frame": func(w io.Writer) (io.WriteCloser, error) { return lz4.NewWriter(w), nil },
		// One archive cut across two zstd frames: the kernel's unzstd
		// decodes one frame and calls the rest junk, so parallel zstd must
		// not split a segment into frames.
		"zstd-two-frames": func(w io.Writer) (io.WriteCloser, error) { return &twoFrames{w: w}, nil },
	}
	for name, newWriter := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			zw, err := newWriter(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := zw.Write(cpioData); err != nil {
				t.Fatal(err)
			}
			if err := zw.Close(); err != nil {
				t.Fatal(err)
			}
			console := Boot(t, WriteImage(t, buf.Bytes()), bootTimeout)
			if strings.Contains(console, "initkit-marker:42") {
				t.Fatalf("the kernel ran /init from a %s image; the kernel refuses it", name)
			}
			if !strings.Contains(console, "Initramfs unpacking failed") {
				t.Fatalf("no unpacking failure reported:\n%s", console)
			}
		})
	}
}

// TestHardlinkedBusyboxBoots packs a tree in which every applet is a
// hardlink of busybox, as Debian's images hold it, and runs applets by
// those names in the guest: a writer that stores the data with the wrong
// link (or inode 0) leaves them empty and the commands fail.
func TestHardlinkedBusyboxBoots(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, d := range []string{"bin", "dev", "proc"} {
		os.Mkdir(filepath.Join(dir, d), 0o755)
	}
	bb := filepath.Join(dir, "bin", "busybox")
	data, err := os.ReadFile(Busybox(t))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(bb, data, 0o755)
	list, err := exec.Command(Busybox(t), "--list").Output()
	if err != nil {
		t.Fatal(err)
	}
	links := 0
	for _, applet := range strings.Fields(string(list)) {
		if applet != "busybox" && os.Link(bb, filepath.Join(dir, "bin", applet)) == nil {
			links++
		}
	}
	if links < 200 {
		t.Fatalf("only %d applet links", links)
	}
	os.WriteFile(filepath.Join(dir, "init"), []byte("#!/bin/sh\n/bin/mount -t proc proc /proc\n/bin/echo \"links:$(/bin/ls /bin | /bin/wc -l) nlink:$(/bin/stat -c %h /bin/sh)\"\n/bin/poweroff -f\n"), 0o755)
	files, err := image.FilesFromDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	console := Boot(t, WriteImage(t, Segment(t, compress.Zstd, files)), bootTimeout)
	want := fmt.Sprintf("links:%d nlink:%d", links+1, links+1)
	if !strings.Contains(console, want) {
		t.Fatalf("console lacks %q:\n%s", want, console)
	}
}
