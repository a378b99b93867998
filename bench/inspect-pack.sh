#!/usr/bin/env bash
# Side-by-side benchmarks for the foundation: initkit ls / extract / pack
# against Debian's lsinitramfs / unmkinitramfs and the C pipeline
# find | cpio -o -H newc | zstd/pigz/gzip, on the real distribution image
# (bench/distro-image.sh) and on a large synthetic tree. Needs hyperfine,
# initramfs-tools, cpio, zstd, pigz. Results go to bench/results/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
out=$here/results
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

go build -o "$work/initkit" "$top/cmd/initkit"
ik=$work/initkit
img=$("$here/distro-image.sh")
echo "image: $img ($(stat -c %s "$img") bytes)"

# The main (zstd) segment alone, for the raw C floor.
main_off=$("$ik" ls --json "$img" | python3 -c 'import json,sys; d=json.load(sys.stdin); print([s for s in d["segments"] if s["compression"]=="zstd"][0]["offset"])')
tail -c +$((main_off + 1)) "$img" > "$work/main.zst"

hf() { hyperfine --style basic --warmup 2 --runs "${RUNS:-10}" "$@"; }

echo "== list"
hf --export-markdown "$out/ls.md" \
  -n "initkit ls" "$ik ls $img" \
  -n "lsinitramfs" "lsinitramfs $img" \
  -n "zstdcat | cpio -t (main segment only)" "zstdcat $work/main.zst | cpio -t --quiet"

echo "== extract"
hf --export-markdown "$out/extract.md" --prepare "rm -rf $work/x" \
  -n "initkit extract" "$ik extract $img $work/x" \
  -n "unmkinitramfs" "unmkinitramfs $img $work/x"

# The 668-entry, 53 MB file set of the main segment.
tree=$work/tree
mkdir -p "$tree" && (cd "$tree" && zstdcat "$work/main.zst" | cpio -idm --quiet 2>/dev/null)
echo "tree: $(find "$tree" | wc -l) entries, $(du -sb "$tree" | cut -f1) bytes"
pack() { echo "cd $tree && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 | $1 > $work/c.img"; }

echo "== pack, one core, same compressor and level"
hf --export-markdown "$out/pack-1core.md" \
  -n "initkit pack zstd-3 -j1" "$ik pack -c zstd --level 3 -j 1 $tree -o $work/i.img" \
  -n "find|cpio|zstd -3 -T1" "$(pack 'zstd -q -3 -T1')" \
  -n "initkit pack gzip-6 -j1" "$ik pack -c gzip --level 6 -j 1 $tree -o $work/i.img" \
  -n "find|cpio|gzip -6" "$(pack 'gzip -6')"

echo "== pack, parallel compression"
hf --export-markdown "$out/pack-parallel.md" \
  -n "initkit pack zstd-3" "$ik pack -c zstd --level 3 $tree -o $work/i.img" \
  -n "find|cpio|zstd -3 -T0" "$(pack 'zstd -q -3 -T0')" \
  -n "initkit pack gzip-6" "$ik pack -c gzip --level 6 $tree -o $work/i.img" \
  -n "find|cpio|pigz -6" "$(pack 'pigz -6')"

echo "== sizes (same content)"
for c in "zstd -q -3 -T1" "gzip -6"; do eval "$(pack "$c")"; echo "C $c: $(stat -c %s $work/c.img)"; done
"$ik" pack -c zstd --level 3 -j 1 "$tree" -o "$work/i.img" 2>/dev/null; echo "initkit zstd-3: $(stat -c %s $work/i.img)"
"$ik" pack -c gzip --level 6 -j 1 "$tree" -o "$work/i.img" 2>/dev/null; echo "initkit gzip-6 -j1: $(stat -c %s $work/i.img)"

# A large synthetic tree: 20,000 small files in 200 directories.
syn=$work/syn
python3 - "$syn" <<'PY'
import os, sys, random
random.seed(1)
root = sys.argv[1]
words = [b"initramfs ", b"kernel ", b"module ", b"busybox ", b"\x00\x01\x02"]
for d in range(200):
    p = os.path.join(root, "d%03d" % d); os.makedirs(p)
    for f in range(100):
        n = random.randint(16, 8192)
        data = b"".join(random.choice(words) for _ in range(n // 8))
        open(os.path.join(p, "f%03d" % f), "wb").write(data)
PY
"$ik" pack -c zstd --level 3 -j 1 "$syn" -o "$work/syn.img" 2>/dev/null
echo "== synthetic tree: $(find "$syn" | wc -l) entries"
hf --export-markdown "$out/synthetic.md" --prepare "rm -rf $work/sx" \
  -n "initkit pack zstd-3 -j1" "$ik pack -c zstd --level 3 -j 1 $syn -o $work/s.img" \
  -n "find|cpio|zstd -3 -T1" "cd $syn && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 | zstd -q -3 -T1 > $work/s2.img" \
  -n "initkit ls" "$ik ls $work/syn.img" \
  -n "lsinitramfs" "lsinitramfs $work/syn.img" \
  -n "initkit extract" "$ik extract $work/syn.img $work/sx" \
  -n "unmkinitramfs" "unmkinitramfs $work/syn.img $work/sx"
