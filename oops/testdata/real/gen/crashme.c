// SPDX-License-Identifier: GPL-2.0
/*
 * crashme: the reports LKDTM does not make, one per value of the
 * parameter "what" (crashme.what=NAME on the kernel command line, for a
 * built-in module): lockdep's, kmemleak's, a divide error, ODEBUG,
 * atomic-context bugs, lockups and stalls, stack corruption caught by
 * the stack protector and the scheduler, a spinlock debugging report and
 * a general protection fault. initkit's oops tests keep the consoles it makes
 * (see make-reports.sh): real reports from a real kernel.
 */
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/slab.h>
#include <linux/delay.h>
#include <linux/rcupdate.h>
#include <linux/timer.h>
#include <linux/sched.h>
#include <linux/smp.h>
#include <linux/lockdep.h>
#include <linux/kthread.h>
#include <linux/sched/task_stack.h>

static char *what = "";
module_param(what, charp, 0444);

static DEFINE_MUTEX(lock_a);
static DEFINE_MUTEX(lock_b);
static DEFINE_SPINLOCK(spin_a);

struct holder {
	struct mutex m;
	int v;
};

struct rcu_thing {
	int v;
};
static struct rcu_thing __rcu *rcu_ptr;

static noinline void crashme_circular(void)
{
	mutex_lock(&lock_a);
	mutex_lock(&lock_b);
	mutex_unlock(&lock_b);
	mutex_unlock(&lock_a);
	mutex_lock(&lock_b);
	mutex_lock(&lock_a); /* B then A: lockdep sees the cycle */
	mutex_unlock(&lock_a);
	mutex_unlock(&lock_b);
}

static noinline void crashme_recursive(void)
{
	spin_lock(&spin_a);
	spin_lock(&spin_a);
}

static noinline void crashme_unlock_balance(void)
{
	mutex_unlock(&lock_a);
}

static noinline void crashme_held_freed(void)
{
	struct holder *h = kmalloc(sizeof(*h), GFP_KERNEL);

	mutex_init(&h->m);
	mutex_lock(&h->m);
	kfree(h);
}

static noinline void crashme_suspicious_rcu(void)
{
	struct rcu_thing *p = rcu_dereference(rcu_ptr);

	pr_info("crashme: %p\n", p);
}

static noinline void crashme_leak(void)
{
	void *p = kmalloc(64, GFP_KERNEL);

	pr_info("crashme: leaking %p\n", p);
	p = NULL;
}

static volatile int crashme_zero;

static noinline void crashme_divide(void)
{
	pr_info("crashme: %d\n", 42 / crashme_zero);
}

static noinline void crashme_sleep_atomic(void)
{
	spin_lock(&spin_a);
	msleep(1);
	spin_unlock(&spin_a);
}

static noinline void crashme_sched_atomic(void)
{
	preempt_disable();
	schedule();
	preempt_enable();
}

static noinline void crashme_preemptible(void)
{
	pr_info("crashme: cpu %d\n", smp_processor_id());
}

static void crashme_timer_fn(struct timer_list *t)
{
}

static noinline void crashme_odebug(void)
{
	struct timer_list *t = kmalloc(sizeof(*t), GFP_KERNEL);

	timer_setup(t, crashme_timer_fn, 0);
	mod_timer(t, jiffies + 100 * HZ);
	kfree(t); /* an active timer freed */
}

static noinline void crashme_null(void)
{
	*(volatile int *)0 = 1;
}

static int crashme_waiter(void *unused)
{
	synchronize_rcu();
	return 0;
}

static int crashme_spin_irqs_off(void *unused)
{
	local_irq_disable();
	mdelay(60000);
	local_irq_enable();
	return 0;
}

/* CPU 1 with interrupts off for 60 s while a grace period waits (RCU
 * reports a stall only then): the hard lockup watchdog's report, and
 * RCU's stall report. Not CPU 0, which keeps jiffies going: with its
 * interrupts off, time stops and no stall is ever seen. */
static noinline void crashme_irqs_off(void)
{
	struct task_struct *t = kthread_create(crashme_spin_irqs_off, NULL, "crashme-spin");

	kthread_bind(t, 1);
	wake_up_process(t);
	msleep(100);
	kthread_run(crashme_waiter, NULL, "crashme-waiter");
}

/* lockdep off, so that CONFIG_DEBUG_SPINLOCK's own check reports. */
static noinline void crashme_spin_recursion(void)
{
	lockdep_off();
	spin_lock(&spin_a);
	spin_lock(&spin_a);
}

/* Past a local array, with KASAN's stack checks off here: the canary
 * is overwritten and __stack_chk_fail panics on the way out. */
static noinline __no_sanitize_address void crashme_stack_protector(void)
{
	char buf[8];
	volatile char *p = buf;
	int i;

	for (i = 0; i < 24; i++)
		p[i] = 0x41;
}

/* The task's stack-end magic overwritten: the scheduler's check panics. */
static noinline void crashme_stack_end(void)
{
	*end_of_stack(current) = 0;
	schedule();
}

/* An index past a global array: KASAN's global-out-of-bounds. */
static char crashme_global[8];
static volatile int crashme_index = 10;

static noinline void crashme_global_oob(void)
{
	volatile char *p = crashme_global; /* a pointer: UBSAN's bounds check is for arrays */

	pr_info("crashme: %d\n", p[crashme_index]);
}

/* A kmalloc far past what the page allocator gives: its WARNING. */
static volatile unsigned long crashme_huge = 1UL << 40;

static noinline void crashme_kmalloc_huge(void)
{
	kfree(kmalloc(crashme_huge, GFP_KERNEL));
}

/* BUG(): "kernel BUG at", then the invalid opcode it is made of. */
static noinline void crashme_bug(void)
{
	BUG();
}

/* A non-canonical address: a general protection fault, not a page fault. */
static noinline void crashme_gpf(void)
{
	*(volatile long *)0xdead000000000000UL = 1;
}

static int __init crashme_init(void)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} all[] = {
		{ "circular", crashme_circular },
		{ "recursive", crashme_recursive },
		{ "unlock_balance", crashme_unlock_balance },
		{ "held_freed", crashme_held_freed },
		{ "suspicious_rcu", crashme_suspicious_rcu },
		{ "leak", crashme_leak },
		{ "divide", crashme_divide },
		{ "sleep_atomic", crashme_sleep_atomic },
		{ "sched_atomic", crashme_sched_atomic },
		{ "preemptible", crashme_preemptible },
		{ "odebug", crashme_odebug },
		{ "null", crashme_null },
		{ "irqs_off", crashme_irqs_off },
		{ "spin_recursion", crashme_spin_recursion },
		{ "stack_protector", crashme_stack_protector },
		{ "stack_end", crashme_stack_end },
		{ "gpf", crashme_gpf },
		{ "bug", crashme_bug },
		{ "global_oob", crashme_global_oob },
		{ "kmalloc_huge", crashme_kmalloc_huge },
	};
	int i;

	for (i = 0; i < ARRAY_SIZE(all); i++)
		if (!strcmp(what, all[i].name))
			all[i].fn();
	return 0;
}
module_init(crashme_init);
MODULE_LICENSE("GPL");
