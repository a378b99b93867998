#!/usr/bin/env bash
# The edit-build loop (issue 30): a distribution-sized image made the way
# mkinitramfs makes it - the modules and programs Debian's mkinitramfs
# resolves for its cloud kernel, resolved again by initkit (module
# dependencies, ELF closures), and its scripts - against mkinitramfs and
# dracut, then the rebuild after one script changed, with the piece cache
# warm, against a full build. As root (it installs the cloud kernel,
# initramfs-tools and dracut-core): sudo RUNS=5 bench/rebuild.sh
source "$(dirname "$0")/common.sh"
"$here/distro-image.sh" >/dev/null
command -v dracut >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dracut-core >/dev/null
rel=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/ {sub("linux-image-", "", $2); print $2; exit}')

# What mkinitramfs puts in its image: module names, programs (by their
# host paths), and its scripts, copied where one can be edited.
mkinitramfs -o "$work/mk.img" "$rel" 2>/dev/null
unmkinitramfs "$work/mk.img" "$work/mk" >/dev/null
main=$work/mk/main
mods=$(find "$main" -name '*.ko*' | sed 's#.*/##; s#\.ko.*##' | sort -u)
# Its programs are the ELF executables it copied, each once: its busybox
# is one file under 267 hard links (one per applet), which initkit gets as
# busybox with its applets, not as 267 host programs (coreutils, binutils'
# ar, ...: an earlier version of this script took each link for a program,
# 204 of them, and measured a 102.9 MB set instead of mkinitramfs's). The
# klibc programs come from the host's /usr/lib/klibc/bin.
bb=$(stat -c %i "$main/usr/bin/busybox")
progs=$(cd "$main" && find . -type f ! -name '*.ko*' ! -name '*.so*' | sort | while read -r p; do
  p=${p#./}
  [ "$(stat -c %i "$p")" != "$bb" ] && [ "$(head -c 4 "$p" | od -An -c | tr -d ' ')" = '177ELF' ] || continue
  if [ -x "/$p" ]; then echo "/$p"; elif [ -x "/usr/lib/klibc/bin/${p##*/}" ]; then echo "/usr/lib/klibc/bin/${p##*/}:/$p"; fi
done)
cp -a "$main/scripts" "$work/scripts"
cp "$main/init" "$work/init"
{
  echo "[image]"
  echo "output = \"$work/ik.img\""
  echo "init = \"none\""
  echo "compress = \"zstd\""
  echo "busybox = \"/usr/bin/busybox\""
  echo "files = ["; echo "  \"$work/init:/init\","; for p in $progs; do echo "  \"$p\","; done; echo "]"
  echo "tree = [\"$work/scripts:/scripts\"]"
  echo "[modules]"
  echo "dir = \"/lib/modules/$rel\""
  echo "names = ["; for m in $mods; do echo "  \"$m\","; done; echo "]"
} >"$work/distro.toml"
echo "set: $(wc -w <<<"$mods") modules, $(wc -w <<<"$progs") programs, $(find "$work/scripts" -type f | wc -l) scripts"
# The peers are shell scripts that start thousands of processes: what one
# costs on this machine says how its runs compare with another's.
s=$(date +%s%N); for _ in $(seq 1000); do /bin/true; done
echo "fork+exec of /bin/true: $((($(date +%s%N) - s) / 1000000)) us each"
export INITKIT_CACHE=$work/cache
b="$ik build -c $work/distro.toml"
script=$work/scripts/init-top/udev
hf() { hyperfine -N --style basic --warmup 1 --runs "${RUNS:-5}" "$@"; }
# The floor: the C compressor alone, on all its cores, over the bytes
# initkit's image holds (its segments' cpio archives, 64.6 MB), with no
# resolving, reading or writing of files. 30x dracut and 10x mkinitramfs
# at level 9 are measured against this.
$b --level 3 --no-cache >/dev/null 2>&1
zstd -q -d -c "$work/ik.img" >"$work/set.cpio"
hf --export-markdown "$here/results/rebuild-first.md" \
  -n "C floor: zstd -q -3 -T0, the image's bytes, nothing else" "zstd -q -3 -T0 -f $work/set.cpio -o $work/c3.zst" \
  -n "C floor: zstd -q -9 -T0, the image's bytes, nothing else" "zstd -q -9 -T0 -f $work/set.cpio -o $work/c9.zst" \
  -n "initkit build, zstd 3, no cache" "$b --level 3 --no-cache" \
  -n "initkit build, zstd 3, cold cache" -p "rm -rf $work/cache" "$b --level 3" \
  -n "initkit build, zstd 9, no cache" "$b --level 9 --no-cache -o $work/ik9.img" \
  -n "initkit build, zstd 19, no cache" "$b --level 19 --no-cache -o $work/ik19.img" \
  -n "mkinitramfs (MODULES=most, zstd -9)" "mkinitramfs -o $work/mk.img $rel" \
  -n "dracut (generic, zstd -9)" "dracut --quiet --force --no-hostonly --compress 'zstd -q -9' $work/dr.img $rel"
for img in ik ik9 ik19 mk dr; do echo "size $img: $(stat -c %s "$work/$img.img")"; done
for z in c3 c9; do echo "size $z: $(stat -c %s "$work/$z.zst")"; done
# mkinitramfs's image holds the host's microcode, stored, before its main
# segment: the like-for-like size is that segment's.
"$ik" ls "$work/mk.img" | awk '/^segment/ && $7 != "none," {sub(",", "", $4); sub(",", "", $6); print "size mk main segment: " $6 - $4}' | tail -1
$b --level 3 >/dev/null 2>&1
hf --export-markdown "$here/results/rebuild-one.md" \
  -n "initkit build after one script changed, cache warm" -p "echo \"# \$RANDOM\" >> $script" "$b --level 3" \
  -n "initkit build after one script changed, no cache" -p "echo \"# \$RANDOM\" >> $script" "$b --level 3 --no-cache"
echo "# x" >>"$script"
$b --level 3 --explain | grep '^piece' | grep -v reused

# exec of the same program again: the time before QEMU starts (the image
# of the command, busybox and the init; its per-run files last).
(cd "$top" && go test -run XXX -bench ExecImage -benchtime 20x ./vmexec) | grep Benchmark | tee "$here/results/exec-image.txt"
