#!/usr/bin/env bash
# bench/audio: the desktop's sound, mouth to ear, and what it costs. See README.md.
#
#   bench/audio/run.sh [BUILD_DIR]        (make bench runs it; BUILD_DIR defaults to build/)
#
# Two private PulseAudio servers on loopback: the desktop's (the agent captures its sink
# "d1") and the client's (highrise-probe plays into its sink "speakers" with the default
# jitter buffer). A click train played into d1 is recorded from both monitors by
# bench-clicklat, which pairs the clicks: mouth-to-ear latency, p50 and p99, and drift (the
# last ten clicks against the first ten). In the same run, the floor: the same PulseAudio
# capture and playback settings looped straight from one sink to another, no codec, no
# network. Then kbit/s for speech-like, music-like and silent input (wavtone), and CPU %
# of the agent (capture + encode) and the probe (decode + playback).
#
# BENCH_AUDIO_SECONDS (60): the latency runs' length; BENCH_AUDIO_DRIFT_SECONDS (600): the
# long run for drift (0: skip it). BENCH_AUDIO_OUT=DIR keeps the logs.
. "$(dirname "$0")/../../tests/integration/lib.sh" # BUILD from $HIGHRISE_BINARY_DIR or $1
need Xvfb xdpyinfo pulseaudio pactl paplay python3
trap 'exit 130' INT TERM
BUILD=$(cd "$BUILD" && pwd)
CL=$BUILD/bench/audio/bench-clicklat
WT=$BUILD/tests/fixtures/sound/wavtone
need_built bench/audio "$CL" "$WT" "$BUILD/server/highrise-agent" "$BUILD/client/highrise-probe"
SECS=${BENCH_AUDIO_SECONDS:-60}
DRIFT=${BENCH_AUDIO_DRIFT_SECONDS:-600}
[ -z "${BENCH_AUDIO_OUT:-}" ] || CLEANUPS+=("mkdir -p '$BENCH_AUDIO_OUT' && cp -r '$T'/. '$BENCH_AUDIO_OUT'/")
CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

start_pulse desk
DESK=$PA_SERVER
start_pulse cli
CLI=$PA_SERVER
speakers "$CLI"
PULSE_SERVER=$DESK pactl load-module module-null-sink sink_name=floor-in >/dev/null
PULSE_SERVER=$CLI pactl load-module module-null-sink sink_name=floor-out >/dev/null
start_xvfb 640x480x24
make_pki
AGENT_NAME=bench-audio
start_agent "$AGENT_NAME" "d1 x11::$DISPLAY_NUM audio=pulse:d1" -- --audio.server "$DESK" \
	--log.level info
wait_for 10 has_sink "$DESK" d1 || { say "bench/audio: the agent made no sink d1"; exit 1; }

# latency RUN SECONDS: clicks into d1 while the probe plays into the client's speakers,
# recorded on both sides; prints clicklat's summary line
latency() {
	local run=$1 secs=$2
	"$WT" clicks "$T/clicks-$run.wav" "$secs" 500
	ticket "$T/t-$run" bench d1
	PULSE_SERVER=$CLI "$BUILD/client/highrise-probe" --agent "127.0.0.1:$AGENT_PORT" --ticket "$T/t-$run" \
		--ca "$T/pki/ca.pem" --json -q --audio-sink speakers \
		--seconds "$((secs + 7))" >"$T/probe-$run.json" 2>"$T/probe-$run.log" &
	local pp=$!
	# the recorders first: a null sink's monitor starts moving ~2 s after it is attached
	"$CL" --mouth "$DESK,d1" --ear "$CLI,speakers" --seconds "$((secs + 5))" >"$T/lat-$run.txt" &
	local cp=$!
	sleep 3
	PULSE_SERVER=$DESK paplay -d d1 "$T/clicks-$run.wav" || true
	wait "$cp" || true
	wait "$pp" || true
	tail -1 "$T/lat-$run.txt"
}
floor() {
	local secs=$1
	"$WT" clicks "$T/clicks-floor.wav" "$secs" 500
	"$CL" --loop --mouth "$DESK,floor-in" --ear "$CLI,floor-out" --seconds "$((secs + 5))" \
		>"$T/lat-floor.txt" &
	local cp=$!
	sleep 3
	PULSE_SERVER=$DESK paplay -d floor-in "$T/clicks-floor.wav" || true
	wait "$cp" || true
	tail -1 "$T/lat-floor.txt"
}
# cost KIND: kbit/s of the AUDIO stream and CPU % of agent and probe for 10 s of KIND input
cost() {
	local kind=$1
	if [ "$kind" = silence ]; then "$WT" silence "$T/in-$kind.wav" 14; else "$WT" "$kind" "$T/in-$kind.wav" 14; fi
	ticket "$T/t-$kind" bench d1
	PULSE_SERVER=$DESK paplay -d d1 "$T/in-$kind.wav" &
	local tp=$!
	sleep 1
	PULSE_SERVER=$CLI "$BUILD/client/highrise-probe" --agent "127.0.0.1:$AGENT_PORT" --ticket "$T/t-$kind" \
		--ca "$T/pki/ca.pem" --json -q --seconds 12 --audio-sink speakers \
		>"$T/cost-$kind.json" 2>"$T/cost-$kind.log" &
	local pp=$!
	sleep 1.5
	local a0 p0 a1 p1
	a0=$(cpu_ticks "$AGENT_PID")
	p0=$(cpu_ticks "$pp")
	sleep 10
	a1=$(cpu_ticks "$AGENT_PID")
	p1=$(cpu_ticks "$pp" 2>/dev/null || echo "$p0")
	wait "$pp" || true
	wait "$tp" || true
	local kbps
	kbps=$(json "$T/cost-$kind.json" 'd["audio"]["kbps"]')
	echo "$kind $kbps $(((a1 - a0) * 1000 / CLK_TCK / 10)) $(((p1 - p0) * 1000 / CLK_TCK / 10))"
}

say "bench/audio: $SECS s latency runs, drift over ${DRIFT} s, $(nproc) cores"
ours=$(latency ours "$SECS")
flo=$(floor "$SECS")
costs=()
for k in speech music silence; do costs+=("$(cost "$k")"); done
drift=""
[ "$DRIFT" -gt 0 ] && drift=$(latency drift "$DRIFT")

python3 - "$ours" "$flo" "$drift" "${costs[@]}" <<'PY'
import sys
def kv(line):
    return dict(x.split("=") for x in line.split()) if line else {}
ours, floor, drift = kv(sys.argv[1]), kv(sys.argv[2]), kv(sys.argv[3])
print()
print("| mouth to ear (loopback) | clicks heard (missed) | p50 ms | p99 ms |")
print("|---|---|---|---|")
print(f"| Highrise: desktop sink -> agent -> Opus -> TLS -> probe -> client sink | {ours['clicks']} ({ours['missed']}) | {ours['p50_ms']} | {ours['p99_ms']} |")
print(f"| floor: the same PulseAudio capture + playback, looped, no codec/network | {floor['clicks']} ({floor['missed']}) | {floor['p50_ms']} | {floor['p99_ms']} |")
r50 = float(ours['p50_ms']) / float(floor['p50_ms']) if float(floor['p50_ms']) else 0
r99 = float(ours['p99_ms']) / float(floor['p99_ms']) if float(floor['p99_ms']) else 0
print(f"| ratio ours / floor | | {r50:.2f} | {r99:.2f} |")
print()
if drift:
    d = float(drift['last_ms']) - float(drift['first_ms'])
    print(f"drift over the long run ({drift['clicks']} clicks): first ten {drift['first_ms']} ms, "
          f"last ten {drift['last_ms']} ms: {d:+.1f} ms (target <= 10 ms)")
    print()
print("| input | kbit/s (AUDIO payload) | agent CPU % (capture + encode) | probe CPU % (decode + playback) |")
print("|---|---|---|---|")
for line in sys.argv[4:]:
    k, kbps, a, p = line.split()
    print(f"| {k} | {float(kbps):.1f} | {int(a) / 10:.1f} | {int(p) / 10:.1f} |")
print()
print("targets (a compass): p50 <= 40 ms, p99 <= 60 ms; silence <= 1 kbit/s; drift <= 10 ms")
PY
