#!/usr/bin/env bash
# `btfkit btf encode` on a real kernel: Debian's 6.1.0-56-amd64 vmlinux
# from linux-image-6.1.0-56-amd64-dbg (~850 MB, downloaded with
# `apt-get download` unless VMLINUX points to it), against
#   - time: `pahole -J --btf_encode_detached` with the same number of
#     threads, in the same run (ENCODE_ROUNDS rounds, alternating order);
#   - content: the .BTF the kernel package ships (the corpus has it):
#     named types as sets of layouts (bench/layouts.py), kinds, size;
#   - a module: btrfs.ko encoded as split BTF on the kernel's .BTF against
#     the corpus's btrfs BTF (from the kernel package's btrfs.ko).
# Not part of CI (the download).
#
#   bench/encode_kernel.sh                       (JOBS=$(nproc))
#   VMLINUX=/path/to/vmlinux-6.1.0-56-amd64 [BTRFS_KO=/path/to/btrfs.ko] bench/encode_kernel.sh
set -euo pipefail
cd "$(dirname "$0")/.."
release=6.1.0-56-amd64
corpus=${BTFKIT_CORPUS:-../shared/corpus}
out=bench/out/encode
mkdir -p "$out"
jobs=${JOBS:-$(nproc)}
rounds=${ENCODE_ROUNDS:-2}
btfkit=$PWD/target/release/btfkit
cargo build --release --quiet -p btfkit
command -v pahole >/dev/null || { echo "pahole (dwarves) is needed" >&2; exit 1; }

vmlinux=${VMLINUX:-}
btrfs_ko=${BTRFS_KO:-}
if [ -z "$vmlinux" ]; then
    vmlinux=$out/usr/lib/debug/boot/vmlinux-$release
    btrfs_ko=$out/usr/lib/debug/lib/modules/$release/kernel/fs/btrfs/btrfs.ko
    if [ ! -e "$vmlinux" ]; then
        (cd "$out" && apt-get download "linux-image-$release-dbg")
        deb=$(ls "$out"/linux-image-"$release"-dbg_*.deb | head -1)
        dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$out" "./usr/lib/debug/boot/vmlinux-$release" \
            "./usr/lib/debug/lib/modules/$release/kernel/fs/btrfs/btrfs.ko"
        rm -f "$deb"
    fi
fi
tar -xJf "$corpus/archive/debian/12/x86_64/$release.btf.tar.xz" -C "$out"
kernel_btf=$out/$release.btf

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2fx", a/b}'; }
# Wall seconds and peak RSS (MiB) of a command.
timed() {
    local log=$1; shift
    /usr/bin/time -f "%e %M" -o "$log" "$@" > /dev/null 2>&1
    awk '{printf "%s %.0f\n", $1, $2/1024}' "$log"
}
ours() { timed "$out/time_ours" "$btfkit" btf encode "$vmlinux" -o "$out/btfkit.btf" -j "$jobs"; }
ref() { timed "$out/time_ref" pahole -J -j"$jobs" --btf_encode_detached="$out/pahole.btf" "$vmlinux"; }
: > "$out/t_ours"; : > "$out/t_ref"
for r in $(seq "$rounds"); do
    if [ $((r % 2)) -eq 1 ]; then ours >> "$out/t_ours"; ref >> "$out/t_ref"
    else ref >> "$out/t_ref"; ours >> "$out/t_ours"; fi
done
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
t_ours=$(cut -d' ' -f1 "$out/t_ours" | median)
t_ref=$(cut -d' ' -f1 "$out/t_ref" | median)
m_ours=$(cut -d' ' -f2 "$out/t_ours" | median)
m_ref=$(cut -d' ' -f2 "$out/t_ref" | median)
s_ours=$(stat -c %s "$out/btfkit.btf")
s_ref=$(stat -c %s "$out/pahole.btf")
s_kernel=$(stat -c %s "$kernel_btf")

echo "encode $vmlinux, $jobs threads, median of $rounds:"
echo "  time     btfkit ${t_ours} s   pahole ${t_ref} s   ratio $(ratio "$t_ours" "$t_ref")"
echo "  peak RSS btfkit ${m_ours} MiB   pahole ${m_ref} MiB"
echo "  size     btfkit $s_ours B   kernel .BTF $s_kernel B ($(ratio "$s_ours" "$s_kernel"))   pahole $s_ref B ($(ratio "$s_ours" "$s_ref"))"
for f in btfkit pahole; do
    bpftool btf dump file "$out/$f.btf" > "$out/$f.txt"
done
bpftool btf dump file "$kernel_btf" > "$out/kernel.txt"
echo "kinds (btfkit | kernel .BTF | pahole):"
for f in "$out/btfkit.btf" "$kernel_btf" "$out/pahole.btf"; do
    "$btfkit" btf stat "$f" | sed -n '/^kinds:/,$p' | tail -n +2 > "$f.kinds"
done
awk '{n[FILENAME==ARGV[1]?1:FILENAME==ARGV[2]?2:3, $1]=$2; k[$1]=1}
     END {for (x in k) printf "  %-11s %8s %8s %8s\n", x, n[1,x]+0, n[2,x]+0, n[3,x]+0}' \
    "$out/btfkit.btf.kinds" "$kernel_btf.kinds" "$out/pahole.btf.kinds" | sort
echo "named types vs the kernel's .BTF (btfkit):"
python3 bench/layouts.py "$out/kernel.txt" "$out/btfkit.txt" 20 | sed 's/^/  /' || true
echo "named types vs the kernel's .BTF (pahole $(pahole --version)):"
python3 bench/layouts.py "$out/kernel.txt" "$out/pahole.txt" 20 | sed 's/^/  /' || true

if [ -n "$btrfs_ko" ] && [ -e "$btrfs_ko" ]; then
    xz -dc "$corpus/modules/debian/12/x86_64/$release/btrfs.btf.xz" > "$out/btrfs.ref.btf"
    "$btfkit" btf encode "$btrfs_ko" --base "$kernel_btf" -o "$out/btrfs.btf" 2> /dev/null
    # Type ids and FUNC linkage aside (pahole writes every FUNC static).
    canon() { "$btfkit" btf dump "$1" -B "$kernel_btf" | sed 's/^\[[0-9]*\] //; s/type_id=[0-9]*//g; s/linkage=[a-z]*//' | sort; }
    if diff <(canon "$out/btrfs.ref.btf") <(canon "$out/btrfs.btf") > "$out/btrfs.diff"; then
        same="the same types"
    else
        same="$(wc -l < "$out/btrfs.diff") differing lines ($out/btrfs.diff)"
    fi
    echo "btrfs.ko split on the kernel's .BTF: $(stat -c %s "$out/btrfs.btf") B vs the package's $(stat -c %s "$out/btrfs.ref.btf") B; $same"
fi
