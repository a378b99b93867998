package vmexec

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/initkit/initkit/boot"
	"github.com/initkit/initkit/guest"
	"github.com/initkit/initkit/kernel"
)

// TestGoTestOutputs: the outputs of a run as go test -exec starts it
// (these are the arguments go 1.26 passes with -coverprofile and
// -cpuprofile), and a run that asks for none.
func TestGoTestOutputs(t *testing.T) {
	argv := []string{"/tmp/gt/gt.test", "-test.paniconexit0", "-test.gocoverdir=/tmp/b001/gocoverdir", "-test.timeout=10m0s",
		"-test.outputdir=/tmp/gt", "-test.count=1", "-test.v=true", "-test.coverprofile=/tmp/b001/_cover_.out", "-test.cpuprofile=cpu.out",
		"--test.memprofile", "mem.out", "-notatest.trace=x"}
	got, err := GoTestOutputs(argv, "/elsewhere")
	want := []guest.Output{{Path: "/tmp/b001/gocoverdir", Dir: true}, {Path: "/tmp/b001/_cover_.out"}, {Path: "/tmp/gt/cpu.out"}, {Path: "/tmp/gt/mem.out"}}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("got %v, %v; want %v", got, err, want)
	}
	if got, err := GoTestOutputs([]string{"/bin/true", "-test.trace=t.out"}, ""); err != nil || !slices.Equal(got, []guest.Output{{Path: "/t.out"}}) {
		t.Errorf("in /: %v, %v", got, err)
	}
	if got, _ := GoTestOutputs([]string{"/bin/ls", "-l", "-test.v"}, "/x"); len(got) != 0 {
		t.Errorf("no outputs asked for: %v", got)
	}
}

// TestStatusPort: files come back between the text and the status line,
// whatever the chunks the port delivers; what the guest claims is
// checked: a file outside its output, of an output that is not there, or
// past the bound is dropped and named, and a file cut short leaves
// nothing behind.
func TestStatusPort(t *testing.T) {
	dir := t.TempDir()
	outDir, outFile := filepath.Join(dir, "cover"), filepath.Join(dir, "sub", "c.out")
	outs := []guest.Output{{Path: outDir, Dir: true}, {Path: outFile}}
	frame := func(token string, i int, name, data string) string {
		return string(guest.FileHeader(token, i, int64(len(data)), name)) + data
	}
	binary := "a\nb\x00\x11\x13" + strings.Repeat("\xff\n", 100)
	stream := "noise from the command\n" + frame("tok", 0, "covmeta.1", binary) + frame("tok", 0, "empty", "") +
		frame("tok", 1, "", "mode: set\n") + frame("forged", 0, "x", "") + string(guest.StatusLine("tok", 3))
	for _, chunk := range []int{1, 7, len(stream)} {
		os.RemoveAll(dir)
		p := newStatusPort("tok", outs)
		for s := stream; s != ""; {
			n := min(chunk, len(s))
			p.Write([]byte(s[:n]))
			s = s[n:]
		}
		if err := p.finish(); err != nil {
			t.Fatalf("chunks of %d: %v", chunk, err)
		}
		if code, ok := guest.ParseStatus(p.text.String(), "tok"); !ok || code != 3 {
			t.Errorf("chunks of %d: status %d %v in %q", chunk, code, ok, p.text.String())
		}
		for path, want := range map[string]string{filepath.Join(outDir, "covmeta.1"): binary, filepath.Join(outDir, "empty"): "", outFile: "mode: set\n"} {
			if b, err := os.ReadFile(path); err != nil || string(b) != want {
				t.Errorf("chunks of %d: %s: %q %v", chunk, path, b, err)
			}
		}
		if _, err := os.Stat(filepath.Join(outDir, "x")); err == nil {
			t.Errorf("a header with another token wrote a file")
		}
	}

	saved := MaxReturned
	t.Cleanup(func() { MaxReturned = saved })
	MaxReturned = 1000
	for _, c := range []struct{ stream, want string }{
		{frame("tok", 0, "../escape", "x"), `a file named "../escape"`},
		{frame("tok", 0, "a/b", "x"), `a file named "a/b"`},
		{frame("tok", 2, "a", "x"), "output 2; there are 2"},
		{frame("tok", 1, "name", "x"), `sent "name" as the file`},
		{frame("tok", 0, "big", strings.Repeat("x", 1001)), "more than 1000 bytes"},
		{string(guest.FileHeader("tok", 0, 500, "short")) + "abc", "came back cut short: 22 of 500 bytes"}, // the status line taken for its bytes
	} {
		os.RemoveAll(dir)
		p := newStatusPort("tok", outs)
		p.Write([]byte(c.stream + string(guest.StatusLine("tok", 0))))
		err := p.finish()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.stream[:min(len(c.stream), 60)], err, c.want)
		}
		var left []string
		filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
			if err == nil && !info.IsDir() {
				left = append(left, path)
			}
			return nil
		})
		if len(left) > 0 {
			t.Errorf("%q left %v", c.want, left)
		}
	}
}

// TestRunRefusesOutputs: an output is an absolute path, and comes from
// exec's own root only; both are refused before anything boots.
func TestRunRefusesOutputs(t *testing.T) {
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{Outputs: []guest.Output{{Path: "rel/c.out"}}}, "not an absolute path"},
		{Options{Outputs: []guest.Output{{Path: "/c.out"}}, Boot: boot.Options{Root: "root"}}, "not from a disk's (--root)"},
	} {
		if _, err := Run(context.Background(), []string{"/bin/true"}, c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.o, err, c.want)
		}
	}
}

// TestSetEnvAndOutputs: exec's flags and go test's arguments together,
// --copy-out relative to the working directory.
func TestSetEnvAndOutputs(t *testing.T) {
	t.Chdir(t.TempDir())
	wd, _ := os.Getwd()
	o := Options{Dir: "."}
	err := o.SetEnvAndOutputs([]string{"/x.test", "-test.gocoverdir=/tmp/b/cov"}, []string{"A=1"}, []string{"out/", "log.txt"})
	want := []guest.Output{{Path: "/tmp/b/cov", Dir: true}, {Path: filepath.Join(wd, "out"), Dir: true}, {Path: filepath.Join(wd, "log.txt")}}
	if err != nil || !slices.Equal(o.Env, []string{"A=1"}) || !slices.Equal(o.Outputs, want) {
		t.Errorf("%v: env %q, outputs %v; want %v", err, o.Env, o.Outputs, want)
	}
	if err := o.SetEnvAndOutputs(nil, []string{"1A=x"}, nil); err == nil {
		t.Error("a bad variable name was accepted")
	}
}

// TestRunRefusesForeignKernel: exec runs host programs; a kernel for
// another architecture is refused before QEMU starts, naming both.
func TestRunRefusesForeignKernel(t *testing.T) {
	foreign := map[string]string{"x86_64": "aarch64", "aarch64": "x86_64"}[kernel.HostArch()]
	o := Options{Boot: boot.Options{Chosen: &kernel.Choice{Image: "Image", Arch: foreign}, Notes: io.Discard}}
	_, err := Run(context.Background(), []string{"/bin/true"}, o)
	if want := "exec runs host programs, built for " + kernel.HostArch() + ", and the kernel Image is for " + foreign; err == nil || err.Error() != want {
		t.Errorf("%v, want %q", err, want)
	}
}
