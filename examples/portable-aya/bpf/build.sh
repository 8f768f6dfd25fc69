#!/usr/bin/env bash
# Rebuilds the example's committed probe: vmlinux.h (the types it reads,
# from one corpus kernel, by `btfkit btf dump --format c`) and
# exec.bpf.o (clang-16, deterministic).
#   examples/portable-aya/bpf/build.sh          rebuild in place
#   examples/portable-aya/bpf/build.sh --check  rebuild elsewhere and compare
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../../.. && pwd)
CLANG=${CLANG:-clang-16}
corpus=${BTFKIT_CORPUS:-../shared/corpus}
case $corpus in /*) ;; *) corpus=$root/$corpus ;; esac
out=.
if [ "${1:-}" = "--check" ]; then
    out=$(mktemp -d)
    trap 'rm -rf "$out"' EXIT
    cp exec.bpf.c "$out/"
fi
(cd "$root" && cargo build --quiet --profile ci -p btfkit)
"$root/target/ci/btfkit" btf dump "$corpus/archive/debian/12/x86_64/6.1.0-56-amd64.btf.tar.xz" \
    --format c $(printf -- "--type %s " task_struct bpf_map_type __be16 __be32 __wsum \
        __u8 __u16 __u32 __u64 __s8 __s16 __s32 __s64) > "$out/vmlinux.h"
(cd "$out" && "$CLANG" -g -O2 -target bpf -D__TARGET_ARCH_x86 -I/usr/include/"$(uname -m)"-linux-gnu \
    -fdebug-prefix-map="$(pwd)"=. -fno-ident -Wall -Werror -c exec.bpf.c -o exec.bpf.o)
if [ "$out" != . ]; then
    for f in vmlinux.h exec.bpf.o; do
        cmp -s "$f" "$out/$f" || { echo "stale: examples/portable-aya/bpf/$f (run examples/portable-aya/bpf/build.sh)"; exit 1; }
    done
    echo "the example's probe is current"
fi
