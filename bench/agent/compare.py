#!/usr/bin/env python3
# bench/agent's before/after table, from what run.sh left in DIR with BENCH_AGENT_BASELINE:
# baseline.json, plan.json and, per workload W and repetition R, W-before-R.* (the baseline
# build's agent) and W-after-R.* (BUILD's), each with .json (the probe's frames), .cpu (the
# agent and its workers, CPU %) and .cpusplit ("AGENT WORKERS" CPU %).
#   compare.py DIR
# Every number is the median over the repetitions of that run's own value (capture->decode
# p50 and p99 over the frames of the window, CPU over the window), report.py's window.
# Issue 9's bounds for the worker process: p50 capture->decoded at most 1 ms more, and on the
# animation the agent's CPU (now the agent plus its worker) at most 5 % more.
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import WORKLOADS, cpu_split, load, measure  # noqa: E402

P50_BOUND_MS = 1.0
CPU_BOUND_REL = 5.0  # %, on the animation


def med(values):
    v = [x for x in values if x is not None]
    return statistics.median(v) if v else None


def fmt(v, spec="{:.1f}", width=6):
    return ("-" if v is None else spec.format(v)).rjust(width)


def main():
    out = sys.argv[1]
    plan = load(os.path.join(out, "plan.json"))
    meta = load(os.path.join(out, "baseline.json"))
    reps = meta["reps"]
    workloads = [w for w in meta["workloads"].split() if w in WORKLOADS]

    res = {}  # (w, which) -> list of per-repetition dicts
    for w in workloads:
        for which in ("before", "after"):
            runs = []
            for r in range(1, reps + 1):
                base = os.path.join(out, "%s-%s-%d" % (w, which, r))
                m = measure(load(base + ".json"), "highrise", w, plan, base)
                m["split"] = cpu_split(base + ".cpusplit") or (None, None)
                runs.append(m)
            res[w, which] = runs

    print("== before/after: the highrise side with two agents, everything else from BUILD")
    for which in ("before", "after"):
        print("  %-6s %s (%s)" % (which, meta[which]["build"], meta[which]["rev"]))
    print("  %d repetitions each, interleaved (before, after, before, after ...), one at a time;"
          " medians over the repetitions" % reps)
    print("  CPU % = the agent process + its worker processes over the window, 100 = one core\n")
    print("%-10s %15s %15s %7s %7s %7s %15s" % ("", "before", "after", "", "before", "after",
                                                 "delta CPU"))
    print("%-10s %15s %15s %7s %7s %7s %7s %7s" % (
        "workload", "cap->dec p50/99", "cap->dec p50/99", "dp50 ms", "CPU %", "CPU %", "pp",
        "rel %"))
    summary = {}
    for w in workloads:
        row = {}
        for which in ("before", "after"):
            runs = [m for m in res[w, which] if m["ok"] and m.get("lat")]
            row[which] = {
                "n": len(runs),
                "p50": med(m["lat"][0] for m in runs),
                "p99": med(m["lat"][1] for m in runs),
                "cpu": med(m.get("cpu") for m in runs),
                "fps": med(m["fps"] for m in runs),
                "agent": med(m["split"][0] for m in runs),
                "workers": med(m["split"][1] for m in runs),
            }
        b, a = row["before"], row["after"]
        dp50 = a["p50"] - b["p50"] if None not in (a["p50"], b["p50"]) else None
        dpp = a["cpu"] - b["cpu"] if None not in (a["cpu"], b["cpu"]) else None
        rel = dpp / b["cpu"] * 100 if dpp is not None and b["cpu"] else None
        summary[w] = (dp50, dpp, rel, b, a)
        lat = lambda x: "%s/%s" % (fmt(x["p50"], width=0), fmt(x["p99"], width=0))
        print("%-10s %15s %15s %7s %7s %7s %7s %7s" % (
            w, lat(b), lat(a), fmt(dp50, "{:+.2f}", 7), fmt(b["cpu"], width=7),
            fmt(a["cpu"], width=7), fmt(dpp, "{:+.1f}", 7), fmt(rel, "{:+.1f}", 7)))
    print()
    for w in workloads:
        dp50, dpp, rel, b, a = summary[w]
        print("  %s: fps before %s, after %s; after's CPU = agent %s + workers %s %%"
              " (before: agent %s + %s)" % (
                  w, fmt(b["fps"], width=0), fmt(a["fps"], width=0), fmt(a["agent"], width=0),
                  fmt(a["workers"], width=0), fmt(b["agent"], width=0),
                  fmt(b["workers"], width=0)))
        for which in ("before", "after"):
            runs = res[w, which]
            print("    %-6s per run: p50 %s; CPU %s; fps %s" % (
                which,
                " ".join(fmt(m.get("lat", (None,))[0], width=0) for m in runs),
                " ".join(fmt(m.get("cpu"), width=0) for m in runs),
                " ".join(fmt(m.get("fps"), width=0) for m in runs)))
        missing = reps - min(b["n"], a["n"])
        if missing:
            print("    (%d run(s) without a result: see the logs)" % missing)

    verdicts = []
    p50s = [(w, s[0]) for w, s in summary.items()]
    if all(d is not None for _, d in p50s) and p50s:
        ok = all(d <= P50_BOUND_MS for _, d in p50s)
        verdicts.append("capture->decoded p50 +<= %.0f ms: %s (%s)" % (
            P50_BOUND_MS, "yes" if ok else "NO",
            ", ".join("%s %+.2f ms" % (w, d) for w, d in p50s)))
    else:
        verdicts.append("capture->decoded p50 +<= %.0f ms: n/a (missing runs)" % P50_BOUND_MS)
    if "animation" in summary and summary["animation"][2] is not None:
        _, dpp, rel, _, _ = summary["animation"]
        verdicts.append("animation CPU +<= %.0f %%: %s (%+.1f %% relative, %+.1f"
                        " percentage points)" % (CPU_BOUND_REL,
                                                 "yes" if rel <= CPU_BOUND_REL else "NO",
                                                 rel, dpp))
    else:
        verdicts.append("animation CPU +<= %.0f %%: n/a (no animation runs)" % CPU_BOUND_REL)
    print("\nissue 9's bounds for the process boundary: " + "; ".join(verdicts))


if __name__ == "__main__":
    main()
