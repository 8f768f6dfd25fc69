#!/usr/bin/env bash
# btfkit at real-world object sizes (issue 14): the stress objects of
# bench/bigobj (N = 50, 200, 800 programs; the largest > 30,000 CO-RE
# relocations) against the reference tools, side by side in one run.
# Prints each measure with its ratio (btfkit / reference; below 1 is
# better) and, per tool, the growth from the smallest to the largest N.
#
#   bench/scale.sh [N...]      default: 50 200 800
#
#   SCALE_BTF=FILE        gen min / core apply target (default: the host's
#                         /sys/kernel/btf/vmlinux)
#   SCALE_RUNS=K          runs per whole-command measure (median; default 11)
#   SCALE_HUB_RUNS=K      rounds of `hub build` and of the floor (median; default 5)
#   SCALE_HUB=0           skip `hub build` over the corpus (the slowest part:
#                         the reference pipeline takes ~35 s per object size)
#   BTFKIT_CORPUS=DIR     the corpus (default ../shared/corpus)
#
# Measures, for each N:
#   gen min      `btfkit gen min` vs `bpftool gen min_core_btf`: median
#                time and peak RSS of the whole command (bench/measure.py),
#                and output size.
#   core apply   relocating the object in one process, best of 5 rounds
#                (target parse included): btfkit (examples/core_bench, what
#                `core apply` runs) vs libbpf's own relocation core
#                (bench/libbpf_core.c: open + relocate); and the whole
#                `btfkit core apply` command.
#   core check   `btfkit core check` over the corpus archive: time, time per
#                kernel, peak RSS (no reference tool does this).
#   hub build    `btfkit hub build` over the corpus archive vs the
#                btfgen.sh pipeline (per kernel `tar -xJf` + `bpftool gen
#                min_core_btf`, sequential; one round) and vs the floor
#                (`xz -dc` of every tarball on as many jobs as btfkit uses;
#                median of rounds alternating with btfkit's).
# And once: `btfkit btf stat` vs libbpf's btf__parse + count, whole process.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(50 200 800)
btf=${SCALE_BTF:-/sys/kernel/btf/vmlinux}
runs=${SCALE_RUNS:-11}
hub_runs=${SCALE_HUB_RUNS:-5}
corpus=${BTFKIT_CORPUS:-../shared/corpus}
archive=$corpus/archive
out=bench/out/scale
mkdir -p "$out"
jobs=$(nproc)

cargo build --release --quiet -p btfkit -p btfkit-core --examples
cc -O2 -o bench/out/libbpf_parse bench/libbpf_parse.c -lbpf
cc -O2 -o bench/out/libbpf_core bench/libbpf_core.c /usr/lib/"$(gcc -print-multiarch)"/libbpf.a -lelf -lz
mapfile -t objs < <(bench/bigobj/build.sh "${sizes[@]}")
btfkit=target/release/btfkit

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2fx", a/b}'; }
ms() { awk -v u="$1" 'BEGIN {printf "%.1f", u/1000}'; }
now_us() { local t=${EPOCHREALTIME/./}; echo "${t#0}"; }
time_us() { local start; start=$(now_us); "$@"; echo $(( $(now_us) - start )); }
row() { printf '%-6s %-44s %12s %12s %8s\n' "$@"; }
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
relocs() { "$btfkit" core explain "$1" --btf "$btf" | wc -l; }

# Growth table: name -> "first last" per column.
declare -A first last
record() { # key value
    [ -n "${first[$1]:-}" ] || first[$1]=$2
    last[$1]=$2
}

row "N" "measure" "btfkit" "reference" "ratio"
for i in "${!sizes[@]}"; do
    n=${sizes[$i]} obj=${objs[$i]}
    r=$(relocs "$obj")
    label="$n"
    # gen min
    read -r ot om < <(bench/measure.py "$runs" "$btfkit" gen min "$obj" --btf "$btf" -o "$out/gen.btf")
    read -r bt bm < <(bench/measure.py "$runs" bpftool gen min_core_btf "$btf" "$out/bpftool.btf" "$obj")
    os=$(stat -c%s "$out/gen.btf") bs=$(stat -c%s "$out/bpftool.btf")
    row "$label" "gen min time ($r relos, median of $runs)" "$(ms "$ot")ms" "$(ms "$bt")ms" "$(ratio "$ot" "$bt")"
    row "$label" "gen min peak RSS" "${om}KB" "${bm}KB" "$(ratio "$om" "$bm")"
    row "$label" "gen min output size" "${os}B" "${bs}B" "$(ratio "$os" "$bs")"
    record "gen min, btfkit" "$ot"; record "gen min, bpftool" "$bt"
    # core apply
    read -r ct cn < <(target/release/examples/core_bench "$btf" 5 "$obj")
    read -r lt ln < <(bench/out/libbpf_core "$btf" 5 "$obj")
    [ "$cn" = "$ln" ] || { echo "relocation counts differ: $cn vs $ln" >&2; exit 1; }
    row "$label" "core apply: relocate in process (best of 5)" "$(ms "$ct")ms" "$(ms "$lt")ms" "$(ratio "$ct" "$lt")"
    read -r at am < <(bench/measure.py "$runs" "$btfkit" core apply "$obj" --btf "$btf" -o "$out/applied.o")
    row "$label" "core apply command (time, peak RSS)" "$(ms "$at")ms" "${am}KB" "-"
    record "core apply, btfkit" "$ct"; record "core apply, libbpf" "$lt"
    # core check over the corpus
    if [ -d "$archive" ]; then
        nk=$(find "$archive" -name '*.btf.tar.xz' | wc -l)
        # Exits 1 when a kernel fails (the x86 object's pt_regs reads on
        # arm64 kernels): timed directly, the verdict is not the point.
        start=$(now_us)
        /usr/bin/time -f '%M' -o "$out/rss" "$btfkit" core check "$obj" --archive "$archive" --jobs "$jobs" >/dev/null 2>&1 || true
        kt=$(( $(now_us) - start )) km=$(tail -1 "$out/rss")
        row "$label" "core check, $nk kernels ($jobs jobs)" "$(ms "$kt")ms" "-" "-"
        row "$label" "core check per kernel / peak RSS" "$(ms $((kt / nk)))ms" "${km}KB" "-"
        record "core check, btfkit" "$kt"
    fi
    # hub build over the corpus
    if [ "${SCALE_HUB:-1}" != 0 ] && [ -d "$archive" ] && { [ "$i" = 0 ] || [ "$i" = $((${#sizes[@]} - 1)) ]; }; then
        mapfile -t tars < <(find "$archive" -name '*.btf.tar.xz' | sort)
        build() { "$btfkit" hub build --archive "$archive" "$obj" -o "$out/hub.bundle" --jobs "$jobs" 2>/dev/null; }
        floor() { printf '%s\n' "${tars[@]}" | xargs -P "$jobs" -n1 sh -c 'xz -dc "$0" > /dev/null'; }
        # Both take ~2 s and vary by ~10% run to run on a shared machine:
        # median of rounds, alternating so drift hits both alike.
        hbs=() hfs=()
        for _ in $(seq "$hub_runs"); do
            hbs+=("$(time_us build)"); hfs+=("$(time_us floor)")
        done
        hb=$(median "${hbs[@]}") hf=$(median "${hfs[@]}")
        rm -rf "$out/pipe"; mkdir -p "$out/pipe"
        pipeline() {
            local t name
            for t in "${tars[@]}"; do
                name=$(basename "$t" .tar.xz)
                tar -xJf "$t" -C "$out/pipe"
                bpftool gen min_core_btf "$out/pipe/$name" "$out/pipe/$name.min" "$obj" >/dev/null 2>&1 || true
                rm -f "$out/pipe/$name"
            done
        }
        hp=$(time_us pipeline)
        row "$label" "hub build, ${#tars[@]} kernels vs btfgen.sh pipeline" "$(ms "$hb")ms" "$(ms "$hp")ms" "$(ratio "$hb" "$hp")"
        row "$label" "hub build vs floor (xz -dc, $jobs jobs, median of $hub_runs)" "$(ms "$hb")ms" "$(ms "$hf")ms" "$(ratio "$hb" "$hf")"
        record "hub build, btfkit" "$hb"; record "hub build, pipeline" "$hp"
    fi
done

# btf stat vs libbpf, whole process (not size-dependent).
read -r st sm < <(bench/measure.py 21 "$btfkit" btf stat "$btf")
read -r lt lm < <(bench/measure.py 21 bench/out/libbpf_parse "$btf" cold)
row "-" "btf stat vs btf__parse + count (median of 21)" "$(ms "$st")ms" "$(ms "$lt")ms" "$(ratio "$st" "$lt")"
row "-" "btf stat peak RSS" "${sm}KB" "${lm}KB" "$(ratio "$sm" "$lm")"

if [ ${#sizes[@]} -gt 1 ]; then
    growth=$(awk -v a="${sizes[0]}" -v b="${sizes[-1]}" 'BEGIN {printf "%.0f", b/a}')
    echo
    echo "growth N=${sizes[0]} -> N=${sizes[-1]} (${growth}x the programs): time ratio"
    for k in "gen min, btfkit" "gen min, bpftool" "core apply, btfkit" "core apply, libbpf" \
             "core check, btfkit" "hub build, btfkit" "hub build, pipeline"; do
        [ -n "${first[$k]:-}" ] || continue
        printf '  %-24s %s\n' "$k" "$(ratio "${last[$k]}" "${first[$k]}")"
    done
fi
echo "(target $btf; bpftool $(bpftool version 2>/dev/null | head -1 | awk '{print $2}'), libbpf $(pkg-config --modversion libbpf 2>/dev/null || echo '?'))"
