package oops

import (
	"regexp"
	"slices"
	"strings"
	"sync"
)

// A kind is one kind of report the kernel prints: how its first line
// looks (after Clean), what initkit calls it, and how its title is made.
// The table is data: a kind the kernel adds is one entry.
type kind struct {
	// name is Report.Kind: the coarse class the console and boot's
	// verdict go by (Fatal).
	name string
	// re matches the report's first line; its groups are {1}, {2}, ...
	// in title.
	re *lazyRE
	// title is the title's template: {1}... the first line's groups,
	// {access} "Read" or "Write" from a sanitizer's access line, {func}
	// the guilty frame (see guilty.go). A title without {func} is whole
	// from its first line.
	title string
	// typ is Report.Type: a short class of the bug.
	typ string
	// rule is how the guilty frame is chosen: the first frame past the
	// infrastructure (firstFrame), the frame above where a stalled CPU
	// entered (stalled), or a hung task's wait (hung).
	rule frameRule
	// prelude marks a kind printed before the report that carries its
	// stack (refcount_t's message before its WARNING, a list corruption
	// before its kernel BUG): the report that follows is absorbed.
	prelude bool
	// loose marks a first line that user text could also print ("BUG:
	// something"): without a stack or a CPU line after it, it is no
	// report.
	loose bool
	// consequence marks a panic that only follows another report
	// ("Fatal exception"): it is absorbed into that report.
	consequence bool
	// unwinder marks the unwinder's own warning, printed where it gave
	// up on a stack it was printing: the report it interrupts has the
	// stack as far as there is one, and is not corrupted by it.
	unwinder bool
	// regsBefore marks a report whose registers the kernel printed just
	// before its first line (user-mode Linux's kernel mode fault: its
	// RIP, then the panic): a RIP line at most regsWithin lines above is
	// the report's.
	regsBefore bool
	// bare marks a report whose stack follows its first lines with no
	// "Call Trace:" before it, up to a blank line (KCSAN, KMSAN,
	// KFENCE): the first such stack is the bug's.
	bare bool
}

type frameRule int

const (
	firstFrame frameRule = iota
	stalled
	hung // also for sleeping in atomic context and a corrupted stack end: the scheduler's frames are where the task went, not who sent it
)

// Types of bug (Report.Type).
const (
	TypeNullDeref     = "null-ptr-deref"
	TypeUseAfterFree  = "use-after-free"
	TypeOutOfBounds   = "out-of-bounds"
	TypeDoubleFree    = "double-free"
	TypeInvalidFree   = "invalid-free"
	TypeBadAccess     = "bad-access" // a fault on an address that is not NULL
	TypeUninit        = "uninit-value"
	TypeDataRace      = "data-race"
	TypeUB            = "undefined-behavior"
	TypeWarning       = "warning"
	TypeDeadlock      = "deadlock"
	TypeLockdep       = "lockdep" // a locking rule broken, no deadlock
	TypeLeak          = "leak"
	TypeHang          = "hang"
	TypeStall         = "stall"
	TypeBug           = "bug" // BUG(), an invalid opcode, a divide error
	TypeAtomic        = "atomic-context"
	TypeCorruption    = "memory-corruption" // lists, slabs, refcounts, stacks
	TypePanic         = "panic"
	TypeStackOverflow = "stack-overflow"
)

// kinds are tried in order: the specific before the general.
var kinds = []kind{
	// Sanitizers (mm/kasan/report.c, mm/kmsan/report.c,
	// kernel/kcsan/report.c, mm/kfence/report.c, lib/ubsan.c).
	{name: "KASAN", re: lazy(`^BUG: KASAN: (double-free|invalid-free)`), title: "KASAN: {1} in {func}", typ: "kasan"},
	{name: "KASAN", re: lazy(`^BUG: KASAN: ([a-z0-9-]+)`), title: "KASAN: {1} {access} in {func}", typ: "kasan"},
	{name: "KMSAN", re: lazy(`^BUG: KMSAN: ([a-z0-9-]+)`), title: "KMSAN: {1} in {func}", typ: TypeUninit, bare: true},
	{name: "KCSAN", re: lazy(`^BUG: KCSAN: ([a-z0-9-]+) in ([A-Za-z0-9_.]+)(?:\+0x[0-9a-f]+/0x[0-9a-f]+)? / ([A-Za-z0-9_.]+)`), title: "KCSAN: {1} in {2} / {3}", typ: TypeDataRace, bare: true},
	{name: "KCSAN", re: lazy(`^BUG: KCSAN: ([a-z0-9-]+) in ([A-Za-z0-9_.]+)`), title: "KCSAN: {1} in {2}", typ: TypeDataRace, bare: true},
	{name: "KFENCE", re: lazy(`^BUG: KFENCE: ([a-z0-9 -]+?)(?: (read|write))? in `), title: "KFENCE: {1} {2} in {func}", typ: "kfence", bare: true},
	{name: "UBSAN", re: lazy(`^UBSAN: Undefined behaviour in`), title: "UBSAN: undefined-behaviour in {func}", typ: TypeUB},
	{name: "UBSAN", re: lazy(`^UBSAN: ([a-z0-9-]+)`), title: "UBSAN: {1} in {func}", typ: TypeUB},

	// Lockups, stalls and hangs (kernel/watchdog.c, kernel/rcu/tree_stall.h,
	// kernel/hung_task.c, kernel/workqueue.c).
	{name: "soft lockup", re: lazy(`^(?:watchdog: )?BUG: soft lockup`), title: "BUG: soft lockup in {func}", typ: TypeStall, rule: stalled},
	{name: "hard lockup", re: lazy(`^(?:NMI )?watchdog: Watchdog detected hard LOCKUP`), title: "BUG: hard lockup in {func}", typ: TypeStall, rule: stalled},
	{name: "RCU stall", re: lazy(`^(?:rcu: )?INFO: rcu_\w+ (?:self-)?detected (?:expedited )?stalls?`), title: "INFO: rcu detected stall in {func}", typ: TypeStall, rule: stalled},
	{name: "hung task", re: lazy(`^INFO: task \S+ blocked for more than \d+ seconds`), title: "INFO: task hung in {func}", typ: TypeHang, rule: hung},
	{name: "BUG", re: lazy(`^BUG: workqueue lockup`), title: "BUG: workqueue lockup", typ: TypeStall},

	// lockdep (kernel/locking/lockdep.c): its banners begin "WARNING:".
	{name: "lockdep", re: lazy(`^WARNING: possible (?:circular|recursive) locking dependency detected|^WARNING: possible recursive locking detected|^WARNING: possible irq lock inversion dependency detected|^WARNING: \S+-(?:READ-)?safe -> \S+-(?:READ-)?unsafe lock order detected`), title: "possible deadlock in {func}", typ: TypeDeadlock},
	{name: "lockdep", re: lazy(`^WARNING: inconsistent lock state`), title: "inconsistent lock state in {func}", typ: TypeDeadlock},
	{name: "lockdep", re: lazy(`^WARNING: suspicious RCU usage`), title: "WARNING: suspicious RCU usage in {func}", typ: TypeLockdep},
	{name: "lockdep", re: lazy(`^WARNING: bad unlock balance detected`), title: "WARNING: bad unlock balance in {func}", typ: TypeLockdep},
	{name: "lockdep", re: lazy(`^WARNING: held lock freed`), title: "WARNING: held lock freed in {func}", typ: TypeLockdep},
	{name: "lockdep", re: lazy(`^WARNING: lock held when returning to user space`), title: "WARNING: lock held when returning to user space in {func}", typ: TypeLockdep},
	{name: "lockdep", re: lazy(`^WARNING: \S+ still has locks held`), title: "WARNING: still has locks held in {func}", typ: TypeLockdep},
	{name: "lockdep", re: lazy(`^WARNING: nested lock was not taken`), title: "WARNING: nested lock was not taken in {func}", typ: TypeLockdep},
	{name: "lockdep", re: lazy(`^BUG: (MAX_LOCKDEP_\w+|MAX_STACK_TRACE_ENTRIES|MAX_LOCK_DEPTH) too low`), title: "BUG: {1} too low", typ: TypeLockdep},

	// The unwinder's complaints (arch/x86/kernel/unwind_frame.c).
	{name: "WARNING", re: lazy(`^WARNING: kernel stack regs at \S+ in \S+ has bad '(\w+)' value`), title: "WARNING: kernel stack regs has bad '{1}' value", typ: TypeWarning, unwinder: true},
	{name: "WARNING", re: lazy(`^WARNING: kernel stack frame pointer at \S+ in \S+ has bad value`), title: "WARNING: kernel stack frame pointer has bad value", typ: TypeWarning, unwinder: true},

	// Preludes: their WARNING or kernel BUG follows (lib/refcount.c,
	// lib/debugobjects.c, lib/list_debug.c).
	{name: "WARNING", re: lazy(`^refcount_t: `), title: "WARNING: refcount bug in {func}", typ: TypeCorruption, prelude: true},
	{name: "WARNING", re: lazy(`^ODEBUG: `), title: "WARNING: ODEBUG bug in {func}", typ: TypeCorruption, prelude: true},
	{name: "BUG", re: lazy(`^(?:list_add|list_del|__list_add_valid|__list_del_entry_valid)\w* corruption`), title: "BUG: corrupted list in {func}", typ: TypeCorruption, prelude: true},

	// kmemleak (mm/kmemleak.c), and syzkaller's banner for it.
	{name: "kmemleak", re: lazy(`^BUG: memory leak`), title: "memory leak in {func}", typ: TypeLeak},
	{name: "kmemleak", re: lazy(`^unreferenced object 0x[0-9a-f]+ \(size \d+\)`), title: "memory leak in {func}", typ: TypeLeak},

	// SLUB's debugging (mm/slub.c slab_bug): "BUG kmalloc-64 (Not
	// tainted): Object already free".
	{name: "BUG", re: lazy(`^BUG \S+ \((?:Not tainted|Tainted: [^)]*)\): ([^:(]+)`), title: "BUG: {1} in {func}", typ: TypeCorruption},
	{name: "BUG", re: lazy(`^BUG: Bad page (state|map)`), title: "BUG: Bad page {1} in {func}", typ: TypeCorruption},
	{name: "BUG", re: lazy(`^BUG: Bad rss-counter state`), title: "BUG: Bad rss-counter state", typ: TypeCorruption},

	// Atomic context and preemption (kernel/sched/core.c,
	// lib/smp_processor_id.c).
	{name: "BUG", re: lazy(`^BUG: sleeping function called from invalid context`), title: "BUG: sleeping function called from invalid context in {func}", typ: TypeAtomic, rule: hung},
	{name: "BUG", re: lazy(`^BUG: scheduling while atomic`), title: "BUG: scheduling while atomic in {func}", typ: TypeAtomic, rule: hung},
	{name: "BUG", re: lazy(`^BUG: using (\S+\(\)) in preemptible`), title: "BUG: using {1} in preemptible code in {func}", typ: TypeAtomic},
	{name: "BUG", re: lazy(`^BUG: (spinlock|rwlock) ([a-z ]+?)(?: on CPU#\d+|,|$)`), title: "BUG: {1} {2} in {func}", typ: TypeDeadlock},

	// Faults (arch/x86/mm/fault.c, arch/x86/kernel/traps.c,
	// arch/arm64/mm/fault.c, arch/arm64/kernel/traps.c).
	{name: "BUG", re: lazy(`^BUG: (?:unable to handle kernel )?(?:kernel )?NULL pointer dereference`), title: "BUG: unable to handle kernel NULL pointer dereference in {func}", typ: TypeNullDeref},
	{name: "BUG", re: lazy(`^BUG: unable to handle (?:kernel paging request|page fault for address)`), title: "BUG: unable to handle kernel paging request in {func}", typ: TypeBadAccess},
	{name: "BUG", re: lazy(`^BUG: unable to handle kernel`), title: "BUG: unable to handle kernel in {func}", typ: TypeBadAccess},
	{name: "BUG", re: lazy(`^BUG: (?:TASK |IRQ |NMI |\w+ )?stack guard page was hit`), title: "BUG: stack guard page was hit in {func}", typ: TypeStackOverflow},
	{name: "Oops", re: lazy(`^Unable to handle kernel NULL pointer dereference`), title: "BUG: unable to handle kernel NULL pointer dereference in {func}", typ: TypeNullDeref},
	{name: "Oops", re: lazy(`^Unable to handle kernel paging request`), title: "BUG: unable to handle kernel paging request in {func}", typ: TypeBadAccess},
	{name: "Oops", re: lazy(`^Unable to handle kernel ([a-z ]+?)(?: at virtual address|$)`), title: "BUG: unable to handle kernel {1} in {func}", typ: TypeBadAccess},
	{name: "BUG", re: lazy(`^kernel BUG at `), title: "kernel BUG in {func}", typ: TypeBug},
	{name: "Oops", re: lazy(`^Internal error: Oops - BUG`), title: "kernel BUG in {func}", typ: TypeBug},
	{name: "Oops", re: lazy(`^Internal error: `), title: "Internal error in {func}", typ: TypeBadAccess},
	{name: "Oops", re: lazy(`^Unhandled fault`), title: "Unhandled fault in {func}", typ: TypeBadAccess},
	{name: "GPF", re: lazy(`^(?:Oops: )?general protection fault`), title: "general protection fault in {func}", typ: TypeBadAccess},
	{name: "BUG", re: lazy(`^(?:Oops: )?divide error: `), title: "divide error in {func}", typ: TypeBug},
	{name: "BUG", re: lazy(`^(?:Oops: )?invalid opcode: `), title: "invalid opcode in {func}", typ: TypeBug},
	{name: "BUG", re: lazy(`^(?:Oops: )?double fault: `), title: "double fault in {func}", typ: TypeStackOverflow},
	{name: "BUG", re: lazy(`^(?:Oops: )?stack segment: `), title: "stack segment fault in {func}", typ: TypeBadAccess},
	{name: "Oops", re: lazy(`^Oops(?:: |#)`), title: "Oops in {func}", typ: TypeBadAccess},

	// WARN() and friends (kernel/panic.c __warn).
	{name: "WARNING", re: lazy(`^WARNING: CPU: \d+ PID: \d+ at `), title: "WARNING in {func}", typ: TypeWarning},
	{name: "WARNING", re: lazy(`^WARNING: at \S+ `), title: "WARNING in {func}", typ: TypeWarning},

	// User-mode Linux (arch/um/kernel/trap.c segv): a fault in kernel
	// mode panics, its registers printed first; the generic BUG() of an
	// architecture without its own (include/asm-generic/bug.h) names
	// the function in its first line, then panics "BUG!".
	{name: "Oops", re: lazy(`^Kernel panic - not syncing: Kernel mode fault at addr`), title: "BUG: kernel mode fault in {func}", typ: TypeBadAccess, regsBefore: true},
	{name: "Oops", re: lazy(`^Kernel panic - not syncing: Segfault with no mm`), title: "BUG: segfault with no mm in {func}", typ: TypeBadAccess, regsBefore: true},
	{name: "BUG", re: lazy(`^BUG: failure at \S+:\d+/([A-Za-z0-9_.]+)\(\)!`), title: "kernel BUG in {1}", typ: TypeBug},

	// Panics (kernel/panic.c): the stack protector's and the
	// scheduler's first, then panics that only follow another report,
	// then every other cause.
	{name: "panic", re: lazy(`^Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: ([A-Za-z0-9_.]+)`), title: "kernel panic: stack-protector: Kernel stack is corrupted in: {1}", typ: TypeCorruption},
	{name: "panic", re: lazy(`^Kernel panic - not syncing: corrupted stack end detected inside scheduler`), title: "kernel panic: corrupted stack end in {func}", typ: TypeCorruption, rule: hung},
	{name: "panic", re: lazy(`^Kernel panic - not syncing: (Fatal exception(?: in interrupt)?|panic_on_warn set|panic_on_oops|softlockup: hung tasks|hung_task: blocked tasks|Hard LOCKUP|RCU Stall|kfence|KASAN|KCSAN|UBSAN|Oops|BUG!|[\w ]*: panic_on_warn set)`), title: "kernel panic: {1}", typ: TypePanic, consequence: true},
	// init's death: its exit code differs from crash to crash of one bug
	// (a signal, a status), so it is no part of the title.
	{name: "panic", re: lazy(`^Kernel panic - not syncing: (Attempted to kill init!)`), title: "kernel panic: {1}", typ: TypePanic},
	{name: "panic", re: lazy(`^Kernel panic - not syncing: ?(.*)`), title: "kernel panic: {1}", typ: TypePanic},

	// What is left of BUG: a first line alone; user text can print it.
	{name: "BUG", re: lazy(`^BUG: ([^:,\[(]+)`), title: "BUG: {1} in {func}", typ: TypeBug, loose: true},
}

// kasanTypes maps KASAN's (and KFENCE's) bug types to Report.Type.
var kasanTypes = []struct {
	re  *lazyRE
	typ string
}{
	{lazy(`use-after-free`), TypeUseAfterFree},
	{lazy(`out-of-bounds`), TypeOutOfBounds},
	{lazy(`double-free`), TypeDoubleFree},
	{lazy(`invalid[- ]free`), TypeInvalidFree},
	{lazy(`memory corruption`), TypeCorruption},
	{lazy(`null-ptr-deref`), TypeNullDeref},
	{lazy(`.`), TypeBadAccess}, // wild-memory-access, user-memory-access, invalid-access
}

// firstWords are how every kind's first line begins: a line that begins
// with none of them starts no report, and is passed over without trying
// each kind's expression (most lines of a log).
var firstWords = []string{"BUG", "WARNING", "UBSAN", "watchdog", "NMI watchdog", "rcu: INFO", "INFO: ", "refcount_t", "ODEBUG",
	"list_", "__list_", "unreferenced object", "kernel BUG", "Kernel panic", "Unable to handle", "Internal error", "Unhandled fault",
	"general protection", "divide error", "invalid opcode", "double fault", "stack segment", "Oops"}

// match returns the kind of a cleaned first line, and its groups.
func match(l string) (*kind, []string) {
	if !slices.ContainsFunc(firstWords, func(w string) bool { return strings.HasPrefix(l, w) }) {
		return nil, nil
	}
	for i := range kinds {
		if !slices.ContainsFunc(prefixes()[i], func(p string) bool { return strings.HasPrefix(l, p) }) {
			continue
		}
		if m := kinds[i].re.FindStringSubmatch(l); m != nil {
			return &kinds[i], m
		}
	}
	return nil, nil
}

// prefixes are the literal texts each kind's expression begins with: a
// line with none of them is passed over without running the expression,
// which costs microseconds per kind (a log of "BUG: ..." lines tried
// every kind's). x86's exceptions may begin "Oops: " since 6.5
// (oopsPrefix): their kinds have both.
var prefixes = sync.OnceValue(func() [][]string {
	p := make([][]string, len(kinds))
	for i, k := range kinds {
		re, oops := strings.CutPrefix(strings.TrimPrefix(k.re.String(), "^"), oopsPrefix)
		lit, _ := regexp.MustCompile(re).LiteralPrefix()
		p[i] = []string{lit}
		if oops {
			p[i] = append(p[i], "Oops: "+lit)
		}
	}
	return p
})

// oopsPrefix is how a kind's expression says its first line may begin
// "Oops: ".
const oopsPrefix = `(?:Oops: )?`
