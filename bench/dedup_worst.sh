#!/bin/sh
# Dedup worst cases (issue 17): times btfkit's dedup on each generated
# case at N = 1000 2000 5000 20000 merged into the running kernel's BTF
# (growth ratios between sizes: near-linear means the time ratio follows
# the size ratio), then, for the nested-foo case and when they are
# available, `btfkit btf merge BASE X` end to end and libbpf's
# btf__dedup of X split on BASE (capped at LIBBPF_TIMEOUT seconds,
# default 120), with the btfkit/libbpf ratio.
#   bench/dedup_worst.sh [N...]
set -eu
cd "$(dirname "$0")/.."
sizes=${*:-1000 2000 5000 20000}
base=${BASE:-/sys/kernel/btf/vmlinux}
out=bench/out/dedup_worst
mkdir -p "$out"

cargo build --release --example dedup_worst -p btfkit-btf
ex=target/release/examples/dedup_worst
echo "== dedup of each case merged into $base"
# shellcheck disable=SC2086
"$ex" --base "$base" $sizes

[ -r "$base" ] || { echo "SKIP: no readable $base for the merge comparison"; exit 0; }
cargo build --release -p btfkit
btfkit=target/release/btfkit
libbpf=
if cc -O2 -o "$out/libbpf_dedup" bench/libbpf_dedup.c -lbpf 2>/dev/null; then
	libbpf=$out/libbpf_dedup
else
	echo "SKIP: libbpf reference (no libbpf-dev)"
fi
ms() { date +%s%N; }
cap=${LIBBPF_TIMEOUT:-120}
echo "== nested_foo: btfkit btf merge $base X (whole command) vs libbpf btf__dedup (dedup only)"
printf '%7s %12s %12s %8s\n' N btfkit_ms libbpf_ms ratio
for n in $sizes; do
	x=$out/nested_foo_$n.btf
	"$ex" write nested_foo "$n" "$x"
	t0=$(ms)
	"$btfkit" btf merge "$base" "$x" -o "$out/merged_$n.btf" 2>/dev/null
	bt=$(( ($(ms) - t0) / 1000000 ))
	# libbpf grows steeply on this shape (42 s at N=2000 here): capped.
	if [ -n "$libbpf" ] && lres=$(timeout "$cap" "$libbpf" "$base" "$x"); then
		lt=$((${lres%% *} / 1000))
		ratio=$(awk -v a="$bt" -v b="$lt" 'BEGIN { printf "%.4f", (b > 0 ? a / b : 0) }')
	elif [ -n "$libbpf" ]; then
		lt=">$((cap * 1000))" ratio="<$(awk -v a="$bt" -v c="$cap" 'BEGIN { printf "%.4f", a / (c * 1000) }')"
	else
		lt=- ratio=-
	fi
	printf '%7s %12s %12s %8s\n' "$n" "$bt" "$lt" "$ratio"
done

# The worst real input found: CentOS 8's kernel BTF (4.18, 27 MB, 560,000
# types) predates pahole's deduplication and holds thousands of distinct
# copies of the same structs, so deduplicating it alone tries many pairs.
corpus=${BTFKIT_CORPUS:-../shared/corpus}
centos=$(ls "$corpus"/archive/centos/8/*/*.btf.tar.xz 2>/dev/null | head -1 || true)
if [ -z "$centos" ]; then
	echo "SKIP: no CentOS 8 kernel in $corpus/archive"
	exit 0
fi
tar -xJOf "$centos" >"$out/centos8.btf"
cargo build --release --example dedup_bench -p btfkit-btf
echo "== CentOS 8 BTF deduplicated alone: btfkit dedup vs libbpf btf__dedup (capped at ${cap} s)"
bres=$(target/release/examples/dedup_bench "$out/centos8.btf" 1)
echo "btfkit: $bres"
bt=$(echo "$bres" | sed -n 's/.* in \([0-9]*\) ms.*/\1/p')
if [ -n "$libbpf" ] && lres=$(timeout "$cap" "$libbpf" "$out/centos8.btf"); then
	lt=$((${lres%% *} / 1000))
	echo "libbpf: ${lt} ms, ${lres#* } types left; ratio $(awk -v a="$bt" -v b="$lt" 'BEGIN { printf "%.3f", a / b }')"
elif [ -n "$libbpf" ]; then
	echo "libbpf: more than ${cap} s; ratio < $(awk -v a="$bt" -v c="$cap" 'BEGIN { printf "%.3f", a / (c * 1000) }')"
fi
