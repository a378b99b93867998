#!/usr/bin/env bash
# kdump (issue 19), two measures, each pair interleaved in one run:
#  1. from the first kernel's panic line on the console to the vmcore
#     complete on the host (QEMU exited), 1 GiB guest, TCG: the capture
#     kernel filtering with makedumpfile -d 31, and writing the ELF core
#     as it is (--no-makedumpfile);
#  2. reading that vmcore's log and decoded trace: initkit vmcore against
#     crash(8)'s own "log" on the same vmcore and vmlinux (goal: at least
#     10x faster, under 1 s).
# BEFORE=BIN adds the makedumpfile capture by another initkit (an older
# build) to the same rounds. Results go to bench/results/kdump-*.md.
source "$(dirname "$0")/common.sh"
runs=${RUNS:-5}
"$ik" kernel fetch --debug-info >"$work/fetch-dbg"
vmlinux=$(awk '/^vmlinux:/ {print $2}' "$work/fetch-dbg")
[ -n "$vmlinux" ] || { echo "bench/kdump.sh: no vmlinux from kernel fetch --debug-info" >&2; cat "$work/fetch-dbg" >&2; exit 1; }
printf '#!/bin/sh\necho c > /proc/sysrq-trigger\n' >"$work/crash.sh"
chmod 755 "$work/crash.sh"
"$ik" build -o "$work/crash.img" --busybox /bin/busybox --add "$work/crash.sh:/init.d/45-crash" --modules-dir "$mods" 2>/dev/null

# capture FLAGS...: milliseconds from the console's panic line (as the
# host reads it) to the end of the boot, and the vmcore's size in MB.
capture() {
  local start end line bin=$ik
  [ "${1:-}" = --before ] && { bin=$BEFORE; shift; }
  start=0
  while IFS= read -r line; do
    if ((start == 0)) && [[ $line == *"Kernel panic - not syncing"* ]]; then start=$(date +%s%N); fi
    printf '%s\n' "$line"
  done < <("$bin" boot --kernel "$k" --initrd "$work/crash.img" --mem 1G --kdump --timeout 300s "$@" 2>&1) >"$work/out"
  end=$(date +%s%N)
  core=$(sed -n 's/^initkit boot: vmcore: \(\S*\).*/\1/p' "$work/out")
  [ "$start" -gt 0 ] && [ -s "$core" ] || { echo "bench/kdump.sh: no panic or no vmcore:" >&2; tail -20 "$work/out" >&2; return 1; }
  echo "$(((end - start) / 1000000)) $(($(stat -c %s "$core") >> 20)) $core"
}
: >"$work/times"
kinds=2
[ -n "${BEFORE:-}" ] && kinds=3
for r in $(seq "$runs"); do
  shuffle $kinds
  for i in "${order[@]}"; do
    case $i in
    0) kind=filtered t=$(capture) || exit 1 ;;
    1) kind=elf t=$(capture --no-makedumpfile) || exit 1 ;;
    2) kind=before t=$(capture --before) || exit 1 ;;
    esac
    # Keep the newest dump of each kind only: the ELF ones are 1 GiB.
    awk -v k=$kind '$1 == k {print $4}' "$work/times" | xargs -r rm -f
    echo "$kind $t" >>"$work/times"
  done
done
{
  echo "| capture | panic line to vmcore on the host: median ms | range | vmcore MB | runs |"
  echo "|---|---:|---|---:|---:|"
  echo "| makedumpfile -F -c -d 31 over virtio-serial | $(median filtered 2) | $(range filtered 2) | $(median filtered 3) | $runs |"
  echo "| the ELF /proc/vmcore as it is (--no-makedumpfile) | $(median elf 2) | $(range elf 2) | $(median elf 3) | $runs |"
  [ -z "${BEFORE:-}" ] || echo "| makedumpfile -F -c -d 31 over virtio-serial (BEFORE) | $(median before 2) | $(range before 2) | $(median before 3) | $runs |"
} | tee "$here/results/kdump-capture.md"

filtered=$(awk '$1 == "filtered" {print $4}' "$work/times" | tail -1)
elf=$(awk '$1 == "elf" {print $4}' "$work/times" | tail -1)
"$ik" vmcore "$filtered" --vmlinux "$vmlinux" >/dev/null # the decode index, as any second read finds it
echo "== reading the log and the decoded trace"
interleaved "$here/results/kdump-read.md" "$runs" \
  "initkit vmcore (makedumpfile's dump): facts, log, decoded trace" "$ik vmcore $filtered --vmlinux $vmlinux" \
  "crash -s vmlinux vmcore, log (makedumpfile's dump)" "printf 'log\\nquit\\n' | crash -s $vmlinux $filtered" \
  "initkit vmcore (ELF dump)" "$ik vmcore $elf --vmlinux $vmlinux" \
  "crash -s vmlinux vmcore, log (ELF dump)" "printf 'log\\nquit\\n' | crash -s $vmlinux $elf"
