#!/usr/bin/env bash
# bench/agent/vm.sh: highrise-agent on one real QEMU VM through its two consoles, SPICE and
# VNC, side by side (see README.md, "SPICE against VNC"). remote-viewer's own connection
# cannot be measured headless, so the peer is the VNC backend on the same VM, same run.
#
#   bench/agent/vm.sh [BUILD_DIR]     (make bench runs it; BUILD_DIR defaults to build/)
#
# Workloads: idle (the shell prompt, nothing changes) and typing (50 characters typed by the
# probe into the guest's shell at 5 a second). Each runs BENCH_VM_REPS times (3) per console,
# interleaved, one at a time. BENCH_VM_OUT=DIR keeps every JSON and log.
. "$(dirname "$0")/../../tests/integration/lib.sh"
need qemu-system-x86_64 python3
trap 'exit 130' INT TERM
BUILD=$(cd "$BUILD" && pwd)
need_built bench/agent "$BUILD/server/highrise-agent" "$BUILD/client/highrise-probe" \
	"$BUILD/certs/highrise-ticket"
VM=$SRC/tests/fixtures/vm
REPS=${BENCH_VM_REPS:-3}
SETTLE=2.5   # s from joining to the workload: first picture and refinement
WSTART=2.0   # s: the measured window starts here
TAIL=1.5     # s after the workload
KEY_DELAY=100
TEXT="echo the quick brown fox jumps over the lazy dog"
declare -A DUR=([idle]=5 [typing]=11)

say "bench/agent/vm: booting the VM (VNC and SPICE)..."
eval "$("$VM/start.sh" --run-dir "$T/vm" --vnc auto --spice auto 2>"$T/vm-start.log")" || {
	say "bench/agent/vm: the VM did not boot (see $T/vm-start.log)"
	exit 1
}
CLEANUPS+=("'$VM/stop.sh' '$T/vm' >/dev/null 2>&1")
say "VM up in ${HR_VM_BOOT_SECONDS}s ($HR_VM_ACCEL): VNC $HR_VM_VNC_PORT, SPICE $HR_VM_SPICE_PORT"
make_pki
AGENT_NAME=bench-vm
start_agent "$AGENT_NAME" "vnc vnc://127.0.0.1:$HR_VM_VNC_PORT" \
	"spice spice://127.0.0.1:$HR_VM_SPICE_PORT audio=off mic=off" -- --log.level info

run_one() { # run_one WORKLOAD CONSOLE REP
	local w=$1 c=$2 out="$T/$1-$2-$3" total typing=()
	total=$(python3 -c "print($SETTLE + ${DUR[$w]} + $TAIL)")
	[ "$w" = typing ] && typing=(--sleep "$(python3 -c "print(int($SETTLE * 1000))")" \
		--key-delay "$KEY_DELAY" --type "$TEXT\n")
	ticket "$out.ticket" bench "$c"
	probe "$out.json" "$out.ticket" --seconds "$total" "${typing[@]}" 2>"$out.err" || true
	# clear the shell's screen for the next run, from the monitor (not measured)
	python3 "$VM/vmctl.py" --monitor "$HR_VM_MONITOR" type "clear" >/dev/null 2>&1 || true
	sleep 1
}

for w in idle typing; do
	for r in $(seq "$REPS"); do
		for c in vnc spice; do
			say "  $w on $c, run $r of $REPS"
			run_one "$w" "$c" "$r"
		done
	done
done

python3 - "$T" "$REPS" "$WSTART" "$SRC/bench/agent" <<'PY'
import json, sys, statistics
T, reps, wstart = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]) * 1000
sys.path.insert(0, sys.argv[4])
from report import pct, ratio  # run.sh's nearest rank and ratio: one rule for both tables
def one(path):
    d = json.load(open(path))
    ms, tot = d.get("frame_ms") or [], d.get("frame_bytes_total") or []
    lat = d.get("frame_latency_ms") or []
    end = d["seconds"] * 1000
    inw = [i for i, t in enumerate(ms) if t >= wstart]
    b0 = tot[inw[0] - 1] if inw and inw[0] > 0 else (tot[0] if tot else 0)
    b1 = d.get("bytes_total", 0)
    secs = max(0.001, (end - wstart) / 1000)
    k = d.get("input_to_frame_ms") or {}
    return {"fps": len(inw) / secs, "kbps": (b1 - b0) * 8 / 1000 / secs,
            "lat": [lat[i] for i in inw if i < len(lat)],
            "key50": k.get("p50"), "key99": k.get("p99"), "ok": d.get("ok")}
def f(x, n=1):
    return "-" if x is None else ("%.*f" % (n, x))
print()
print("SPICE against VNC: one VM (720x400 text console), highrise-agent -> highrise-probe,")
print("median over %d runs each (window from %.1f s)" % (reps, wstart / 1000))
print()
print("| workload | console | fps | kbit/s | capture->decode ms p50/p99 | key->update ms p50/p99 |")
print("|---|---|---|---|---|---|")
res = {}
for w in ("idle", "typing"):
    for c in ("vnc", "spice"):
        runs = [one("%s/%s-%s-%d.json" % (T, w, c, r)) for r in range(1, reps + 1)]
        med = lambda key: statistics.median([r[key] for r in runs if r[key] is not None]) \
            if any(r[key] is not None for r in runs) else None
        lat = [x for r in runs for x in r["lat"]]
        row = {"fps": med("fps"), "kbps": med("kbps"), "l50": pct(lat, 50), "l99": pct(lat, 99),
               "k50": med("key50"), "k99": med("key99")}
        res[(w, c)] = row
        print("| %s | %s | %s | %s | %s / %s | %s / %s |" % (w, c, f(row["fps"]), f(row["kbps"]),
              f(row["l50"]), f(row["l99"]), f(row["k50"]), f(row["k99"])))
print()
for w in ("idle", "typing"):
    s, v = res[(w, "spice")], res[(w, "vnc")]
    print("%s: SPICE/VNC kbit/s %s, key->update p50 %s, p99 %s" % (
        w, f(ratio(s["kbps"], v["kbps"]), 2), f(ratio(s["k50"], v["k50"]), 2),
        f(ratio(s["k99"], v["k99"]), 2)))
PY
[ -z "${BENCH_VM_OUT:-}" ] || { mkdir -p "$BENCH_VM_OUT" && cp -r "$T"/. "$BENCH_VM_OUT"/; }
