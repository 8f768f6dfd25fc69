#!/usr/bin/env bash
# Process start to resolved BTF bytes, for a program with an embedded
# bundle (crates/resolver/examples/resolve_embedded.rs, embedding
# testdata/bundle/suite.bundle): resolved from the bundle on a host
# without kernel BTF (a fake host root, os-release Debian 12, release
# 6.1.0-56-amd64), and from /sys/kernel/btf/vmlinux on this host. The
# floor is starting /bin/true. Median of BENCH_RUNS (default 300)
# interleaved runs each.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${BENCH_RUNS:-300}
cargo build --release --quiet -p btfkit-resolver --examples
exe=target/release/examples/resolve_embedded
out=bench/out/resolve
rm -rf "$out"
mkdir -p "$out/host"
printf 'ID=debian\nVERSION_ID="12"\n' > "$out/os-release"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
now_us() { local t=${EPOCHREALTIME/./}; echo "${t#0}"; }

bundle_run() {
    BTFKIT_HOST_ROOT="$out/host" BTFKIT_OSRELEASE_FILE="$out/os-release" \
        BTFKIT_KERNEL_RELEASE=6.1.0-56-amd64 BTFKIT_MACHINE=x86_64 "$exe" > "$out/bundle.txt"
}
sysfs_run() { "$exe" > "$out/sysfs.txt"; }
# The example's own measure: main() to resolved bytes.
in_process() { sed -n 's/.* in \([0-9]*\)us$/\1/p' "$1"; }
floor_run() { /bin/true; }
bundle_run && grep -q "from bundle entry debian/12/x86_64/6.1.0-56-amd64" "$out/bundle.txt" \
    || { cat "$out/bundle.txt"; exit 1; }
have_sysfs=false
[ -e /sys/kernel/btf/vmlinux ] && sysfs_run && grep -q "from sysfs" "$out/sysfs.txt" && have_sysfs=true
: > "$out/t_bundle"; : > "$out/t_sysfs"; : > "$out/t_floor"; : > "$out/i_bundle"; : > "$out/i_sysfs"
for _ in $(seq "$runs"); do
    t=$(now_us); bundle_run; echo $(( $(now_us) - t )) >> "$out/t_bundle"
    in_process "$out/bundle.txt" >> "$out/i_bundle"
    if $have_sysfs; then
        t=$(now_us); sysfs_run; echo $(( $(now_us) - t )) >> "$out/t_sysfs"
        in_process "$out/sysfs.txt" >> "$out/i_sysfs"
    fi
    t=$(now_us); floor_run; echo $(( $(now_us) - t )) >> "$out/t_floor"
done
printf '%-50s %12s %12s\n' "resolved BTF (median of $runs)" "in process" "whole process"
printf '%-50s %10sus %10sus\n' "from the embedded bundle ($(cut -d' ' -f1 "$out/bundle.txt") bytes)" "$(median < "$out/i_bundle")" "$(median < "$out/t_bundle")"
$have_sysfs && printf '%-50s %10sus %10sus\n' "from /sys/kernel/btf/vmlinux ($(cut -d' ' -f1 "$out/sysfs.txt") bytes, mapped)" "$(median < "$out/i_sysfs")" "$(median < "$out/t_sysfs")"
printf '%-50s %12s %10sus\n' "floor: starting /bin/true" "-" "$(median < "$out/t_floor")"
