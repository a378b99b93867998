package decode

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/initkit/initkit/oops"
	"github.com/initkit/initkit/symbolize"
)

// The end-to-end tests (real logs, real vmlinux, the reference tools) are
// in vmtest; these pin the annotation format.
func TestAnnotation(t *testing.T) {
	for _, c := range []struct {
		f    FrameResult
		want string
	}{
		{FrameResult{Source: []symbolize.Frame{{Function: "kernel_init", File: "init/main.c", Line: 1513}}}, " init/main.c:1513"},
		{FrameResult{Source: []symbolize.Frame{
			{Function: "constant_test_bit", File: "arch/x86/include/asm/bitops.h", Line: 207, Inlined: true},
			{Function: "test_taint", File: "kernel/panic.c", Line: 524, Inlined: true},
			{Function: "panic", File: "kernel/panic.c", Line: 338},
		}}, " arch/x86/include/asm/bitops.h:207 [constant_test_bit inlined into test_taint at kernel/panic.c:524, inlined into panic at kernel/panic.c:338]"},
		{FrameResult{Source: []symbolize.Frame{{Function: "entry_SYSCALL_64"}}}, " ??:0"},
		{FrameResult{Frame: oops.Frame{Func: "x"}, Error: "no symbol x"}, " (unresolved: no symbol x)"},
	} {
		if got := annotation(c.f); got != c.want {
			t.Errorf("annotation = %q, want %q", got, c.want)
		}
	}
}

func TestStripPrefix(t *testing.T) {
	d := &Decoder{Opts: Options{StripPrefix: "/src/linux/"}}
	got := d.Strip([]symbolize.Frame{{File: "/src/linux/mm/slab.c"}, {File: "include/x.h"}})
	if got[0].File != "mm/slab.c" || got[1].File != "include/x.h" {
		t.Errorf("strip: %+v", got)
	}
}

func TestReadLogBounded(t *testing.T) {
	_, err := readLog(zeroReader{}, "/dev/zero", 1<<20)
	if err == nil || !strings.Contains(err.Error(), "/dev/zero: more than 1048576 bytes") {
		t.Fatalf("got %v", err)
	}
	b, err := readLog(strings.NewReader("short log\n"), "x", 1<<20)
	if err != nil || string(b) != "short log\n" {
		t.Fatalf("short: %q %v", b, err)
	}
}

// TestReadLogBinary: a program, a disk image or a vmcore given as the
// log is refused by name and offset, not written back as megabytes of
// escapes with no report found; every real log in oops' testdata, a
// few NULs of a serial line's noise in one, and colours are a log.
func TestReadLogBinary(t *testing.T) {
	self, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	disk := make([]byte, 1<<20)
	copy(disk[510:], "\x55\xaaEFI PART")
	core := append([]byte("\x7fELF\x02\x01\x01\x00"), make([]byte, 4096)...)
	for name, c := range map[string]struct {
		data []byte
		want string
	}{
		"true":   {self, "at offset 4"},
		"disk":   {disk, "the first at offset 0"},
		"vmcore": {core, "initkit vmcore reads it"},
	} {
		if _, err := readLog(bytes.NewReader(c.data), name, 1<<30); err == nil || !strings.Contains(err.Error(), name+": binary data, not a console log") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
		if _, err := Titles(io.Discard, bytes.NewReader(c.data)); err == nil || !strings.Contains(err.Error(), "binary data") {
			t.Errorf("%s: titles: %v", name, err)
		}
	}
	logs, _ := filepath.Glob("../oops/testdata/*.log")
	real, _ := filepath.Glob("../oops/testdata/real/*.log")
	if len(logs)+len(real) < 10 {
		t.Fatalf("%d logs", len(logs)+len(real))
	}
	for _, l := range append(logs, real...) {
		b, err := os.ReadFile(l)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range [][]byte{b, append([]byte("\x00\x00\x00\x1b[0;32m"), b...)} {
			if _, err := readLog(bytes.NewReader(b), l, 1<<30); err != nil {
				t.Errorf("%s: %v", l, err)
			}
		}
	}
}

// TestReadLogCompressed: a log stored compressed (a CI artifact's
// console.log.xz) reads as its text, each made by its own tool; one cut
// short says which decompressor stopped, and one that inflates past
// MaxLog is refused by both readers.
func TestReadLogCompressed(t *testing.T) {
	logs, _ := filepath.Glob("../oops/testdata/real/*.log")
	if len(logs) == 0 {
		t.Fatal("no logs")
	}
	text, err := os.ReadFile(logs[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"xz", "gzip", "zstd", "bzip2"} {
		z, err := exec.Command(tool, "-c", logs[0]).Output()
		if err != nil {
			t.Fatalf("%s: %v", tool, err)
		}
		if b, err := readLog(bytes.NewReader(z), tool, 1<<20); err != nil || !bytes.Equal(b, text) {
			t.Errorf("%s: %d bytes, %v", tool, len(b), err)
		}
		var titles bytes.Buffer
		if n, err := Titles(&titles, bytes.NewReader(z)); err != nil || n != 1 {
			t.Errorf("%s: titles %d %q, %v", tool, n, titles.String(), err)
		}
		if _, err := readLog(bytes.NewReader(z[:len(z)/2]), tool, 1<<20); err == nil || !strings.Contains(err.Error(), tool) {
			t.Errorf("%s cut short: %v", tool, err)
		}
	}
	cmd := exec.Command("zstd", "-q", "-c")
	cmd.Stdin = io.LimitReader(&lineReader{}, MaxLog+(1<<20))
	bomb, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, read := range []func() error{
		func() error { _, err := ReadLog(bytes.NewReader(bomb), "bomb"); return err },
		func() error { _, err := Titles(io.Discard, bytes.NewReader(bomb)); return err },
	} {
		if err := read(); err == nil || !strings.Contains(err.Error(), "more than") {
			t.Errorf("a bomb of %d bytes: %v", len(bomb), err)
		}
	}
}

// lineReader is "a line of a log\n" for ever.
type lineReader struct{ at int }

func (l *lineReader) Read(p []byte) (int, error) {
	const line = "a line of a log\n"
	for i := range p {
		p[i] = line[l.at%len(line)]
		l.at++
	}
	return len(p), nil
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestSourceConfined: the file names a vmlinux's DWARF gives are
// untrusted, and so is the source tree: --source prints lines only of a
// regular file inside the tree, never one reached by ".." or by a
// symlink out of it, and a FIFO does not block the decode.
func TestSourceConfined(t *testing.T) {
	top := t.TempDir()
	tree := filepath.Join(top, "linux")
	os.MkdirAll(filepath.Join(tree, "kernel"), 0o755)
	os.WriteFile(filepath.Join(tree, "kernel", "panic.c"), []byte("one\ntwo\nthree\n"), 0o644)
	os.WriteFile(filepath.Join(top, "secret"), []byte("secret line\n"), 0o644)
	os.Symlink("../../secret", filepath.Join(tree, "kernel", "out.c"))
	os.Symlink("panic.c", filepath.Join(tree, "kernel", "in.c"))
	if err := syscall.Mkfifo(filepath.Join(tree, "fifo.c"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := &Decoder{Opts: Options{Source: tree}}
	for _, c := range []struct{ file, want string }{
		{"kernel/panic.c", ">     2  two"},
		{"/kernel/panic.c", ">     2  two"},
		{"kernel/in.c", ">     2  two"},
		{"../secret", ""},
		{"kernel/out.c", ""},
		{"fifo.c", ""},
	} {
		var out strings.Builder
		d.source(&out, FrameResult{Source: []symbolize.Frame{{File: c.file, Line: 2}}})
		if !strings.Contains(out.String(), c.want) || c.want == "" && out.Len() > 0 {
			t.Errorf("%s: printed %q, want %q", c.file, out.String(), c.want)
		}
	}
}

// TestAnnotateEscapes: a log is untrusted; decode drops its colours and
// shows any other control character as \xNN.
func TestAnnotateEscapes(t *testing.T) {
	var out strings.Builder
	d := &Decoder{}
	log := "\x1b[31mred\x1b[0m line\nset title \x1b]0;PWNED\x07 here\n"
	if _, err := d.Annotate([]byte(log), &out); err != nil {
		t.Fatal(err)
	}
	if want := "red line\nset title \\x1b]0;PWNED\\x07 here\n"; out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

// TestArgsNeitherFileNorLocation: an argument that is no file and no
// location says both, naming it: a mistyped log path is the likely case.
// It is found before any vmlinux is looked for.
func TestArgsNeitherFileNorLocation(t *testing.T) {
	_, err := ParseArgs([]string{"/nonexistent/console.log"})
	if want := "/nonexistent/console.log: no such file, and not FUNC+0xOFF[/0xLEN] or 0xADDRESS"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
	_, err = ParseArgs([]string{"tcp_v4_rcv+0x2d1/0x3000", "console.lgo"})
	if err == nil || !strings.HasPrefix(err.Error(), "console.lgo: no such file") {
		t.Errorf("a mistyped log after a location: error %v", err)
	}
}

func TestParseArgs(t *testing.T) {
	log := filepath.Join(t.TempDir(), "console.log")
	if err := os.WriteFile(log, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want Args
	}{
		{nil, Args{Log: "-"}},
		{[]string{"-"}, Args{Log: "-"}},
		{[]string{log}, Args{Log: log}},
		{[]string{"tcp_v4_rcv+0x2d1/0x3000", "0xffffffff81000000", "ffffffff81000010"},
			Args{Locations: []string{"tcp_v4_rcv+0x2d1/0x3000", "0xffffffff81000000", "ffffffff81000010"}}},
	} {
		got, err := ParseArgs(c.args)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseArgs(%q) = %+v, %v; want %+v", c.args, got, err, c.want)
		}
	}
	if _, err := ParseArgs([]string{log, log}); err == nil || err.Error() != "one log at a time (got 2 arguments)" {
		t.Errorf("two logs: error %v", err)
	}
}

// A vmlinux without DWARF is told where its DWARF comes from: a build
// directory's is built again with it, a distribution's is in its -dbg
// package. (A build directory's was sent to the -dbg package.)
func TestNoDWARFAdvice(t *testing.T) {
	prog, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	vmlinux := filepath.Join(dir, "vmlinux")
	if err := os.WriteFile(vmlinux, prog, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Open(vmlinux, nil, false, Options{})
	if !errors.Is(err, symbolize.ErrNoDWARF) || !strings.Contains(err.Error(), "-dbg package") {
		t.Errorf("distribution's: %v", err)
	}
	os.WriteFile(filepath.Join(dir, ".config"), []byte("# CONFIG_DEBUG_INFO is not set\n"), 0o644)
	_, err = Open(vmlinux, nil, false, Options{})
	if !errors.Is(err, symbolize.ErrNoDWARF) || !strings.Contains(err.Error(), "--for dwarf") || strings.Contains(err.Error(), "-dbg") {
		t.Errorf("build directory's: %v", err)
	}
}

// A frame that carries its location already, as syzbot, the kernel's
// decode_stacktrace.sh and decode itself write it, is one annotatedRE
// matches; a frame as the kernel prints it is not.
func TestAnnotated(t *testing.T) {
	for line, want := range map[string]bool{
		" dump_stack_lvl+0xd9/0x1b0 lib/dump_stack.c:106":                                         true,
		" tcp_v4_rcv+0x1a/0x40 [ipv6] net/ipv4/tcp_ipv4.c:2100 [inlined chain]":                   true,
		"RIP: 0010:sysrq_handle_crash+0x16/0x20 drivers/tty/sysrq.c:154":                          true,
		" ? 0xffffffff810010cf ??:0":                                                              true,
		" panic+0xf3/0x279 (unresolved: mismatch: the log is from another build)":                 true,
		" dump_stack_lvl+0xd9/0x1b0":                                                              false,
		" crash_here+0x5/0x10 [crashme]":                                                          false,
		"RIP: 0010:sysrq_handle_crash+0x16/0x20":                                                  false,
		" ? 0xffffffff810010cf":                                                                   false,
		"[    3.1] Code: 00 4c 8b 05 f9 e9 0f 00 be e7 00 00 00 ba 3c 00 00 00 eb 12 0f 1f 44 00": false,
	} {
		if got := annotatedRE.MatchString(line); got != want {
			t.Errorf("%q: %v, want %v", line, got, want)
		}
	}
}
