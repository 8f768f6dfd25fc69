#!/usr/bin/env bash
# Builds the stress objects big<N>.bpf.o from bench/bigobj/gen.py with
# clang-16 (CLANG), against a vmlinux.h that bpftool dumps from KERNEL_BTF
# (default: the host's /sys/kernel/btf/vmlinux), into BIGOBJ_OUT (default
# bench/out/bigobj, git-ignored). Objects are rebuilt only when the
# generator or the header changed. Prints the objects' paths, one a line.
#
#   bench/bigobj/build.sh [N...]        (default: 50 200 800)
set -euo pipefail
cd "$(dirname "$0")/../.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(50 200 800)
out=${BIGOBJ_OUT:-bench/out/bigobj}
mkdir -p "$out"
kernel=${KERNEL_BTF:-/sys/kernel/btf/vmlinux}
clang=${CLANG:-clang-16}
command -v "$clang" >/dev/null || { echo "bigobj: $clang not found" >&2; exit 1; }
command -v bpftool >/dev/null || { echo "bigobj: bpftool not found" >&2; exit 1; }
bpftool btf dump file "$kernel" format c > "$out/vmlinux.h.new"
if cmp -s "$out/vmlinux.h.new" "$out/vmlinux.h"; then rm "$out/vmlinux.h.new"; else mv "$out/vmlinux.h.new" "$out/vmlinux.h"; fi
for n in "${sizes[@]}"; do
    src=$out/big$n.bpf.c obj=$out/big$n.bpf.o
    python3 bench/bigobj/gen.py "$n" > "$src.new"
    if cmp -s "$src.new" "$src" && [ "$obj" -nt "$src" ] && [ "$obj" -nt "$out/vmlinux.h" ]; then
        rm "$src.new"
    else
        mv "$src.new" "$src"
        "$clang" -g -O2 -target bpf -D__TARGET_ARCH_x86 -I"$out" -c "$src" -o "$obj.tmp"
        mv "$obj.tmp" "$obj"
    fi
    echo "$obj"
done
