#!/usr/bin/env bash
# Rebuilds the tracer's embedded artifacts, the way cilium/ebpf's bpf2go
# keeps generated objects in the tree:
#   a corpus kernel's BTF -> vmlinux.h (btfkit btf dump --format c, only
#                                the types the programs use)
#   trace.bpf.c -> trace_ring.bpf.o   events through a BPF ring buffer
#               -> trace_perf.bpf.o   events through a perf event array
#   both objects, every corpus kernel -> trace.bundle (btfkit hub build)
#   uprobe.bpf.c -> uprobe.bpf.o      the userspace CO-RE demo's probe
# `btfkit trace` embeds the first three with include_bytes!, the uprobe
# demo (crates/tracer/src/uprobe.rs) the last. CI runs
# `build.sh --check` to prove they are current (clang-16 output and the
# bundle are deterministic).
#
#   bpf/build.sh            rebuild in place
#   bpf/build.sh --check    rebuild in a temporary directory and compare
#
# Needs clang-16, libbpf-dev's headers and the corpus (BTFKIT_CORPUS,
# default ../shared/corpus); builds btfkit (profile ci) for the bundle.
set -euo pipefail
cd "$(dirname "$0")"
CLANG=${CLANG:-clang-16}
corpus=${BTFKIT_CORPUS:-../shared/corpus}
case $corpus in /*) ;; *) corpus=$PWD/../$corpus ;; esac
out=.
if [ "${1:-}" = "--check" ]; then
    out=$(mktemp -d)
    trap 'rm -rf "$out"' EXIT
fi
(cd .. && cargo build --quiet --profile ci -p btfkit)
btfkit=../target/ci/btfkit
# The kernel types the programs read, from one kernel's BTF: CO-RE moves
# every access to where the running kernel has it.
types=(task_struct nsproxy mnt_namespace pid_namespace pt_regs
       trace_event_raw_sys_enter trace_event_raw_sys_exit trace_event_raw_sched_process_template
       bpf_map_type __be16 __be32 __wsum __u8 __u16 __u32 __u64 __s8 __s16 __s32 __s64
       u8 u16 u32 u64 s32 s64 bool pid_t)
"$btfkit" btf dump "$corpus/archive/debian/12/x86_64/6.1.0-56-amd64.btf.tar.xz" --format c \
    $(printf -- '--type %s ' "${types[@]}") > "$out/vmlinux.h.new"
mv "$out/vmlinux.h.new" "$out/vmlinux.h"
# -fdebug-prefix-map keeps the build directory out of the objects.
flags=(-g -O2 -target bpf -D__TARGET_ARCH_x86 -I/usr/include/"$(uname -m)"-linux-gnu
       -fdebug-prefix-map="$(cd "$out" && pwd)"=. -fno-ident -Wall -Werror)
# The sources next to the header just written (in --check, a copy).
if [ "$out" != . ]; then cp trace.bpf.c trace.h uprobe.bpf.c "$out/"; fi
(cd "$out" && "$CLANG" "${flags[@]}" -DTRACE_RINGBUF -c trace.bpf.c -o trace_ring.bpf.o)
(cd "$out" && "$CLANG" "${flags[@]}" -c trace.bpf.c -o trace_perf.bpf.o)
(cd "$out" && "$CLANG" "${flags[@]}" -c uprobe.bpf.c -o uprobe.bpf.o)
"$btfkit" hub build --archive "$corpus/archive" "$out/trace_ring.bpf.o" "$out/trace_perf.bpf.o" \
    -o "$out/trace.bundle" 2> "$out/hub.log" || { cat "$out/hub.log"; exit 1; }
if [ "$out" != . ]; then
    status=0
    for f in vmlinux.h trace_ring.bpf.o trace_perf.bpf.o uprobe.bpf.o trace.bundle; do
        if ! cmp -s "$f" "$out/$f"; then
            echo "stale: bpf/$f (run bpf/build.sh)"
            status=1
        fi
    done
    [ $status = 0 ] && echo "tracer objects and bundle are current"
    exit $status
fi
tail -1 hub.log
rm -f hub.log
ls -l trace_ring.bpf.o trace_perf.bpf.o uprobe.bpf.o trace.bundle
