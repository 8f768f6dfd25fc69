#!/usr/bin/env bash
# Rebuilds the CO-RE test suite's objects from their C sources:
#   progs/*.bpf.c   -> progs/*.bpf.o    BPF programs with CO-RE relocations
#   targets/*.c     -> targets/*.o      "target kernels": BTF with type variants
#   check/*.bpf.c   -> check/*.bpf.o    `core check` suite: real kernel types,
#                                       guarded the ways real tools guard them
# The objects are committed; tests use them as they are, and CI runs
# `build.sh --check` to prove they are current (clang-16 output is
# deterministic for the same sources).
#
#   testdata/core/build.sh           rebuild in place
#   testdata/core/build.sh --check   rebuild to a temporary directory and compare
set -euo pipefail
cd "$(dirname "$0")"
CLANG=${CLANG:-clang-16}
ARCH_INC=/usr/include/$(uname -m)-linux-gnu
out=.
if [ "${1:-}" = "--check" ]; then
    out=$(mktemp -d)
    trap 'rm -rf "$out"' EXIT
    mkdir -p "$out/progs" "$out/targets" "$out/check"
fi
# -fdebug-prefix-map keeps the build directory out of the objects.
flags=(-g -O2 -target bpf -I"$ARCH_INC" -fdebug-prefix-map="$PWD"=. -fno-ident)
for src in progs/*.bpf.c; do
    "$CLANG" "${flags[@]}" -c "$src" -o "$out/${src%.c}.o"
done
for src in targets/*.c; do
    "$CLANG" "${flags[@]}" -c "$src" -o "$out/${src%.c}.o"
done
for src in check/*.bpf.c; do
    # isa.bpf.c is about instructions only -mcpu=v3 emits.
    cpu=()
    [ "$src" = check/isa.bpf.c ] && cpu=(-mcpu=v3)
    "$CLANG" "${flags[@]}" "${cpu[@]}" -c "$src" -o "$out/${src%.c}.o"
done
if [ "$out" != . ]; then
    status=0
    for f in progs/*.bpf.o targets/*.o check/*.bpf.o; do
        if ! cmp -s "$f" "$out/$f"; then
            echo "stale: $f (run testdata/core/build.sh)"
            status=1
        fi
    done
    for f in "$out"/progs/*.o "$out"/targets/*.o "$out"/check/*.o; do
        rel=${f#"$out"/}
        [ -e "$rel" ] || { echo "missing: $rel (run testdata/core/build.sh)"; status=1; }
    done
    [ $status = 0 ] && echo "CO-RE suite objects are current"
    exit $status
fi
