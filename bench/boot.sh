#!/usr/bin/env bash
# Boot overhead (issue 4): initkit boot against the equivalent hand-written
# qemu-system-x86_64 command, booting the same busybox image to power-off,
# side by side. Results go to bench/results/boot.md.
# exec needs initkit-init beside initkit: common.sh builds both.
source "$(dirname "$0")/common.sh"
mkdir -p "$work/root/bin"
cp /bin/busybox "$work/root/bin/"
printf '#!/bin/busybox sh\n/bin/busybox echo boot-marker\n/bin/busybox poweroff -f\n' > "$work/root/init"
chmod 755 "$work/root/init"
"$ik" pack -c gzip "$work/root" -o "$work/i.img" 2>/dev/null
hyperfine --style basic --warmup 1 --runs "${RUNS:-10}" --export-markdown "$here/results/boot.md" \
  -n "initkit boot" "$ik boot --accel tcg --kernel $k --initrd $work/i.img --append quiet --log $work/log >/dev/null" \
  -n "qemu-system-x86_64 (hand-written)" "qemu-system-x86_64 -machine q35 -accel tcg -m 1G -smp 1 -nodefaults -display none -serial stdio -no-reboot -kernel $k -initrd $work/i.img -append 'console=ttyS0 panic=-1 quiet' >/dev/null"

# initkit exec round trip against a boot of the same kernel to a marker:
# what exec adds is building the segment, the extra serial ports and the
# status channel.
printf '#!/bin/busybox sh\n/bin/busybox true\n/bin/busybox poweroff -f\n' > "$work/root/init"
"$ik" pack -c gzip "$work/root" -o "$work/t.img" 2>/dev/null
hyperfine --style basic --warmup 1 --runs "${RUNS:-10}" --export-markdown "$here/results/exec.md" \
  -n "initkit exec -- /bin/true" "$ik exec --kernel $k -- /bin/true" \
  -n "initkit exec --busybox '' -- /bin/true" "$ik exec --busybox '' --kernel $k -- /bin/true" \
  -n "boot running /bin/true as init's child (hand-written qemu)" "qemu-system-x86_64 -machine q35 -accel tcg -m 1G -smp 1 -nodefaults -display none -serial stdio -no-reboot -kernel $k -initrd $work/t.img -append 'console=ttyS0 panic=-1 quiet' >/dev/null"
