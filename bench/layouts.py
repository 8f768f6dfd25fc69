#!/usr/bin/env python3
"""Compares the named types of two BTFs as sets of layouts.

Reads two `bpftool btf dump file X` outputs. Every named struct, union,
enum and typedef (and FUNC by name) becomes one entry: kind, name, size
and members (names, bit offsets, bitfield sizes) or enumerators, with type
ids and FUNC linkage left out. A name the kernel defines several times
(two drivers' `struct slot`) counts once per distinct layout, so the order
in which an encoder met them does not matter.

    bench/layouts.py a.txt b.txt [N]   (lists up to N differences)
Exits 1 when the sets differ.
"""
import re
import sys

HEADER = re.compile(r"\[(\d+)\] (\S+) '([^']*)'(.*)")
IDS = re.compile(r"type_id=\d+|linkage=\w+")


def load(path):
    out = set()
    cur = None
    with open(path) as f:
        for line in f:
            if line.startswith("["):
                if cur:
                    out.add(cur)
                m = HEADER.match(line)
                kind, name, rest = m.group(2), m.group(3), m.group(4)
                named = name != "(anon)"
                if named and kind in ("STRUCT", "UNION", "ENUM", "ENUM64", "TYPEDEF", "FUNC"):
                    cur = (kind, name, IDS.sub("", rest).strip())
                else:
                    cur = None
            elif cur and cur[0] not in ("TYPEDEF", "FUNC"):
                cur = cur + (IDS.sub("", line.strip()),)
    if cur:
        out.add(cur)
    return out


def main():
    a, b = load(sys.argv[1]), load(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    only_a, only_b = sorted(a - b), sorted(b - a)
    print(f"named layouts: {len(a)} vs {len(b)}; only in the first: {len(only_a)}, "
          f"only in the second: {len(only_b)}")
    for x in only_a[:n]:
        print("-", " ".join(x[:3]))
    for x in only_b[:n]:
        print("+", " ".join(x[:3]))
    sys.exit(1 if only_a or only_b else 0)


if __name__ == "__main__":
    main()
