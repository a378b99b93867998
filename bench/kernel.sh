#!/usr/bin/env bash
# Your own kernel (issue 16), on linux-source-6.1 (make test unpacks it
# into the cache; this script does too when it is not there):
# 1. kernel config: initkit kernel config --base tinyconfig --for boot
#    against the two makes it runs (tinyconfig, then olddefconfig after
#    its merge), by hand.
# 2. The loop: an edit of init/main.c, then the rebuild and a boot of a
#    busybox image to power-off, as initkit kernel build + initkit boot
#    against make -j bzImage + the raw qemu-system-x86_64 command.
# Both sides work on one tree and one build directory, taken in turn
# (interleaved), each round with a fresh edit. Results go to
# bench/results/kernel-config.md and bench/results/kernel-loop.md.
source "$(dirname "$0")/common.sh"
runs=${RUNS:-5}
cache=${INITKIT_CACHE:-$HOME/.cache/initkit}
src=$(ls -d "$cache"/src/linux-source-6.1-* 2>/dev/null | grep -v '\.' | head -1 || true)
if [ -z "$src" ]; then
  src=$work/linux-source-6.1
  mkdir -p "$src" && tar -xf /usr/src/linux-source-6.1.tar.xz -C "$src" --strip-components=1
fi
# The edits go to a copy: the cached tree stays as it is.
cp -a "$src" "$work/src"
src=$work/src
obj=$work/obj

interleaved "$here/results/kernel-config.md" "$runs" \
  "initkit kernel config --base tinyconfig --for boot" "$ik kernel config $src -O $work/cfg1 --for boot" \
  "make tinyconfig + make olddefconfig (by hand)" "make -C $src O=$work/cfg2 tinyconfig && make -C $src O=$work/cfg2 olddefconfig"

"$ik" kernel config "$src" -O "$obj" --for boot >/dev/null 2>&1
"$ik" kernel build "$src" -O "$obj" >/dev/null 2>&1
mkdir -p "$work/root/bin"
cp /bin/busybox "$work/root/bin/"
printf '#!/bin/busybox sh\n/bin/busybox echo loop-marker\n/bin/busybox poweroff -f\n' >"$work/root/init"
chmod 755 "$work/root/init"
"$ik" pack -c gzip "$work/root" -o "$work/i.img" 2>/dev/null
edit="echo '/* edit '\$RANDOM\$RANDOM' */' >> $src/init/main.c"
interleaved "$here/results/kernel-loop.md" "$runs" \
  "edit; initkit kernel build; initkit boot" "$edit && $ik kernel build $src -O $obj && $ik boot --accel tcg --kernel $obj --initrd $work/i.img --log $work/log" \
  "edit; make -j bzImage; qemu-system-x86_64 (by hand)" "$edit && make -C $src O=$obj -j$(nproc) bzImage && qemu-system-x86_64 -machine q35 -accel tcg -m 1G -smp 1 -nodefaults -display none -serial stdio -no-reboot -kernel $obj/arch/x86/boot/bzImage -initrd $work/i.img -append 'console=ttyS0 panic=-1 no_timer_check'"
