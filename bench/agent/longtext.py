#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the workloads' long text file: 20,000 numbered lines of code-like words,
the same every run (a fixed seed), for scroll.py to type and scroll through.

Usage: longtext.py FILE"""
import random
import sys

r = random.Random(20240601)
words = ("desktop agent frame encode latency capture pixel damage session client broker "
         "ticket stream refine texture scroll terminal window buffer packet keyboard pointer "
         "return struct static const int void if else for while NULL size_t uint8_t").split()
with open(sys.argv[1], "w") as f:
    for i in range(20000):
        n = r.randint(3, 28)
        indent = " " * (4 * r.randint(0, 4))
        f.write("%6d  %s%s\n" % (i + 1, indent, " ".join(r.choice(words) for _ in range(n))))
