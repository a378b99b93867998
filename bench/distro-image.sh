#!/usr/bin/env bash
# Makes the real distribution initramfs the benchmarks read: Debian's cloud
# kernel packaged by initramfs-tools with the AMD and Intel microcode packages
# (non-free-firmware), which gives two stored microcode segments padded to
# 512 bytes and a zstd main segment. Needs root and apt (it installs the
# kernel package, which runs update-initramfs). Prints the image's path;
# a second run reuses it.
set -euo pipefail
cache=${INITKIT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/initkit}
out=$cache/distro/initrd.img
if [ -s "$out" ]; then echo "$out"; exit 0; fi
mkdir -p "$cache/distro"
export DEBIAN_FRONTEND=noninteractive

# Enable non-free-firmware next to main, copying the URIs already configured.
if ! apt-cache policy 2>/dev/null | grep -q non-free-firmware; then
  src=/etc/apt/sources.list.d/initkit-non-free-firmware.sources
  awk '/^URIs:/ && !seen { print "Types: deb"; print; seen=1 }' /etc/apt/sources.list.d/debian.sources > "$src"
  printf 'Suites: bookworm\nComponents: non-free-firmware\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' >> "$src"
  apt-get update -qq
fi
apt-get install -y -qq initramfs-tools amd64-microcode intel-microcode >/dev/null
apt-get install -y -qq linux-image-cloud-amd64 >/dev/null
release=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/ {sub("linux-image-", "", $2); print $2; exit}')
# Force a fresh image in case the kernel was installed before the microcode.
update-initramfs -c -k "$release" >/dev/null 2>&1 || update-initramfs -u -k "$release" >/dev/null
cp "/boot/initrd.img-$release" "$out.tmp" && mv "$out.tmp" "$out"
echo "$out"
