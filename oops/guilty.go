package oops

import (
	"strings"
)

// A skip rule names functions of a stack that are the kernel's generic
// infrastructure, not where a bug is: a report's title takes the first
// frame of its stack that no rule matches (its guilty frame). Each rule
// says why its functions are never guilty; each is tested on its own.
type skip struct {
	why string
	re  *lazyRE
}

var skips = []skip{
	{"the sanitizers' runtime: they report the bug, they are not it",
		lazy(`^_*(?:kasan|kmsan|kcsan|kfence|ubsan|asan|msan|tsan|sanitizer)_|^__(?:asan|msan|tsan|ubsan)_|^(?:check_memory_region\w*|memory_is_poisoned\w*|print_address_description\w*|print_report|describe_object\w*|report_bug|handle_bug|__report_bad_irq)$`)},
	{"printing, dumping and dying: the report's own path",
		lazy(`^(?:dump_stack\w*|show_stack\w*|show_regs\w*|show_trace_log_lvl|__dump_stack|_?printk\w*|vprintk\w*|__printk\w*|panic|nmi_panic|check_panic_on_warn|__schedule_bug|check_preemption_disabled|debug_smp_processor_id|__this_cpu_preempt_check|__warn\w*|warn_slowpath\w*|die|__die\w*|oops_end|oops_begin|do_trap|do_error_trap|do_int3\w*|exc_\w+|asm_exc_\w+|asm_sysvec_\w+|sysvec_\w+|do_exit|make_task_dead|rewind_stack\w*|bad_page|print_bad_pte|dump_page|__bad_area\w*|bad_area\w*|page_fault_oops|kernelmode_fixup_or_oops|no_context|__do_kernel_fault|do_page_fault|handle_page_fault|do_user_addr_fault|do_mem_abort|el1_abort|el1h_64_sync\w*|el1_da|die_kernel_fault|arm64_notify_die|bug_handler|call_break_hook|brk_handler|do_debug_exception|el1_dbg|lkdtm_do_action)$`)},
	{"allocators: a bug in what is allocated or freed is its caller's",
		lazy(`^(?:kmalloc|__kmalloc\w*|kmalloc_(?:trace|node\w*|large\w*|array\w*|slab|order\w*|reserve)|kmem_cache_\w+|__kmem_cache_\w+|kfree|kvfree|kzfree|kfree_sensitive|kzalloc|kcalloc|krealloc|__krealloc|kmalloc_array|kvmalloc\w*|vmalloc|vzalloc|__vmalloc\w*|vfree|slab_\w+|__slab_\w+|___slab_\w+|cache_from_obj|alloc_pages\w*|__alloc_pages\w*|get_free_pages|__get_free_pages|free_pages\w*|__free_pages\w*|kmemdup\w*|kstrdup\w*|kstrndup|memdup_user\w*|strndup_user|kmem_cache_free|kmalloc_trace|kmalloc_node_trace|kmalloc_large\w*|__kmalloc_large\w*|mempool_\w+|should_failslab|should_fail\w*|create_object|kmemleak_alloc\w*|__kmemleak_\w+)$`)},
	{"locking primitives and lockdep: the lock is fine, its user is not",
		lazy(`^(?:_raw_\w+|raw_\w+|do_raw_\w+|spin_bug|spin_dump|rwlock_bug|debug_spin_\w+|__raw_\w+|queued_\w+|native_queued_\w+|__pv_queued_\w+|lock_acquire|lock_release|lock_is_held\w*|__lock_acquire|__lock_release|lockdep_\w+|__lockdep_\w+|check_\w*(?:noncircular|prev_add|prevs_add|irq_usage|deadlock|flags|usage|chain_key|unlock)|validate_chain|print_\w*(?:circular|deadlock|usage|lock|unlock)\w*|debug_check_no_locks_freed|debug_show_held_locks|mark_lock|mark_usage|__mutex_\w+|mutex_(?:lock|unlock|trylock)\w*|__rt_mutex\w*|rt_mutex\w*|__down\w*|down|down_(?:read|write|interruptible|killable|timeout|trylock)\w*|up|up_(?:read|write)\w*|__up\w*|rwsem_\w+|__rwsem_\w+|spin_(?:lock|unlock|trylock|is_locked)\w*|__spin_\w+|rwlock_\w+|read_lock\w*|write_lock\w*|read_unlock\w*|write_unlock\w*|__might_sleep|___might_sleep|__might_fault|__might_resched|might_fault|lock_sock\w*|release_sock|rcu_read_lock\w*|rcu_read_unlock\w*|rcu_lockdep_current_cpu_online|lockdep_rcu_suspicious|srcu_read_\w+|__srcu_read_\w+|seqcount_lockdep_\w+|percpu_(?:down|up)_\w+|percpu_\w*rwsem\w*|__percpu_(?:down|up)_\w+|preempt_count_\w+|__preempt_\w+)$`)},
	{"atomics, refcounts and krefs: they count for their user",
		lazy(`^(?:arch_|raw_)?atomic(?:64|_long)?_(?:inc|dec|add|sub|and|andnot|or|xor|read|set|cmpxchg|try_cmpxchg|xchg|fetch)\w*$|^(?:__)?refcount_\w+$|^kref_(?:get|put|init|read)\w*$|^__debug_object_\w+$|^debug_object_\w+$|^debug_print_object$|^debug_check_no_obj_freed$`)},
	{"mem*, str* and user copy helpers: the copy is right, its arguments are not",
		lazy(`^(?:__)?(?:mem(?:cpy|set|move|cmp|chr|scan|dup)|str(?:cpy|ncpy|lcpy|scpy|cat|ncat|len|nlen|cmp|ncmp|casecmp|chr|rchr|str|sep|pbrk|spn))\w*$|^(?:_|__|raw_)?copy_(?:to|from|in)_user\w*$|^(?:__)?(?:get|put|clear)_user\w*$|^strncpy_from_user$|^strnlen_user$|^copy_user_\w+$|^__copy_user\w*$|^check_(?:copy_size|object_size|heap_object)$|^__check_object_size$|^usercopy_abort$|^fortify_panic$|^__fortify_\w+$|^copyin$|^copyout$|^csum_partial_copy\w*$`)},
	{"lists, trees, workqueues, kobjects and timers: helpers and dispatchers",
		lazy(`^(?:__)?list_(?:add|del|move|splice|replace|cut|rotate|swap|first|last|is|empty|bulk|sort)\w*$|^(?:__)?hlist_\w+$|^__list_\w+_valid\w*$|^(?:__)?rb_(?:insert|erase|next|prev|first|last|replace|link|rotate|augment)\w*$|^(?:__)?xa_\w+$|^idr_\w+$|^kobject_\w+$|^kobj_\w+$|^kset_\w+$|^process_one_work$|^process_scheduled_works$|^worker_thread$|^kthread$|^ret_from_fork\w*$|^call_timer_fn$|^expire_timers$|^__run_timers?$|^run_timer_softirq$|^(?:__)?do_softirq\w*$|^handle_softirqs$|^irq_exit\w*$|^__irq_exit_rcu$|^run_ksoftirqd$|^smpboot_thread_fn$|^tasklet_action\w*$|^rcu_core\w*$|^rcu_do_batch$|^rcu_cpu_kthread$|^__sysvec_\w+$|^call_rcu$|^queue_work\w*$|^__queue_work$|^flush_work$|^__flush_work$`)},
	{"busy-wait delays: the waiting is their caller's, who spins",
		lazy(`^(?:__)?(?:const_)?[unm]?delay$|^__const_udelay$|^delay_(?:tsc|loop|halt\w*)$|^cpu_relax$`)},
	{"system call entry: the call is the user's, not the bug",
		lazy(`^(?:do_syscall_(?:64|x64|32_irqs_on|32|int80)|entry_SYSCALL\w*|entry_INT80\w*|x64_sys_call|ia32_sys_call|syscall_exit_to_user_mode\w*|exit_to_user_mode\w*|invoke_syscall|el0_svc\w*|el0t_64_sync\w*|do_el0_svc\w*|__invoke_syscall|ret_fast_syscall|__x64_sys_\w+|__ia32_sys_\w+|__ia32_compat_sys_\w+|__se_sys_\w+|__arm64_sys_\w+|__se_compat_sys_\w+|__do_compat_sys_\w+)$`)},
}

// entries are where a CPU enters the code that runs: a stall's guilty
// frame is the one just above (called by) the first of them in its
// stack, the code that would not give the CPU back.
var entries = lazy(`^(?:do_syscall_64|do_syscall_x64|x64_sys_call|__x64_sys_\w+|__ia32_sys_\w+|__arm64_sys_\w+|invoke_syscall|el0_svc\w*|process_one_work|worker_thread|kthread|__do_softirq|handle_softirqs|call_timer_fn|tasklet_action_common|net_rx_action|__napi_poll|rcu_do_batch|smpboot_thread_fn)$`)

// syscallPrefixes are the wrappers' prefixes of a system call's own
// function, sys_NAME: __do_sys_bpf, __x64_sys_bpf and ksys_read are
// titled sys_bpf and sys_read, whichever wrapper the compiler kept.
var syscallPrefixes = []string{"__x64_sys_", "__ia32_sys_", "__arm64_sys_", "__se_sys_", "__do_sys_", "ksys_", "__sys_"}

// waits are the functions a hung task waits in that a title names
// instead of the task's own: hangs in an RCU grace period are grouped.
var waits = lazy(`^(synchronize_(?:rcu|srcu|net|sched|rcu_tasks|rcu_tasks_trace))(?:_expedited|_normal)?$`)

// sleeps are where a hung task sleeps: the scheduler and its waits,
// never guilty in a hang.
var sleeps = lazy(`^(?:__schedule|schedule\w*|io_schedule\w*|preempt_schedule\w*|wait_for_\w+|__wait_for_\w+|do_wait_for_\w+|wait_on_\w+|__wait_on_\w+|out_of_line_wait_on_bit\w*|bit_wait\w*|wait_woken|prepare_to_wait\w*|finish_wait|__wait_event\w*|wait_event\w*|rcu_gp_kthread|rcu_tasks_\w+|__synchronize_srcu|synchronize_rcu_expedited|wait_rcu_gp|__wait_rcu_gp|context_switch|__switch_to\w*|switch_to|ret_from_fork\w*|__flush_work|flush_work|flush_workqueue|__flush_workqueue|kthread_stop|msleep\w*|usleep_range\w*|schedule_hrtimeout\w*|do_nanosleep|hrtimer_nanosleep)$`)

// skipped returns the rule that skips fn, or "" when fn may be guilty.
func skipped(fn string) string {
	if i := strings.IndexByte(fn, '.'); i > 0 {
		fn = fn[:i] // a compiler's clone (.constprop.0, .isra.0, .cold) is its function
	}
	for _, s := range skips {
		if s.re.MatchString(fn) {
			return s.why
		}
	}
	return ""
}

// stack is the report's frames as a title reads them: the faulting
// instruction first (when it is not already the trace's first), then the
// trace; frames printed with "?" (the unwinder's guesses) left out
// unless guesses are all there is (a kernel without frame pointers).
func (r *Report) stack() []Frame {
	var out, guesses []Frame
	if r.RIP != nil && r.RIP.Func != "" && (len(r.Frames) == 0 || r.Frames[0].Func != r.RIP.Func) {
		out = append(out, *r.RIP)
	}
	for _, f := range r.Frames {
		switch {
		case f.Func == "":
		case f.Unreliable:
			guesses = append(guesses, f)
		default:
			out = append(out, f)
		}
	}
	if firstGuilty(out) == nil && len(guesses) > 0 {
		return append(out, guesses...)
	}
	return out
}

// guilty returns the guilty frame of r's stack by its kind's rule, or
// nil when no frame may be.
func (r *Report) guilty(rule frameRule) *Frame {
	st := r.stack()
	switch rule {
	case stalled:
		// The top of a stalled CPU's stack is wherever the watchdog
		// found it; the frame the entry called is what did not return.
		for i, f := range st {
			if i > 0 && entries.MatchString(f.Func) {
				for j := i - 1; j >= 0; j-- {
					if skipped(st[j].Func) == "" || callName(st[j].Func) != st[j].Func {
						return &st[j]
					}
				}
				return &st[i-1]
			}
		}
	case hung:
		for _, f := range st {
			if m := waits.FindStringSubmatch(f.Func); m != nil {
				f.Func = m[1] // synchronize_srcu_expedited waits as synchronize_srcu
				return &f
			}
		}
		var rest []Frame
		for _, f := range st {
			if !sleeps.MatchString(f.Func) {
				rest = append(rest, f)
			}
		}
		st = rest
	}
	if g := firstGuilty(st); g != nil {
		return g
	}
	// Only infrastructure: a system call's own function is still a
	// name, the last resort before "corrupted".
	for i := range st {
		if callName(st[i].Func) != st[i].Func {
			return &st[i]
		}
	}
	return nil
}

// firstGuilty is the first frame no skip rule matches.
func firstGuilty(st []Frame) *Frame {
	for i := range st {
		if skipped(st[i].Func) == "" {
			return &st[i]
		}
	}
	return nil
}

// callName is fn as a title names it: a system call's function as
// sys_NAME (syscallPrefixes), and without the compiler's clone suffixes
// (.constprop.0, .isra.0, .part.0, .cold), which differ from build to
// build for the same code.
func callName(fn string) string {
	if i := strings.IndexByte(fn, '.'); i > 0 {
		fn = fn[:i]
	}
	for _, p := range syscallPrefixes {
		if rest, ok := strings.CutPrefix(fn, p); ok && rest != "" {
			return "sys_" + rest
		}
	}
	return fn
}
