package oops

import (
	"strings"
	"testing"
)

// Each skip rule on its own: the functions it names are passed over, and
// the frame after them is the guilty one; functions that look alike but
// are code of their own are not passed over.
func TestSkipRules(t *testing.T) {
	for _, c := range []struct {
		rule   string // the start of the rule's why
		skips  []string
		guilty []string // similar names no rule may skip
	}{
		{"the sanitizers' runtime", []string{"kasan_report", "__kasan_check_read", "__asan_report_load8_noabort", "kmsan_report", "__msan_warning",
			"__kcsan_check_access", "kfence_handle_page_fault", "ubsan_epilogue", "__ubsan_handle_shift_out_of_bounds", "print_report",
			"print_address_description", "check_memory_region", "report_bug"}, []string{"kasanized_read", "reporter_fn"}},
		{"printing, dumping and dying", []string{"dump_stack_lvl", "dump_stack", "show_stack", "_printk", "vprintk_emit", "panic", "__warn",
			"die", "__die_body", "oops_end", "do_trap", "exc_invalid_op", "asm_exc_invalid_op", "asm_sysvec_apic_timer_interrupt",
			"page_fault_oops", "do_user_addr_fault", "check_panic_on_warn", "__schedule_bug", "check_preemption_disabled", "debug_smp_processor_id", "make_task_dead", "do_mem_abort", "el1h_64_sync_handler", "lkdtm_do_action"},
			[]string{"panicked_driver_fn", "died_in_foo", "diet"}},
		{"allocators", []string{"kmalloc_trace", "__kmalloc", "__kmalloc_node", "kmem_cache_alloc", "kmem_cache_free", "kfree", "kvfree",
			"kzalloc", "krealloc", "vmalloc", "__vmalloc_node_range", "slab_free_freelist_hook", "___slab_alloc", "__alloc_pages",
			"alloc_pages", "__get_free_pages", "kmemdup", "kstrdup", "memdup_user", "should_failslab", "kmalloc_large_node"},
			[]string{"kmalloc_oob_right", "ext4_alloc_inode", "my_kfree_wrapper_user"}},
		{"locking primitives and lockdep", []string{"_raw_spin_lock", "_raw_spin_lock_irqsave", "queued_spin_lock_slowpath", "lock_acquire",
			"__lock_acquire", "lockdep_rcu_suspicious", "check_noncircular", "validate_chain", "print_circular_bug", "mutex_lock_nested",
			"__mutex_lock", "mutex_unlock", "down_write", "up_read", "rwsem_down_write_slowpath", "spin_lock", "__might_sleep",
			"__might_fault", "lock_sock_nested", "release_sock", "rcu_read_lock_held", "debug_check_no_locks_freed", "percpu_down_write",
			"spin_bug", "do_raw_spin_lock", "rwlock_bug"},
			[]string{"spin_forever", "spin_init", "mutex_owner_fn", "up_to_date", "download_firmware", "rtnl_lock", "lock_page_owner"}},
		{"atomics, refcounts and krefs", []string{"atomic_inc", "arch_atomic_add", "refcount_warn_saturate", "__refcount_add", "__refcount_add.constprop.0", "kref_put",
			"debug_object_free", "debug_print_object", "debug_check_no_obj_freed"}, []string{"atomic_counter_user", "kref_user_release"}},
		{"mem*, str* and user copy helpers", []string{"memcpy", "__memcpy", "memset", "memmove", "memcmp", "strcpy", "strncpy", "strlen",
			"strscpy", "copy_from_user", "_copy_to_user", "__copy_user_nocache", "copy_user_enhanced_fast_string", "strncpy_from_user",
			"check_object_size", "__check_object_size", "usercopy_abort", "fortify_panic", "__get_user_8", "__put_user_4"},
			[]string{"memory_failure", "strip_prefix", "copy_process", "string_escape"}},
		{"lists, trees, workqueues, kobjects and timers", []string{"list_add", "__list_add_valid", "__list_del_entry_valid", "list_del",
			"hlist_add_head", "rb_insert_color", "rb_erase", "kobject_put", "kobject_uevent_env", "process_one_work", "worker_thread",
			"kthread", "ret_from_fork", "call_timer_fn", "__run_timers", "run_timer_softirq", "__do_softirq", "irq_exit_rcu", "rcu_core",
			"rcu_do_batch"}, []string{"list_walker", "list_lru_add", "rbd_dev_probe", "kthread_worker_fn_user"}},
		{"busy-wait delays", []string{"delay_tsc", "__delay", "__const_udelay", "__udelay", "udelay", "mdelay", "__ndelay", "delay_halt_mwaitx", "cpu_relax"},
			[]string{"delayed_work_timer_fn", "msleep", "udelay_test_single", "delay_fn_user"}},
		{"system call entry", []string{"do_syscall_64", "entry_SYSCALL_64_after_hwframe", "x64_sys_call", "__x64_sys_write",
			"__se_sys_bpf", "__arm64_sys_ioctl", "invoke_syscall", "el0_svc", "el0t_64_sync_handler", "syscall_exit_to_user_mode"},
			[]string{"do_sys_open_helper", "sysfs_write_file"}},
	} {
		var rule *skip
		for i := range skips {
			if strings.HasPrefix(skips[i].why, c.rule) {
				rule = &skips[i]
			}
		}
		if rule == nil {
			t.Errorf("no rule %q", c.rule)
			continue
		}
		for _, fn := range c.skips {
			if got := skipped(fn); got != rule.why {
				t.Errorf("%s: skipped by %q, want %q", fn, got, rule.why)
			}
			r := Report{Frames: []Frame{{Func: fn}, {Func: "victim_fn"}}}
			if g := r.guilty(firstFrame); g == nil || g.Func != "victim_fn" {
				t.Errorf("%s then victim_fn: guilty %+v", fn, g)
			}
		}
		for _, fn := range c.guilty {
			if why := skipped(fn); why != "" {
				t.Errorf("%s is skipped (%s): it is code of its own", fn, why)
			}
		}
	}
	// Every rule is tested above.
	if len(skips) != 9 {
		t.Errorf("%d rules: test the new ones", len(skips))
	}
}

// A system call's function is titled sys_NAME whichever wrapper the
// compiler kept; clone suffixes go.
func TestCallName(t *testing.T) {
	for in, want := range map[string]string{
		"__do_sys_bpf": "sys_bpf", "__se_sys_bpf": "sys_bpf", "__x64_sys_bpf": "sys_bpf", "ksys_read": "sys_read",
		"__arm64_sys_ioctl": "sys_ioctl", "ext4_fill_super.constprop.0": "ext4_fill_super", "tcp_v4_rcv.cold": "tcp_v4_rcv",
		"foo.isra.12": "foo", "plain": "plain",
	} {
		if got := callName(in); got != want {
			t.Errorf("callName(%q) = %q, want %q", in, got, want)
		}
	}
	// A stack of infrastructure but a system call: the call is named.
	r := Report{Frames: []Frame{{Func: "kfree"}, {Func: "__do_sys_close"}, {Func: "do_syscall_64"}}}
	if g := r.guilty(firstFrame); g == nil || callName(g.Func) != "sys_close" {
		t.Errorf("guilty %+v", g)
	}
}

// A stall names the frame its CPU entered and did not leave: the one
// above the entry point, not wherever the watchdog found the CPU.
func TestStalledFrame(t *testing.T) {
	for _, c := range []struct {
		stack []string
		want  string
	}{
		{[]string{"__sanitizer_cov_trace_pc", "hash_walk", "my_work_fn", "process_one_work", "worker_thread", "kthread"}, "my_work_fn"},
		{[]string{"_raw_spin_lock", "loop_here", "__do_sys_sendmsg", "__x64_sys_sendmsg", "do_syscall_64"}, "sys_sendmsg"},
		{[]string{"spin_here", "run_timer_callback", "call_timer_fn", "__run_timers"}, "run_timer_callback"},
		{[]string{"spin_here", "helper"}, "spin_here"}, // no entry: the first frame
	} {
		var r Report
		for _, f := range c.stack {
			r.Frames = append(r.Frames, Frame{Func: f})
		}
		if g := r.guilty(stalled); g == nil || callName(g.Func) != c.want {
			t.Errorf("%v: guilty %+v, want %s", c.stack, g, c.want)
		}
	}
}

// A hung task is titled by what it waits for: an RCU grace period is
// one title whoever waits; the scheduler's own frames are never guilty.
func TestHungFrame(t *testing.T) {
	for _, c := range []struct {
		stack []string
		want  string
	}{
		{[]string{"__schedule", "schedule", "schedule_timeout", "wait_for_completion", "__wait_rcu_gp", "synchronize_rcu", "netdev_run_todo", "rtnl_unlock"}, "synchronize_rcu"},
		{[]string{"__schedule", "schedule", "synchronize_srcu_expedited", "kvm_destroy_vm"}, "synchronize_srcu"},
		{[]string{"__schedule", "schedule", "schedule_preempt_disabled", "__mutex_lock", "mutex_lock_nested", "rtnl_lock", "dev_ioctl"}, "rtnl_lock"},
		{[]string{"__schedule", "schedule", "io_schedule", "folio_wait_bit_common", "ext4_writepages"}, "folio_wait_bit_common"},
	} {
		var r Report
		for _, f := range c.stack {
			r.Frames = append(r.Frames, Frame{Func: f})
		}
		if g := r.guilty(hung); g == nil || callName(g.Func) != c.want {
			t.Errorf("%v: guilty %+v, want %s", c.stack, g, c.want)
		}
	}
}
