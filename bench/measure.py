#!/usr/bin/env python3
"""Runs a command N times; prints the median wall time (us) and the
largest peak RSS (KB) of the command.
   bench/measure.py N CMD ARG...   -> "<median_us> <peak_rss_kb>"

Peak RSS comes from GNU time (/usr/bin/time -f %M) around three extra
runs, not from this process's children: a child forked from Python
starts as a copy of the interpreter, and exec keeps that copy's
high-water mark (about 15 MB), which would hide anything smaller.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

GNU_TIME = "/usr/bin/time"

n = int(sys.argv[1])
cmd = sys.argv[2:]
if not os.access(GNU_TIME, os.X_OK):
    sys.exit("bench/measure.py: GNU time is needed for peak RSS (apt-get install time)")


def run(argv):
    r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode != 0:
        sys.stderr.write(r.stderr.decode(errors="replace"))
        sys.exit(f"failed: {' '.join(cmd)}")


times = []
for _ in range(n):
    t0 = time.perf_counter()
    run(cmd)
    times.append((time.perf_counter() - t0) * 1e6)

peak = 0
with tempfile.NamedTemporaryFile("r") as f:
    for _ in range(3):
        run([GNU_TIME, "-f", "%M", "-o", f.name, *cmd])
        f.seek(0)
        peak = max(peak, int(f.read().split()[-1]))
print(f"{statistics.median(times):.0f} {peak}")
