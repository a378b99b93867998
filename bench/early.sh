#!/usr/bin/env bash
# Early userspace (issue 18): the initkit init bringing up a root on
# three stacks -- a plain ext4 partition, LUKS2 opened with a key file,
# LVM on RAID1 over two disks -- against the same stack brought up by a
# busybox shell script running the same commands the way the remote
# unlock gist and the Gentoo initramfs guide do (mount the API
# filesystems, insmod the image's load list, wait for the device,
# cryptsetup open / mdadm --assemble --scan + lvm vgscan --mknodes +
# vgchange -ay, mount, mount --move, switch_root). Both images hold the
# same files (initkit build --storage lvm,md,luks), only /init differs;
# the disks are made once by initkit disk create.
#
# Times are the kernel's clock, from "Run /init as init process" to the
# exec of the real init (TOMOYO's "Not activating Mandatory Access
# Control", printed when /sbin/init is exec'd) and to the real init's
# first line in /dev/kmsg, in the same boot. The six (init, stack) pairs
# boot in a new random order each round (see interleaved in common.sh).
# Results go to bench/results/early.md.
source "$(dirname "$0")/common.sh"
runs=${RUNS:-10}
export SOURCE_DATE_EPOCH=1700000000

mkdir -p "$work/root/"{bin,sbin,dev,proc,sys,run}
cp /bin/busybox "$work/root/bin/"
printf '#!/bin/busybox sh\necho REAL-INIT >/dev/kmsg\n/bin/busybox dmesg\n/bin/busybox poweroff -f\n' >"$work/root/sbin/init"
chmod 755 "$work/root/sbin/init"
printf 'bench-secret' >"$work/root.key"
disk() { # NAME TOML-BODY
  printf '[disk]\noutput = "%s"\nsize = "128M"\n%s' "$work/$1.img" "$2" >"$work/$1.toml"
  "$ik" disk create -c "$work/$1.toml" --kernel "$k" 2>/dev/null
}
disk plain "$(printf '[[disk.partition]]\nname = "root"\ntree = "%s"\n' "$work/root")"
disk luks "$(printf '[[disk.partition]]\nname = "root"\ntree = "%s"\nluks = { keyfile = "%s" }\n' "$work/root" "$work/root.key")"
disk m0 "$(printf '[[disk.partition]]\nname = "data"\ntype = "raid"\n')"
disk m1 "$(printf '[[disk.partition]]\nname = "data"\ntype = "raid"\n[[disk.raid]]\nname = "r1"\nlevel = 1\nmembers = ["%s:data", "%s:data"]\n[[disk.lvm]]\nvg = "vg0"\npvs = ["r1"]\nlvs = [{ name = "root", size = "rest", tree = "%s" }]\n' \
  "$work/m0.img" "$work/m1.img" "$work/root")"

cat >"$work/init.sh" <<EOF
#!/bin/busybox sh
# The gist's way: the same commands, by hand.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
busybox mkdir -p /dev /proc /sys /run /newroot
busybox mount -t devtmpfs devtmpfs /dev
busybox mount -t proc proc /proc
busybox mount -t sysfs sysfs /sys
busybox mount -t tmpfs tmpfs /run
rel=\$(busybox uname -r)
while read -r m; do busybox insmod /lib/modules/\$rel/\$m; done </lib/modules/\$rel/initkit.load
wait_for() { while [ ! -e "\$1" ]; do busybox usleep 5000; done; }
C='$(sed -n 's/^const LVMConfig = "\(.*\)"$/\1/p' "$top/guest/guest.go")'
case \$(busybox sed -n 's/.*stack=\([a-z]*\).*/\1/p' /proc/cmdline) in
plain) wait_for /dev/nvme0n1p1; dev=/dev/nvme0n1p1 ;;
luks)
  wait_for /dev/nvme0n1p1; busybox mkdir -p /run/cryptsetup
  cryptsetup open --key-file /etc/root.key /dev/nvme0n1p1 root; dev=/dev/mapper/root ;;
lvm)
  wait_for /dev/nvme0n1p1; wait_for /dev/nvme1n1p1; busybox mkdir -p /run/mdadm
  mdadm --assemble --scan --quiet
  lvm vgscan --mknodes --config "\$C" >/dev/null; lvm vgchange -ay --config "\$C" >/dev/null; dev=/dev/vg0/root ;;
esac
busybox mount -o ro "\$dev" /newroot
for d in dev proc sys run; do busybox mount --move /\$d /newroot/\$d; done
exec busybox switch_root /newroot /sbin/init
EOF
chmod 755 "$work/init.sh"
common=(--storage lvm,md,luks --busybox /bin/busybox --add "$work/root.key:/etc/root.key" --modules-dir "$mods")
"$ik" build -o "$work/go.img" "${common[@]}" 2>/dev/null
"$ik" build -o "$work/sh.img" --init "$work/init.sh" "${common[@]}" 2>/dev/null

declare -A disks=([plain]="--disk $work/plain.img" [luks]="--disk $work/luks.img" [lvm]="--disk $work/m0.img --disk $work/m1.img")
declare -A roots=([plain]="root=PARTLABEL=root" [luks]="root=PARTLABEL=root rd.luks.key=/etc/root.key" [lvm]="root=/dev/vg0/root")
# overhead IMG STACK: milliseconds from "Run /init" to the real init's
# exec and to its first line, in one boot.
overhead() {
  # shellcheck disable=SC2086
  "$ik" boot --accel tcg --kernel "$k" --initrd "$1" --disk-if nvme ${disks[$2]} \
    --append "${roots[$2]} stack=$2 quiet" --log "$work/log" --timeout 120s >/dev/null 2>&1
  awk -F'[][]' '/Run \/init as init process/ {s=$2} /Not activating Mandatory Access Control/ {x=$2}
    /REAL-INIT/ {e=$2} END {if (!x || !e) exit 1; printf "%.1f %.1f\n", (x-s)*1000, (e-s)*1000}' "$work/log"
}
combos=(go-plain sh-plain go-luks sh-luks go-lvm sh-lvm)
for i in $(seq "$runs"); do
  shuffle ${#combos[@]}
  for c in "${order[@]}"; do
    init=${combos[c]%-*} stack=${combos[c]#*-}
    t=$(overhead "$work/$init.img" "$stack") ||
      { echo "bench/early.sh: no marks in the $init $stack boot's log:" >&2; grep -v "^\[ " "$work/log" | tail -40 >&2; exit 1; }
    echo "$init-$stack $t" >>"$work/times"
  done
done
{
  echo "| stack | init | to the real init's exec: median ms | range | to its first line: median ms | range | runs |"
  echo "|---|---|---|---|---|---|---|"
  for stack in plain luks lvm; do
    name=$(case $stack in plain) echo "plain ext4 partition" ;; luks) echo "LUKS2, key file" ;; lvm) echo "LVM on RAID1, two disks" ;; esac)
    echo "| $name | initkit init | $(median go-$stack 2) | $(range go-$stack 2) | $(median go-$stack 3) | $(range go-$stack 3) | $runs |"
    echo "| $name | busybox shell script | $(median sh-$stack 2) | $(range sh-$stack 2) | $(median sh-$stack 3) | $(range sh-$stack 3) | $runs |"
  done
  echo
  for stack in plain luks lvm; do
    echo "ratio script/initkit to the exec, $stack: $(awk -v a="$(median sh-$stack 2)" -v b="$(median go-$stack 2)" 'BEGIN {printf "%.2f", a/b}')"
  done
} | tee "$here/results/early.md"
