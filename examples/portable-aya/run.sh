#!/usr/bin/env bash
# The example end to end, as CI runs it (root): builds it with a bundle of
# the corpus's kernels plus this host's own (filed as debian/13), then runs
# it with the host's BTF hidden (BTFKIT_HOST_ROOT: an empty root;
# BTFKIT_OSRELEASE_FILE: Debian 13), so the BTF can only come from the
# bundle built into the binary; the exec event must arrive with the right
# pid and parent pid. Outside CI, skips when not root.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "$(id -u)" != 0 ] || [ ! -r /sys/kernel/btf/vmlinux ]; then
    [ -n "${CI:-}" ] && { echo "portable-aya: needs root and /sys/kernel/btf/vmlinux in CI"; exit 1; }
    echo "SKIP: portable-aya needs root and /sys/kernel/btf/vmlinux"
    exit 0
fi
corpus=${BTFKIT_CORPUS:-../shared/corpus}
work=$PWD/target/portable-aya
rm -rf "$work"
mkdir -p "$work/host/etc"
cp -r "$corpus/archive" "$work/archive"
arch=$(uname -m)
[ "$arch" = aarch64 ] && arch=arm64
mkdir -p "$work/archive/debian/13/$arch"
cp /sys/kernel/btf/vmlinux "$work/archive/debian/13/$arch/$(uname -r).btf"
printf 'ID=debian\nVERSION_ID="13"\n' > "$work/host/etc/os-release"

PORTABLE_AYA_ARCHIVE=$work/archive cargo build --profile ci -p portable-aya
out=$(BTFKIT_HOST_ROOT=$work/host BTFKIT_OSRELEASE_FILE=$work/host/etc/os-release \
      target/ci/portable-aya)
echo "$out"
grep -q "^BTF: .* from bundle" <<<"$out" || { echo "portable-aya: the BTF did not come from the bundle"; exit 1; }
grep -q "^exec: pid [0-9]* ppid [0-9]* comm sh$" <<<"$out" || { echo "portable-aya: no exec event"; exit 1; }
echo "portable-aya: event from a program loaded with BTF from its built-in bundle"
