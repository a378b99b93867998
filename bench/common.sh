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
