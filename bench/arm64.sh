#!/usr/bin/env bash
# An arm64 guest on this amd64 host (TCG): Debian's arm64 cloud kernel
# (initkit kernel fetch --arch arm64) booting an image of Debian's arm64
# busybox-static to power-off, taken in turn (RUNS rounds, default 5).
# The peer is the hand-written command of a tutorial or script, -cpu max;
# initkit boot runs -cpu max,pauth-impdef=on (qemu.armCPU), and the row
# with the same hand-written command and that CPU shows what the choice
# of CPU is worth alone; initkit exec of a static arm64 program that exits
# at once is the round trip GOARCH=arm64 go test -exec pays for each
# package. Results go to bench/results/arm64.md.
source "$(dirname "$0")/common.sh"
"$ik" kernel fetch --arch arm64 >"$work/fetch64"
k64=$(awk '/^kernel:/ {print $2}' "$work/fetch64")
# The shell init's note names the arm64 busybox initkit fetched.
printf '[image]\ninit = "shell"\nbusybox = "/bin/busybox"\noutput = "%s"\n' "$work/s.img" >"$work/initkit.toml"
"$ik" build --kernel "$k64" -c "$work/initkit.toml" 2>&1 | grep -o "[^ ]*/bin/busybox$" >"$work/bb"
mkdir -p "$work/root/bin"
cp "$(cat "$work/bb")" "$work/root/bin/busybox"
printf '#!/bin/busybox sh\n/bin/busybox echo boot-marker\n/bin/busybox poweroff -f\n' >"$work/root/init"
chmod 755 "$work/root/init"
"$ik" pack -c gzip "$work/root" -o "$work/i.img" 2>/dev/null
# A static arm64 program that exits at once, for initkit exec's row: its
# round trip (image, boot, virtio consoles, status) on the same kernel.
printf 'package main\n\nfunc main() {}\n' >"$work/true.go"
(cd "$work" && GOARCH=arm64 CGO_ENABLED=0 go build -o true64 true.go)
hand="qemu-system-aarch64 -machine virt -accel tcg -m 1G -smp 1 -nodefaults -display none -serial stdio -no-reboot -kernel $k64 -initrd $work/i.img -append 'console=ttyAMA0 panic=-1 quiet'"
interleaved "$here/results/arm64.md" "${RUNS:-5}" \
  "initkit boot (the arm64 kernel)" "$ik boot --kernel $k64 --initrd $work/i.img --append quiet --log $work/log" \
  "qemu-system-aarch64 -cpu max (hand-written)" "$hand -cpu max" \
  "qemu-system-aarch64 -cpu max,pauth-impdef=on (hand-written)" "$hand -cpu max,pauth-impdef=on" \
  "initkit exec -- a static arm64 program" "cd $work && $ik exec --kernel $k64 --workdir-limit 0 -- ./true64"
cat "$here/results/arm64.md"
