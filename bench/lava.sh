#!/usr/bin/env bash
# initkit repro on a LAVA farm against the same runs on this machine: N
# runs of a reproducer that exits at once (vmtest/testdata/repro/clean.c)
# on the test kernel (internal/testenv's All), as N jobs at once on the
# tests' local LAVA instance (lavaup: one worker, two QEMU devices, TCG),
# and with initkit repro -j 2 here. Per run: LAVA's submit-to-start
# (queue), start-to-end (the device's time: download, boot, LAVA's test
# shell), and what initkit saw (submit to result), beside a local run.
# As root (the LAVA daemons): sudo N=8 bench/lava.sh
source "$(dirname "$0")/common.sh"
N=${N:-8}
kernel=${KERNEL:-$(cd "$top" && go run ./internal/testenv/testkernels 2>/dev/null | awk '$1 == "x86_64-all" {print $2}')}
coproc LAVAUP { cd "$top" && exec go run ./internal/testenv/lavaup; }
while read -r line <&"${LAVAUP[0]}"; do
  [[ $line == ready ]] && break
  export "${line?}"
done
[[ -n ${LAVA_URL:-} ]] || { echo "lavaup failed" >&2; exit 1; }
first=$(curl -fsS -H "Authorization: Token $LAVA_TOKEN" "${LAVA_URL}api/v0.2/jobs/?ordering=-id&limit=1" | jq '.results[0].id // 0')

run() { # run NAME ARGS...: initkit repro's summary in $work/NAME.json, its wall ms in $work/NAME.ms
  local name=$1 s
  shift
  s=$(date +%s%N)
  (cd "$work" && "$ik" repro --kernel "$kernel" --repro "$top/vmtest/testdata/repro/clean.c" --runs "$N" --hang 60s --json "$@") \
    >"$work/$name.json" 2>"$work/$name.err" || { cat "$work/$name.err"; exit 1; }
  echo $((($(date +%s%N) - s) / 1000000)) >"$work/$name.ms"
}
run lava -j "$N" --lava "$LAVA_URL" --lava-artifacts "$LAVA_ARTIFACTS=file://$LAVA_ARTIFACTS" --queue-timeout 30m
run local -j 2
exec {LAVAUP[1]}>&-

jobs=$(curl -fsS -H "Authorization: Token $LAVA_TOKEN" "${LAVA_URL}api/v0.2/jobs/?ordering=id&id__gt=$first&limit=100")
secs() { jq -r "[.results[] | ($1)] | add / length" <<<"$jobs"; }
t() { echo "(.$1 | sub(\"\\\\.[0-9]+\"; \"\") | fromdateiso8601)"; }
queue=$(secs "$(t start_time) - $(t submit_time)")
device=$(secs "$(t end_time) - $(t start_time)")
seen=$(jq '[.results[].duration_ns] | add / length / 1e9' "$work/lava.json")
here_run=$(jq '[.results[].duration_ns] | add / length / 1e9' "$work/local.json")
jobs_n=$(jq '.results | length' <<<"$jobs")
clean=$(jq '.counts.clean' "$work/lava.json")
cat <<TABLE | tee "$here/results/lava.md"
| $N runs of a reproducer that exits at once, test kernel, TCG, $(nproc) cores | wall s | per run s |
|---|---:|---:|
| initkit repro -j 2, here | $(awk -v m="$(cat "$work/local.ms")" 'BEGIN {printf "%.1f", m/1000}') | $(printf %.1f "$here_run") |
| initkit repro --lava -j $N, 2 LAVA devices: submit to result | $(awk -v m="$(cat "$work/lava.ms")" 'BEGIN {printf "%.1f", m/1000}') | $(printf %.1f "$seen") |
| of which LAVA's queue (submit to start) | | $(printf %.1f "$queue") |
| of which the device's time (start to end) | | $(printf %.1f "$device") |

$jobs_n jobs, $clean runs clean. Command: sudo N=$N bench/lava.sh
TABLE
