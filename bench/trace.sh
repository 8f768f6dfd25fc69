#!/usr/bin/env bash
# `btfkit trace` under an exec storm, against a minimal libbpf loader of
# the same BPF object (bench/trace_ref.c) in the same run: STORM_EXECS
# (default 20000) vfork+execs of a tiny static program from one worker per
# core (bench/exec_storm.c), with each tracer printing every event to
# /dev/null, ring buffer then perf buffer. Reports the exec rate reached
# while traced, events received, events lost, and the tracer's CPU time
# (from /proc/PID/schedstat, over the storm) per event.
set -euo pipefail
cd "$(dirname "$0")/.."
total=${STORM_EXECS:-20000}
workers=$(nproc)
out=bench/out/trace
rm -rf "$out"
mkdir -p "$out"
cargo build --release --quiet -p btfkit
cc -O2 -o "$out/exec_storm" bench/exec_storm.c
cc -O2 -static -nostdlib -o "$out/nop" bench/nop.c
cc -O2 -o "$out/trace_ref" bench/trace_ref.c -lbpf
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing

# The object btfkit embeds on this machine (crates/tracer/bpf/build.sh builds one per
# architecture).
case $(uname -m) in aarch64) sfx=.arm64 ;; *) sfx= ;; esac

cpu_ns() { awk '{print $1}' "/proc/$1/schedstat"; }

# run NAME CMD...: one traced storm; prints "rate events lost cpu_ns".
run() {
    local name=$1; shift
    "$@" > /dev/null 2> "$out/$name.err" &
    local pid=$!
    for _ in $(seq 300); do
        grep -q "tracing" "$out/$name.err" && break
        sleep 0.05
    done
    grep -q "tracing" "$out/$name.err" || { cat "$out/$name.err"; exit 1; }
    local c0; c0=$(cpu_ns "$pid")
    "$out/exec_storm" "$out/nop" "$total" "$workers" > "$out/$name.storm"
    sleep 1 # let the consumer catch up
    local c1; c1=$(cpu_ns "$pid")
    kill -INT "$pid"
    wait "$pid"
    local rate events lost
    rate=$(awk '{print $6}' "$out/$name.storm")
    if grep -q "^events" "$out/$name.err"; then
        read -r events lost < <(awk '/^events/ {print $2, $4}' "$out/$name.err")
    else
        read -r events lost < <(sed -n 's/^btfkit trace: \([0-9]*\) events, \([0-9]*\) lost.*/\1 \2/p' "$out/$name.err")
    fi
    echo "$rate $events $lost $((c1 - c0))"
}

printf '%-34s %10s %9s %6s %9s %10s %7s\n' "exec storm, $total execs, $workers workers" "execs/s" "events" "lost" "cpu ms" "us/event" "ratio"
for buffer in ring perf; do
    read -r r1 e1 l1 c1 < <(run "btfkit-$buffer" target/release/btfkit trace --buffer "$buffer")
    read -r r2 e2 l2 c2 < <(run "ref-$buffer" "$out/trace_ref" "crates/tracer/bpf/trace_$buffer$sfx.bpf.o" "$buffer")
    u1=$(awk -v c="$c1" -v e="$e1" 'BEGIN {printf "%.2f", c / 1000 / e}')
    u2=$(awk -v c="$c2" -v e="$e2" 'BEGIN {printf "%.2f", c / 1000 / e}')
    printf '%-34s %10s %9s %6s %9s %10s %7s\n' "btfkit trace ($buffer buffer)" "$r1" "$e1" "$l1" "$((c1 / 1000000))" "$u1" \
        "$(awk -v a="$u1" -v b="$u2" 'BEGIN {printf "%.2fx", a / b}')"
    printf '%-34s %10s %9s %6s %9s %10s %7s\n' "libbpf reference ($buffer buffer)" "$r2" "$e2" "$l2" "$((c2 / 1000000))" "$u2" "-"
done
