# Sourced by the bench scripts: paths, a results directory, a work
# directory removed (with any process still using it, QEMU included) on
# exit, initkit built by make, and the fetched kernel.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
top=$(dirname "$here")
mkdir -p "$here/results"
work=$(mktemp -d)
trap 'pkill -f "$work" 2>/dev/null || true; rm -rf "$work"' EXIT
make -C "$top" --no-print-directory build >/dev/null
ik=$top/bin/initkit
"$ik" kernel fetch >"$work/fetch"
k=$(awk '/^kernel:/ {print $2}' "$work/fetch")
mods=$(awk '/^modules:/ {print $2}' "$work/fetch")

# shuffle N: sets the array order to the numbers 0 to N-1 in a random
# order, seeded by BENCH_SEED (default 1) so that a run can be repeated.
# (Not a function printing them: in $(...) the generator's state would
# not advance, and every round would get the same order.)
RANDOM=${BENCH_SEED:-1}
shuffle() {
  local i j tmp
  order=()
  for ((i = 0; i < $1; i++)); do order+=("$i"); done
  for ((i = $1 - 1; i > 0; i--)); do
    j=$((RANDOM % (i + 1)))
    tmp=${order[i]} order[i]=${order[j]} order[j]=$tmp
  done
}

# interleaved OUT RUNS NAME CMD [NAME CMD ...]: runs the commands in turn,
# one round after another (plus a first round not counted), each round in
# a new random order (seeded by BENCH_SEED, default 1, so a run can be
# repeated), and writes a table of their wall-clock times to OUT.
# Why: TCG boots on this kind of machine drift by a quarter over minutes,
# so the commands must share the same minutes (hyperfine runs all of one
# command first); and back-to-back boots alternate slow and fast (about
# 250 ms apart: 2331 1900 2120 1817 2109 1759 ... for one command run 12
# times), so any fixed order, even one reversed every other round, can
# give one command every slow turn.
interleaved() {
  local out=$1 runs=$2 t r i s
  shift 2
  local -a names=() cmds=()
  while (($#)); do names+=("$1"); cmds+=("$2"); shift 2; done
  t=$(mktemp -p "$work")
  for ((r = 0; r <= runs; r++)); do
    shuffle "${#cmds[@]}"
    for i in "${order[@]}"; do
      s=$(date +%s%N)
      bash -c "${cmds[$i]}" >/dev/null 2>&1 || { echo "bench: failed: ${cmds[$i]}" >&2; return 1; }
      ((r == 0)) || echo "$i $((($(date +%s%N) - s) / 1000000))" >>"$t"
    done
  done
  {
    echo "| command | median s | mean s | range s | runs |"
    echo "|---|---:|---:|---|---:|"
    for i in "${!cmds[@]}"; do
      awk -v i="$i" '$1 == i {print $2}' "$t" | sort -n | awk -v n="${names[$i]}" '{a[NR] = $1; s += $1}
        END {printf "| %s | %.3f | %.3f | %.3f-%.3f | %d |\n", n,
          ((NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) / 1000, s / NR / 1000, a[1] / 1000, a[NR] / 1000, NR}'
    done
  } | tee "$out"
}

# median KEY COLUMN, range KEY COLUMN: over the lines of $work/times whose
# first field is KEY, the median and the lowest-highest of COLUMN.
median() { awk -v i="$1" -v c="$2" '$1 == i {print $c}' "$work/times" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
range() { awk -v i="$1" -v c="$2" '$1 == i {print $c}' "$work/times" | sort -n | sed -n '1p;$p' | paste -sd- ; }
