#!/usr/bin/env bash
# Side-by-side build benchmarks (issue 3): initkit build against Debian's
# mkinitramfs (MODULES=most, zstd -9) and dracut (generic, no hostonly) for
# the Debian cloud kernel, and a small image (busybox + 20 programs + 30
# modules). Installs the kernel (bench/distro-image.sh) and dracut-core.
# Results go to bench/results/.
source "$(dirname "$0")/common.sh"
out=$here/results
"$here/distro-image.sh" >/dev/null
command -v dracut >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dracut-core >/dev/null
rel=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/ {sub("linux-image-", "", $2); print $2; exit}')
mods=/lib/modules/$rel

# The file set of mkinitramfs's image, to build the same content with initkit.
mkinitramfs -o "$work/mk.img" "$rel" 2>/dev/null
mkdir "$work/tree"
(cd "$work/tree" && unmkinitramfs "$work/mk.img" . && ls)
tree=$work/tree/main
[ -d "$tree" ] || tree=$work/tree
echo "file set: $(find "$tree" | wc -l) entries, $(du -sb "$tree" | cut -f1) bytes"
cat > "$work/distro.toml" <<TOML
[image]
output = "$work/ik.img"
init = "none"
tree = ["$tree"]
compress = "zstd"
level = 9
TOML

hf() { hyperfine --style basic --warmup 1 --runs "${RUNS:-5}" "$@"; }
echo "== distro-sized image, same file set"
floor="cd $tree && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | zstd -q -9 > $work/c.img"
hf --export-markdown "$out/build-distro.md" \
  -n "initkit build, zstd default (3)" "$ik build --level 3 -o $work/ik3.img -c $work/distro.toml" \
  -n "initkit build, zstd 9" "$ik build -o $work/ik9.img -c $work/distro.toml" \
  -n "initkit build, zstd 19" "$ik build --level 19 -o $work/ik19.img -c $work/distro.toml" \
  -n "find|cpio|zstd -q -9 (C floor)" "$floor" \
  -n "mkinitramfs (MODULES=most)" "mkinitramfs -o $work/mk.img $rel" \
  -n "dracut (generic)" "dracut --quiet --force --no-hostonly --compress 'zstd -q -9' $work/dr.img $rel"
for img in ik3 ik9 ik19 c mk dr; do echo "size $img: $(stat -c %s "$work/$img.img")"; done

# busybox + 20 programs + 30 modules.
progs="/usr/sbin/cryptsetup /usr/bin/gdbserver /usr/sbin/mke2fs /usr/sbin/e2fsck /usr/sbin/sfdisk /usr/bin/zstd
/usr/bin/xz /usr/bin/lz4 /usr/bin/cpio /usr/bin/find /usr/bin/grep /usr/bin/sed /usr/bin/tar /usr/bin/gzip
/usr/sbin/losetup /usr/bin/mount /usr/sbin/blkid /usr/bin/kmod /usr/bin/bash /usr/bin/ls"
modules="virtio_pci virtio_blk virtio_net virtio_scsi virtio_console virtio_rng virtio_balloon dm-crypt dm-mod
raid1 raid0 md-mod squashfs overlay fuse virtiofs nvme-core xts ecb loop sd_mod ata_piix libata scsi_mod
failover net_failover crc32_generic cryptd aesni_intel isofs"
args=(--busybox /bin/busybox -o "$work/small.img" --modules-dir "$mods")
for p in $progs; do args+=(--add "$p"); done
for m in $modules; do args+=(--module "$m"); done
echo "== busybox + 20 programs + 30 modules"
hf --export-markdown "$out/build-small.md" -n "initkit build (busybox+20+30)" "$ik build ${args[*]}"
"$ik" build "${args[@]}"
