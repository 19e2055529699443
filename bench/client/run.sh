#!/usr/bin/env bash
# bench/client: capture -> display latency through the real GTK client (highrise-client)
# at 1080p, for bench/agent's workloads (typing, scrolling, animation). See README.md.
#
#   bench/client/run.sh [BUILD_DIR]        (make bench runs it; BUILD_DIR defaults to build/)
#
# One Xvfb 1920x1080 holds the desktop (the agent captures it), a second Xvfb 1920x1080
# holds highrise-client at 1:1 in a 1920x1080 window, drawing with GL (Mesa llvmpipe).
# The client writes one line per shown frame (--trace): frame, capture time (the agent's
# CLOCK_REALTIME; same host, so the same clock), decode done, decode time, shown time
# (after the GL swap). report.py cuts every run to the same window and prints the table.
# BENCH_CLIENT_OUT=DIR keeps the traces and logs; BENCH_CLIENT_WORKLOADS="typing ..." runs
# a subset; BENCH_CLIENT_ARGS="--renderer cairo" adds client options, BENCH_CLIENT_AGENT_ARGS=
# "--video.fps 120" agent options. Every process started here is stopped at exit (lib.sh's trap).

. "$(dirname "$0")/../../tests/integration/lib.sh" # BUILD from $HIGHRISE_BINARY_DIR or $1
need Xvfb xdpyinfo xterm xdotool python3
need_font "DejaVu Sans Mono" fonts-dejavu-core
trap 'exit 130' INT TERM # so that lib.sh's EXIT trap stops everything on ^C too
STOP_GRACE_S=3           # lib.sh's cleanup gives what it stops 3 s to finish its last words
BUILD=$(cd "$BUILD" && pwd)
HA="$SRC/bench/agent" # the workloads are bench/agent's
BA="$BUILD/bench/agent"
CLIENT="$BUILD/client/ui/highrise-client"
need_built bench/client "$BA/bench-anim" "$CLIENT" "$BUILD/server/highrise-agent" "$BUILD/certs/highrise-ticket"

# ---- the plan (bench/agent's workloads and pace) -------------------------------------------
SETTLE=3.0    # s from the client's start to the workload's: join, first picture, refinement
TAIL=1.0      # s after the workload
KEY_DELAY=100 # ms between key events: 5 characters a second
TEXT="the quick brown fox jumps over the lazy dog again "
SCROLL_RATE=30
declare -A DUR=([typing]=10 [scrolling]=8 [animation]=8)
read -r -a WORKLOADS <<<"${BENCH_CLIENT_WORKLOADS:-typing scrolling animation}"
BENCH_CLIENT_ARGS=${BENCH_CLIENT_ARGS:-}
CLK_TCK=$(getconf CLK_TCK)
T0=$SECONDS

# ---- the desktop, the agent, the client's display ------------------------------------------
start_xvfb 1920x1080x24
D=":$DISPLAY_NUM"
xdotool_d() { DISPLAY=$D xdotool "$@"; }
xdotool_d mousemove --screen 0 1919 1079 >/dev/null 2>&1 || true
python3 "$HA/longtext.py" "$T/long.txt"
make_pki
AGENT_NAME=bench-client
# shellcheck disable=SC2086 # word splitting wanted: several options
start_agent "$AGENT_NAME" "desk x11::$DISPLAY_NUM" -- --log.level info ${BENCH_CLIENT_AGENT_ARGS:-}
Xvfb -displayfd 5 -screen 0 1920x1080x24 -nolisten tcp 5>"$T/cx.display" >"$T/cx.log" 2>&1 &
PIDS+=($!)
wait_for 20 grep -q '[0-9]' "$T/cx.display" || {
	say "bench/client: the client's Xvfb did not start"
	exit 1
}
CD=":$(tr -dc 0-9 <"$T/cx.display")"
wait_for 20 xdpyinfo -display "$CD"

# ---- scenes -----------------------------------------------------------------------------------
SCENE_PIDS=()
XTERM=(xterm -display "$D" -fa "DejaVu Sans Mono" -fs 11 -geometry 212x56+0+0 +sb)
scene_start() { # scene_start WORKLOAD
	local w=$1
	SCENE_PIDS=()
	case $w in
	typing) bg "scene-$w" "${XTERM[@]}" -e python3 "$HA/scroll.py" "$T/long.txt" 40 ;;
	scrolling)
		rm -f "$T/go"
		mkfifo "$T/go"
		bg "scene-$w" "${XTERM[@]}" -e python3 "$HA/scroll.py" "$T/long.txt" 40 \
			"$T/go" "$SCROLL_RATE" "${DUR[$w]}"
		;;
	animation) bg "scene-$w" "$BA/bench-anim" --display "$D" --frames $((DUR[$w] * 30)) --fps 30 ;;
	esac
	SCENE_PIDS+=("$LAST_PID")
	if [ "$w" = animation ]; then
		wait_for 10 grep -q '^ready' "$T/scene-$w.log"
	else
		wait_for 10 xdotool_d search --onlyvisible --class xterm
	fi
	sleep 0.8
}
scene_go() {
	case $1 in
	typing)
		local id
		# XTEST keys go to the window under the pointer (no window manager, no focus)
		xdotool_d mousemove 960 540
		xdotool_d type --delay $((2 * KEY_DELAY)) "$TEXT" &
		PIDS+=($!)
		;;
	scrolling) timeout 5 bash -c "echo go > '$T/go'" ;;
	animation) kill -USR1 "${SCENE_PIDS[0]}" ;;
	esac
}
scene_stop() {
	for p in "${SCENE_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${SCENE_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	sleep 0.3
}
cpu_ticks() { # utime + stime of PID (all its threads)
	local f
	read -r -a f <"/proc/$1/stat"
	echo $((f[13] + f[14]))
}

# ---- one run --------------------------------------------------------------------------------
run_one() { # run_one WORKLOAD
	local w=$1 out="$T/$w" cpid c0 c1 t0 t1 wid
	scene_start "$w"
	ticket "$out.ticket" bench desk
	DISPLAY=$CD bg "client-$w" "$CLIENT" --agent "127.0.0.1:$AGENT_PORT" --ticket "$out.ticket" \
		--ca "$T/pki/ca.pem" --scale 1:1 --trace "$out.trace" -v $BENCH_CLIENT_ARGS
	cpid=$LAST_PID
	wait_for 20 grep -q 'showing the desktop' "$T/client-$w.log" || {
		fail "bench/client: the client did not show the desktop ($w)"
		scene_stop
		return
	}
	wid=$(DISPLAY=$CD xdotool search --onlyvisible --name '^Highrise$' | tail -1)
	DISPLAY=$CD xdotool windowmove "$wid" 0 0 windowsize --sync "$wid" 1920 1080 || true
	sleep "$SETTLE"
	t0=$EPOCHREALTIME
	c0=$(cpu_ticks "$cpid")
	scene_go "$w"
	sleep "$(python3 -c "print(${DUR[$w]} + $TAIL)")"
	c1=$(cpu_ticks "$cpid")
	t1=$EPOCHREALTIME
	python3 -c "print(round(($c1 - $c0) / $CLK_TCK / ($t1 - $t0) * 100, 1))" >"$out.cpu"
	echo "$t0 $t1" >"$out.window"
	kill "$cpid" 2>/dev/null || true
	wait "$cpid" 2>/dev/null || true
	scene_stop
	printf '  %-10s done (%ds so far)\n' "$w" $((SECONDS - T0))
}

say "bench/client: desktop $D, client $CD, agent port $AGENT_PORT"
for w in "${WORKLOADS[@]}"; do run_one "$w"; done
first="$T/client-${WORKLOADS[0]}.log"
GL=$(sed -n 's/.*drawing with OpenGL: /OpenGL, /p; s/.*drawing with cairo: \(.*\)/cairo: \1/p' "$first" | head -1)
DEC=$(sed -n 's/.*decoder: no hardware decode: \(.*\); decoding in software/software (no VAAPI: \1)/p' "$first" | head -1)
cat >"$T/plan.json" <<EOF
{"workloads": "$(echo "${WORKLOADS[@]}")", "cpus": $(nproc),
 "cpu_model": "$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)",
 "gl": "${GL:-unknown}", "text_chars": ${#TEXT}, "scroll_rate": $SCROLL_RATE,
 "decoder": "${DEC:-see the client logs}"}
EOF
python3 "$SRC/bench/client/report.py" "$T" || fail "bench/client: report.py failed"
if [ -n "${BENCH_CLIENT_OUT:-}" ]; then
	mkdir -p "$BENCH_CLIENT_OUT" && cp -r "$T/." "$BENCH_CLIENT_OUT/"
fi
say "bench/client: total $((SECONDS - T0)) s"
[ "$FAILED" -eq 0 ]
