#!/usr/bin/env bash
# The kernel matrix: boots Debian's own kernel packages under QEMU with
# btfkit in a busybox initramfs and checks, in every guest, the tracer
# (with the kernel's BTF, with BTF from a bundle, refusing a wrong BTF),
# the CO-RE suite and the userspace CO-RE demo. One table row per kernel
# and check; exit 0 iff every row passes.
#
#   scripts/vmtest.sh                     the default matrix
#   scripts/vmtest.sh --list              print the default matrix
#   scripts/vmtest.sh --kernel PKG...     any Debian kernel package(s)
#   scripts/vmtest.sh --arch arm64 ...    only (or, with --kernel, default to) arm64
#   scripts/vmtest.sh --check trace-sysfs-ring --inject wrong-btf ...
#
# The harness is crates/vmtest (`vmtest --help` lists every option).
# Kernels, busybox and the arm64 toolchain come from Debian's registry
# through a private apt configuration under target/vmtest/ (the machine's
# sources are not touched); downloads are cached there. Needs root (CI
# is root) for the tools it installs and the arm64 build chroot.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have qemu-system-x86_64 || need+=(qemu-system-x86)
have qemu-system-aarch64 || need+=(qemu-system-arm)
have dpkg-deb || need+=(dpkg)
have cc || need+=(gcc)
have xz || need+=(xz-utils)
if [ ${#need[@]} -gt 0 ]; then
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    echo "vmtest: installing ${need[*]}"
    $sudo_cmd apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

# The host's btfkit and the x86_64 guest programs (profile ci, as the
# tests build them).
cargo build --quiet --profile ci -p btfkit -p btfkit-vmtest
exec target/ci/vmtest "$@"
