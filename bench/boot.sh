#!/usr/bin/env bash
# Boot overhead (issue 4): initkit boot against the equivalent hand-written
# qemu-system-x86_64 command, booting the same busybox image to power-off,
# taken in turn (RUNS rounds, default 20). Results go to
# bench/results/boot.md and bench/results/exec.md.
# exec needs initkit-init beside initkit: common.sh builds both.
source "$(dirname "$0")/common.sh"
mkdir -p "$work/root/bin"
cp /bin/busybox "$work/root/bin/"
printf '#!/bin/busybox sh\n/bin/busybox echo boot-marker\n/bin/busybox poweroff -f\n' > "$work/root/init"
chmod 755 "$work/root/init"
"$ik" pack -c gzip "$work/root" -o "$work/i.img" 2>/dev/null
runs=${RUNS:-20}
# ONLY=boot or ONLY=exec runs one of the two comparisons. BEFORE=BIN adds
# the rows of another initkit (an older build, with initkit-init beside
# it) to the same rounds: a change's before and after, side by side.
before=()
if [ -n "${BEFORE:-}" ]; then
  before=("initkit boot (BEFORE)" "$BEFORE boot --accel tcg --kernel $k --initrd $work/i.img --append quiet --log $work/log.b")
fi
if [ "${ONLY:-}" != exec ]; then
  interleaved "$here/results/boot.md" "$runs" \
    "initkit boot" "$ik boot --accel tcg --kernel $k --initrd $work/i.img --append quiet --log $work/log" \
    "qemu-system-x86_64 (hand-written)" "qemu-system-x86_64 -machine q35 -accel tcg -m 1G -smp 1 -nodefaults -display none -serial stdio -no-reboot -kernel $k -initrd $work/i.img -append 'console=ttyS0 panic=-1 no_timer_check quiet'" \
    "${before[@]}"
fi

# initkit exec round trip against a boot of the same kernel to a marker:
# what exec adds is building the segment, the initkit init running the
# command, the extra serial ports and the status channel. The goal's
# comparison is the boot with exec's own kernel command line (vmexec's
# Cmdline, which skips the crypto self-tests and page zeroing); the
# plain boot, what one would write by hand, is there for the end-to-end
# figure.
printf '#!/bin/busybox sh\n/bin/busybox true\n/bin/busybox poweroff -f\n' > "$work/root/init"
"$ik" pack -c gzip "$work/root" -o "$work/t.img" 2>/dev/null
[ "${ONLY:-}" = boot ] && exit 0
hand="qemu-system-x86_64 -machine q35 -accel tcg -m 1G -smp 1 -nodefaults -display none -serial stdio -no-reboot -kernel $k -initrd $work/t.img"
interleaved "$here/results/exec.md" "$runs" \
  "initkit exec -- /bin/true" "$ik exec --kernel $k -- /bin/true" \
  "initkit exec --applets sh -- /bin/true" "$ik exec --applets sh --kernel $k -- /bin/true" \
  "initkit exec --busybox '' -- /bin/true" "$ik exec --busybox '' --kernel $k -- /bin/true" \
  ${BEFORE:+"initkit exec -- /bin/true (BEFORE)" "$BEFORE exec --kernel $k -- /bin/true"} \
  ${BEFORE:+"initkit exec --busybox '' -- /bin/true (BEFORE)" "$BEFORE exec --busybox '' --kernel $k -- /bin/true"} \
  "boot running busybox true, exec's command line (hand-written qemu)" "$hand -append 'console=ttyS0 panic=-1 no_timer_check quiet loglevel=1 cryptomgr.notests init_on_alloc=0'" \
  "boot running busybox true, plain (hand-written qemu)" "$hand -append 'console=ttyS0 panic=-1 no_timer_check quiet'"
