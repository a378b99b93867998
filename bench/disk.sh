#!/usr/bin/env bash
# Side-by-side disk benchmarks (issue 17), each pair interleaved:
#  1. initkit disk create of a 1 GiB GPT image with a 600 MB ext4
#     partition from a tree, against sfdisk + mke2fs -d by hand;
#  2. LVM on RAID1 over two disk files, made in the VM (goal: 15 s);
#  3. initkit disk debian against mmdebstrap alone (the same packages,
#     to a tarball), from the same mirror;
#  4. initkit disk copy-out of that partition's whole tree, against
#     debugfs's rdump by hand (what a user without root has; it writes
#     whatever names the image holds, wherever they lead).
# Results go to bench/results/.
source "$(dirname "$0")/common.sh"
out=$here/results
runs=${RUNS:-5}
export SOURCE_DATE_EPOCH=1700000000
parts=${PARTS:-create,lvm,debian,copyout} # which of the four to run
want() { [[ ",$parts," == *",$1,"* ]]; }

# A tree of about 200 MB of many small files, as a root filesystem's
# /usr/share is: the host's documentation and Python library.
tree=$work/tree
{ want create || want copyout; } && mkdir -p "$tree/usr/share" "$tree/usr/lib"
{ want create || want copyout; } && cp -a /usr/share/doc "$tree/usr/share/" && cp -a /usr/lib/python3 "$tree/usr/lib/" &&
  echo "tree: $(find "$tree" | wc -l) entries, $(du -sm "$tree" | cut -f1) MB"

if want create; then
byhand="rm -f $work/h.img; truncate -s 1G $work/h.img && printf 'label: gpt\nstart=2048, size=1228800, type=L, name=root\n' | sfdisk -q $work/h.img && mke2fs -q -F -t ext4 -E offset=1048576 -d $tree $work/h.img 614400k"
echo "== 1 GiB GPT, one 600 MB ext4 partition from the tree"
interleaved "$out/disk-create.md" "$runs" \
  "initkit disk create" "$ik disk create $work/ik.img --size 1G --part root:600M:ext4:$tree" \
  "sfdisk + mke2fs -d (by hand)" "$byhand"

fi

if want copyout; then
[ -f "$work/ik.img" ] || "$ik" disk create "$work/ik.img" --size 1G --part root:600M:ext4:"$tree"
echo "== copy the 600 MB partition's whole tree out"
interleaved "$out/disk-copy-out.md" "$runs" \
  "initkit disk copy-out" "rm -rf $work/co1; $ik disk copy-out $work/ik.img / $work/co1" \
  "debugfs rdump (by hand)" "rm -rf $work/co2; mkdir $work/co2; debugfs -R 'rdump / $work/co2' '$work/ik.img?offset=1048576'"
diff -r --no-dereference "$work/co1" "$work/co2" >/dev/null && echo "the two trees are the same"
fi

if want lvm; then
cat >"$work/m.toml" <<EOF
[disk]
output = "$work/m.img"
size = "256M"
[[disk.partition]]
name = "data"
type = "raid"
EOF
cat >"$work/lvraid.toml" <<EOF
[disk]
output = "$work/n.img"
size = "256M"
[[disk.partition]]
name = "data"
type = "raid"
[[disk.raid]]
name = "r1"
level = 1
members = ["$work/m.img:data", "$work/n.img:data"]
[[disk.lvm]]
vg = "vg0"
pvs = ["r1"]
lvs = [{ name = "root", size = "rest", fs = "ext4", tree = "$top/docs" }]
EOF
echo "== LVM on RAID1 over two disks, in the VM (goal: at most 15 s)"
interleaved "$out/disk-lvm-raid.md" "$runs" \
  "initkit disk create (member, then RAID1 + LVM + ext4 in the VM)" "$ik disk create -c $work/m.toml && $ik disk create -c $work/lvraid.toml"

fi

want debian || exit 0
# The mirror initkit takes (disk.HostMirror): the first Debian URI of the
# host's apt sources, comments aside.
mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
  awk '/^URIs:/ || /^deb / {for (i = 2; i <= NF; i++) if ($i ~ /^http.*debian/ && $i !~ /security/) {print $i; exit}}' || true)
mirror=${mirror:-http://deb.debian.org/debian}
echo "== disk debian against mmdebstrap alone ($mirror), goal: within 10 %"
interleaved "$out/disk-debian.md" "${DEBIAN_RUNS:-3}" \
  "initkit disk debian" "$ik disk debian $work/deb.img --mirror $mirror" \
  "mmdebstrap --mode=unshare (same packages, to a tarball)" "mmdebstrap --quiet --mode=unshare --variant=minbase --include=systemd-sysv,udev,kmod,iproute2 bookworm $work/deb.tar $mirror" \
  "mmdebstrap, same packages + the kernel's modules and depmod (the same content), to a tarball" "mmdebstrap --quiet --mode=unshare --variant=minbase --include=systemd-sysv,udev,kmod,iproute2 --customize-hook='mkdir -p \"\$1/lib/modules\"' --customize-hook='copy-in $mods /lib/modules' --customize-hook='chroot \"\$1\" depmod $(basename "$mods")' bookworm $work/deb2.tar $mirror"
