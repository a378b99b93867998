#!/usr/bin/env bash
# initkit repro against the same runs done by hand: N runs of a
# reproducer (a static C program that exits at once) on the test kernel
# (internal/testenv's All), with initkit repro -j P, and as N sequential
# hand-written QEMU boots of an initramfs that runs it and powers off.
# Goal: initkit's wall time is about ceil(N/P) hand-written runs plus at
# most 1 s; and per run, initkit's overhead over one hand-written boot.
#   N=8 P=2 bench/repro.sh
source "$(dirname "$0")/common.sh"
N=${N:-8} P=${P:-$(nproc)}
kernel=${KERNEL:-$(cd "$top" && go run ./internal/testenv/testkernels 2>/dev/null | awk '$1 == "x86_64-all" {print $2}')}
gcc -static -O1 -o "$work/clean" "$top/vmtest/testdata/repro/clean.c"
cat > "$work/init.sh" <<'INIT'
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/clean
/bin/busybox poweroff -f
INIT
chmod +x "$work/init.sh"
"$ik" build --busybox /bin/busybox --applets sh,mount,poweroff --init "$work/init.sh" --add "$work/clean:/clean" -o "$work/raw.img" --kernel "$kernel" >/dev/null
img=$(ls "$kernel"/arch/x86/boot/bzImage)
raw="qemu-system-x86_64 -machine q35 -accel tcg -m 1G -smp 1 -nodefaults -display none -serial stdio -no-reboot -kernel $img -initrd $work/raw.img -append 'console=ttyS0 quiet loglevel=1 panic=-1 no_timer_check cryptomgr.notests init_on_alloc=0' </dev/null"
one=$(date +%s%N); bash -c "$raw" >/dev/null; one=$((($(date +%s%N) - one) / 1000000))

s=$(date +%s%N)
for ((i = 0; i < N; i++)); do bash -c "$raw" >/dev/null; done
seq_ms=$((($(date +%s%N) - s) / 1000000))
s=$(date +%s%N)
"$ik" repro --kernel "$kernel" --repro "$top/vmtest/testdata/repro/clean.c" --runs "$N" -j "$P" --hang 60s 2>"$work/repro.err" || { cat "$work/repro.err"; exit 1; }
ik_ms=$((($(date +%s%N) - s) / 1000000))
s=$(date +%s%N)
"$ik" repro --kernel "$kernel" --repro "$top/vmtest/testdata/repro/clean.c" --runs "$N" -j 1 --hang 60s 2>/dev/null
ik1_ms=$((($(date +%s%N) - s) / 1000000))
per_raw=$((seq_ms / N))
rounds=$(((N + P - 1) / P))
cat <<TABLE | tee "$here/results/repro.md"
| $N runs of a reproducer that exits at once, TCG, $(nproc) cores | wall s |
|---|---:|
| hand-written qemu, one after another | $(awk -v m=$seq_ms 'BEGIN {printf "%.1f", m/1000}') |
| initkit repro -j 1 | $(awk -v m=$ik1_ms 'BEGIN {printf "%.1f", m/1000}') |
| initkit repro -j $P | $(awk -v m=$ik_ms 'BEGIN {printf "%.1f", m/1000}') |
| goal: ceil($N/$P) = $rounds hand-written runs + 1 s | $(awk -v m=$((rounds * per_raw + 1000)) 'BEGIN {printf "%.1f", m/1000}') |

Per run: a hand-written boot takes $(awk -v m=$per_raw 'BEGIN {printf "%.2f", m/1000}') s; initkit repro -j 1 $(awk -v m=$((ik1_ms / N)) 'BEGIN {printf "%.2f", m/1000}') s: $(awk -v d=$((ik1_ms / N - per_raw)) 'BEGIN {if (d >= 0) printf "%d ms more", d; else printf "%d ms less", -d}') (initkit's overhead: the image built per run, the run directory, the heartbeat shell).
TABLE
