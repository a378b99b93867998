#!/usr/bin/env bash
# What a program's start costs under TCG (issue 5): a static Go program
# and a static C program, each alone as /init, that mount devtmpfs, write
# a mark to /dev/kmsg and power off, booted in turn (RUNS rounds, default
# 10). Times are the kernel's clock from "Run /init as init process" to
# the mark: the floor under any init's own work, and the part of it the
# Go runtime adds. Results go to bench/results/start.md.
source "$(dirname "$0")/common.sh"
runs=${RUNS:-10}
mkdir -p "$work/go" "$work/c/dev" "$work/gosrc"
cat >"$work/gosrc/main.go" <<'EOF'
package main

import "syscall"

func main() {
	syscall.Mount("devtmpfs", "/dev", "devtmpfs", 0, "")
	fd, _ := syscall.Open("/dev/kmsg", syscall.O_WRONLY, 0)
	syscall.Write(fd, []byte("PROGRAM-MAIN\n"))
	syscall.Reboot(syscall.LINUX_REBOOT_CMD_POWER_OFF)
}
EOF
printf 'module start\ngo 1.21\n' >"$work/gosrc/go.mod"
(cd "$work/gosrc" && CGO_ENABLED=0 "$(cd "$top" && scripts/ensure-go.sh)" build -trimpath -ldflags='-s -w' -o "$work/go/init" .)
cat >"$work/c.c" <<'EOF'
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <unistd.h>
int main(void)
{
	mount("devtmpfs", "/dev", "devtmpfs", 0, "");
	int fd = open("/dev/kmsg", O_WRONLY);
	write(fd, "PROGRAM-MAIN\n", 13);
	reboot(RB_POWER_OFF);
	return 0;
}
EOF
gcc -static -O2 -o "$work/c/init" "$work/c.c"
mkdir -p "$work/go/dev"
for p in go c; do "$ik" pack -c none "$work/$p" -o "$work/$p.img" 2>/dev/null; done

# start IMG: milliseconds from "Run /init" to the program's mark.
start() {
  "$ik" boot --accel tcg --kernel "$k" --initrd "$1" --append printk.devkmsg=on --timeout 60s --log "$work/log" >/dev/null 2>&1
  awk -F'[][]' '/Run \/init as init process/ {s=$2} /PROGRAM-MAIN/ {e=$2} END {if (!s || !e) exit 1; printf "%.1f\n", (e-s)*1000}' "$work/log"
}
progs=(go c)
for i in $(seq "$runs"); do
  shuffle ${#progs[@]}
  for j in "${order[@]}"; do
    p=${progs[j]}
    t=$(start "$work/$p.img") || { echo "bench/start.sh: no mark in the $p boot's log" >&2; tail -20 "$work/log" >&2; exit 1; }
    echo "$p $t" >>"$work/times"
  done
done
{
  echo "| program (static, alone as /init) | size | to its main: median ms | range | runs |"
  echo "|---|---:|---:|---|---:|"
  for p in go c; do
    echo "| $p | $(stat -c %s "$work/$p/init") | $(median $p 2) | $(range $p 2) | $runs |"
  done
} | tee "$here/results/start.md"
