#!/usr/bin/env bash
# Debugging PID 1 (issue 6): initkit debug init against the manual recipe
# (a wrapper /init that starts gdbserver on ttyS1 and sleeps 1 s before
# exec'ing the real init; QEMU with ttyS1 on a unix socket; gdb with set
# sysroot, catch syscall execve, break main), in one run, alternately.
# Measured: from the command's start to gdb stopped at main (gdb runs
# `shell date` at the stop); a run where gdb never reaches main is a
# missed exec. The manual side's image and staging copy are made before
# its clock starts. Results go to bench/results/debug.md.
source "$(dirname "$0")/common.sh"
runs=${RUNS:-20}
export INITKIT_KERNEL=$k
cat >"$work/prog.c" <<'C'
#include <unistd.h>
#include <sys/reboot.h>
int main(void) { reboot(RB_POWER_OFF); for (;;) pause(); }
C
gcc -g -O0 -o "$work/prog" "$work/prog.c"
stamp=$work/stamp
printf 'shell date +%%s.%%N > %s\ndetach\n' "$stamp" >"$work/cmds.gdb"

# The manual recipe's image: busybox, gdbserver with its libraries, the
# program, and the wrapper /init.
cat >"$work/wrapper" <<'SH'
#!/bin/busybox sh
/bin/busybox mkdir -p /dev /proc
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox mount -t proc proc /proc
/usr/bin/gdbserver --attach /dev/ttyS1 $$ &
/bin/busybox sleep 1
exec /prog
SH
chmod 755 "$work/wrapper"
"$ik" build -o "$work/manual.img" --init none --compress none --busybox /bin/busybox \
  --add /usr/bin/gdbserver --add "$work/prog:/prog" --add "$work/wrapper:/init" 2>/dev/null
"$ik" extract "$work/manual.img" "$work/stage" 2>/dev/null

manual() {
  local sock=$work/ttyS1.sock log=$work/manual.log
  rm -f "$sock" "$stamp"
  : >"$log"
  qemu-system-x86_64 -machine q35 -accel tcg -m 1G -smp 1 -nodefaults -display none -no-reboot \
    -serial file:"$log" -chardev socket,id=dbg,path="$sock",server=on,wait=off -serial chardev:dbg \
    -kernel "$k" -initrd "$work/manual.img" -append "console=ttyS0 panic=-1 no_timer_check" &
  local q=$!
  until grep -q "Remote debugging using /dev/ttyS1" "$log"; do sleep 0.01; done
  gdb -q -nx -batch -ex "set pagination off" -ex "set sysroot $work/stage" -ex "set remotetimeout 30" \
    -ex "target remote $sock" -ex "catch syscall execve" -ex continue -ex continue -ex delete \
    -ex "break main" -ex continue -x "$work/cmds.gdb" >"$work/gdb.out" 2>&1 || true
  wait $q || true
}
ours() {
  "$ik" debug init --init "$work/prog" --batch "$work/cmds.gdb" >"$work/gdb.out" 2>&1 || true
}
# A new random order each round: back-to-back boots here alternate slow
# and fast (see interleaved in common.sh).
sides=(ours manual)
for i in $(seq "$runs"); do
  shuffle ${#sides[@]}
  for c in "${order[@]}"; do
    side=${sides[c]}
    rm -f "$stamp" "$work/gdb.out"
    start=$(date +%s.%N)
    $side
    # The stamp counts only when gdb really stopped at main: a failed
    # session still runs the batch file.
    if [ -s "$stamp" ] && grep -q "Breakpoint 2, main" "$work/gdb.out"; then
      echo "$side $(awk -v s="$start" '{printf "%.3f", $1 - s}' "$stamp")" >>"$work/times"
    else
      echo "$side missed" >>"$work/times"
    fi
  done
done
stats() {
  grep "^$1 " "$work/times" | awk '$2 != "missed" {print $2}' | sort -n |
    awk '{a[NR]=$1; s+=$1} END {printf "%.2f | %.2f | %.2f-%.2f", (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2, s/NR, a[1], a[NR]}'
}
missed() { grep -c "^$1 missed" "$work/times" || true; }
{
  echo "| to gdb stopped at main | median s | mean s | range s | missed execs |"
  echo "|---|---|---|---|---|"
  echo "| initkit debug init | $(stats ours) | $(missed ours) of $runs |"
  echo "| manual recipe (sleep 1) | $(stats manual) | $(missed manual) of $runs |"
} | tee "$here/results/debug.md"
