package oops

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func parseFile(t *testing.T, name string) []Report {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rs, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func funcs(fr []Frame) string {
	var s []string
	for _, f := range fr {
		n := f.Func
		if f.Unreliable {
			n = "?" + n
		}
		if f.Module != "" {
			n += "[" + f.Module + "]"
		}
		s = append(s, n)
	}
	return strings.Join(s, " ")
}

func TestKASAN(t *testing.T) {
	rs := parseFile(t, "kasan.log")
	if len(rs) != 1 {
		t.Fatalf("%d reports", len(rs))
	}
	r := rs[0]
	if r.Kind != "KASAN" || r.Line != 2 || r.Version != "6.1.0-56-cloud-amd64" || r.Tainted != "G           OE" {
		t.Errorf("report %+v", r)
	}
	// The allocation stack after the trace is not part of the call trace.
	want := "dump_stack_lvl print_report ?frob_write[frob] kasan_report frob_write[frob] vfs_write ksys_write do_syscall_64 entry_SYSCALL_64_after_hwframe"
	if got := funcs(r.Frames); got != want {
		t.Errorf("frames\n got %s\nwant %s", got, want)
	}
	if f := r.Frames[4]; f.Off != 0x5e || f.Len != 0x90 || f.Line != 13 {
		t.Errorf("frame %+v", f)
	}
}

func TestWarningFromSyslog(t *testing.T) {
	rs := parseFile(t, "warning.log")
	if len(rs) != 1 {
		t.Fatalf("%d reports", len(rs))
	}
	r := rs[0]
	if r.Kind != "WARNING" || r.RIP == nil || r.RIP.Func != "__alloc_pages" || r.RIP.Off != 0x2d6 || !r.RIP.IsRIP {
		t.Errorf("report %+v rip %+v", r, r.RIP)
	}
	if r.CodeAt != 16 || r.Code[r.CodeAt] != 0x0f || r.Code[r.CodeAt+1] != 0x0b || len(r.Code) != 30 {
		t.Errorf("code %x at %d", r.Code, r.CodeAt)
	}
	if r.Regs["RSP"] != "0018:ffffc90000a4fbd8" || r.Regs["RCX"] != "0000000000000000" || r.Regs["EFLAGS"] != "00010246" {
		t.Errorf("regs %v", r.Regs)
	}
	if strings.Join(r.Modules, ",") != "virtio_blk,virtio_pci,virtio_ring,virtio" {
		t.Errorf("modules %v", r.Modules)
	}
	if got := funcs(r.Frames); got != "?__warn __kmalloc_large_node __kmalloc" {
		t.Errorf("frames %s", got)
	}
	if r.EndLine != 15 {
		t.Errorf("end line %d", r.EndLine)
	}
}

func TestSoftLockupWithANSIAndCallerIDs(t *testing.T) {
	rs := parseFile(t, "softlockup.log")
	if len(rs) != 1 || rs[0].Kind != "soft lockup" {
		t.Fatalf("reports %+v", rs)
	}
	r := rs[0]
	if r.RIP == nil || r.RIP.Module != "spin" || funcs(r.Frames) != "spin_init[spin] do_one_initcall" {
		t.Errorf("rip %+v frames %s", r.RIP, funcs(r.Frames))
	}
	if r.Header != "watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [spin:412]" {
		t.Errorf("title %q", r.Header)
	}
}

func TestGPFWithKASLR(t *testing.T) {
	rs := parseFile(t, "gpf.log")
	if len(rs) != 1 || rs[0].Kind != "GPF" {
		t.Fatalf("reports %+v", rs)
	}
	r := rs[0]
	if r.Offset != 0x1c000000 || r.RIP.Func != "list_walker" || r.CodeAt != -1 {
		t.Errorf("offset %#x rip %+v code at %d", r.Offset, r.RIP, r.CodeAt)
	}
	if got := funcs(r.Frames); got != "process_one_work worker_thread ?rescuer_thread kthread ret_from_fork" {
		t.Errorf("frames %s", got)
	}
}

// A BUG line followed by its Oops is one report; a paste cut off
// mid-frame keeps what it has.
func TestTruncatedOops(t *testing.T) {
	rs := parseFile(t, "truncated.log")
	if len(rs) != 1 {
		t.Fatalf("%d reports: %+v", len(rs), rs)
	}
	r := rs[0]
	if r.Kind != "BUG" || !strings.Contains(r.Header, "Oops: 0002") || r.RIP.Module != "crashme" || funcs(r.Frames) != "do_one_initcall" {
		t.Errorf("report %+v frames %s", r, funcs(r.Frames))
	}
}

func TestNoReport(t *testing.T) {
	rs, err := Parse(strings.NewReader("[    0.000000] Linux version 6.1.0\n[    1.0] Run /init as init process\n"))
	if err != nil || len(rs) != 0 {
		t.Errorf("%v %v", rs, err)
	}
}

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"[    1.234567] x":                             "x",
		"[    1.234567][    T1] x":                     "x",
		"[    1.234567] [    C0] x":                    "x",
		"<4>[    1.2] x\r":                             "x",
		"Nov  2 05:01:02 host kernel: [ 1.0] x":        "x",
		"2026-11-22T05:01:02.123+00:00 host kernel: x": "x",
		"\x1b[1;31mx\x1b[0m":                           "x",
		"[Sun Nov 22 05:01:02 2026] x":                 "x",
		"  dump_stack_lvl+0x44/0x5c":                   "  dump_stack_lvl+0x44/0x5c",
	} {
		if got := Clean(in); got != want {
			t.Errorf("Clean(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, n := range []string{"kasan.log", "warning.log", "gpf.log"} {
		b, _ := os.ReadFile("testdata/" + n)
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, s string) {
		Parse(strings.NewReader(s))
	})
}

// A line far longer than any printk line (a pasted binary blob) is not
// an error: the parser skips its rest and keeps counting lines.
func TestLongLine(t *testing.T) {
	log := "first\n" + strings.Repeat("x", 200<<10) + "\n[ 1.0] Kernel panic - not syncing: boom\n"
	reps, err := Parse(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 1 || reps[0].Line != 3 || reps[0].Kind != "panic" {
		t.Fatalf("reports: %+v", reps)
	}
}

// TestARM64Panic: a panic captured from the Debian cloud kernel for arm64
// under qemu-system-aarch64 (no root to mount): arm64 names its trace
// "Call trace:".
func TestARM64Panic(t *testing.T) {
	rs := parseFile(t, "arm64-panic.log")
	if len(rs) != 1 || rs[0].Kind != "panic" || rs[0].Version != "6.1.0-57-cloud-arm64" {
		t.Fatalf("reports: %+v", rs)
	}
	r := rs[0]
	if got, want := funcs(r.Frames), "dump_backtrace show_stack dump_stack_lvl dump_stack panic mount_block_root mount_root prepare_namespace kernel_init_freeable kernel_init ret_from_fork"; got != want {
		t.Errorf("frames:\n %s\nwant\n %s", got, want)
	}
	if r.Offset != 0x2b8033600000 {
		t.Errorf("Kernel Offset %#x", r.Offset)
	}
}

// TestARM64Oops: an arm64 Oops as arch/arm64 prints it (mm/fault.c
// die_kernel_fault, kernel/traps.c die, kernel/process.c __show_regs):
// its first line, pc as the faulting frame, lr as a return address,
// xN registers, the module tags.
func TestARM64Oops(t *testing.T) {
	rs := parseFile(t, "arm64-oops.log")
	if len(rs) != 1 {
		t.Fatalf("%d reports: %+v", len(rs), rs)
	}
	r := rs[0]
	if r.Kind != "Oops" || !strings.HasPrefix(r.Header, "Unable to handle kernel NULL pointer dereference") || !strings.Contains(r.Header, "Internal error: Oops: 0000000096000045") {
		t.Errorf("kind %q title %q", r.Kind, r.Header)
	}
	if r.RIP == nil || r.RIP.Func != "crash_here" || r.RIP.Off != 0x10 || r.RIP.Len != 0x20 || r.RIP.Module != "crashme" || !r.RIP.IsRIP {
		t.Errorf("pc: %+v", r.RIP)
	}
	if got := funcs(r.Frames); !strings.HasPrefix(got, "crash_here[crashme] crashme_init[crashme] do_one_initcall do_init_module") || !strings.HasSuffix(got, "el0t_64_sync") {
		t.Errorf("frames: %s", got)
	}
	if !r.Frames[0].IsRIP || r.Frames[1].IsRIP {
		t.Errorf("the trace's first frame is the pc, the second a return address: %+v", r.Frames[:2])
	}
	if r.Regs["x29"] != "ffff80000a2dbb60" || r.Regs["sp"] != "ffff80000a2dbb60" || r.Regs["x0"] != "0000000000000000" {
		t.Errorf("registers: %v", r.Regs)
	}
	if len(r.Code) != 20 || r.CodeAt != 16 {
		t.Errorf("code %x at %d", r.Code, r.CodeAt)
	}
	if !FatalLine("[   31.404010] Internal error: Oops: 0000000096000045 [#1] SMP") || !FatalLine("Unable to handle kernel paging request at virtual address dead000000000122") {
		t.Error("an arm64 Oops line is not fatal")
	}
}

// A kernel without KALLSYMS (tinyconfig) prints addresses only.
func TestRawAddresses(t *testing.T) {
	log := `[    2.1] BUG: kernel NULL pointer dereference, address: 0000000000000000
[    2.1] #PF: supervisor write access in kernel mode
[    2.1] Oops: 0002 [#1]
[    2.1] CPU: 0 PID: 1 Comm: swapper Not tainted 6.1.192 #1
[    2.1] RIP: 0010:0xffffffff811f7c95
[    2.1] Code: 00 00 <c7> 04 25 00 00 00 00 2a 00 00 00
[    2.1] Call Trace:
[    2.1]  <TASK>
[    2.1]  ? 0xffffffff810010cf
[    2.1]  [<ffffffff81a2b3c4>] 0xffffffff81a2b3c4
[    2.1]  0xffffffff81a2b000
[    2.1]  </TASK>
[    2.1] Kernel Offset: disabled
`
	rs, err := Parse(strings.NewReader(log))
	if err != nil || len(rs) != 1 {
		t.Fatalf("%v %+v", err, rs)
	}
	r := rs[0]
	if r.RIP == nil || r.RIP.Addr != 0xffffffff811f7c95 || !r.RIP.IsRIP || r.RIP.Func != "" {
		t.Errorf("RIP %+v", r.RIP)
	}
	want := []Frame{{Line: 9, Unreliable: true, Addr: 0xffffffff810010cf}, {Line: 10, Addr: 0xffffffff81a2b3c4}, {Line: 11, Addr: 0xffffffff81a2b000}}
	if len(r.Frames) != len(want) {
		t.Fatalf("frames %+v", r.Frames)
	}
	for i := range want {
		if r.Frames[i] != want[i] {
			t.Errorf("frame %d: %+v, want %+v", i, r.Frames[i], want[i])
		}
	}
}

// TestCodeLine: the Code: line kept is the kernel's, after its RIP, in
// memory order: x86's bytes, arm64's words turned round. A program's,
// after a syscall's user registers (RIP: 0033), is not the crash's code.
func TestCodeLine(t *testing.T) {
	for _, c := range []struct {
		name, log string
		code      []byte
		at, line  int
		words     bool
	}{
		{"x86", "BUG: kernel NULL pointer dereference, address: 0000000000000000\nRIP: 0010:f+0x5/0x10\nCode: 90 48 <89> 38 c3\nRIP: 0033:0x47fbe9\nCode: 0f 05 <48> 3d\n",
			[]byte{0x90, 0x48, 0x89, 0x38, 0xc3}, 2, 3, false},
		{"program's only", "Kernel panic - not syncing: sysrq triggered crash\nCall Trace:\n <TASK>\n panic+0x10/0x20\n </TASK>\nRIP: 0033:0x47fbe9\nCode: 0f 05 <48> 3d\n",
			nil, -1, 0, false},
		{"unreadable", "BUG: kernel NULL pointer dereference, address: 0000000000000000\nRIP: 0010:f+0x5/0x10\nCode: Unable to access opcode bytes at 0xffffffffc05cdfdb.\nRIP: 0033:0x47fbe9\nCode: 0f 05 <48> 3d\n",
			nil, -1, 3, false},
		{"arm64", "Unable to handle kernel NULL pointer dereference at virtual address 0000000000000000\npc : f+0x10/0x20\nCode: d503233f (b9000020)\n",
			[]byte{0x3f, 0x23, 0x03, 0xd5, 0x20, 0x00, 0x00, 0xb9}, 4, 3, true},
		{"hostile", "BUG: kernel NULL pointer dereference, address: 0000000000000000\nRIP: 0010:f+0x5/0x10\nCode: " + strings.Repeat("90 ", 100000) + "<0f> 0b\n",
			bytes.Repeat([]byte{0x90}, maxCode), -1, 3, false},
	} {
		reps, err := Parse(strings.NewReader(c.log))
		if err != nil || len(reps) != 1 {
			t.Fatalf("%s: %v, %d reports", c.name, err, len(reps))
		}
		r := reps[0]
		if !bytes.Equal(r.Code, c.code) || r.CodeAt != c.at || r.CodeLine != c.line || r.CodeWords != c.words {
			t.Errorf("%s: code % x at %d, line %d, words %v; want % x at %d, line %d, words %v", c.name, r.Code, r.CodeAt, r.CodeLine, r.CodeWords, c.code, c.at, c.line, c.words)
		}
	}
}
