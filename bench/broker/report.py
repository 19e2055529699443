#!/usr/bin/env python3
# The table of bench/broker, from what run.sh left in DIR: plan.json and results.jsonl (one
# line per cell, bench-broker-load's answer plus the store and CPU use).
#   report.py DIR
import json
import os
import sys

OPS = [("login", "login (argon2id)"), ("connect-new", "connect: new assignment"),
       ("connect-resume", "connect: resumed session")]
TARGET_RPS = 2000.0  # issue 5: connect decisions/s on SQLite on this machine
TARGET_P99 = 20.0    # ms, excluding password hashing


def main():
    out = sys.argv[1]
    with open(os.path.join(out, "plan.json")) as f:
        plan = json.load(f)
    rows = []
    with open(os.path.join(out, "results.jsonl")) as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line))

    print("bench-broker: highrise-broker on loopback, HTTPS (TLS 1.3, keep-alive), workers %s"
          % plan["workers"])
    print("%d CPUs, %s; SQLite %s (WAL, synchronous=NORMAL), PostgreSQL %s"
          " (synchronous_commit=%s)" % (plan["cpus"], plan["cpu_model"], plan["sqlite"],
                                         plan["postgresql"], plan.get("pg_sync", "on")))
    print("%d users, %d floating + %d dedicated desktops; %s s measured per cell; p50/p99:"
          " nearest rank over every request" % (plan["users"], plan["users"], plan["users"],
                                                 plan["seconds"]))
    print("the load generator runs on the same %d CPUs; CPU %%: 100 = one core\n" % plan["cpus"])
    print("%-10s %7s  %-26s %10s %8s %8s %7s %7s %7s" % (
        "store", "clients", "operation", "requests/s", "p50 ms", "p99 ms", "errors",
        "broker", "machine"))
    print("%-10s %7s  %-26s %10s %8s %8s %7s %7s %7s" % ("", "", "", "", "", "", "", "CPU %",
                                                           "CPU %"))
    order = {op: i for i, (op, _) in enumerate(OPS)}
    rows.sort(key=lambda r: (r["store"] != "sqlite", order.get(r["op"], 9), r["clients"]))
    names = dict(OPS)
    last = None
    for r in rows:
        key = (r["store"], r["op"])
        if last and key != last:
            print()
        last = key
        print("%-10s %7d  %-26s %10.1f %8.2f %8.2f %7d %7d %7d" % (
            r["store"], r["clients"], names.get(r["op"], r["op"]), r["rps"], r["p50_ms"],
            r["p99_ms"], r["errors"], r["broker_cpu"], r["machine_cpu"]))

    print("\n== target (a compass, not a test threshold): >= %d connect decisions/s on SQLite,"
          " p99 <= %d ms" % (TARGET_RPS, TARGET_P99))
    for op in ("connect-new", "connect-resume"):
        cells = [r for r in rows if r["store"] == "sqlite" and r["op"] == op]
        if not cells:
            print("%-26s no result" % names[op])
            continue
        best = max(cells, key=lambda r: r["rps"])
        print("%-26s best %.0f/s at %d clients = %.2f x target; p99 there %.1f ms = %.2f x"
              " 20 ms; p99 by clients: %s" % (
                  names[op], best["rps"], best["clients"], best["rps"] / TARGET_RPS,
                  best["p99_ms"], best["p99_ms"] / TARGET_P99,
                  ", ".join("%d: %.1f ms" % (r["clients"], r["p99_ms"]) for r in cells)))


if __name__ == "__main__":
    main()
