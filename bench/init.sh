#!/usr/bin/env bash
# Init overhead (issue 5): the initkit init against the generated busybox
# shell init and against a floor (bench/floor-init.c: the same system
# calls in static C, nothing else), all three doing the same work (load virtio_pci and virtio_blk, find an
# ext4 root by UUID, mount it, switch_root), booted alternately with the
# same kernel, disk and command line, with and without "quiet" (without
# it the initkit init prints its one-line summary on the serial console,
# and the kernel prints more there too).
#
# Times are the kernel's own clock, from "Run /init as init process" to
# two marks: the exec of the real init (this kernel's TOMOYO logs "Not
# activating Mandatory Access Control" when /sbin/init is exec'd: the
# issue's measure) and the real init's first line in /dev/kmsg. The real
# init prints the kernel's log buffer (dmesg) before powering off, so the
# marks are read even when quiet keeps them off the console. TCG boots
# vary by a quarter from one run to the next, so the inits take turns and
# medians are compared. Results go to bench/results/init.md.
source "$(dirname "$0")/common.sh"
runs=${RUNS:-20}
mkdir -p "$work/root/"{bin,sbin,dev,proc,sys,run}
cp /bin/busybox "$work/root/bin/"
printf '#!/bin/busybox sh\necho REAL-INIT >/dev/kmsg\n/bin/busybox dmesg\n/bin/busybox poweroff -f\n' >"$work/root/sbin/init"
chmod 755 "$work/root/sbin/init"
uuid=5b0f9c9e-8a9c-4f5e-9d1e-0123456789ab
mke2fs -q -t ext4 -d "$work/root" -U $uuid "$work/disk.img" 32M
common=(--module virtio_pci --module virtio_blk --modules-dir "$mods")
"$ik" build -o "$work/go.img" "${common[@]}" 2>/dev/null
"$ik" build -o "$work/sh.img" --init shell --busybox /bin/busybox "${common[@]}" 2>/dev/null
gcc -static -O2 -o "$work/floor" "$here/floor-init.c"
"$ik" build -o "$work/c.img" --init "$work/floor" "${common[@]}" 2>/dev/null

# overhead IMG APPEND: milliseconds from "Run /init" to the real init's
# exec and to its first line, in one boot.
overhead() {
  "$ik" boot --accel tcg --kernel "$k" --initrd "$1" --disk "$work/disk.img" \
    --append "root=UUID=$uuid rootfstype=ext4 $2" --log "$work/log" >/dev/null 2>&1
  awk -F'[][]' '/Run \/init as init process/ {s=$2} /Not activating Mandatory Access Control/ {x=$2}
    /REAL-INIT/ {e=$2} END {if (!x || !e) exit 1; printf "%.1f %.1f\n", (x-s)*1000, (e-s)*1000}' "$work/log"
}
# Each round boots the six (init, mode) pairs in a new random order:
# back-to-back boots here alternate slow and fast (see interleaved in
# common.sh), and a fixed order gave one init every slow turn.
combos=(go-plain sh-plain c-plain go-quiet sh-quiet c-quiet)
for i in $(seq "$runs"); do
  shuffle ${#combos[@]}
  for c in "${order[@]}"; do
    init=${combos[c]%-*} mode=${combos[c]#*-}
    t=$(overhead "$work/$init.img" "$([ $mode = quiet ] && echo quiet)") ||
      { echo "bench/init.sh: no marks in the $init boot's log:" >&2; tail -20 "$work/log" >&2; exit 1; }
    echo "$init-$mode $t" >>"$work/times"
  done
done
row() { echo "| $1 | $2 | $(median "$3" 2) | $(range "$3" 2) | $(median "$3" 3) | $(range "$3" 3) | $runs |"; }
{
  echo "| init | command line | to the real init's exec: median ms | range | to its first line: median ms | range | runs |"
  echo "|---|---|---|---|---|---|---|"
  for mode in plain quiet; do
    row "initkit init ($(stat -c %s "$top/bin/initkit-init") bytes)" "$mode" go-$mode
    row "busybox shell init (init = \"shell\")" "$mode" sh-$mode
    row "floor: the same system calls in static C (bench/floor-init.c)" "$mode" c-$mode
  done
  echo
  for mode in plain quiet; do
    echo "ratio shell/initkit to the exec, $mode: $(awk -v a="$(median sh-$mode 2)" -v b="$(median go-$mode 2)" 'BEGIN {printf "%.2f", a/b}')"
    echo "initkit init above the floor, $mode: $(awk -v a="$(median go-$mode 2)" -v b="$(median c-$mode 2)" 'BEGIN {printf "%.1f ms", a-b}')"
  done
} | tee "$here/results/init.md"
