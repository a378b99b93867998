#!/usr/bin/env bash
# Disassembling a crash report's Code: line: the kernel's own
# scripts/decodecode (from linux-source-6.1: it writes the bytes as .byte
# directives, assembles them with as and disassembles them with objdump,
# twice: all the code, then from the trapping instruction) against
# initkit's decode.Disassemble, on the kernel Code: line of every report
# of the real logs in oops/testdata/real, in one run. decodecode reads one
# report a process; initkit's figure is its Go benchmark over the same
# lines. Results go to bench/results/decodecode.md.
source "$(dirname "$0")/common.sh"
src=/usr/src/linux-source-6.1.tar.xz
[ -f "$src" ] || scripts/deps.sh linux-source-6.1
tar -xf "$src" -C "$work" --wildcards '*/scripts/decodecode'
dc=$(find "$work" -name decodecode)
# One file a report: its kernel Code: line that marks the trapping byte
# (not a program's, after RIP: 0033), as decode takes them.
for log in "$top"/oops/testdata/real/*.log; do
  awk -v out="$work/report-$(basename "$log")" '
    /RIP: 0033:|RIP: 0023:/ {user = 1} /RIP: 0010:|pc : / {user = 0}
    /Code: .*[<(]/ && !user && !/Unable to access/ {print > (out "-" NR)}' "$log"
done
n=$(ls "$work"/report-* | wc -l)
s=$(date +%s%N)
for r in "$work"/report-*; do bash "$dc" <"$r" >/dev/null 2>&1 || true; done
e=$(date +%s%N)
peer=$(( (e - s) / 1000000 ))
ours=$(cd "$top" && go test -run '^$' -bench '^BenchmarkDisassemble$' -benchtime 2s ./decode | awk '/^BenchmarkDisassemble/ {print $3, $5}')
read -r ns lines <<<"$ours"
{
  echo "| tool | Code: lines | total | per line |"
  echo "|---|---:|---:|---:|"
  echo "| scripts/decodecode (as, objdump), one process a report | $n | $peer ms | $(awk -v t="$peer" -v n="$n" 'BEGIN {printf "%.1f ms", t / n}') |"
  echo "| initkit decode.Disassemble (go test -bench) | ${lines%.*} | $(awk -v ns="$ns" 'BEGIN {printf "%.2f ms", ns / 1e6}') | $(awk -v ns="$ns" -v l="$lines" 'BEGIN {printf "%.3f ms", ns / l / 1e6}') |"
} | tee "$here/results/decodecode.md"
