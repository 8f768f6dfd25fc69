#!/usr/bin/env bash
# Regenerates crates/core/src/bpf_tables.rs from the uapi header
# linux/bpf.h: helper ids (enum bpf_func_id, through __BPF_FUNC_MAPPER),
# map types (enum bpf_map_type) and program types (enum bpf_prog_type),
# each as a table of (value, enumerator name). The names are what
# `core check` looks up in a target kernel's BTF: object files carry helper
# ids and map type numbers, not names.
#
#   crates/core/tools/gen_bpf_tables.sh [HEADER_DIR]   (default /usr/include)
set -euo pipefail
cd "$(dirname "$0")/.."
inc=${1:-/usr/include}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
enum_names() { # enumerators of `enum $1` (no aliases, no __MAX)
    awk -v e="enum $1 {" '
        index($0, e) == 1 { on = 1; next }
        on && /^};/ { exit }
        on { gsub(/\/\*.*\*\//, ""); gsub(/[ \t,]/, ""); if ($0 ~ /^BPF_/ && $0 !~ /=/) print }
    ' "$inc/linux/bpf.h"
}
{
    echo '#include <stdio.h>'
    echo '#include <linux/bpf.h>'
    # Works with both mapper styles: `FN(x), FN(y)` (<= 6.1) and
    # `FN(x, id, ctx) FN(y, ...)` (6.2+).
    echo 'static const char *funcs[__BPF_FUNC_MAX_ID];'
    echo 'static int set(int id, const char *n) { funcs[id] = n; return 0; }'
    echo '#define FN(x, ...) + set(BPF_FUNC_##x, "BPF_FUNC_" #x)'
    echo 'int main(void) {'
    echo '  int all[] = { 0 __BPF_FUNC_MAPPER(FN) }; (void)all;'
    echo '  printf("/// Helper ids: `enum bpf_func_id`.\npub const HELPERS: &[(u32, &str)] = &[\n");'
    echo '  for (int i = 0; i < __BPF_FUNC_MAX_ID; i++) if (funcs[i]) printf("    (%d, \"%s\"),\n", i, funcs[i]);'
    echo '  printf("];\n");'
    for e in map_type:MAP_TYPES prog_type:PROG_TYPES; do
        name=${e%%:*} const=${e##*:}
        echo "  printf(\"\\n/// \`enum bpf_$name\`.\\npub const $const: &[(u32, &str)] = &[\\n\");"
        enum_names "bpf_$name" | while read -r n; do
            echo "  printf(\"    (%d, \\\"%s\\\"),\\n\", (int)$n, \"$n\");"
        done
        echo '  printf("];\n");'
    done
    echo '  return 0; }'
} > "$tmp/gen.c"
cc -I"$inc" -o "$tmp/gen" "$tmp/gen.c"
{
    echo '//! Tables generated from linux/bpf.h by crates/core/tools/gen_bpf_tables.sh'
    echo '//! (do not edit): enumerator values and names of the uapi enums that'
    echo '//! `core check` looks up by name in a target kernel'"'"'s BTF.'
    echo
    "$tmp/gen"
} > src/bpf_tables.rs
echo "wrote crates/core/src/bpf_tables.rs"
