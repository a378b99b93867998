package oops

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// realTitles are the titles of the reports in testdata/real, made in a VM
// by testdata/real/gen/make-reports.sh: linux-source-6.1 built with KASAN,
// lockdep, kmemleak, UBSAN, KFENCE and the kernel's debugging options,
// each report provoked by LKDTM or by the crashme module, on 2 CPUs under
// QEMU. Each title is what syzbot's rules give the report: its kind's
// text, and the first frame of its stack past the infrastructure.
var realTitles = map[string][]string{
	"lkdtm-bug.log":                  {"kernel BUG in lkdtm_BUG"},
	"lkdtm-warning.log":              {"WARNING in lkdtm_WARNING"},
	"lkdtm-warning-message.log":      {"WARNING in lkdtm_WARNING_MESSAGE"},
	"lkdtm-exception.log":            {"KASAN: null-ptr-deref Write in lkdtm_EXCEPTION"},
	"lkdtm-corrupt-stack.log":        {"KASAN: stack-out-of-bounds Write in __lkdtm_CORRUPT_STACK"},
	"lkdtm-corrupt-stack-strong.log": {"KASAN: stack-out-of-bounds Write in __lkdtm_CORRUPT_STACK"},
	"lkdtm-array-bounds.log":         {"UBSAN: array-index-out-of-bounds in lkdtm_ARRAY_BOUNDS"},
	// A stall is titled by the frame above the entry that got stuck.
	"lkdtm-softlockup.log": {"BUG: soft lockup in sys_write"},
	// A hung task past its scheduler frames.
	"lkdtm-hung-task.log": {"INFO: task hung in lkdtm_HUNG_TASK"},
	// The lock is taken and never released: no stack, the held lock's
	// "at:" is the frame; then the sleep in atomic context it causes,
	// and init's death.
	"lkdtm-spinlockup.log": {"WARNING: lock held when returning to user space in lkdtm_SPINLOCKUP",
		"BUG: sleeping function called from invalid context in __fput", "kernel panic: Attempted to kill init!"},
	"lkdtm-read-after-free.log":          {"KASAN: use-after-free Read in lkdtm_READ_AFTER_FREE"},
	"lkdtm-write-after-free.log":         {"KASAN: use-after-free Write in lkdtm_WRITE_AFTER_FREE"},
	"lkdtm-slab-linear-overflow.log":     {"KASAN: slab-out-of-bounds Write in lkdtm_SLAB_LINEAR_OVERFLOW"},
	"lkdtm-stack-guard-page-leading.log": {"KASAN: slab-out-of-bounds Read in lkdtm_STACK_GUARD_PAGE_LEADING"},
	// A list corruption is reported, then its kernel BUG: one report,
	// titled by the caller of the list helper.
	"lkdtm-corrupt-list-add.log": {"BUG: corrupted list in lkdtm_CORRUPT_LIST_ADD"},
	"lkdtm-corrupt-list-del.log": {"BUG: corrupted list in lkdtm_CORRUPT_LIST_DEL"},
	// A page fault in memset: the caller is guilty.
	"lkdtm-vmalloc-linear-overflow.log": {"BUG: unable to handle kernel paging request in lkdtm_VMALLOC_LINEAR_OVERFLOW"},
	"lkdtm-access-null.log":             {"KASAN: null-ptr-deref Read in lkdtm_ACCESS_NULL"},
	"lkdtm-access-userspace.log":        {"KASAN: user-memory-access Read in lkdtm_ACCESS_USERSPACE"},
	// KASAN's runtime (____kasan_slab_free) and the allocator are no
	// one's fault: the caller of kmem_cache_free is.
	"lkdtm-slab-free-double.log": {"KASAN: double-free in lkdtm_SLAB_FREE_DOUBLE"},
	"lkdtm-slab-free-cross.log":  {"WARNING in lkdtm_SLAB_FREE_CROSS"},
	"lkdtm-slab-free-page.log":   {"BUG: unable to handle kernel NULL pointer dereference in lkdtm_SLAB_FREE_PAGE"},
	"lkdtm-write-ro.log":         {"BUG: unable to handle kernel paging request in lkdtm_WRITE_RO"},
	"lkdtm-write-kern.log":       {"BUG: unable to handle kernel paging request in lkdtm_WRITE_KERN"},
	// Execution of data, and of address 0: the faulting "function" is
	// where RIP went, as syzbot titles it.
	"lkdtm-exec-data.log": {"BUG: unable to handle kernel paging request in data_area"},
	"lkdtm-exec-null.log": {"BUG: unable to handle kernel NULL pointer dereference in execute_location"},
	// refcount_t's message comes before its WARNING: one report, titled
	// past refcount's helpers (__refcount_add.constprop.0 among them).
	"lkdtm-refcount-dec-zero.log":     {"WARNING: refcount bug in lkdtm_REFCOUNT_DEC_ZERO"},
	"lkdtm-refcount-dec-negative.log": {"WARNING: refcount bug in lkdtm_REFCOUNT_DEC_NEGATIVE"},
	"lkdtm-refcount-inc-overflow.log": {"WARNING: refcount bug in lkdtm_REFCOUNT_INC_OVERFLOW"},
	"lkdtm-refcount-inc-zero.log":     {"WARNING: refcount bug in lkdtm_REFCOUNT_INC_ZERO"},
	"lkdtm-usercopy-slab-size-to.log": {"KASAN: slab-out-of-bounds Read in do_usercopy_slab_size"},
	// lockdep, provoked by crashme.c: the frame past the locking
	// primitives and lockdep's own.
	"crashme-circular.log":       {"possible deadlock in crashme_circular"},
	"crashme-recursive.log":      {"possible deadlock in crashme_recursive"},
	"crashme-unlock-balance.log": {"WARNING: bad unlock balance in crashme_unlock_balance"},
	"crashme-held-freed.log":     {"WARNING: held lock freed in crashme_held_freed"},
	"crashme-suspicious-rcu.log": {"WARNING: suspicious RCU usage in crashme_suspicious_rcu"},
	// kmemleak: the allocation's caller, past the allocator.
	"crashme-leak.log":   {"memory leak in crashme_leak"},
	"crashme-divide.log": {"divide error in crashme_divide"},
	// A sleep under a spinlock, with panic_on_warn: past the panic path
	// and the scheduler's frames, the function that slept.
	"crashme-sleep-atomic.log": {"BUG: scheduling while atomic in crashme_sleep_atomic"},
	"crashme-sched-atomic.log": {"BUG: scheduling while atomic in crashme_sched_atomic"},
	// The check's own frames (check_preemption_disabled,
	// debug_smp_processor_id) are the report's path.
	"crashme-preemptible.log": {"BUG: using smp_processor_id() in preemptible code in crashme_preemptible"},
	"crashme-odebug.log":      {"WARNING: ODEBUG bug in crashme_odebug"},
	"crashme-null.log":        {"KASAN: null-ptr-deref Write in crashme_null"},
	// CONFIG_DEBUG_SPINLOCK's own report (lockdep off): past spin_bug
	// and the raw lock functions.
	"crashme-spin-recursion.log": {"BUG: spinlock recursion in crashme_spin_recursion"},
	// The stack protector's panic names the function in its first line;
	// the unwinder then warns about the frame the overflow overwrote,
	// which leaves the panic whole (not corrupted).
	"crashme-stack-protector.log": {"kernel panic: stack-protector: Kernel stack is corrupted in: crashme_stack_protector",
		"WARNING: kernel stack frame pointer has bad value"},
	// CPU 1 spins with interrupts off while a grace period waits: RCU's
	// stall report (its CPU's stack in the NMI backtrace), titled by the
	// frame above the kthread entry; then the panic it asks for.
	"crashme-rcu-stall.log": {"INFO: rcu detected stall in crashme_spin_irqs_off"},
	// A read past a global array through a pointer (UBSAN checks only
	// array indexes), and a kmalloc the page allocator refuses with a
	// WARNING: past the allocators, the caller.
	"crashme-global-oob.log":   {"KASAN: global-out-of-bounds Read in crashme_global_oob"},
	"crashme-kmalloc-huge.log": {"WARNING in crashme_kmalloc_huge"},
	// A wild write KASAN sees before the CPU faults.
	"crashme-wild-access.log": {"KASAN: wild-memory-access Write in crashme_gpf"},
	// From linux-source-6.12 without KASAN (see make-reports.sh): the
	// buddy detector's hard lockup (after RCU's stall), past the delay
	// loop the CPU spun in, its frames all guesses (no frame pointers);
	// and a general protection fault, which 6.5 on prints as "Oops:
	// general protection fault".
	"crashme-hard-lockup.log": {"INFO: rcu detected stall in crashme_spin_irqs_off", "BUG: hard lockup in crashme_spin_irqs_off"},
	"crashme-gpf.log":         {"general protection fault in crashme_gpf"},
	"crashme-divide-6.12.log": {"divide error in crashme_divide"},
	// "kernel BUG at" and its "Oops: invalid opcode": one report.
	"crashme-bug-6.12.log": {"kernel BUG in crashme_bug"},
	// User-mode Linux (make-reports.sh's third kernel): a WARNING as
	// everywhere; the generic BUG(), which names its function, then
	// panics "BUG!"; a kernel mode fault, its RIP printed before the
	// panic.
	"uml-lkdtm-warning.log":   {"WARNING in lkdtm_WARNING"},
	"uml-lkdtm-bug.log":       {"kernel BUG in lkdtm_BUG"},
	"uml-lkdtm-exception.log": {"BUG: kernel mode fault in lkdtm_EXCEPTION"},
	// The scheduler finds the stack's end overwritten: the frame past
	// the scheduler's.
	"crashme-stack-end.log": {"kernel panic: corrupted stack end in crashme_stack_end"},
	// An ia32-only test on x86-64: LKDTM says XFAIL, no report.
	"lkdtm-double-fault.log": nil,
	// 6.1's UBSAN no longer checks signed overflow: the log holds no
	// report, and none may be found.
	"lkdtm-overflow-signed.log": nil,
}

func TestRealReports(t *testing.T) {
	files, _ := filepath.Glob("testdata/real/*.log")
	if len(files) < len(realTitles) {
		t.Errorf("%d real reports, want %d", len(files), len(realTitles))
	}
	for _, f := range files {
		name := filepath.Base(f)
		want, ok := realTitles[name]
		if !ok {
			t.Errorf("%s: no expected title", name)
			continue
		}
		in, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := Parse(in)
		in.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got []string
		for _, r := range rs {
			got = append(got, r.Title)
			if r.Corrupted {
				t.Errorf("%s: %q marked corrupted", name, r.Title)
			}
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: titles\n%s\nwant\n%s", name, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

// TestRegsBefore: user-mode Linux's registers, printed just before its
// panic, give the report its RIP; registers printed far above are
// another story's, and the title falls back on the stack.
func TestRegsBefore(t *testing.T) {
	data, err := os.ReadFile("testdata/real/uml-lkdtm-exception.log")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	i := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "Kernel panic") })
	far := slices.Concat(lines[:i], slices.Repeat([]string{"unrelated line"}, regsWithin+1), lines[i:])
	for _, c := range []struct {
		log  []string
		want string
	}{
		{lines, "BUG: kernel mode fault in lkdtm_EXCEPTION"},
		{far, "BUG: kernel mode fault in direct_entry"},
	} {
		rs, _ := Parse(strings.NewReader(strings.Join(c.log, "\n")))
		if len(rs) != 1 || rs[0].Title != c.want {
			t.Errorf("%d reports, want one titled %q: %+v", len(rs), c.want, rs)
		}
	}
}
