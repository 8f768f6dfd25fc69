#!/usr/bin/env bash
# The libbpf hand-off end to end, as CI runs it (root): exec_events.c
# built against the system's libbpf; a bundle for the example probe from
# the corpus plus this host's kernel (filed as debian/13); then
#   btfkit resolve --bundle B --exec exec_events OBJECT {btf}
# with the host's BTF hidden, so the BTF comes from the bundle, in a
# sealed memory file. The exec event must arrive, and the BTF's path must
# be /proc/self/fd/N (nothing on disk). Outside CI, skips when not root.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "$(id -u)" != 0 ] || [ ! -r /sys/kernel/btf/vmlinux ]; then
    [ -n "${CI:-}" ] && { echo "libbpf-memfd: needs root and /sys/kernel/btf/vmlinux in CI"; exit 1; }
    echo "SKIP: libbpf-memfd needs root and /sys/kernel/btf/vmlinux"
    exit 0
fi
corpus=${BTFKIT_CORPUS:-../shared/corpus}
work=$PWD/target/libbpf-memfd
rm -rf "$work"
mkdir -p "$work/host/etc"
cp -r "$corpus/archive" "$work/archive"
arch=$(uname -m)
[ "$arch" = aarch64 ] && arch=arm64
mkdir -p "$work/archive/debian/13/$arch"
cp /sys/kernel/btf/vmlinux "$work/archive/debian/13/$arch/$(uname -r).btf"
printf 'ID=debian\nVERSION_ID="13"\n' > "$work/host/etc/os-release"

cc -O2 -Wall -Werror -o "$work/exec_events" examples/libbpf-memfd/exec_events.c -lbpf
cargo build --quiet --profile ci -p btfkit
object=examples/portable-aya/bpf/exec.bpf.o
target/ci/btfkit hub build --archive "$work/archive" "$object" -o "$work/exec.bundle" 2>/dev/null
export BTFKIT_HOST_ROOT=$work/host BTFKIT_OSRELEASE_FILE=$work/host/etc/os-release
target/ci/btfkit resolve --bundle "$work/exec.bundle" --json | grep -q '"chosen":{"kind":"bundle"' \
    || { echo "libbpf-memfd: the host's BTF is not hidden"; exit 1; }
out=$(BTFKIT_HOST_ROOT=$work/host BTFKIT_OSRELEASE_FILE=$work/host/etc/os-release \
      target/ci/btfkit resolve --bundle "$work/exec.bundle" --exec "$work/exec_events" "$object" '{btf}')
echo "$out"
grep -q "^BTF: /proc/self/fd/[0-9]* (BTFKIT_BTF_PATH=/proc/self/fd/[0-9]*)$" <<<"$out" \
    || { echo "libbpf-memfd: the BTF was not handed over as /proc/self/fd/N"; exit 1; }
grep -q "^exec: pid [0-9]* ppid [0-9]* comm sh$" <<<"$out" || { echo "libbpf-memfd: no exec event"; exit 1; }
echo "libbpf-memfd: libbpf loaded the probe with BTF from btfkit's bundle, in memory"
# Without the host's kernel in the bundle: no BTF, the report on stderr,
# a failure, and the command never runs.
target/ci/btfkit hub build --archive "$corpus/archive" "$object" -o "$work/corpus.bundle" 2>/dev/null
if target/ci/btfkit resolve --bundle "$work/corpus.bundle" --exec touch "$work/ran" 2>"$work/err"; then
    echo "libbpf-memfd: resolve --exec succeeded without BTF for this kernel"; exit 1
fi
[ ! -e "$work/ran" ] || { echo "libbpf-memfd: the command ran without BTF"; exit 1; }
grep -q "bundle" "$work/err" || { echo "libbpf-memfd: no report on stderr"; cat "$work/err"; exit 1; }
echo "libbpf-memfd: without BTF for this kernel, resolve --exec fails and runs nothing"
