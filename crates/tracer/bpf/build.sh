#!/usr/bin/env bash
# Rebuilds the tracer's embedded artifacts, the way cilium/ebpf's bpf2go
# keeps generated objects in the tree, once per architecture (x86-64: no
# suffix, arm64: .arm64), from the same sources:
#   a corpus kernel's BTF -> vmlinux.h, vmlinux.arm64.h (btfkit btf dump
#                                --format c, only the types the programs use)
#   trace.bpf.c -> trace_ring.bpf.o, trace_ring.arm64.bpf.o
#                                      events through a BPF ring buffer
#               -> trace_perf.bpf.o, trace_perf.arm64.bpf.o
#                                      events through a perf event array
#   the four, every corpus kernel -> trace.bundle (btfkit hub build)
#   uprobe.bpf.c -> uprobe.bpf.o, uprobe.arm64.bpf.o
#                                      the userspace CO-RE demo's probe
# `btfkit trace` embeds its architecture's trace objects and the bundle
# with include_bytes!, the uprobe demo (crates/tracer/src/uprobe.rs) its
# architecture's uprobe object. CI runs `build.sh --check` to prove they
# are current (clang-16 output and the bundle are deterministic).
#
#   crates/tracer/bpf/build.sh            rebuild in place
#   crates/tracer/bpf/build.sh --check    rebuild in a temporary directory and compare
#
# The directory is inside the tracer crate so that its package carries
# what it embeds.
#
# Needs clang-16, libbpf-dev's headers and the corpus (BTFKIT_CORPUS,
# default ../shared/corpus); builds btfkit (profile ci) for the bundle.
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
fi
(cd "$root" && cargo build --quiet --profile ci -p btfkit)
btfkit=$root/target/ci/btfkit
# The kernel types the programs read, from one kernel's BTF per
# architecture: CO-RE moves every access to where the running kernel has it.
types=(task_struct nsproxy mnt_namespace pid_namespace pt_regs
       trace_event_raw_sched_process_template
       bpf_map_type __be16 __be32 __wsum __u8 __u16 __u32 __u64 __s8 __s16 __s32 __s64
       u8 u16 u32 u64 s32 s64 bool pid_t)
# The sources next to the headers written (in --check, a copy).
if [ "$out" != . ]; then cp trace.bpf.c trace.h uprobe.bpf.c "$out/"; fi
# One header and one set of objects per architecture: the kprobe fallback
# (trace.bpf.c) and BPF_KPROBE (uprobe.bpf.c) read the probed function's
# arguments from registers, whose layout is the architecture's
# (bpf_tracing.h's PT_REGS_* for -D__TARGET_ARCH_*), and the kernel types
# differ. The sources include vmlinux.arm64.h for arm64, vmlinux.h
# otherwise.
#   build ARCH KERNEL SUFFIX [EXTRA TYPE...]
build() {
    local arch=$1 kernel=$2 sfx=$3
    shift 3
    "$btfkit" btf dump "$corpus/archive/$kernel.btf.tar.xz" --format c \
        $(printf -- '--type %s ' "${types[@]}" "$@") > "$out/vmlinux$sfx.h.new"
    mv "$out/vmlinux$sfx.h.new" "$out/vmlinux$sfx.h"
    # -fdebug-prefix-map keeps the build directory out of the objects.
    local flags=(-g -O2 -target bpf -D__TARGET_ARCH_"$arch" -I/usr/include/"$(uname -m)"-linux-gnu
                 -fdebug-prefix-map="$(cd "$out" && pwd)"=. -fno-ident -Wall -Werror)
    (cd "$out" && "$CLANG" "${flags[@]}" -DTRACE_RINGBUF -c trace.bpf.c -o "trace_ring$sfx.bpf.o")
    (cd "$out" && "$CLANG" "${flags[@]}" -c trace.bpf.c -o "trace_perf$sfx.bpf.o")
    (cd "$out" && "$CLANG" "${flags[@]}" -c uprobe.bpf.c -o "uprobe$sfx.bpf.o")
}
build x86 debian/12/x86_64/6.1.0-56-amd64 ""
# On arm64 bpf_tracing.h's PT_REGS_* read struct user_pt_regs (the
# user-visible registers at the start of struct pt_regs), and the first
# syscall argument from pt_regs' orig_x0 through its own pt_regs___arm64.
build arm64 debian/12/arm64/6.1.0-56-arm64 .arm64 user_pt_regs
# One bundle for both architectures: every kernel minimized for the union
# of the four objects' relocations, so arm64 kernels have what the arm64
# objects read (user_pt_regs, orig_x0) and x86-64 kernels the x86-64 ones.
"$btfkit" hub build --archive "$corpus/archive" \
    "$out/trace_ring.bpf.o" "$out/trace_perf.bpf.o" \
    "$out/trace_ring.arm64.bpf.o" "$out/trace_perf.arm64.bpf.o" \
    -o "$out/trace.bundle" 2> "$out/hub.log" || { cat "$out/hub.log"; exit 1; }
objects=(trace_ring.bpf.o trace_perf.bpf.o uprobe.bpf.o
         trace_ring.arm64.bpf.o trace_perf.arm64.bpf.o uprobe.arm64.bpf.o)
if [ "$out" != . ]; then
    status=0
    for f in vmlinux.h vmlinux.arm64.h "${objects[@]}" trace.bundle; do
        if ! cmp -s "$f" "$out/$f"; then
            echo "stale: crates/tracer/bpf/$f (run crates/tracer/bpf/build.sh)"
            status=1
        fi
    done
    [ $status = 0 ] && echo "tracer objects and bundle are current"
    exit $status
fi
tail -1 hub.log
rm -f hub.log
ls -l "${objects[@]}" trace.bundle
