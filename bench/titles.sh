#!/usr/bin/env bash
# Crash identity at scale: initkit decode --title over a 100 MB console
# log holding 1,000 reports (the real reports of oops/testdata, between
# boot noise), against grep -c of the same log, the floor: reading it
# once. Memory is measured too: titles stream, a report at a time.
# Needs hyperfine and GNU time.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/initkit" "$top/cmd/initkit"

# 1,000 reports, cycling through the test logs, with boot noise between
# them to make 100 MB.
reports=("$top"/oops/testdata/*.log "$top"/oops/testdata/docs/*.log "$top"/oops/testdata/real/*.log)
noise=$(for i in $(seq 1 1150); do printf '[ %6d.%06d] virtio_net virtio0 eth0: link up, some ordinary driver message number %d\n' "$i" "$i" "$i"; done)
{
  for i in $(seq 0 999); do
    printf '%s\n' "$noise"
    cat "${reports[$((i % ${#reports[@]}))]}"
  done
} > "$work/console.log"
size=$(stat -c %s "$work/console.log")
echo "log: $((size >> 20)) MB, $(wc -l < "$work/console.log") lines"
"$work/initkit" decode --title "$work/console.log" | wc -l | sed 's/^/titles: /'
# What the log should hold: the titles of each file, once per time it
# was put in (some hold none, some three).
for i in $(seq 0 999); do "$work/initkit" decode --title "${reports[$((i % ${#reports[@]}))]}"; done | wc -l | sed 's/^/titles of the reports put in: /'

# --output=pipe: GNU grep stops at the first match when its output is
# /dev/null (hyperfine's default), which would time nothing.
hyperfine --style basic --warmup 1 --runs "${RUNS:-5}" --output=pipe \
  -n "initkit decode --title" "$work/initkit decode --title $work/console.log" \
  -n "grep -c (the floor)" "grep -c -E 'BUG|WARNING|Kernel panic' $work/console.log"
/usr/bin/time -f 'initkit decode --title: max RSS %M KB' "$work/initkit" decode --title "$work/console.log" >/dev/null
/usr/bin/time -f 'grep -c: max RSS %M KB' grep -c -E 'BUG|WARNING|Kernel panic' "$work/console.log" >/dev/null
