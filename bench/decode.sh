#!/usr/bin/env bash
# Decoding crash logs (issue 7): initkit decode against llvm-symbolizer,
# eu-addr2line, addr2line -i and gdb on the same frames of logs captured
# here from the Debian cloud kernel (a sysrq panic and an init that
# exits), in one run. The reference tools get every address in one
# process (one process per frame costs 40x more, measured); initkit
# decode gets the whole log. Wall time and max RSS from GNU time, median
# of RUNS. Results go to bench/results/decode.md.
source "$(dirname "$0")/common.sh"
runs=${RUNS:-10}
"$ik" kernel fetch --debug-info >"$work/fetch"
v=$(awk '/^vmlinux:/ {print $2}' "$work/fetch")
[ -n "$v" ] || v=$(ls "$(dirname "$(dirname "$k")")"/usr/lib/debug/boot/vmlinux-*)

# Capture the logs.
mkdir -p "$work/root/bin" "$work/root/proc" "$work/root/dev"
cp /bin/busybox "$work/root/bin/"
for case in sysrq exit; do
  if [ $case = sysrq ]; then body='/bin/busybox mount -t proc proc /proc; echo c > /proc/sysrq-trigger'; else body='exit 3'; fi
  printf '#!/bin/busybox sh\n%s\n' "$body" >"$work/root/init"
  chmod 755 "$work/root/init"
  "$ik" pack -c none "$work/root" -o "$work/$case.img" 2>/dev/null
  "$ik" boot --kernel "$k" --initrd "$work/$case.img" --timeout 120s --log "$work/$case.log" >/dev/null 2>&1 || true
done
cat "$work/sysrq.log" "$work/exit.log" >"$work/crash.log"

# The frames' addresses for the reference tools: nm's address + offset,
# minus one for return addresses (every frame but a RIP).
nm -n "$v" >"$work/nm"
awk '/Call Trace:/ {t=1} /<\/TASK>|Kernel Offset/ {t=0} t || /RIP: 0010:/' "$work/crash.log" |
  grep -oE '(RIP: [0-9a-f]{4}:)?[A-Za-z0-9_.]+\+0x[0-9a-f]+/0x[0-9a-f]+' | while read -r f; do
  rip=0
  case "$f" in RIP:*) rip=1; f=${f#RIP: *:} ;; esac
  name=${f%%+*}; off=${f#*+}; off=${off%%/*}
  a=$(awk -v n="$name" '$3 == n {print $1; exit}' "$work/nm")
  [ -n "$a" ] || continue
  printf '0x%x\n' $(( 0x$a + off - (1 - rip) ))
done >"$work/addrs"
frames=$(wc -l <"$work/addrs")
sed 's/^/info line *(/; s/$/)/' "$work/addrs" >"$work/gdb.cmds"

measure() { # NAME COMMAND...: median wall (ns clock) and max RSS of RUNS runs
  local name=$1; shift
  "$@" >/dev/null 2>&1 || true # warm the page cache
  for i in $(seq "$runs"); do
    s=$(date +%s%N)
    /usr/bin/time -f "%M" -o "$work/t" "$@" >/dev/null 2>&1 || true
    e=$(date +%s%N)
    echo "$(( (e - s) / 1000 )) $(cat "$work/t")"
  done | sort -n | awk -v n="$name" '{w[NR]=$1; r[NR]=$2} END {m=int((NR+1)/2); printf "| %s | %.3f | %d |\n", n, w[m]/1e6, r[m]/1024}'
}
export INITKIT_CACHE=$work/cache
"$ik" decode --vmlinux "$v" "$work/crash.log" >/dev/null # builds the index
{
  echo "$frames frames of $(grep -c 'Kernel panic - not syncing' "$work/crash.log") captured reports; vmlinux $(du -m "$v" | cut -f1) MB"
  echo
  echo "| tool | wall s (median of $runs) | max RSS MB |"
  echo "|---|---|---|"
  measure "initkit decode (first decode: --no-index)" "$ik" decode --no-index --vmlinux "$v" "$work/crash.log"
  measure "initkit decode (repeat, with the index)" "$ik" decode --vmlinux "$v" "$work/crash.log"
  measure "llvm-symbolizer --inlining" sh -c "llvm-symbolizer --obj=$v --inlining <$work/addrs"
  measure "eu-addr2line -f -i" sh -c "eu-addr2line -f -i -e $v \$(cat $work/addrs)"
  measure "addr2line -f -i" sh -c "addr2line -f -i -e $v <$work/addrs"
  measure "gdb info line" gdb -q -nx -batch -x "$work/gdb.cmds" "$v"
} | tee "$here/results/decode.md"
