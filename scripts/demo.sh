#!/usr/bin/env bash
# make demo: build a busybox initramfs with initkit, list it, and boot it in
# QEMU with the kernel initkit fetched. The guest runs a short scripted
# session on the console and powers off.
set -euo pipefail
ik=${1:-bin/initkit}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,dev,proc,sys,etc}
cp /bin/busybox "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
cat > "$root/init" <<'INIT'
#!/bin/sh
export PATH=/bin
busybox mount -t proc proc /proc
busybox mount -t sysfs sys /sys
busybox --install -s /bin
echo
echo "=== Hello from an initkit initramfs: PID $$ on $(uname -sr)"
echo "=== cmdline: $(cat /proc/cmdline)"
echo "=== memory: $(grep MemTotal /proc/meminfo)"
echo "=== root filesystem:"; ls -l /
echo "=== powering off"
poweroff -f
INIT
chmod 0755 "$root/init"
echo "demo: packing $root"
"$ik" pack -c zstd "$root" -o "$work/demo.img"
echo "demo: initkit ls (first lines)"
"$ik" ls "$work/demo.img" | head -8
echo "demo: booting under QEMU (TCG); console follows"
"$ik" boot --initrd "$work/demo.img" --append quiet --timeout 120s --log "$work/console.log"
