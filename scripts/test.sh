#!/usr/bin/env bash
# Runs btfkit's whole test suite on a fresh Debian machine: installs what
# the tests use as reference oracles (bpftool, libbpf, clang 14 and 16,
# pahole) when missing, then runs every test with overflow checks on,
# and briefly runs the fuzz targets.
#
#   scripts/test.sh                 (as root, or with sudo available)
#   BTFKIT_CORPUS=/path/to/corpus scripts/test.sh
#   FUZZ_SECONDS=0 scripts/test.sh  skip the fuzzing step
#   VMTEST=0 scripts/test.sh        skip the kernel matrix (QEMU guests)
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests need (reference tools, BPF toolchain).
need_pkgs=()
have() { command -v "$1" >/dev/null 2>&1; }
have bpftool || need_pkgs+=(bpftool)
have clang || need_pkgs+=(clang)
have clang-16 || need_pkgs+=(clang-16)
have llvm-objdump || need_pkgs+=(llvm)
have pahole || need_pkgs+=(dwarves)
have xz || need_pkgs+=(xz-utils)
# Compressors and binutils build the kernel-image fixtures of the
# extraction tests.
have lz4 || need_pkgs+=(lz4)
have zstd || need_pkgs+=(zstd)
have bzip2 || need_pkgs+=(bzip2)
have objcopy || need_pkgs+=(binutils)
have cc || need_pkgs+=(gcc)
have pkg-config || need_pkgs+=(pkg-config)
# rpmbuild builds the RPM packages of the RPM reader's tests.
have rpmbuild || need_pkgs+=(rpm)
[ -e /usr/include/bpf/btf.h ] || need_pkgs+=(libbpf-dev)
[ -e /usr/include/linux/bpf.h ] || need_pkgs+=(linux-libc-dev)
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
# The extraction tests also `apt-get download` one Debian kernel package:
# the package lists must be there.
if [ ${#need_pkgs[@]} -gt 0 ] || ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
    $sudo_cmd apt-get update -q
fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
    echo "installing: ${need_pkgs[*]}"
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "${need_pkgs[@]}"
fi

export BTFKIT_CORPUS=${BTFKIT_CORPUS:-../shared/corpus}

# The committed CO-RE suite objects must be what their sources build to.
testdata/core/build.sh --check
# So must the bundle tests and benchmarks embed, and the tracer's objects
# and bundle.
testdata/bundle/build.sh --check
crates/tracer/bpf/build.sh --check
examples/portable-aya/bpf/build.sh --check

# The tests: optimized (the corpus is large) with overflow checks and
# debug assertions on (profile "ci" in Cargo.toml).
cargo test --workspace --profile ci

# The parser builds lean: without its optional dependencies (xz/tar
# archives, JSON), nothing else changes.
cargo clippy -p btfkit-btf --no-default-features --all-targets -- -D warnings

# The fuzz targets build against the library as it is now (they live
# outside the workspace, so nothing above compiles them; the fuzzing step
# at the end would find out last).
(cd fuzz && RUSTC_BOOTSTRAP=1 cargo check -q --bins)

# The library example end to end: a bundle built by its build.rs, the
# program loaded through Aya with BTF from that bundle, the host's hidden.
examples/portable-aya/run.sh
# The same probe through libbpf, its BTF handed over in memory by
# `btfkit resolve --exec` (examples/libbpf-memfd).
examples/libbpf-memfd/run.sh

# The library's documentation builds without a warning (broken links,
# private items, HTML in doc comments), and every crate users depend on
# packages and builds from its package alone (the tracer carries the BPF
# objects and bundle it embeds; path dependencies are resolved from the
# other packages, as they would be from crates.io). --allow-dirty: the
# build steps above may refresh generated files in the tree.
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps
cargo package --workspace --exclude btfkit-testutil --exclude btfkit-vmtest \
    --exclude portable-aya --allow-dirty

# The kernel matrix: Debian's kernel packages (amd64 and arm64) booted
# under QEMU, btfkit checked in each guest (scripts/vmtest.sh), then the
# deliberately broken cases, which must fail. VMTEST=0 skips both.
if [ "${VMTEST:-1}" != 0 ]; then
    scripts/vmtest.sh --markdown target/vmtest/matrix.md
    scripts/vmtest/check-failures.sh
fi

# Fuzz targets: build, and run each briefly from the test objects as seeds.
fuzz_seconds=${FUZZ_SECONDS:-45}
if [ "$fuzz_seconds" != 0 ]; then
    have cargo-fuzz || cargo install cargo-fuzz --locked --version 0.13.2
    seeds=fuzz/corpus/parse
    mkdir -p "$seeds"
    cp target/btfkit-test-cache/*.o "$seeds/" 2>/dev/null || true
    cp testdata/core/progs/*.bpf.o "$seeds/"
    # Bundles: the corpus bundle the hub tests built.
    mkdir -p fuzz/corpus/bundle
    cp target/btfkit-test-cache/hub-cli/corpus.bundle fuzz/corpus/bundle/ 2>/dev/null || true
    # Small objects and programs with DWARF 4 and 5 for the encoder.
    mkdir -p fuzz/corpus/encode
    for v in 4 5; do
        cc -g -gdwarf-$v -O2 -c testdata/encode/lib.c -o fuzz/corpus/encode/lib-dwarf$v.o
        cc -g -gdwarf-$v -O0 testdata/encode/app.c testdata/encode/lib.c -o fuzz/corpus/encode/app-dwarf$v
    done
    # The check suite's objects, real-tool style, for the flow analysis.
    mkdir -p fuzz/corpus/check
    cp testdata/core/check/*.bpf.o testdata/core/progs/*.bpf.o fuzz/corpus/check/
    # Pairs of BTFs for merge: the dedup worst cases, small.
    mkdir -p fuzz/corpus/merge
    cargo build -q --profile ci -p btfkit-btf --example dedup_worst
    for c in nested_foo chain_value chain_ptr fanout deep_diff ptr_cycle; do
        target/ci/examples/dedup_worst fuzz-seed "$c" 20 "fuzz/corpus/merge/$c"
    done
    # Packages: a small .deb and RPM with a BPF object standing in for
    # the kernel image (its .BTF plays the kernel's).
    mkdir -p fuzz/corpus/package
    pkg=$(mktemp -d)
    mkdir -p "$pkg/root/boot" "$pkg/root/DEBIAN" "$pkg/root/lib/modules/1.0-fuzz/kernel"
    cp testdata/core/progs/candidates.bpf.o "$pkg/root/boot/vmlinuz-1.0-fuzz"
    cp testdata/core/progs/probe.bpf.o "$pkg/root/lib/modules/1.0-fuzz/kernel/seed.ko"
    printf 'Package: linux-image-1.0-fuzz\nVersion: 1\nArchitecture: amd64\nMaintainer: t <t@t>\nDescription: t\n' \
        > "$pkg/root/DEBIAN/control"
    dpkg-deb --build -Zxz "$pkg/root" fuzz/corpus/package/image.deb > /dev/null
    printf '%s\n' 'Name: kernel-core' 'Version: 1.0' 'Release: fuzz' 'Summary: seed' 'License: MIT' \
        '%global debug_package %{nil}' '%global __os_install_post %{nil}' '%global _build_id_links none' \
        '%description' 'seed' '%install' 'mkdir -p %{buildroot}/lib/modules/1.0-fuzz/kernel' \
        'cp %{image} %{buildroot}/lib/modules/1.0-fuzz/vmlinuz' \
        'cp %{module} %{buildroot}/lib/modules/1.0-fuzz/kernel/seed.ko' '%files' '/lib/modules' > "$pkg/seed.spec"
    rpmbuild -bb --quiet --target x86_64 --define "_topdir $pkg/top" --define "_tmppath $pkg" \
        --define "image $PWD/testdata/core/progs/candidates.bpf.o" \
        --define "module $PWD/testdata/core/progs/probe.bpf.o" --define "_binary_payload w19.zstdio" \
        "$pkg/seed.spec" > /dev/null
    cp "$pkg"/top/RPMS/x86_64/*.rpm fuzz/corpus/package/image.rpm
    rm -rf "$pkg"
    for target in parse parse_split relocate bundle encode check cdump merge package; do
        seed_dir=corpus/parse
        [ "$target" = bundle ] && seed_dir=corpus/bundle
        [ "$target" = encode ] && seed_dir=corpus/encode
        [ "$target" = check ] && seed_dir=corpus/check
        [ "$target" = merge ] && seed_dir=corpus/merge
        [ "$target" = package ] && seed_dir=corpus/package
        # cargo-fuzz needs nightly flags; the stable toolchain allows them
        # with RUSTC_BOOTSTRAP (this machine has no other toolchain).
        log=target/fuzz-$target.log
        mkdir -p target
        if ! (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "$seed_dir" -- \
            -max_total_time="$fuzz_seconds" -rss_limit_mb=4096 -print_final_stats=1) >"$log" 2>&1; then
            # The panic or sanitizer report and the saved input, without
            # the input's bytes (cargo-fuzz prints them all).
            grep -E -A3 "panicked at|==ERROR|SUMMARY|Test unit written|Reproduce with" "$log" | cut -c1-300 | head -40
            echo "fuzz target $target failed (whole log: $log)"
            exit 1
        fi
        tail -3 "$log"
    done
fi
echo "all tests passed"
