#!/usr/bin/env bash
# The bisect rules over simulated histories (bisect's TestSimulation): 400
# random histories of 100 commits at each crash rate, each with an
# unrelated crash in a good commit, bisected by initkit's rule, by
# syzkaller's fixed rule (10 runs a commit, bad at max(2, runs/6) crashes)
# and by plain git bisect run (one run a commit): how often each names the
# right commit, and the runs and builds it spends. Twice: with builds
# nearly free (the runs are what count), and with a build costing two
# batches of two runs (closer to a kernel: minutes against seconds).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
mkdir -p "$here/results"
cd "$top"
out=$here/results/bisect-sim.md
: > "$out"
BISECT_SIM_TABLE=$out.1 go test -count=1 -run '^TestSimulation$' ./bisect >/dev/null
BISECT_SIM_TABLE=$out.2 BISECT_SIM_RUNS=2 BISECT_SIM_BUILD_COST=2 go test -count=1 -run '^TestSimulation$' ./bisect >/dev/null
cat "$out.1" > "$out"; echo >> "$out"; cat "$out.2" >> "$out"; rm -f "$out.1" "$out.2"
cat "$out"
