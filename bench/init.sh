#!/usr/bin/env bash
# Init overhead (issue 5): the initkit init against the generated busybox
# shell init doing the same work (load virtio_pci and virtio_blk, find an
# ext4 root by UUID, mount it, switch_root), booted alternately with the
# same kernel, disk and command line. The time is the kernel's own clock:
# from "Run /init as init process" to the real init's first line in
# /dev/kmsg. Results go to bench/results/init.md.
source "$(dirname "$0")/common.sh"
runs=${RUNS:-10}
mkdir -p "$work/root/"{bin,sbin,dev,proc,sys,run}
cp /bin/busybox "$work/root/bin/"
printf '#!/bin/busybox sh\necho REAL-INIT >/dev/kmsg\n/bin/busybox poweroff -f\n' >"$work/root/sbin/init"
chmod 755 "$work/root/sbin/init"
uuid=5b0f9c9e-8a9c-4f5e-9d1e-0123456789ab
mke2fs -q -t ext4 -d "$work/root" -U $uuid "$work/disk.img" 32M
common=(--module virtio_pci --module virtio_blk --modules-dir "$mods")
"$ik" build -o "$work/go.img" "${common[@]}" 2>/dev/null
"$ik" build -o "$work/sh.img" --init shell --busybox /bin/busybox "${common[@]}" 2>/dev/null

# overhead IMG: milliseconds from "Run /init" to REAL-INIT in one boot.
overhead() {
  "$ik" boot --accel tcg --kernel "$k" --initrd "$1" --disk "$work/disk.img" \
    --append "root=UUID=$uuid rootfstype=ext4" --log "$work/log" >/dev/null 2>&1
  awk -F'[][]' '/Run \/init as init process/ {s=$2} /REAL-INIT/ {e=$2} END {printf "%.1f\n", (e-s)*1000}' "$work/log"
}
for i in $(seq "$runs"); do
  echo "go $(overhead "$work/go.img")" >>"$work/times"
  echo "sh $(overhead "$work/sh.img")" >>"$work/times"
done
median() { grep "^$1 " "$work/times" | awk '{print $2}' | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
range() { grep "^$1 " "$work/times" | awk '{print $2}' | sort -n | sed -n '1p;$p' | paste -sd- ; }
go=$(median go) sh=$(median sh)
{
  echo "| init | median ms, Run /init to real init | range ms | runs |"
  echo "|---|---|---|---|"
  echo "| initkit init (initkit-init, $(stat -c %s "$top/bin/initkit-init") bytes) | $go | $(range go) | $runs |"
  echo "| busybox shell init (init = \"shell\") | $sh | $(range sh) | $runs |"
  echo
  echo "ratio shell/initkit: $(awk -v a="$sh" -v b="$go" 'BEGIN {printf "%.2f", a/b}')"
} | tee "$here/results/init.md"
