#!/usr/bin/env bash
# A debug package to an archive entry: `btfkit hub add PKG --encode` (one
# command, the package read as a stream, DWARF encoded by btfkit) against
# the BTFHub way (`dpkg-deb -x` of the whole package, `pahole -J -j` on
# its vmlinux, `tar cJf` of the result), in the same run, on Debian's
# linux-image-6.1.0-56-amd64-dbg (858 MB, 5.6 GB unpacked): wall time,
# peak RSS and bytes written to disk, and whether both entries describe
# the corpus kernel's named types and layouts (bench/layouts.py).
# Not part of CI (the download; several GB written by the BTFHub way).
#
#   bench/debug_pkg.sh            (JOBS=$(nproc); DEB=path to skip the download)
set -euo pipefail
cd "$(dirname "$0")/.."
release=6.1.0-56-amd64
corpus=${BTFKIT_CORPUS:-../shared/corpus}
out=bench/out/debug_pkg
jobs=${JOBS:-$(nproc)}
btfkit=$PWD/target/release/btfkit
cargo build --release --quiet -p btfkit
for tool in pahole dpkg-deb bpftool python3; do
    command -v "$tool" >/dev/null || { echo "$tool is needed" >&2; exit 1; }
done
mkdir -p "$out"
deb=${DEB:-}
if [ -z "$deb" ]; then
    cache=target/btfkit-test-cache/debug-pkg
    deb=$(ls "$cache"/linux-image-"$release"-dbg_*.deb 2>/dev/null | head -1 || true)
    if [ -z "$deb" ]; then
        mkdir -p "$cache"
        (cd "$cache" && apt-get download -q "linux-image-$release-dbg")
        deb=$(ls "$cache"/linux-image-"$release"-dbg_*.deb | head -1)
    fi
fi

# Wall seconds and peak RSS (MiB) of a command, appended to $1.
timed() {
    local log=$1; shift
    /usr/bin/time -f "%e %M" -o "$log.one" "$@" > /dev/null 2>&1
    awk '{printf "%s %.0f\n", $1, $2/1024}' "$log.one" >> "$log"
}
sum() { awk '{t += $1; if ($2 > m) m = $2} END {printf "%.1f %d\n", t, m}' "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2fx", a/b}'; }

rm -rf "$out/ours" "$out/ref" "$out"/*.log
sync
timed "$out/ours.log" "$btfkit" hub add "$deb" --archive "$out/ours" --encode --jobs "$jobs"
ours_entry=$out/ours/debian/12/x86_64/$release.btf.tar.xz
ours_disk=$(du -sb "$out/ours" | cut -f1)

mkdir -p "$out/ref/unpacked" "$out/ref/archive/debian/12/x86_64"
sync
timed "$out/ref.log" dpkg-deb -x "$deb" "$out/ref/unpacked"
timed "$out/ref.log" pahole -J -j"$jobs" --btf_encode_detached="$out/ref/$release.btf" \
    "$out/ref/unpacked/usr/lib/debug/boot/vmlinux-$release"
timed "$out/ref.log" tar -cJf "$out/ref/archive/debian/12/x86_64/$release.btf.tar.xz" \
    -C "$out/ref" "$release.btf"
ref_disk=$(du -sb "$out/ref" | cut -f1)
ref_entry=$out/ref/archive/debian/12/x86_64/$release.btf.tar.xz

read -r t_ours m_ours < <(sum "$out/ours.log")
read -r t_ref m_ref < <(sum "$out/ref.log")
echo "$(basename "$deb") -> archive entry, $jobs threads, one run each:"
echo "  time      btfkit ${t_ours} s    BTFHub way ${t_ref} s (dpkg-deb -x, pahole, tar: $(cut -d' ' -f1 "$out/ref.log" | paste -sd/ -) s)   ratio $(ratio "$t_ours" "$t_ref")"
echo "  peak RSS  btfkit ${m_ours} MiB  BTFHub way ${m_ref} MiB   ratio $(ratio "$m_ours" "$m_ref")"
echo "  disk      btfkit ${ours_disk} B  BTFHub way ${ref_disk} B   ratio $(ratio "$ours_disk" "$ref_disk")"

tar -xJf "$corpus/archive/debian/12/x86_64/$release.btf.tar.xz" -C "$out"
bpftool btf dump file "$out/$release.btf" > "$out/kernel.txt"
"$btfkit" btf dump "$ours_entry" > "$out/ours.txt"
"$btfkit" btf dump "$ref_entry" > "$out/ref.txt"
echo "named types vs the kernel's .BTF: btfkit $(python3 bench/layouts.py "$out/kernel.txt" "$out/ours.txt" 0 | head -1)"
echo "named types vs the kernel's .BTF: pahole $(python3 bench/layouts.py "$out/kernel.txt" "$out/ref.txt" 0 | head -1)"
rm -rf "$out/ref/unpacked"
