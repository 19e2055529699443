#!/usr/bin/env python3
# The text workloads of bench/agent, run inside xterm.
#   scroll.py FILE HEAD                      print FILE's first HEAD lines, then echo what is typed
#   scroll.py FILE HEAD FIFO RATE SECONDS    ... then wait for a line on FIFO and print the
#                                            following lines at RATE a second for SECONDS,
#                                            on absolute deadlines, then hold still
# Every run prints the same lines at the same pace, so every side sees the same screens.
import os
import sys
import time

path, head = sys.argv[1], int(sys.argv[2])
with open(path) as f:
    lines = f.read().splitlines()
sys.stdout.write("\n".join(lines[:head]) + "\n")
sys.stdout.flush()
if len(sys.argv) == 3:
    os.execvp("cat", ["cat"])  # the terminal echoes what is typed

fifo, rate, seconds = sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
with open(fifo) as f:
    f.readline()
t0 = time.monotonic()
for i in range(int(rate * seconds)):
    delay = t0 + i / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    sys.stdout.write(lines[(head + i) % len(lines)] + "\n")
    sys.stdout.flush()
while True:
    time.sleep(3600)
