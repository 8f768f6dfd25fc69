#!/usr/bin/env bash
# Rebuilds testdata/bundle/suite.bundle: every corpus kernel minimized for
# the CO-RE suite's objects. Tests and benchmarks embed it with
# include_bytes!, as a program embeds its bundle.
#
#   testdata/bundle/build.sh            rebuild
#   testdata/bundle/build.sh --check    fail if the committed file is stale
#
# Needs the corpus (BTFKIT_CORPUS, default ../shared/corpus) and builds
# btfkit (profile ci, as the tests do).
set -euo pipefail
cd "$(dirname "$0")/../.."
corpus=${BTFKIT_CORPUS:-../shared/corpus}
cargo build --quiet --profile ci -p btfkit
out=testdata/bundle/suite.bundle
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
target/ci/btfkit hub build --archive "$corpus/archive" testdata/core/progs/*.bpf.o -o "$tmp" 2>/dev/null
if [ "${1:-}" = --check ]; then
    if ! cmp -s "$tmp" "$out"; then
        echo "$out is stale: run testdata/bundle/build.sh" >&2
        exit 1
    fi
    echo "$out is up to date"
else
    cp "$tmp" "$out"
    echo "wrote $out ($(stat -c%s "$out") bytes)"
fi
