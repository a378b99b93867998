#!/bin/sh
# /init written by initkit build (init = "shell"). PID 1 must never exit:
# every failure ends in a rescue shell, restarted whenever it exits.
# The names it shares with initkit (initkit.load, the module load list
# written beside modules.dep) are those of Go package guest (LoadList).
export PATH=/sbin:/bin:/usr/sbin:/usr/bin

rescue() {
	echo "initkit: $*" >&2
	echo "initkit: block devices: $(ls /sys/class/block 2>/dev/null | tr '\n' ' ')" >&2
	echo "initkit: starting a rescue shell" >&2
	while :; do
		sh
		echo "initkit: the rescue shell exited; starting another" >&2
	done
}

mount -t devtmpfs devtmpfs /dev 2>/dev/null || mount -t tmpfs -o mode=0755 tmpfs /dev
mkdir -p /proc /sys /run /newroot
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs -o mode=0755 tmpfs /run

root= fstype= flags= mode=ro init=/sbin/init rootwait= rootdelay= stop=
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	root=*) root=${arg#root=} ;;
	rootfstype=*) fstype=${arg#rootfstype=} ;;
	rootflags=*) flags=${arg#rootflags=} ;;
	ro) mode=ro ;;
	rw) mode=rw ;;
	init=*) init=${arg#init=} ;;
	rootwait) rootwait=1 ;;
	rootdelay=*) rootdelay=${arg#rootdelay=} ;;
	rd.break | rd.shell) stop=1 ;;
	esac
done

release=$(uname -r)
if [ -f "/lib/modules/$release/initkit.load" ]; then
	while read -r m; do
		insmod "/lib/modules/$release/$m" || echo "initkit: cannot load $m" >&2
	done <"/lib/modules/$release/initkit.load"
fi

[ -n "$stop" ] && rescue "rd.break: stopped before mounting the root, as asked"
[ -n "$root" ] || rescue "no root= on the kernel command line"
[ -n "$rootdelay" ] && sleep "$rootdelay"

find_root() {
	case "$root" in
	UUID=* | LABEL=*) findfs "$root" 2>/dev/null ;;
	/dev/*) [ -b "$root" ] && echo "$root" ;;
	*) echo "initkit: root=$root: this init knows /dev/..., UUID= and LABEL=" >&2 ;;
	esac
}
tries=0
until dev=$(find_root) && [ -n "$dev" ]; do
	tries=$((tries + 1))
	if [ -z "$rootwait" ] && [ $tries -gt 100 ]; then
		rescue "root device $root not found after 10 s (add rootwait to wait longer)"
	fi
	[ $((tries % 50)) -eq 0 ] && echo "initkit: waiting for $root" >&2
	usleep 100000
done

mount ${fstype:+-t "$fstype"} -o "$mode${flags:+,$flags}" "$dev" /newroot || rescue "cannot mount $dev (root=$root)"
[ -x "/newroot$init" ] || rescue "$init is missing or not executable on $root"
for m in dev proc sys run; do
	[ -d "/newroot/$m" ] && mount --move "/$m" "/newroot/$m"
done
exec switch_root /newroot "$init"
rescue "switch_root to $root failed"
