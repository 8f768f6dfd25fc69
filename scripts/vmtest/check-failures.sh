#!/usr/bin/env bash
# Proves the kernel matrix cannot pass silently: each deliberately broken
# case must fail its row (and the run), saying why. Runs after
# scripts/vmtest.sh, whose downloads it reuses.
#
#   scripts/vmtest/check-failures.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
# One kernel of the default matrix (already downloaded by the main run).
kernel=$(scripts/vmtest.sh --list --arch amd64 | awk 'NR == 1 { print $1 }')
[ -n "$kernel" ] || { echo "check-failures: no amd64 kernel in the default matrix"; exit 1; }

# expect_failure WHAT PATTERN COMMAND...: COMMAND must exit non-zero and
# print PATTERN.
expect_failure() {
    local what=$1 pattern=$2 out rc
    shift 2
    set +e
    out=$("$@" 2>&1)
    rc=$?
    set -e
    if [ $rc = 0 ]; then
        echo "check-failures: $what: passed, but must fail"
        echo "$out" | tail -5
        return 1
    fi
    if ! grep -q -- "$pattern" <<<"$out"; then
        echo "check-failures: $what: failed (exit $rc) without saying \"$pattern\":"
        echo "$out" | tail -8
        return 1
    fi
    echo "ok: $what fails (exit $rc): $(grep -m1 -- "$pattern" <<<"$out" | cut -c1-160)"
}

expect_failure "a kernel package that does not exist" \
    "no Debian package linux-image-9.9.9-99-amd64" \
    scripts/vmtest.sh --kernel linux-image-9.9.9-99-amd64
expect_failure "a guest whose init exits (kernel panic)" \
    "no result: the guest panicked" \
    scripts/vmtest.sh --kernel "$kernel" --accel tcg --inject bad-init --check trace-sysfs-ring
expect_failure "the own-BTF tracer check given another kernel's BTF" \
    "trace-sysfs-ring     FAIL .*self-test" \
    scripts/vmtest.sh --kernel "$kernel" --accel tcg --inject wrong-btf --check trace-sysfs-ring
expect_failure "a guest that outlives its timeout" \
    "no result: guest killed after 4 s" \
    scripts/vmtest.sh --kernel "$kernel" --accel tcg --timeout 4 --check trace-sysfs-ring
echo "check-failures: every broken case failed its row"
