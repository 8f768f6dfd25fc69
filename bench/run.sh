#!/usr/bin/env bash
# btfkit benchmarks against the reference tools, measured side by side in
# one run. Prints medians and ratios (btfkit / reference; below 1 is faster).
#
#   bench/run.sh [BTF_FILE...]     default: /sys/kernel/btf/vmlinux
#
# 1. parse + name index (btfkit) vs btf__parse (libbpf), cold: a fresh
#    process per parse, as when a tool starts; peak RSS of that process.
# 2. the same, warm: best of 30 parses inside one process.
# 3. `btfkit btf dump` vs `bpftool btf dump ... format raw`, whole command;
#    the same with `--format c` vs `format c` (vmlinux.h).
# 4. CO-RE: relocating every object of the CO-RE test suite against a
#    6.1 corpus kernel (target parse included), btfkit vs libbpf's own
#    relocation core (bench/libbpf_core.c, linked with the static libbpf
#    the way bpftool is), best of 10 rounds in one process each.
# 5. BTFGen: `btfkit gen min` vs `bpftool gen min_core_btf`, whole
#    commands (median of 11), for the suite's objects against a 6.1 kernel
#    and against the 27 MB CentOS 8 BTF; peak RSS of each command. (On
#    CentOS, bpftool fails on kernel.bpf.o, whose task_struct candidates
#    are ambiguous there, so both tools get the other objects.)
# 6. bench/scale.sh: the same at real-world object sizes (generated
#    objects of 50, 200 and 800 programs), then hub build, resolution and
#    the tracer (bench/hub.sh, resolve.sh, trace.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(/sys/kernel/btf/vmlinux)
runs=${BENCH_RUNS:-21}
out=bench/out
mkdir -p "$out"

cargo build --release --quiet -p btfkit -p btfkit-btf -p btfkit-core --examples
cc -O2 -o "$out/libbpf_parse" bench/libbpf_parse.c -lbpf
cc -O2 -o "$out/libbpf_core" bench/libbpf_core.c /usr/lib/"$(gcc -print-multiarch)"/libbpf.a -lelf -lz
ours=target/release/examples/bench_parse
ref=$out/libbpf_parse
btfkit=target/release/btfkit

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2fx", a/b}'; }
now_us() { local t=${EPOCHREALTIME/./}; echo "${t#0}"; }

printf '%-28s %-34s %12s %12s %8s\n' "file" "measure" "btfkit" "reference" "ratio"
for f in "${files[@]}"; do
    name=$(basename "$f")
    # Interleave the two tools so drift in machine load hits both alike.
    : > "$out/cold_ours"; : > "$out/cold_ref"
    for _ in $(seq "$runs"); do
        "$ours" "$f" cold >> "$out/cold_ours"
        "$ref" "$f" cold >> "$out/cold_ref"
    done
    o=$(cut -d' ' -f1 "$out/cold_ours" | median); r=$(cut -d' ' -f1 "$out/cold_ref" | median)
    printf '%-28s %-34s %10sus %10sus %8s\n' "$name" "parse+index, cold (median of $runs)" "$o" "$r" "$(ratio "$o" "$r")"
    o=$(cut -d' ' -f2 "$out/cold_ours" | median); r=$(cut -d' ' -f2 "$out/cold_ref" | median)
    printf '%-28s %-34s %10sKB %10sKB %8s\n' "$name" "peak RSS of that process" "$o" "$r" "$(ratio "$o" "$r")"
    o=$("$ours" "$f" warm 30); r=$("$ref" "$f" warm 30)
    printf '%-28s %-34s %10sus %10sus %8s\n' "$name" "parse+index, warm (best of 30)" "$o" "$r" "$(ratio "$o" "$r")"
    if command -v bpftool >/dev/null; then
        : > "$out/dump_ours"; : > "$out/dump_ref"
        for _ in $(seq 5); do
            t=$(now_us); "$btfkit" btf dump "$f" > /dev/null; echo $(( $(now_us) - t )) >> "$out/dump_ours"
            t=$(now_us); bpftool btf dump file "$f" format raw > /dev/null; echo $(( $(now_us) - t )) >> "$out/dump_ref"
        done
        o=$(median < "$out/dump_ours"); r=$(median < "$out/dump_ref")
        printf '%-28s %-34s %10sus %10sus %8s\n' "$name" "raw dump command (median of 5)" "$o" "$r" "$(ratio "$o" "$r")"
        : > "$out/c_ours"; : > "$out/c_ref"
        for _ in $(seq 11); do
            t=$(now_us); "$btfkit" btf dump "$f" --format c > /dev/null; echo $(( $(now_us) - t )) >> "$out/c_ours"
            t=$(now_us); bpftool btf dump file "$f" format c > /dev/null; echo $(( $(now_us) - t )) >> "$out/c_ref"
        done
        o=$(median < "$out/c_ours"); r=$(median < "$out/c_ref")
        printf '%-28s %-34s %10sus %10sus %8s\n' "$name" "C header (vmlinux.h), median of 11" "$o" "$r" "$(ratio "$o" "$r")"
    fi
done
kernel=${BENCH_CORE_KERNEL:-target/btfkit-test-cache/debian_12_x86_64_6.1.0-56-amd64.btf}
if [ ! -e "$kernel" ]; then
    corpus=${BTFKIT_CORPUS:-../shared/corpus}
    mkdir -p "$(dirname "$kernel")"
    tar -xJOf "$corpus/archive/debian/12/x86_64/6.1.0-56-amd64.btf.tar.xz" > "$kernel"
fi
objs=(testdata/core/progs/*.bpf.o)
read -r o n < <(target/release/examples/core_bench "$kernel" 10 "${objs[@]}")
read -r r m < <("$out/libbpf_core" "$kernel" 10 "${objs[@]}")
[ "$n" = "$m" ] || { echo "relocation counts differ: $n vs $m"; exit 1; }
printf '%-28s %-34s %10sus %10sus %8s\n' "6.1.0-56-amd64" "CO-RE: ${#objs[@]} objects, $n relos" "$o" "$r" "$(ratio "$o" "$r")"
centos=target/btfkit-test-cache/centos_8_aarch64_4.18.0-147.5.1.el8_1.aarch64.btf
if [ ! -e "$centos" ]; then
    tar -xJOf "${BTFKIT_CORPUS:-../shared/corpus}/archive/centos/8/aarch64/4.18.0-147.5.1.el8_1.aarch64.btf.tar.xz" > "$centos"
fi
if command -v bpftool >/dev/null; then
    for pair in "6.1.0-56-amd64:$kernel:all" "centos-8-4.18:$centos:nokernel"; do
        IFS=: read -r label full which <<< "$pair"
        set_objs=("${objs[@]}")
        [ "$which" = nokernel ] && set_objs=($(ls testdata/core/progs/*.bpf.o | grep -v kernel.bpf.o))
        read -r ot om < <(bench/measure.py 11 target/release/btfkit gen min "${set_objs[@]}" --btf "$full" -o "$out/gen.btf")
        read -r bt bm < <(bench/measure.py 11 bpftool gen min_core_btf "$full" "$out/bpftool.btf" "${set_objs[@]}")
        printf '%-28s %-34s %10sus %10sus %8s\n' "$label" "gen min, ${#set_objs[@]} objects (median of 11)" "$ot" "$bt" "$(ratio "$ot" "$bt")"
        printf '%-28s %-34s %10sKB %10sKB %8s\n' "$label" "gen min peak RSS" "$om" "$bm" "$(ratio "$om" "$bm")"
        printf '%-28s %-34s %11sB %11sB %8s\n' "$label" "gen min output size" "$(stat -c%s "$out/gen.btf")" "$(stat -c%s "$out/bpftool.btf")" "$(ratio "$(stat -c%s "$out/gen.btf")" "$(stat -c%s "$out/bpftool.btf")")"
    done
fi
echo "(reference: libbpf $(pkg-config --modversion libbpf 2>/dev/null || echo '?') btf__parse; bpftool $(bpftool version 2>/dev/null | head -1 | awk '{print $2}'))"

# 6. Real-world object sizes: generated objects of 50 to 800 programs.
bench/scale.sh

# 7. hub build over the corpus archive.
bench/hub.sh

# 8. Start-up BTF resolution.
bench/resolve.sh

# 9. The tracer under an exec storm.
bench/trace.sh
