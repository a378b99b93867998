package vmtest

import (
	"bytes"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/initkit/initkit/compress"
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

// TestKernelRejectedFramings pins the two framings the field notes warn
// about: xz with the CRC64 check and the modern lz4 frame both make the
// kernel refuse the image, which is why package compress never writes them.
func TestKernelRejectedFramings(t *testing.T) {
	cpioData := Segment(t, compress.None, BaseFiles(t, `echo "initkit-marker:$((6*7))"`))
	cases := map[string]func(io.Writer) (io.WriteCloser, error){
		"xz-crc64":  func(w io.Writer) (io.WriteCloser, error) { return xz.WriterConfig{CheckSum: xz.CRC64}.NewWriter(w) },
		"lz4-frame": func(w io.Writer) (io.WriteCloser, error) { return lz4.NewWriter(w), nil },
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
				t.Fatalf("the kernel ran /init from a %s image; the field notes say it refuses it", name)
			}
			if !strings.Contains(console, "Initramfs unpacking failed") {
				t.Fatalf("no unpacking failure reported:\n%s", console)
			}
		})
	}
}
