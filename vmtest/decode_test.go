package vmtest

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/initkit/initkit/compress"
	"github.com/initkit/initkit/cpio"
	"github.com/initkit/initkit/decode"
	"github.com/initkit/initkit/image"
	"github.com/initkit/initkit/symbolize"
)

// crashModule builds an out-of-tree module against the test kernel's
// linux-headers package: its init calls crash_here(), a .text function
// that writes through a NULL pointer, so the Oops has module frames in
// two sections (.text and .init.text). 64 NOPs come first: the module's
// .text starts a page, and x86 prints the 42 bytes before the faulting
// instruction only when they are mapped ("Code: Unable to access opcode
// bytes" otherwise).
func crashModule(t *testing.T) string {
	t.Helper()
	k := Kernel(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "crashme.c"), []byte(`#include <linux/module.h>
#include <linux/init.h>

static int *target;

static noinline void crash_here(int v)
{
	asm volatile(".fill 64, 1, 0x90");
	*target = v;
}

static int __init crashme_init(void)
{
	crash_here(42);
	return 0;
}
module_init(crashme_init);
MODULE_LICENSE("GPL");
`), 0o644)
	os.WriteFile(filepath.Join(dir, "Makefile"), []byte("obj-m := crashme.o\n"), 0o644)
	hdrs := "/usr/src/linux-headers-" + k.Release
	out, err := exec.Command("make", "-C", hdrs, "M="+dir, "modules").CombinedOutput()
	if err != nil {
		t.Fatalf("building the module against %s (make test installs the headers): %v\n%s", hdrs, err, out)
	}
	return filepath.Join(dir, "crashme.ko")
}

// captureLogs boots the test kernel three ways and returns the console
// logs: a sysrq crash, an init that exits, and an Oops in a module.
func captureLogs(t *testing.T, ko string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(ko)
	if err != nil {
		t.Fatal(err)
	}
	exits := BaseFiles(t, "")
	exits[len(exits)-1] = Text("init", "#!/bin/sh\nexit 3\n", 0o755) // PID 1 returns
	cases := map[string][]image.File{
		"sysrq":     BaseFiles(t, "echo c > /proc/sysrq-trigger"),
		"init-exit": exits,
		"module": append(BaseFiles(t, "insmod /crashme.ko; echo insmod-returned"),
			image.File{Header: cpio.Header{Name: "crashme.ko", Mode: cpio.TypeReg | 0o644}, Data: data}),
	}
	logs := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, files := range cases {
		img := WriteImage(t, Segment(t, compress.None, files))
		wg.Add(1)
		go func(name, img string) {
			defer wg.Done()
			log := Boot(t, img, 2*time.Minute)
			mu.Lock()
			logs[name] = log
			mu.Unlock()
		}(name, img)
	}
	wg.Wait()
	return logs
}

// TestDecodeMatchesLLVMAndElfutils: every frame of crash logs captured
// from the real kernel resolves to the same function, line and inline
// chain as llvm-symbolizer (vmlinux) and eu-addr2line (vmlinux and the
// module, section by section) report for the same address, asked here.
func TestDecodeMatchesLLVMAndElfutils(t *testing.T) {
	t.Parallel()
	vmlinux := DebugVmlinux(t)
	ko := crashModule(t)
	logs := captureLogs(t, ko)
	vf, err := symbolize.Open(vmlinux)
	if err != nil {
		t.Fatal(err)
	}
	defer vf.Close()
	res := &symbolize.Resolver{Vmlinux: vf, ModulesDirs: []string{filepath.Dir(ko)}}
	defer res.Close()
	dec := &decode.Decoder{R: res}
	want := map[string]string{"sysrq": "panic", "init-exit": "panic", "module": "BUG"}
	checked := 0
	for name, log := range logs {
		reps, err := dec.Reports([]byte(log))
		if err != nil {
			t.Fatal(err)
		}
		if len(reps) == 0 || reps[0].Kind != want[name] {
			t.Fatalf("%s: reports %+v in:\n%s", name, reps, log)
		}
		if name == "module" && (reps[0].RIP == nil || reps[0].RIP.Module != "crashme" || !strings.HasPrefix(reps[0].RIP.Func, "crash_here")) {
			t.Fatalf("module: RIP %+v in:\n%s", reps[0].RIP, log)
		}
		for _, r := range reps {
			for _, f := range r.Resolved {
				if f.Unreliable && f.Error == "" && len(f.Source) == 0 {
					continue // a stale word of the stack, in no unit
				}
				if f.Error != "" {
					t.Errorf("%s: %s+%#x: %s", name, f.Func, f.Off, f.Error)
					continue
				}
				checked++
				compareFrame(t, name, vmlinux, ko, f)
			}
		}
		if len(reps[0].Warnings) != 0 {
			t.Errorf("%s: warnings %v", name, reps[0].Warnings)
		}
	}
	t.Logf("%d frames checked against the reference tools", checked)
	if checked < 20 {
		t.Errorf("only %d frames checked", checked)
	}
	t.Run("cli", func(t *testing.T) { decodeCLI(t, vmlinux, ko, logs) })
}

// decodeCLI checks initkit decode on the captured logs: the annotated
// output, JSON, the index (written once, used again, safe when several
// runs build it at once), a module frame, and the bad inputs.
func decodeCLI(t *testing.T, vmlinux, ko string, logs map[string]string) {
	cache := t.TempDir()
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(text), 0o644)
		return p
	}
	run := func(args ...string) (string, string, error) {
		cmd := exec.Command(initkitBinary(t), append([]string{"decode", "--vmlinux", vmlinux}, args...)...)
		cmd.Env = append(os.Environ(), "INITKIT_CACHE="+cache)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		return string(out), stderr.String(), err
	}
	sysrq := write("sysrq.log", logs["sysrq"])
	// Several first runs at once: each writes the whole index and renames
	// it into place, so the survivor is complete.
	outs := make([]string, 4)
	var wg sync.WaitGroup
	for i := range outs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			out, stderr, err := run(sysrq)
			if err != nil {
				t.Errorf("decode: %v\n%s", err, stderr)
			}
			outs[i] = out
		}(i)
	}
	wg.Wait()
	for _, o := range outs[1:] {
		if o != outs[0] {
			t.Fatalf("concurrent decodes differ:\n%s\n---\n%s", outs[0], o)
		}
	}
	mustMatch(t, outs[0], `(?m) panic\+0x[0-9a-f]+/0x[0-9a-f]+ kernel/panic\.c:[0-9]+$`,
		`(?m) sysrq_handle_crash\+0x[0-9a-f]+/0x[0-9a-f]+ drivers/tty/sysrq\.c:[0-9]+`,
		`\[[a-z_]+ inlined into [a-z_]+ at [a-z/_.-]+:[0-9]+`)
	idx, _ := filepath.Glob(filepath.Join(cache, "symbolize", "*.idx"))
	if len(idx) != 1 {
		t.Fatalf("index files: %v", idx)
	}
	// The repeat run answers from the index, with the same output.
	again, _, err := run(sysrq)
	if err != nil || again != outs[0] {
		t.Errorf("repeat decode differs (%v)", err)
	}
	// A decoded log decodes to itself: syzbot's report.txt and a decoded
	// CI log keep their annotations, and the report's note is not doubled
	// (each frame gained a second annotation, each report a second note).
	twice, _, err := run(write("decoded.log", outs[0]))
	if err != nil || twice != outs[0] {
		t.Errorf("decoding the decoded log: %v\n%s", err, twice)
	}
	// A module frame through --modules; JSON for tools.
	module := write("module.log", logs["module"])
	out, stderr, err := run("--modules", filepath.Dir(ko), "--json", module)
	if err != nil {
		t.Fatalf("decode --json: %v\n%s", err, stderr)
	}
	mustMatch(t, out, `"module": "crashme"`, `"file": "[^"]*crashme\.c"`)
	faultingMatchesModule(t, out, ko)
	// The log annotated: the code after its Code: line, the trapping
	// instruction marked; decoded again, the same.
	out, _, err = run("--modules", filepath.Dir(ko), module)
	mustMatch(t, out, `(?m)^.*Code: (?:90 )+.*\ninitkit decode: code: +[0-9a-f]+: \t90 +\tnop\n`,
		`(?m)^initkit decode: code: +[0-9a-f]+:\*\t[0-9a-f]{2}(?: [0-9a-f]{2})* *\t\S.*<-- trapping instruction$`)
	if again, _, _ := run("--modules", filepath.Dir(ko), write("module-decoded.log", out)); err != nil || again != out {
		t.Errorf("decoding the decoded module log: %v\n%s", err, again)
	}
	// One-shot: a symbol on the command line, at its exact address, as
	// llvm-symbolizer reports it.
	out, _, err = run("kernel_init+0x77")
	if err != nil {
		t.Fatalf("one-shot: %v", err)
	}
	want := llvmSymbolize(t, vmlinux, nmAddr(t, vmlinux, "kernel_init", 0)+0x77)
	mustMatch(t, out, regexp.QuoteMeta(fmt.Sprintf("%s at ", want[len(want)-1].fn))+`\S*init/main\.c:`+fmt.Sprint(want[len(want)-1].line))
	// --source prints the lines around each frame.
	src := filepath.Join(dir, "src")
	os.MkdirAll(filepath.Join(src, "kernel"), 0o755)
	var text strings.Builder
	for i := 1; i <= 2000; i++ {
		fmt.Fprintf(&text, "source line %d\n", i)
	}
	os.WriteFile(filepath.Join(src, "kernel", "panic.c"), []byte(text.String()), 0o644)
	out, _, err = run("--source", src, sysrq)
	if err != nil {
		t.Fatalf("--source: %v", err)
	}
	mustMatch(t, out, `(?m) panic\+0x[0-9a-f]+/0x[0-9a-f]+ kernel/panic\.c:([0-9]+)\n +(?: [0-9]+  source line [0-9]+\n +)*> +[0-9]+  source line [0-9]+\n`)
	// A log without a report: exit 0, said on stderr.
	if _, stderr, err := run(write("quiet.log", "[    0.0] Linux version 6.1\nhello\n")); err != nil || !strings.Contains(stderr, "no crash report in") {
		t.Errorf("no report: %v %q", err, stderr)
	}
	// A log from another kernel: a warning.
	other := strings.ReplaceAll(logs["sysrq"], Kernel(t).Release, "5.10.0-99-amd64")
	if _, stderr, _ := run(write("other.log", other)); !strings.Contains(stderr, "the log is from kernel 5.10.0-99-amd64 but the vmlinux is "+Kernel(t).Release) {
		t.Errorf("no version warning: %q", stderr)
	}
	// A truncated report decodes what it has.
	cut := logs["sysrq"][:strings.Index(logs["sysrq"], "sysrq_handle_crash")+len("sysrq_handle_crash+0x16/0x20")]
	if out, _, err := run(write("cut.log", cut)); err != nil || !regexp.MustCompile(` panic\+0x[0-9a-f]+/0x[0-9a-f]+ kernel/panic\.c:[0-9]+`).MatchString(out) {
		t.Errorf("truncated: %v\n%s", err, out)
	}
	// A vmlinux without DWARF: the error names the -dbg route.
	cmd := exec.Command(initkitBinary(t), "decode", "--vmlinux", "/bin/true", sysrq)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "-dbg") {
		t.Errorf("no DWARF: %v %s", err, out)
	}
}

// faultingMatchesModule: the instruction decode --json marks as
// trapping, from the Code: line the running kernel printed, is the one
// objdump shows in crashme.ko at the RIP's offset in crash_here (the
// store through NULL), and the NOPs before it are decoded as such.
func faultingMatchesModule(t *testing.T, decoded, ko string) {
	t.Helper()
	var reps []decode.Resolved
	if err := json.Unmarshal([]byte(decoded), &reps); err != nil || len(reps) == 0 {
		t.Fatalf("decode --json: %v (%d reports)", err, len(reps))
	}
	r := reps[0]
	var faulting *decode.Instruction
	for i, in := range r.Code {
		if in.Faulting {
			faulting = &r.Code[i]
		}
	}
	if faulting == nil || r.Code[0].Text != "nop" || r.RIP == nil || !strings.HasPrefix(r.RIP.Func, "crash_here") {
		t.Fatalf("no trapping instruction after NOPs in crash_here: RIP %+v, code %+v", r.RIP, r.Code)
	}
	out, err := exec.Command("objdump", "-d", "--disassemble="+r.RIP.Func, "--insn-width=16", ko).CombinedOutput()
	if err != nil {
		t.Fatalf("objdump: %v\n%s", err, out)
	}
	// objdump numbers a module's instructions from its section's start.
	_, start := koSymbol(t, ko, r.RIP.Func)
	at := regexp.MustCompile(fmt.Sprintf(`(?m)^\s*%x:\t((?:[0-9a-f]{2} )+)`, start+r.RIP.Off)).FindStringSubmatch(string(out))
	if at == nil || strings.TrimSpace(at[1]) != faulting.Bytes {
		t.Errorf("trapping instruction %q (%s) at %s+%#x; objdump of %s there: %q\n%s", faulting.Bytes, faulting.Text, r.RIP.Func, r.RIP.Off, ko, at, out)
	}
}

// compareFrame asks the reference tools about one frame's address.
func compareFrame(t *testing.T, log, vmlinux, ko string, f decode.FrameResult) {
	t.Helper()
	var refs map[string][]ref
	if f.Module == "" {
		addr := nmAddr(t, vmlinux, f.Func, f.Len) + f.Off
		if !f.IsRIP {
			addr--
		}
		llvm, eu := llvmSymbolize(t, vmlinux, addr), euAddr2line(t, vmlinux, "", addr)
		refs = map[string][]ref{"llvm-symbolizer": llvm}
		// Where the two tools disagree, llvm-symbolizer decides: seen
		// here, eu-addr2line listing an inlined scope twice under one
		// name (rcu_nocb_unlock_irqrestore) that llvm-symbolizer and
		// addr2line both leave out.
		if sameLocations(llvm, eu) {
			refs["eu-addr2line"] = eu
		} else {
			t.Logf("%s: %s+%#x: the tools disagree: llvm-symbolizer %+v, eu-addr2line %+v", log, f.Func, f.Off, llvm, eu)
		}
	} else {
		sec, val := koSymbol(t, ko, f.Func)
		addr := val + f.Off
		if !f.IsRIP {
			addr--
		}
		refs = map[string][]ref{"eu-addr2line -j " + sec: euAddr2line(t, ko, sec, addr)}
	}
	for tool, r := range refs {
		if len(r) != len(f.Source) {
			t.Errorf("%s: %s+%#x: %d frames, %s %d: ours %+v, theirs %+v", log, f.Func, f.Off, len(f.Source), tool, len(r), f.Source, r)
			continue
		}
		for i, s := range f.Source {
			sameFile := r[i].file == s.File || strings.HasSuffix(r[i].file, "/"+s.File)
			sameFunc := sameFunction(t, vmlinux, f, r[i].fn, s.Function)
			if !sameFile || r[i].line != s.Line || !sameFunc {
				t.Errorf("%s: %s+%#x frame %d: ours %s %s:%d, %s %s %s:%d", log, f.Func, f.Off, i, s.Function, s.File, s.Line, tool, r[i].fn, r[i].file, r[i].line)
			}
		}
	}
}

// sameFunction compares function names as the tools may differ on them
// without being wrong: one of them knows none ("??"); a GCC clone suffix
// (.cold, .isra.0: llvm-symbolizer names the clone's symbol, eu-addr2line
// the DWARF function); or, in assembly without DWARF functions, two
// symbols that both label the code (entry_SYSCALL_64 and
// entry_SYSCALL_64_after_hwframe).
func sameFunction(t *testing.T, vmlinux string, f decode.FrameResult, theirs, ours string) bool {
	base := func(s string) string { b, _, _ := strings.Cut(s, "."); return b }
	if theirs == ours || theirs == "??" || base(theirs) == base(ours) {
		return true
	}
	if f.Module != "" {
		return false
	}
	at := nmAddr(t, vmlinux, f.Func, f.Len) + f.Off
	for _, a := range nmSyms[theirs] {
		if a <= at && at-a < 0x1000 {
			return len(nmSyms[ours]) > 0
		}
	}
	return false
}

func sameLocations(a, b []ref) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		// The tools print some build paths relative and some absolute.
		if filepath.Base(a[i].file) != filepath.Base(b[i].file) || a[i].line != b[i].line {
			return false
		}
	}
	return true
}

type ref struct {
	fn, file string
	line     int
}

// parseLoc reads "file:line[:col]".
func parseLoc(s string) (string, int) {
	parts := strings.Split(s, ":")
	if len(parts) >= 3 {
		var l int
		fmt.Sscan(parts[len(parts)-2], &l)
		if l > 0 {
			return strings.Join(parts[:len(parts)-2], ":"), l
		}
	}
	var l int
	fmt.Sscan(parts[len(parts)-1], &l)
	return strings.Join(parts[:len(parts)-1], ":"), l
}

func llvmSymbolize(t *testing.T, obj string, addr uint64) []ref {
	out, err := exec.Command("llvm-symbolizer", "--obj="+obj, "--inlining", fmt.Sprintf("%#x", addr)).Output()
	if err != nil {
		t.Fatalf("llvm-symbolizer: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var r []ref
	for i := 0; i+1 < len(lines); i += 2 {
		file, line := parseLoc(lines[i+1])
		r = append(r, ref{lines[i], filepath.Clean(file), line})
	}
	return r
}

// euAddr2line runs eu-addr2line -f -i; for a module, the address is
// relative to section sec (-j).
func euAddr2line(t *testing.T, obj, sec string, addr uint64) []ref {
	args := []string{"-f", "-i", "-e", obj}
	if sec != "" {
		args = append(args, "-j", sec)
	}
	out, err := exec.Command("eu-addr2line", append(args, fmt.Sprintf("%#x", addr))...).Output()
	if err != nil {
		t.Fatalf("eu-addr2line: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var r []ref
	for i := 0; i+1 < len(lines); i += 2 {
		fn, _, _ := strings.Cut(lines[i], " inlined at ")
		file, line := parseLoc(lines[i+1])
		r = append(r, ref{fn, filepath.Clean(file), line})
	}
	return r
}

var (
	nmOnce sync.Once
	nmSyms map[string][]uint64
	nmAll  []uint64
)

// nmAddr is name's address as GNU nm lists it; among duplicates, the one
// whose distance to the next symbol is size, as scripts/faddr2line picks.
func nmAddr(t *testing.T, vmlinux, name string, size uint64) uint64 {
	nmOnce.Do(func() {
		out, err := exec.Command("nm", "-n", vmlinux).Output()
		if err != nil {
			t.Fatalf("nm: %v", err)
		}
		nmSyms = map[string][]uint64{}
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 3 {
				continue
			}
			var a uint64
			fmt.Sscanf(f[0], "%x", &a)
			nmSyms[f[2]] = append(nmSyms[f[2]], a)
			nmAll = append(nmAll, a)
		}
	})
	cands := nmSyms[name]
	if len(cands) == 1 {
		return cands[0]
	}
	// The first whose length fits: the decoder checks that all that fit
	// resolve alike.
	for _, a := range cands {
		for _, b := range nmAll {
			if b > a {
				if b-a == size {
					return a
				}
				break
			}
		}
	}
	t.Fatalf("nm: %d candidates for %s of length %#x", len(cands), name, size)
	return 0
}

// koSymbol is a module symbol's section name and offset in it.
func koSymbol(t *testing.T, ko, name string) (string, uint64) {
	f, err := elf.Open(ko)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, _ := f.Symbols()
	for _, s := range syms {
		if s.Name == name && int(s.Section) < len(f.Sections) {
			return f.Sections[s.Section].Name, s.Value
		}
	}
	t.Fatalf("%s: no symbol %s", ko, name)
	return "", 0
}

// TestDecodeRefusesImpossibleFrames: a frame whose offset lies past its
// function's end, or whose /LEN is not the function's length, is a frame
// of another build: decode says so instead of printing a line of whatever
// function follows (it once put vfs_read+0x5000 in fs/super.c).
func TestDecodeRefusesImpossibleFrames(t *testing.T) {
	t.Parallel()
	v := DebugVmlinux(t)
	for arg, want := range map[string]string{"vfs_read+0x5000/0x1c0": "mismatch", "kernel_init+0x9999": "mismatch", "vfs_read+0x1/0x1": "mismatch",
		"vfs_read+0x10000000000000000000": "mismatch", "vfs_read+0x1/0x0": "a length of 0"} {
		out, err := exec.Command(initkitBinary(t), "decode", "--no-index", "--vmlinux", v, arg).CombinedOutput()
		if exitStatus(err) != 2 || !strings.Contains(string(out), want) || strings.Contains(string(out), ".c:") {
			t.Errorf("%s: exit %d\n%s", arg, exitStatus(err), out)
		}
	}
	// A good frame beside the bad one, its length (the distance to the
	// next symbol, as kallsyms prints it) from nm.
	nm, err := exec.Command("nm", "-n", v).Output()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^([0-9a-f]+) [Tt] ksys_read\n([0-9a-f]+) `).FindSubmatch(nm)
	if m == nil {
		t.Fatal("nm lists no ksys_read")
	}
	start, _ := strconv.ParseUint(string(m[1]), 16, 64)
	next, _ := strconv.ParseUint(string(m[2]), 16, 64)
	good := fmt.Sprintf("ksys_read+0x10/%#x", next-start)
	log := filepath.Join(t.TempDir(), "log")
	os.WriteFile(log, []byte("[ 1.0] Kernel panic - not syncing: x\n[ 1.0] Call Trace:\n[ 1.0]  <TASK>\n[ 1.0]  vfs_read+0x5000/0x1c0\n[ 1.0]  "+good+"\n"), 0o644)
	out, err := exec.Command(initkitBinary(t), "decode", "--no-index", "--vmlinux", v, log).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	mustMatch(t, string(out), `vfs_read\+0x5000/0x1c0 \(unresolved: mismatch: `, regexp.QuoteMeta(good)+` fs/read_write\.c:\d+`)
}

// TestDecodeRawAddresses: frames a kernel without KALLSYMS prints as bare
// addresses resolve as the symbolic ones do, the panic's "Kernel Offset"
// taken off first (a KASLR kernel's runtime addresses), one byte back for
// return addresses.
func TestDecodeRawAddresses(t *testing.T) {
	t.Parallel()
	v := DebugVmlinux(t)
	nm, err := exec.Command("nm", v).Output()
	if err != nil {
		t.Fatal(err)
	}
	addrOf := func(name string) uint64 {
		m := regexp.MustCompile(`(?m)^([0-9a-f]+) [Tt] ` + name + `$`).FindSubmatch(nm)
		if m == nil {
			t.Fatalf("nm lists no %s", name)
		}
		a, _ := strconv.ParseUint(string(m[1]), 16, 64)
		return a
	}
	const kaslr = 0x1e000000
	rip, ret := addrOf("vfs_read")+0x20, addrOf("ksys_read")+0x40
	log := filepath.Join(t.TempDir(), "log")
	os.WriteFile(log, []byte(fmt.Sprintf("[ 1.0] BUG: kernel NULL pointer dereference, address: 0000000000000000\n"+
		"[ 1.0] Oops: 0002 [#1]\n[ 1.0] RIP: 0010:0x%x\n[ 1.0] Call Trace:\n[ 1.0]  <TASK>\n[ 1.0]  ? 0x%x\n[ 1.0]  </TASK>\n"+
		"[ 1.0] Kernel panic - not syncing: Fatal exception\n[ 1.0] Kernel Offset: 0x%x from 0xffffffff81000000 (relocation range: 0xffffffff80000000-0xffffffffbfffffff)\n",
		rip+kaslr, ret+kaslr, kaslr)), 0o644)
	out, err := exec.Command(initkitBinary(t), "decode", "--no-index", "--vmlinux", v, log).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// The same locations, asked for by link-time address.
	want := func(a uint64) string {
		b, err := exec.Command(initkitBinary(t), "decode", "--no-index", "--vmlinux", v, fmt.Sprintf("0x%x", a)).Output()
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`at (\S+:\d+)`).FindSubmatch(b)
		if m == nil {
			t.Fatalf("no location for %#x:\n%s", a, b)
		}
		return string(m[1])
	}
	mustMatch(t, string(out),
		fmt.Sprintf(`RIP: 0010:0x%x \S*%s`, rip+kaslr, regexp.QuoteMeta(want(rip))),
		fmt.Sprintf(`\? 0x%x \S*%s`, ret+kaslr, regexp.QuoteMeta(want(ret-1))),
		`fs/read_write\.c:\d+`)
}

// TestDecodeStaleFrame: a "? " frame is a stale word of the stack, and
// may be no return address at all: Debian's kernel, panicking for want
// of a root, prints "? rest_init+0xd0/0xd0", which is kernel_init's own
// address, in no compilation unit once taken as a return address. It is
// shown as it is, with no error beside it; the frames around it decode.
func TestDecodeStaleFrame(t *testing.T) {
	t.Parallel()
	DebugVmlinux(t)
	log := filepath.Join(t.TempDir(), "console.log")
	code, out := initkitRun(t, "boot", "--kernel", Kernel(t).Image, "--timeout", "120s", "--log", log)
	if code != 3 {
		t.Fatalf("a boot with no initramfs: exit %d, want 3 (no root)\n%s", code, out)
	}
	b, err := os.ReadFile(log)
	if err != nil || !strings.Contains(string(b), "? rest_init+") {
		t.Fatalf("the panic has no stale frame to decode (%v):\n%s", err, b)
	}
	code, out = initkitRun(t, "decode", "--kernel", Kernel(t).Image, log)
	if code != 0 || strings.Contains(out, "unresolved") {
		t.Errorf("decode: exit %d\n%s", code, out)
	}
	mustMatch(t, out, `(?m)\? rest_init\+0x[0-9a-f]+/0x[0-9a-f]+$`, `kernel_init\+0x[0-9a-f]+/0x[0-9a-f]+ init/main\.c:[0-9]+`)
}
