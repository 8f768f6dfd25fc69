#!/usr/bin/env python3
"""Runs a command N times; prints the median wall time (us) and the
largest peak RSS (KB) of the command's process tree.
   bench/measure.py N CMD ARG...   -> "<median_us> <peak_rss_kb>"
"""
import os
import resource
import statistics
import subprocess
import sys
import time

n = int(sys.argv[1])
cmd = sys.argv[2:]
times, peak = [], 0
for _ in range(n):
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    times.append((time.perf_counter() - t0) * 1e6)
    if r.returncode != 0:
        sys.stderr.write(r.stderr.decode(errors="replace"))
        sys.exit(f"failed: {' '.join(cmd)}")
    # ru_maxrss of children is the maximum over all waited-for children.
    peak = max(peak, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before)
print(f"{statistics.median(times):.0f} {peak}")
