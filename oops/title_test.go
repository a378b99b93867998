package oops

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/initkit/initkit/internal/jsontest"
)

// titled is what a log's reports should be titled, in order.
type titled struct {
	kind, typ, title string
	corrupted        bool
}

func checkTitles(t *testing.T, name string, want []titled) {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rs, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	var got []titled
	for _, r := range rs {
		got = append(got, titled{r.Kind, r.Type, r.Title, r.Corrupted})
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d reports, want %d:\n got %+v\nwant %+v", name, len(got), len(want), got, want)
		return
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%s: report %d:\n got %+v\nwant %+v", name, i, got[i], want[i])
		}
	}
}

// The reports of the kernel's own documentation (Documentation/dev-tools
// and admin-guide of linux-source-6.1), titled as syzkaller would.
func TestDocumentationTitles(t *testing.T) {
	for name, want := range map[string][]titled{
		"kasan-1.log":       {{"KASAN", TypeOutOfBounds, "KASAN: slab-out-of-bounds Write in kmalloc_oob_right", false}},
		"kcsan-1.log":       {{"KCSAN", TypeDataRace, "KCSAN: data-race in test_kernel_read / test_kernel_write", false}},
		"kcsan-2.log":       {{"KCSAN", TypeDataRace, "KCSAN: data-race in test_kernel_rmw_array", false}},
		"kfence-1.log":      {{"KFENCE", TypeOutOfBounds, "KFENCE: out-of-bounds read in test_out_of_bounds_read", false}},
		"kfence-2.log":      {{"KFENCE", TypeUseAfterFree, "KFENCE: use-after-free read in test_use_after_free_read", false}},
		"kfence-3.log":      {{"KFENCE", TypeInvalidFree, "KFENCE: invalid free in test_double_free", false}},
		"kfence-4.log":      {{"KFENCE", TypeCorruption, "KFENCE: memory corruption in test_kmalloc_aligned_oob_write", false}},
		"kfence-5.log":      {{"KFENCE", TypeBadAccess, "KFENCE: invalid read in test_invalid_access", false}},
		"kmsan-1.log":       {{"KMSAN", TypeUninit, "KMSAN: uninit-value in test_uninit_kmsan_check_memory", false}},
		"ubsan-1.log":       {{"UBSAN", TypeUB, "UBSAN: undefined-behaviour in _mix_pool_bytes", false}},
		"kmemleak-1.log":    {{"kmemleak", TypeLeak, "memory leak in do_one_initcall", false}},
		"bug-hunting-1.log": {{"WARNING", TypeWarning, "WARNING in module_put", false}},
		// The documentation's own "..." cuts these short.
		"bug-hunting-2.log": {{"BUG", TypeNullDeref, "BUG: unable to handle kernel NULL pointer dereference in corrupted", true}},
		"bug-hunting-3.log": {{"Oops", TypeBadAccess, "BUG: unable to handle kernel paging request in corrupted", true}},
	} {
		checkTitles(t, filepath.Join("testdata", "docs", name), want)
	}
}

func TestTestdataTitles(t *testing.T) {
	for name, want := range map[string][]titled{
		"arm64-oops.log":  {{"Oops", TypeNullDeref, "BUG: unable to handle kernel NULL pointer dereference in crash_here", false}},
		"arm64-panic.log": {{"panic", TypePanic, "kernel panic: VFS: Unable to mount root fs on unknown-block(NUM,NUM)", false}},
		"gpf.log":         {{"GPF", TypeBadAccess, "general protection fault in list_walker", false}},
		"kasan.log":       {{"KASAN", TypeOutOfBounds, "KASAN: slab-out-of-bounds Write in frob_write", false}},
		"softlockup.log":  {{"soft lockup", TypeStall, "BUG: soft lockup in spin_forever", false}},
		"truncated.log":   {{"BUG", TypeNullDeref, "BUG: unable to handle kernel NULL pointer dereference in crash_me", true}},
		// A warning in the allocator whose callers the log does not show.
		"warning.log": {{"WARNING", TypeWarning, "WARNING in corrupted", false}},
	} {
		checkTitles(t, filepath.Join("testdata", name), want)
	}
}

// Logs without a report give none: user text that looks like one, a
// BUG in a file name, a clean boot.
func TestNoFalsePositives(t *testing.T) {
	for _, log := range []string{
		"[    0.000000] Linux version 6.1.0 (gcc) #1 SMP\n[    1.000000] Run /init as init process\n[    2.000000] reboot: Power down\n",
		"$ grep -r BUG: src/\nsrc/fs.c: pr_err(\"BUG: bad thing\");\n",
		"WARNING: the configuration file is old\nWARNING: CPU: usage high (user program)\n",
		"[   12.0] EXT4-fs (vda): mounted filesystem /BUG: with ordered data mode\n",
		"test: checking BUG: handling ... ok\n[   3.0] random: crng init done\n",
		"INFO: task list printed by the tool\nrcu: INFO: nothing to report\n",
		"BUG: this line alone is text\nand nothing after it\n",
	} {
		rs, err := Parse(strings.NewReader(log))
		if err != nil || len(rs) != 0 {
			t.Errorf("%q: %d reports %+v, %v", log, len(rs), rs, err)
		}
	}
}

// Text of one crash that varies between crashes of one bug is made the
// same: numbers, addresses, source lines, the fuzzer's process numbers.
func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"VFS: Unable to mount root fs on unknown-block(0,0)": "VFS: Unable to mount root fs on unknown-block(NUM,NUM)",
		"Attempted to kill init! exitcode=0x0000000b":        "Attempted to kill init! exitcode=ADDR",
		"bad thing at mm/slub.c:4123":                        "bad thing at mm/slub.c:LINE",
		"task syz-executor.3:1234 stuck":                     "task syz-executor:NUM stuck",
		"address ffff888012345678 freed":                     "address ADDR freed",
	} {
		if got := normalize(in); got != want {
			t.Errorf("normalize(%q) = %q, want %q", in, got, want)
		}
	}
	long := "Kernel panic - not syncing: " + strings.Repeat("very long reason ", 20)
	rs, _ := Parse(strings.NewReader(long + "\n"))
	if len(rs) != 1 || len(rs[0].Title) > MaxTitle {
		t.Errorf("long panic: %+v", rs)
	}
}

// Reports damaged on their way: carriage returns and colour escapes of a
// serial console, another CPU's lines inside the stack, a log cut short.
func TestDamagedReports(t *testing.T) {
	crlf := "[    5.0] BUG: kernel NULL pointer dereference, address: 0000000000000008\r\n" +
		"[    5.0] \x1b[31mOops: 0000 [#1] SMP\x1b[0m\r\n[    5.0] CPU: 0 PID: 1 Comm: sh Not tainted 6.1.0 #1\r\n" +
		"[    5.0] RIP: 0010:deref_it+0x4/0x10\r\n[    5.0] Call Trace:\r\n[    5.0]  <TASK>\r\n[    5.0]  caller_fn+0x10/0x20\r\n[    5.0]  </TASK>\r\n"
	rs, _ := Parse(strings.NewReader(crlf))
	if len(rs) != 1 || rs[0].Title != "BUG: unable to handle kernel NULL pointer dereference in deref_it" || rs[0].Corrupted {
		t.Errorf("CR and ANSI: %+v", rs)
	}
	// Two CPUs report at once: a WARNING begins inside the first's stack.
	interleaved := "[ 9.0] general protection fault, probably for non-canonical address 0xdffffc0000000002: 0000 [#1]\n" +
		"[ 9.0] CPU: 1 PID: 7 Comm: kworker Not tainted 6.1.0 #1\n[ 9.0] RIP: 0010:gpf_here+0x1/0x2\n[ 9.0] Call Trace:\n[ 9.0]  <TASK>\n" +
		"[ 9.0]  caller_a+0x1/0x2\n[ 9.0] WARNING: CPU: 0 PID: 9 at fs/x.c:1 warn_here+0x1/0x2\n[ 9.0] CPU: 0 PID: 9 Comm: sh Not tainted 6.1.0 #1\n" +
		"[ 9.0] RIP: 0010:warn_here+0x1/0x2\n[ 9.0] Call Trace:\n[ 9.0]  <TASK>\n[ 9.0]  caller_b+0x1/0x2\n[ 9.0]  </TASK>\n[ 9.0] ---[ end trace 0 ]---\n"
	rs, _ = Parse(strings.NewReader(interleaved))
	if len(rs) != 2 || !rs[0].Corrupted || rs[0].Title != "general protection fault in gpf_here" || rs[1].Corrupted || rs[1].Title != "WARNING in warn_here" {
		t.Errorf("interleaved: %+v", rs)
	}
	// Cut inside the stack: what it has, marked.
	cut := "[ 1.0] BUG: unable to handle page fault for address: ffffc90000000000\n[ 1.0] Oops: 0000 [#1]\n[ 1.0] Call Trace:\n[ 1.0]  <TASK>\n[ 1.0]  reader_fn+0x10/0x"
	rs, _ = Parse(strings.NewReader(cut))
	if len(rs) != 1 || !rs[0].Corrupted || rs[0].Title != "BUG: unable to handle kernel paging request in corrupted" {
		t.Errorf("cut: %+v", rs)
	}
}

// A panic that follows a report is part of it, not a report of its own;
// a panic alone is one.
func TestConsequencePanic(t *testing.T) {
	log := "[ 1.0] kernel BUG at fs/ext4/inode.c:1234!\n[ 1.0] invalid opcode: 0000 [#1] SMP\n[ 1.0] CPU: 0 PID: 1 Comm: sh Not tainted 6.1.0 #1\n" +
		"[ 1.0] RIP: 0010:ext4_do_writepages+0x10/0x100\n[ 1.0] Call Trace:\n[ 1.0]  <TASK>\n[ 1.0]  do_writepages+0x1/0x2\n[ 1.0]  </TASK>\n" +
		"[ 1.0] ---[ end trace 0000000000000000 ]---\n[ 1.0] Kernel panic - not syncing: Fatal exception\n[ 1.0] Kernel Offset: disabled\n" +
		"[ 1.0] ---[ end Kernel panic - not syncing: Fatal exception ]---\n"
	rs, _ := Parse(strings.NewReader(log))
	if len(rs) != 1 || rs[0].Title != "kernel BUG in ext4_do_writepages" || rs[0].Type != TypeBug {
		t.Errorf("%+v", rs)
	}
	rs, _ = Parse(strings.NewReader("[ 2.0] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000009\n"))
	if len(rs) != 1 || rs[0].Title != "kernel panic: Attempted to kill init!" {
		t.Errorf("%+v", rs)
	}
}

// Reports as JSON: snake_case keys, none twice; the identity is there.
func TestReportJSON(t *testing.T) {
	f, _ := os.Open("testdata/warning.log")
	defer f.Close()
	rs, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(rs)
	if err != nil {
		t.Fatal(err)
	}
	keys := jsontest.CheckKeys(t, b)
	for _, k := range []string{"kind", "type", "title", "corrupted", "header", "line", "end_line", "frames", "frames.func", "rip.is_rip", "registers.rsp", "modules"} {
		if !keys[k] {
			t.Errorf("no %s in %s", k, b)
		}
	}
}
