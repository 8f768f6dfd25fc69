#!/usr/bin/env bash
# `btfkit hub build` over the whole corpus archive for the CO-RE suite's
# objects, against
#   - the btfgen.sh pipeline BTFHub uses: per kernel, `tar -xJf` then
#     `bpftool gen min_core_btf`, sequentially (its default);
#   - the floor: only decompressing every tarball (`xz -dc`), on as many
#     cores as btfkit uses.
# Cold: no cache. Warm: `--cache` already filled by an earlier build.
# Then the bundle's size against `tar -cJ` of bpftool's minimized tree (and
# of btfkit's own), and one lookup + decode from the bundle in memory.
#
#   bench/hub.sh          (HUB_ROUNDS=3: median of that many rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${BTFKIT_CORPUS:-../shared/corpus}
archive=$corpus/archive
out=bench/out/hub
rm -rf "$out"
mkdir -p "$out"
rounds=${HUB_ROUNDS:-3}
jobs=$(nproc)
objs=(testdata/core/progs/*.bpf.o)
btfkit=target/release/btfkit
cargo build --release --quiet -p btfkit -p btfkit-bundle --examples
mapfile -t tars < <(find "$archive" -name '*.btf.tar.xz' | sort)

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2fx", a/b}'; }
now_us() { local t=${EPOCHREALTIME/./}; echo "${t#0}"; }
ms() { awk -v u="$1" 'BEGIN {printf "%.0f", u/1000}'; }

pipeline() {
    rm -rf "$out/pipe"
    mkdir -p "$out/pipe/tmp" "$out/pipe/tree"
    local failed=0 tarball rel name
    for tarball in "${tars[@]}"; do
        rel=${tarball#"$archive"/}
        name=$(basename "$tarball" .tar.xz)
        mkdir -p "$out/pipe/tree/$(dirname "$rel")"
        tar -xJf "$tarball" -C "$out/pipe/tmp"
        bpftool gen min_core_btf "$out/pipe/tmp/$name" "$out/pipe/tree/$(dirname "$rel")/$name" "${objs[@]}" \
            >/dev/null 2>&1 || failed=$((failed + 1))
        rm -f "$out/pipe/tmp/$name"
    done
    echo "$failed" > "$out/pipe_failed"
}
floor() { printf '%s\n' "${tars[@]}" | xargs -P "$jobs" -n1 sh -c 'xz -dc "$0" > /dev/null'; }
cold() { "$btfkit" hub build --archive "$archive" "${objs[@]}" -o "$out/cold.bundle" --tree "$out/tree" --jobs "$jobs" 2>"$out/cold.log"; }
warm() { "$btfkit" hub build --archive "$archive" "${objs[@]}" -o "$out/warm.bundle" --jobs "$jobs" --cache "$out/cache" 2>"$out/warm.log"; }
time_us() { local start; start=$(now_us); "$@"; echo $(( $(now_us) - start )); }

warm >/dev/null # fill the cache
for name in pipeline floor cold warm; do : > "$out/t_$name"; done
for _ in $(seq "$rounds"); do
    for name in pipeline floor cold warm; do
        time_us "$name" >> "$out/t_$name"
    done
done
p=$(median < "$out/t_pipeline"); f=$(median < "$out/t_floor")
c=$(median < "$out/t_cold"); w=$(median < "$out/t_warm")
grep -q "${#tars[@]} done, 0 failed" "$out/cold.log" || { cat "$out/cold.log"; exit 1; }
grep -q "${#tars[@]} from cache" "$out/warm.log" || { cat "$out/warm.log"; exit 1; }
cmp -s "$out/cold.bundle" "$out/warm.bundle" || { echo "cold and warm bundles differ"; exit 1; }
n=${#tars[@]}
printf '%-40s %12s %12s %9s\n' "hub build, $n kernels, ${#objs[@]} objects" "btfkit" "reference" "ratio"
printf '%-40s %10sms %10sms %9s\n' "cold vs btfgen.sh pipeline ($(cat "$out/pipe_failed") bpftool failures)" "$(ms "$c")" "$(ms "$p")" "$(ratio "$c" "$p")"
printf '%-40s %10sms %10sms %9s\n' "cold vs floor (xz -dc, $jobs jobs)" "$(ms "$c")" "$(ms "$f")" "$(ratio "$c" "$f")"
printf '%-40s %10sms %10sms %9s\n' "warm (--cache) vs btfgen.sh pipeline" "$(ms "$w")" "$(ms "$p")" "$(ratio "$w" "$p")"
(cd "$out/pipe/tree" && tar -cJf ../../bpftool_tree.tar.xz .)
(cd "$out/tree" && tar -cJf ../btfkit_tree.tar.xz .)
b=$(stat -c%s "$out/cold.bundle")
bt=$(stat -c%s "$out/bpftool_tree.tar.xz")
ot=$(stat -c%s "$out/btfkit_tree.tar.xz")
bn=$(find "$out/pipe/tree" -name '*.btf' | wc -l)
printf '%-40s %11sB %11sB %9s\n' "bundle vs tar -cJ of bpftool tree ($bn)" "$b" "$bt" "$(ratio "$b" "$bt")"
printf '%-40s %11sB %11sB %9s\n' "bundle vs tar -cJ of btfkit tree ($n)" "$b" "$ot" "$(ratio "$b" "$ot")"
read -r med best size < <(target/release/examples/lookup "$out/cold.bundle" debian/12/x86_64/6.1.0-56-amd64 2000)
printf '%-40s %10sus %12s %9s\n' "lookup+decode (median of 2000; best $best)" "$med" "-" "-"
