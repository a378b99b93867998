#!/usr/bin/env bash
# Makes the real crash reports in oops/testdata/real: a kernel built from
# linux-source-6.1 with the sanitizers and the kernel's debugging options
# (initkit kernel config and kernel build), a module for the reports LKDTM
# does not make (crashme.c), and one boot per report, its console kept
# from the init's start. Not run by make test: its output is checked in.
# A second kernel, a plain one from linux-source-6.12 (SRC612), makes the
# reports the first cannot: a hard lockup (6.1's only detector needs a
# PMU, which QEMU's TCG has not; 6.6's buddy detector needs none) and a
# general protection fault (KASAN reports a wild access first). A third,
# user-mode Linux from the first tree (ARCH=um, run as a plain process),
# makes UML's reports.
#
#   SRC=~/.cache/initkit/src/linux-source-6.1-* SRC612=.../linux-source-6.12 oops/testdata/real/gen/make-reports.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
initkit=${INITKIT:-$here/../../../../bin/initkit}
src=${SRC:?SRC: the kernel tree to build}
obj=${OBJ:-$HOME/.cache/initkit/kbuild/crash-reports}
src612=${SRC612:?SRC612: the linux-source-6.12 tree}
obj612=${OBJ612:-$HOME/.cache/initkit/kbuild/crash-reports-6.12}
objum=${OBJUM:-$HOME/.cache/initkit/kbuild/crash-reports-um}
out=$here/..
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ ! -e "$obj/initkit-kernel.json" ]; then
  "$initkit" kernel config "$src" -O "$obj" --for debug,kasan
  "$src/scripts/config" --file "$obj/.config" \
    -e DEBUG_FS -e RUNTIME_TESTING_MENU -e LKDTM -e PROVE_LOCKING -e PROVE_RCU -e DEBUG_LIST -e BUG_ON_DATA_CORRUPTION \
    -e UBSAN -e UBSAN_BOUNDS -e UBSAN_SHIFT -e UBSAN_SANITIZE_ALL -e KFENCE \
    -e DEBUG_KMEMLEAK -d DEBUG_KMEMLEAK_AUTO_SCAN -e SOFTLOCKUP_DETECTOR -e DETECT_HUNG_TASK \
    --set-val DEFAULT_HUNG_TASK_TIMEOUT 10 --set-val RCU_CPU_STALL_TIMEOUT 21 \
    -e DEBUG_OBJECTS -e DEBUG_OBJECTS_FREE -e DEBUG_OBJECTS_TIMERS -e SMP -e PREEMPT -d PREEMPT_NONE \
    -e DEBUG_PREEMPT -e DEBUG_ATOMIC_SLEEP -e STACKPROTECTOR -e STACKPROTECTOR_STRONG -e SLUB_DEBUG \
    -e VMAP_STACK -e HARDLOCKUP_DETECTOR -e SCHED_STACK_END_CHECK -e DEBUG_SPINLOCK -e DEBUG_MUTEXES -e DEBUG_LOCK_ALLOC -e MODULES -e MODULE_UNLOAD \
    -e NET -e INET -e UNIX -e SERIAL_8250 -e SERIAL_8250_CONSOLE -e PRINTK -e TTY
  make -s -C "$src" O="$obj" olddefconfig
  "$initkit" kernel build "$src" -O "$obj"
fi
if [ ! -e "$obj612/initkit-kernel.json" ]; then
  "$initkit" kernel config "$src612" -O "$obj612" --for boot,exec
  "$src612/scripts/config" --file "$obj612/.config" \
    -e SMP -e MODULES -e MODULE_UNLOAD -e DEBUG_KERNEL -e LOCKUP_DETECTOR -e SOFTLOCKUP_DETECTOR \
    -e HARDLOCKUP_DETECTOR -e HARDLOCKUP_DETECTOR_PREFER_BUDDY -e STACKPROTECTOR -e STACKPROTECTOR_STRONG \
    -e KALLSYMS -e KALLSYMS_ALL -e PREEMPT -e SCHED_STACK_END_CHECK -e DEBUG_SPINLOCK -e VMAP_STACK -e PRINTK -e BUG
  make -s -C "$src612" O="$obj612" olddefconfig
  "$initkit" kernel build "$src612" -O "$obj612"
fi
if [ ! -x "$objum/linux" ]; then
  make -s -C "$src" O="$objum" ARCH=um defconfig
  "$src/scripts/config" --file "$objum/.config" -e MAGIC_SYSRQ -e BLK_DEV_INITRD -e DEVTMPFS -e DEBUG_FS -e LKDTM \
    -e KALLSYMS -e DEBUG_KERNEL -e FRAME_POINTER -e STACKTRACE
  make -s -C "$src" O="$objum" ARCH=um olddefconfig
  make -s -C "$src" O="$objum" ARCH=um -j"$(nproc)" linux
fi
for k in 61 612; do
  mkdir -p "$work/$k"
  cp "$here/crashme.c" "$here/Makefile" "$work/$k/"
done
make -s -C "$obj" M="$work/61" modules
make -s -C "$obj612" M="$work/612" modules

cat > "$work/init.sh" <<'INIT'
#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /tmp
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t debugfs debugfs /sys/kernel/debug
for w in $(/bin/busybox cat /proc/cmdline); do
  case $w in crash=*) c=${w#crash=} ;; esac
done
echo "make-reports: $c"
case $c in
  lkdtm:*) echo "${c#lkdtm:}" > /sys/kernel/debug/provoke-crash/DIRECT ;;
  crashme:hard_lockup|crashme:rcu_stall) /bin/busybox insmod /crashme.ko what=irqs_off ;;
  crashme:wild_access) /bin/busybox insmod /crashme.ko what=gpf ;;
  crashme:*) /bin/busybox insmod /crashme.ko what="${c#crashme:}" ;;
esac
if [ "$c" = crashme:leak ]; then
  /bin/busybox sleep 2
  echo scan > /sys/kernel/debug/kmemleak
  /bin/busybox sleep 2
  echo scan > /sys/kernel/debug/kmemleak
  /bin/busybox cat /sys/kernel/debug/kmemleak
fi
/bin/busybox sleep 45
/bin/busybox poweroff -f
INIT
chmod +x "$work/init.sh"
"$initkit" build --busybox /bin/busybox --init "$work/init.sh" --compress gzip -o "$work/img-um"
for k in 61 612; do
  o=$obj; [ $k = 612 ] && o=$obj612
  "$initkit" build --busybox /bin/busybox --init "$work/init.sh" --add "$work/$k/crashme.ko:/crashme.ko" -o "$work/img-$k" --kernel "$o"
done

# report KERNEL-TAG OBJ CRASH [SUFFIX]: one boot, its console kept from the init's
# start in $out/NAME.log (the boot before it is the same in every log).
report() {
  local k=$1 o=$2 c=$3 more=
  local name=$(echo "${c/:/-}" | tr 'A-Z_' 'a-z-')${4:-}
  [ -s "$out/$name.log" ] && return # made by an earlier run
  echo "== $name"
  case $c in # one report per log: the other detectors kept quiet
    crashme:hard_lockup) more="nmi_watchdog=panic" ;;
    crashme:rcu_stall) more="nmi_watchdog=0 sysctl.kernel.panic_on_rcu_stall=1" ;;
  esac
  "$initkit" boot --kernel "$o" --initrd "$work/img-$k" --smp 2 --mem 2G --timeout 150s \
    --append "crash=$c slub_debug=FZPU panic_on_warn=1 softlockup_panic=1 hung_task_panic=1 oops=panic $more" --log "$work/$name.log" >/dev/null 2>&1 || true
  sed -n '/make-reports: /,$p' "$work/$name.log" > "$out/$name.log"
  [ -s "$out/$name.log" ] || { echo "$name: the init never started"; rm -f "$out/$name.log"; }
}

lkdtm="BUG WARNING WARNING_MESSAGE EXCEPTION CORRUPT_STACK CORRUPT_STACK_STRONG SOFTLOCKUP SPINLOCKUP HUNG_TASK
  OVERFLOW_SIGNED ARRAY_BOUNDS CORRUPT_LIST_ADD CORRUPT_LIST_DEL STACK_GUARD_PAGE_LEADING DOUBLE_FAULT
  SLAB_LINEAR_OVERFLOW VMALLOC_LINEAR_OVERFLOW WRITE_AFTER_FREE READ_AFTER_FREE SLAB_FREE_DOUBLE SLAB_FREE_CROSS
  SLAB_FREE_PAGE EXEC_DATA EXEC_NULL ACCESS_USERSPACE ACCESS_NULL WRITE_RO WRITE_KERN
  REFCOUNT_INC_OVERFLOW REFCOUNT_DEC_ZERO REFCOUNT_DEC_NEGATIVE REFCOUNT_INC_ZERO USERCOPY_SLAB_SIZE_TO"
crashme="circular recursive unlock_balance held_freed suspicious_rcu leak divide sleep_atomic sched_atomic preemptible odebug null
  rcu_stall spin_recursion stack_protector stack_end wild_access global_oob kmalloc_huge"
for t in $lkdtm; do report 61 "$obj" lkdtm:$t; done
for t in $crashme; do report 61 "$obj" crashme:$t; done
for t in hard_lockup gpf; do report 612 "$obj612" crashme:$t; done
# 6.5 on prints x86's exceptions as "Oops: divide error", "Oops: invalid opcode".
for t in divide bug; do report 612 "$obj612" crashme:$t -6.12; done
# UML: the kernel is a program; its console is its stdout.
for t in WARNING BUG EXCEPTION; do
  name=uml-lkdtm-$(echo $t | tr 'A-Z_' 'a-z-')
  [ -s "$out/$name.log" ] && continue
  echo "== $name"
  timeout 120 "$objum/linux" mem=256M initrd="$work/img-um" crash=lkdtm:$t con0=fd:0,fd:1 con=null </dev/null >"$work/$name.log" 2>&1 || true
  sed -n '/make-reports: /,$p' "$work/$name.log" > "$out/$name.log"
done
