#!/usr/bin/env python3
# The tables of bench/agent, from what run.sh left in DIR: plan.json and, per workload W and
# side S, W-S.json (frame times and sizes), W-S.cpu (server CPU % with its children: the
# agent's workers), W-S.psnr (still text).
#   report.py DIR
# Every side is cut to the same window (plan.json: window_start .. settle + duration + tail,
# seconds after the receiver connected), so the join traffic of each side is left out and
# every rate is over the same length of the same screens.
import json
import math
import os
import sys

VIDEO_HEAD = 18  # proto/msg.h: VIDEO frame head (length, type, frame, capture time, flags)
TLS_RECORD = 22  # TLS 1.3 record: 5 header + 1 content type + 16 AEAD tag
TLS_MAX = 16384

SIDES = [("highrise", "highrise agent -> probe"), ("encoder", "raw encoder (ceiling)"),
         ("tight", "x11vnc Tight"), ("zrle", "x11vnc ZRLE")]
# highrise-probe's "frame_stages_ms" rows: client/stats.h enum stats_stage up to decode
STAGES = ["capture", "wait", "convert", "encode", "link", "queue", "network", "decode"]
WORKLOADS = {
    "idle": "idle: xterm with 40 lines of text, nothing changes",
    "typing": "typing: {chars} characters at 5 chars/s into xterm (key down/up {kd} ms apart)",
    "scrolling": "scrolling: xterm prints a long text file at {rate} lines/s",
    "animation": "animation: full-screen plasma + text ticker + moving box, 30 fps",
}


def pct(values, p):
    """Nearest rank, like client/stats.c: the smallest value with p% at or below it."""
    if not values:
        return None
    v = sorted(values)
    return v[max(1, math.ceil(p / 100 * len(v))) - 1]


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_num(path):
    try:
        with open(path) as f:
            t = f.read().strip()
        return math.inf if t == "inf" else float(t)
    except (OSError, ValueError):
        return None


def tls_bytes(n):
    """n message bytes in TLS 1.3 records: at least one record, one per 16 KiB (estimated)."""
    return n + TLS_RECORD * max(1, math.ceil(n / TLS_MAX))


def measure(d, side, w, plan, base):
    ws = plan["window_start"]
    we = plan["settle"] + plan["durations"][w] + plan["tail"]
    dur = we - ws
    r = {"ok": d is not None, "dur": dur}
    if d is None:
        return r
    t = d.get("frame_ms", [])
    idx = [i for i, x in enumerate(t) if ws * 1000 <= x <= we * 1000]
    sizes = d.get("frame_bytes", [])
    if side == "highrise":
        # every message since the previous frame (VIDEO, CURSOR, PING...), then TLS
        total = d["frame_bytes_total"]
        nbytes = sum(tls_bytes(total[i] - (total[i - 1] if i else 0)) for i in idx)
        lat = [d["frame_latency_ms"][i] for i in idx]
        r["lat"] = (pct(lat, 50), pct(lat, 99))
        rows = d.get("frame_stages_ms") or []
        timed = [rows[i] for i in idx if i < len(rows) and rows[i]]
        r["timed"] = len(timed)
        r["stages"] = [(pct([t[k] for t in timed], 50), pct([t[k] for t in timed], 99))
                       for k in range(len(STAGES))]
    else:
        nbytes = sum(sizes[i] for i in idx)
    r["frames"] = len(idx)
    r["fps"] = len(idx) / dur
    r["bytes"] = nbytes
    r["kbps"] = nbytes * 8 / dur / 1000
    if side == "encoder":
        enc = [d["encode_ms"][i] for i in idx]
        r["enc"] = (pct(enc, 50), pct(enc, 99))
        r["cpu"] = sum(d["cpu_ms"][i] for i in idx) / (dur * 1000) * 100
        r["truncated"] = d.get("truncated", False)
        # decoded against the pixels the encoder was given, frames of motion only
        ps = [d["frame_psnr"][i] for i in idx
              if "frame_psnr" in d and not d["frame_refine"][i] and d["frame_psnr"][i] >= 0]
        if ps:
            r["motion_psnr"] = (pct(ps, 50), min(ps))
    else:
        r["cpu"] = read_num(base + ".cpu")
        k = d.get("input_to_frame_ms") or {}
        if d.get("inputs_timed"):
            r["key"] = (k.get("p50"), k.get("p99"))
            r["keys"] = d["inputs_timed"]
    r["psnr"] = read_num(base + ".psnr")
    if side == "highrise" and idx:
        refine = d.get("frame_refine", [])
        changes = [i for i in idx if not refine[i]]
        if changes:
            last = changes[-1]
            after = [i for i in idx if i > last and refine[i]]
            r["refine_ms"] = t[after[0]] - t[last] if after else None
            r["refine_bytes"] = sizes[after[0]] if after else None
    return r


def f(v, fmt="{:.1f}", width=7):
    if v is None:
        return "-".rjust(width)
    if v == math.inf:
        return "inf".rjust(width)
    return fmt.format(v).rjust(width)


def ratio(a, b):
    if a is None or b is None:
        return None
    if b == 0:
        return 0.0 if a == 0 else math.inf
    return a / b


def anim_rate(path):
    """bench-anim's own "done N frames in S s": how fast the workload ran beside this side."""
    try:
        with open(path) as f:
            for line in f:
                p = line.split()
                if p[:1] == ["done"] and len(p) >= 5:
                    return int(p[1]) / float(p[4])
    except (OSError, ValueError, ZeroDivisionError):
        pass
    return None


def cpu_split(path):
    """run.sh's W-S.cpusplit: "SELF CHILDREN", the server's own CPU % and its children's."""
    try:
        with open(path) as f:
            a, b = f.read().split()
        return float(a), float(b)
    except (OSError, ValueError):
        return None


def main():
    out = sys.argv[1]
    plan = load(os.path.join(out, "plan.json"))
    res = {}
    for w in WORKLOADS:
        for s, _ in SIDES:
            base = os.path.join(out, "%s-%s" % (w, s))
            res[w, s] = measure(load(base + ".json"), s, w, plan, base)

    print("bench-agent: highrise-agent on Xvfb 1920x1080x24 next to x11vnc %s (libvncclient %s)"
          % (plan["x11vnc"], plan["libvncclient"]))
    print("%d CPUs, %s; every side runs alone on the same display and the same scripted screens"
          % (plan["cpus"], plan["cpu_model"]))
    print("window: %.1f s after connecting until the receiver stops (workload + %.1f s still);"
          % (plan["window_start"], plan["tail"]))
    print("p50/p99 are nearest-rank percentiles over the frames (updates) in the window\n")

    hdr1 = ("%-24s %7s %8s %15s %15s %15s %6s %6s"
            % ("", "", "", "encode ms", "capture->decode", "key->update ms", "", "text"))
    hdr2 = ("%-24s %7s %8s %7s %7s %7s %7s %7s %7s %6s %6s"
            % ("side", "fps", "kbit/s", "p50", "p99", "p50", "p99", "p50", "p99", "CPU %", "PSNR"))
    for w, title in WORKLOADS.items():
        print("== " + title.format(chars=plan["text_chars"], kd=plan["key_delay_ms"],
                                   rate=plan["scroll_rate"])
              + " (window %.1f s)" % res[w, "highrise"]["dur"])
        print(hdr1)
        print(hdr2)
        for s, name in SIDES:
            r = res[w, s]
            if not r["ok"]:
                print("%-24s  no result (see the logs)" % name)
                continue
            enc = r.get("enc", (None, None))
            lat = r.get("lat", (None, None))
            key = r.get("key", (None, None))
            print("%-24s %s %s %s %s %s %s %s %s %s %s" % (
                name, f(r["fps"]), f(r["kbps"], width=8), f(enc[0], "{:.2f}"),
                f(enc[1], "{:.2f}"), f(lat[0]), f(lat[1]), f(key[0]), f(key[1]),
                f(r["cpu"], width=6), f(r["psnr"], width=6)))
        ours = res[w, "highrise"]
        notes = []
        for s, name in SIDES[2:]:
            p = res[w, s]
            if not p["ok"] or not ours["ok"]:
                continue
            parts = ["kbit/s %s" % f(ratio(ours["kbps"], p["kbps"]), "{:.3f}", 0).strip()]
            if "key" in ours and "key" in p:
                parts.append("key->update p50 %s" % f(ratio(ours["key"][0], p["key"][0]),
                                                      "{:.2f}", 0).strip())
            parts.append("CPU %s" % f(ratio(ours["cpu"], p["cpu"]), "{:.2f}", 0).strip())
            notes.append("ours/%s: %s" % (name.split()[-1], ", ".join(parts)))
        c = res[w, "encoder"]
        if ours["ok"] and c["ok"]:
            notes.append("ours/ceiling: fps %s, kbit/s %s" % (
                f(ratio(ours["fps"], c["fps"]), "{:.2f}", 0).strip(),
                f(ratio(ours["kbps"], c["kbps"]), "{:.2f}", 0).strip()))
            if c.get("truncated"):
                notes.append("(the ceiling's recording hit its memory cap: fewer frames)")
            if c.get("motion_psnr"):
                notes.append("mid-motion PSNR (the ceiling's frames decoded against the pixels it"
                             " encoded): p50 %.1f dB, worst %.1f dB" % c["motion_psnr"])
        if w == "animation":
            label = {"highrise": "highrise", "encoder": "ceiling", "tight": "Tight",
                     "zrle": "ZRLE"}
            rates = [(label[s], anim_rate(os.path.join(out, "scene-animation-%s.log" % s)))
                     for s, _ in SIDES]
            notes.append("the animation itself drew " + ", ".join(
                "%s %s fps" % (n, f(r, width=0).strip()) for n, r in rates)
                + " (30 asked; late frames are drawn late, never skipped)")
        split = cpu_split(os.path.join(out, "%s-highrise.cpusplit" % w))
        if ours["ok"] and split:
            notes.append("highrise CPU: agent process %.1f %% + its workers %.1f %%" % split)
        if ours.get("refine_ms") is not None:
            notes.append("refinement frame %.0f ms after the last change, %.1f KB (%.0f%% of"
                         " the window's bytes)" % (ours["refine_ms"], ours["refine_bytes"] / 1e3,
                                                   100 * ours["refine_bytes"] / ours["bytes"]))
        for n in notes:
            print("  " + n)
        print()

    # ---- where the time went (highrise only: VIDEO's stage times + the probe's own) ----
    print("== where the time went: highrise's p50 / p99 in ms per stage over the window's"
          " frames (docs/protocol.md 5.5)")
    print("%-10s %6s %s %11s" % ("workload", "timed", " ".join("%11s" % n for n in STAGES),
                                 "capt->dec"))
    for w in WORKLOADS:
        r = res[w, "highrise"]
        if not r.get("timed"):
            print("%-10s  no frame with stage times" % w)
            continue
        cell = lambda a, b: "%11s" % ("%s/%s" % (f(a, "{:.2f}", 0).strip(),
                                               f(b, "{:.1f}", 0).strip()))
        print("%-10s %6d %s %s" % (w, r["timed"], " ".join(cell(a, b) for a, b in r["stages"]),
                                   cell(*r["lat"])))
    print()

    # ---- targets (a compass, not test thresholds) ----
    rows = []

    def target(name, measured, met):
        rows.append((name, measured, "yes" if met else ("NO" if met is not None else "n/a")))

    h = lambda w: res[w, "highrise"]
    idle = h("idle")
    target("idle: 0 kbit/s", "%s kbit/s, %d frames" % (f(idle.get("kbps"), width=0).strip(),
                                                        idle.get("frames", 0)),
           idle["ok"] and idle["frames"] == 0)
    ty, tz, tt = h("typing"), res["typing", "zrle"], res["typing", "tight"]
    if ty["ok"] and tz["ok"]:
        target("typing: bytes <= x11vnc ZRLE's", "%d vs %d B (%.2fx)" % (
            ty["bytes"], tz["bytes"], ratio(ty["bytes"], tz["bytes"])), ty["bytes"] <= tz["bytes"])
    else:
        target("typing: bytes <= x11vnc ZRLE's", "missing", None)
    peers = [p["key"][0] for p in (tt, tz) if p["ok"] and p.get("key") and p["key"][0]]
    if ty.get("key") and ty["key"][0] is not None and peers:
        best = min(peers)
        target("typing: key->update p50 <= 0.3 x x11vnc's", "%.1f vs %.1f ms (%.2fx; faster peer)"
               % (ty["key"][0], best, ty["key"][0] / best), ty["key"][0] <= 0.3 * best)
    else:
        target("typing: key->update p50 <= 0.3 x x11vnc's", "missing", None)
    sc, sz = h("scrolling"), res["scrolling", "zrle"]
    if sc["ok"] and sz["ok"]:
        target("scrolling: bytes <= 0.15 x x11vnc ZRLE's", "%d vs %d B (%.3fx)" % (
            sc["bytes"], sz["bytes"], ratio(sc["bytes"], sz["bytes"])),
            sc["bytes"] <= 0.15 * sz["bytes"])
    else:
        target("scrolling: bytes <= 0.15 x x11vnc ZRLE's", "missing", None)
    an, at = h("animation"), res["animation", "tight"]
    if an["ok"] and at["ok"]:
        target("animation: bytes <= 0.25 x x11vnc Tight's", "%d vs %d B (%.3fx)" % (
            an["bytes"], at["bytes"], ratio(an["bytes"], at["bytes"])),
            an["bytes"] <= 0.25 * at["bytes"])
    else:
        target("animation: bytes <= 0.25 x x11vnc Tight's", "missing", None)
    mp = res["animation", "encoder"].get("motion_psnr")
    target("animation: PSNR >= 35 dB mid-motion (p50)",
           "%.1f dB (worst %.1f)" % mp if mp else "missing", mp[0] >= 35 if mp else None)
    for w, what, within in (("typing", "text", 1000), ("scrolling", "text", 1000),
                            ("animation", "colour", 500)):
        r = h(w)
        ok = (r.get("psnr") is not None and r.get("refine_ms") is not None
              and r["psnr"] >= 45 and r["refine_ms"] <= within)
        target("%s: still %s PSNR >= 45 dB within %.1f s" % (w, what, within / 1000),
               "%s dB, refined after %s ms" % (
                   f(r.get("psnr"), width=0).strip(),
                   f(r.get("refine_ms"), "{:.0f}", 0).strip()),
               ok if r["ok"] else None)
    # issue 14's compass: typing as before, scrolling <= 10 / 25, animation <= 12 / 25 ms
    bounds = {"typing": (10, 20), "scrolling": (10, 25), "animation": (12, 25)}
    for w in WORKLOADS:
        r = h(w)
        lat = r.get("lat", (None, None))
        b50, b99 = bounds.get(w, (10, 20))
        name = "%s: capture->decoded p50 <= %d, p99 <= %d ms" % (w, b50, b99)
        if lat[0] is None:
            target(name, "no frames", None)
            continue
        target(name, "p50 %.1f, p99 %.1f ms" % lat, lat[0] <= b50 and lat[1] <= b99)
    print("== targets (a compass, not test thresholds)")
    print("%-52s %-40s %s" % ("target", "measured", "met"))
    for name, measured, met in rows:
        print("%-52s %-40s %s" % (name, measured, met))
    met = sum(1 for r in rows if r[2] == "yes")
    print("%d of %d targets met" % (met, len(rows)))
    print("\nours = every message the probe received in the window (VIDEO with its %d B head,"
          " CURSOR, PING...)" % VIDEO_HEAD)
    print("  + TLS 1.3 records (%d B per record, one per frame and per 16 KiB: estimated);"
          % TLS_RECORD)
    print("x11vnc = every byte its socket received in the window (TCP_INFO), RFB headers"
          " included;")
    print("ceiling = the raw H.264 of the agent's capture backend + encoder on the same screens;")
    print("CPU % = the server (agent, x11vnc) with its child processes (the agent's workers)"
          " over the workload,")
    print("  100 = one core; ceiling: encoder CPU / window")


if __name__ == "__main__":
    main()
