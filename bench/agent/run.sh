#!/usr/bin/env bash
# bench/agent: highrise-agent end to end on a real 1920x1080 Xvfb desktop, next to the
# peer users would pick instead (x11vnc, Tight and ZRLE, read by a libvncclient
# receiver) and the raw encoder on the same frames (the ceiling). See README.md.
#
#   bench/agent/run.sh [BUILD_DIR]        (make bench runs it; BUILD_DIR defaults to build/)
#
# Four scripted workloads, each run four times in a row, one side at a time, on
# the same display: highrise (agent -> highrise-probe), raw encoder, x11vnc Tight,
# x11vnc ZRLE. Every process started here is killed at exit (lib.sh's trap).
# BENCH_AGENT_OUT=DIR keeps what every run wrote (JSON, screenshots, logs) in DIR;
# BENCH_AGENT_WORKLOADS="typing ..." and BENCH_AGENT_SIDES="highrise ..." run a subset.
# BENCH_AGENT_BASELINE=OTHER_BUILD: the highrise side runs BENCH_AGENT_REPS times (5) with
# OTHER_BUILD's highrise-agent ("before") and BUILD's ("after"), interleaved, one at a time;
# compare.py prints the difference (the probe and every other tool come from BUILD).
# BENCH_AGENT_ARGS="--video.fps 60 ..." adds agent options (to both agents).

. "$(dirname "$0")/../../tests/integration/lib.sh" # BUILD from $HIGHRISE_BINARY_DIR or $1
need Xvfb xdpyinfo xterm x11vnc xdotool import compare python3 openssl pgrep
need_font "DejaVu Sans Mono" fonts-dejavu-core
trap 'exit 130' INT TERM # so that lib.sh's EXIT trap stops everything on ^C too
STOP_GRACE_S=3           # lib.sh's cleanup gives what it stops 3 s to finish its last words
BUILD=$(cd "$BUILD" && pwd)
HERE="$SRC/bench/agent"
BA="$BUILD/bench/agent"
need_built bench/agent "$BA/bench-anim" "$BA/bench-vnc-recv" "$BA/bench-encoder" \
	"$BUILD/server/highrise-agent" "$BUILD/client/highrise-probe" "$BUILD/certs/highrise-ticket"
BASE=${BENCH_AGENT_BASELINE:-}
if [ -n "$BASE" ]; then
	[ -x "$BASE/server/highrise-agent" ] || {
		say "bench/agent: $BASE/server/highrise-agent (BENCH_AGENT_BASELINE) is missing"
		exit 1
	}
	BASE=$(cd "$BASE" && pwd)
fi
REPS=1
[ -z "$BASE" ] || REPS=${BENCH_AGENT_REPS:-5}

# ---- the plan ---------------------------------------------------------------------------
SETTLE=2.5  # s from a receiver's start to the workload's start: join, first picture, refinement
WSTART=2.0  # s: the measured window starts here, after every side's join traffic
TAIL=1.5    # s after the workload: the still screen's refinement falls inside the window
KEY_DELAY=100 # ms between key events: down, up, down... = 5 characters a second
TEXT="the quick brown fox jumps over the lazy dog again " # 50 characters, no Shift
SCROLL_RATE=30 # lines a second
BENCH_AGENT_ARGS=${BENCH_AGENT_ARGS:-}
declare -A DUR=([idle]=6 [typing]=10 [scrolling]=8 [animation]=8)
read -r -a WORKLOADS <<<"${BENCH_AGENT_WORKLOADS:-idle typing scrolling animation}"
read -r -a SIDES <<<"${BENCH_AGENT_SIDES:-highrise encoder tight zrle}"
CLK_TCK=$(getconf CLK_TCK)
T0=$SECONDS

# ---- the desktop, the servers -------------------------------------------------------------
start_xvfb 1920x1080x24
D=":$DISPLAY_NUM"
export DISPLAY=$D
xdotool mousemove --screen 0 1919 1079 >/dev/null 2>&1 || true # out of the way, same for all
python3 "$SRC/bench/agent/longtext.py" "$T/long.txt"
make_pki
AGENT_NAME=bench-agent
if [ -n "$BASE" ]; then # the same flags, the other binary; idle (no capture) unless watched
	AFTER_BUILD=$BUILD
	BUILD=$BASE
	start_agent "$AGENT_NAME" "desk x11::$DISPLAY_NUM" -- --log.level info $BENCH_AGENT_ARGS
	BUILD=$AFTER_BUILD
	mv "$T/agent.log" "$T/agent-before.log" # it keeps writing there
	BEFORE_PID=$AGENT_PID
	BEFORE_PORT=$AGENT_PORT
fi
start_agent "$AGENT_NAME" "desk x11::$DISPLAY_NUM" -- --log.level info $BENCH_AGENT_ARGS
VNC_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
bg x11vnc x11vnc -display "$D" -rfbport "$VNC_PORT" -localhost -nopw -forever -shared
VNC_PID=$LAST_PID
wait_for 30 grep -q "^PORT=$VNC_PORT" "$T/x11vnc.log" || {
	say "bench/agent: x11vnc did not start (see $T/x11vnc.log)"
	exit 1
}

# ---- scenes: what the screen shows, started fresh for every run -------------------------
SCENE_PIDS=()
XTERM=(xterm -display "$D" -fa "DejaVu Sans Mono" -fs 11 -geometry 212x56+0+0 +sb)
scene_start() { # scene_start WORKLOAD SIDE
	local w=$1 s=$2
	SCENE_PIDS=()
	case $w in
	idle | typing)
		bg "scene-$w-$s" "${XTERM[@]}" -e python3 "$HERE/scroll.py" "$T/long.txt" 40
		;;
	scrolling)
		rm -f "$T/go"
		mkfifo "$T/go"
		bg "scene-$w-$s" "${XTERM[@]}" -e python3 "$HERE/scroll.py" "$T/long.txt" 40 \
			"$T/go" "$SCROLL_RATE" "${DUR[$w]}"
		;;
	animation)
		bg "scene-$w-$s" "$BA/bench-anim" --display "$D" --frames $((DUR[$w] * 30)) --fps 30
		;;
	esac
	SCENE_PIDS+=("$LAST_PID")
	if [ "$w" = animation ]; then
		wait_for 10 grep -q '^ready' "$T/scene-$w-$s.log"
	else
		wait_for 10 xdotool search --onlyvisible --class xterm
	fi
	sleep 0.8 # the first picture is drawn and every server has seen it
}
scene_go() { # scene_go WORKLOAD: the workload starts now (typing starts itself)
	case $1 in
	scrolling) timeout 5 bash -c "echo go > '$T/go'" ;;
	animation) kill -USR1 "${SCENE_PIDS[0]}" ;;
	esac
}
scene_stop() {
	for p in "${SCENE_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${SCENE_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	sleep 0.3
}

proc_ticks() { # proc_ticks PID: "utime+stime cutime+cstime" of PID, nothing once it is gone
	local s f
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	read -r -a f <<<"${s##*) }" # from field 3 (state) on: the name may hold spaces
	echo "$((f[11] + f[12])) $((f[13] + f[14]))"
}
# cpu_sample PID: "SELF CHILDREN" ticks: PID's own utime+stime, and its children's (the agent's
# workers): the live ones' utime+stime plus what the ones PID has reaped left in its
# cutime+cstime. A child reaped while we read shows as a change of PID's cutime: read again.
cpu_sample() {
	local a b k t sum try
	for try in 1 2 3 4 5; do
		a=$(proc_ticks "$1")
		sum=0
		for k in $(pgrep -P "$1" || true); do
			t=$(proc_ticks "$k")
			[ -z "$t" ] || sum=$((sum + ${t%% *}))
		done
		b=$(proc_ticks "$1")
		[ -n "$b" ] && [ "${a#* }" != "${b#* }" ] || break
	done
	[ -n "$b" ] || b="0 0"
	echo "${b%% *} $((${b#* } + sum))"
}

# ---- one run: one side watching one workload --------------------------------------------
run_one() { # run_one WORKLOAD SIDE [TAG]: SIDE highrise, before (the baseline's agent),
	# encoder, tight or zrle; what it writes is named W-TAG.* (TAG defaults to SIDE)
	local w=$1 s=$2 tag=${3:-$2}
	local total rpid spid="" c0 c1 t0 t1 out="$T/$w-$tag" port=$AGENT_PORT
	total=$(python3 -c "print($SETTLE + ${DUR[$w]} + $TAIL)")
	local typing=()
	if [ "$w" = typing ]; then
		typing=(--sleep "$(python3 -c "print(int($SETTLE * 1000))")" --key-delay "$KEY_DELAY"
			--type "$TEXT")
	fi
	scene_start "$w" "$tag"
	case $s in
	highrise | before)
		spid=$AGENT_PID
		[ "$s" = highrise ] || { port=$BEFORE_PORT && spid=$BEFORE_PID; }
		ticket "$out.ticket" bench desk
		"$BUILD/client/highrise-probe" --agent "127.0.0.1:$port" --ticket "$out.ticket" \
			--ca "$T/pki/ca.pem" --json -q --seconds "$total" --png "$out.png" \
			"${typing[@]}" >"$out.json" 2>"$out.err" &
		rpid=$!
		;;
	encoder)
		"$BA/bench-encoder" --display "$D" --seconds "$total" --max-mb "$MAX_MB" \
			>"$out.json" 2>"$out.err" &
		rpid=$!
		if [ "$w" = typing ]; then # the same keys at the same pace, straight into X
			(sleep "$SETTLE" && xdotool type --delay $((2 * KEY_DELAY)) "$TEXT") &
			PIDS+=($!)
		fi
		;;
	tight | zrle)
		"$BA/bench-vnc-recv" --port "$VNC_PORT" --encoding "$s" --seconds "$total" \
			--ppm "$out.ppm" "${typing[@]}" >"$out.json" 2>"$out.err" &
		rpid=$!
		spid=$VNC_PID
		;;
	esac
	PIDS+=("$rpid")
	sleep "$SETTLE"
	t0=$EPOCHREALTIME
	[ -z "$spid" ] || c0=$(cpu_sample "$spid")
	scene_go "$w"
	wait "$rpid" || fail "bench/agent: $s on $w: the receiver failed ($(tail -n 2 "$out.err"))"
	t1=$EPOCHREALTIME
	if [ -n "$spid" ]; then
		c1=$(cpu_sample "$spid")
		# W-TAG.cpu: the server and its children; W-TAG.cpusplit: "SELF CHILDREN" (% each)
		python3 -c 'import sys
(s0, k0), (s1, k1) = (map(int, a.split()) for a in sys.argv[1:3])
pct = lambda t: round(t / int(sys.argv[3]) / (float(sys.argv[5]) - float(sys.argv[4])) * 100, 1)
open(sys.argv[6] + ".cpu", "w").write("%s\n" % pct(s1 - s0 + k1 - k0))
open(sys.argv[6] + ".cpusplit", "w").write("%s %s\n" % (pct(s1 - s0), pct(k1 - k0)))' \
			"$c0" "$c1" "$CLK_TCK" "$t0" "$t1" "$out"
	fi
	# the still screen after the workload (text, or the animation's last colour frame):
	# what arrived vs the truth
	if [ "$w" = typing ] || [ "$w" = scrolling ] || [ "$w" = animation ]; then
		import -display "$D" -window root "$out.ref.png"
		local shot="$out.png"
		[ "$s" = highrise ] || [ "$s" = before ] || shot="$out.ppm"
		[ "$s" = encoder ] || [ ! -s "$shot" ] || psnr "$shot" "$out.ref.png" >"$out.psnr"
	fi
	scene_stop
	printf '  %-10s %-9s done (%ds so far)\n' "$w" "$tag" $((SECONDS - T0))
}

# Recording 1080p frames for the ceiling needs memory: at most a third of what is free.
avail_mb=$(awk '/MemAvailable/ {print int($2 / 1024)}' /proc/meminfo)
MAX_MB=$((avail_mb / 3 < 2560 ? avail_mb / 3 : 2560))

say "bench/agent: Xvfb $D 1920x1080, agent port $AGENT_PORT, x11vnc port $VNC_PORT"
[ -z "$BASE" ] || say "bench/agent: before = $BASE (port $BEFORE_PORT), after = $BUILD," \
	"$REPS repetitions each, interleaved"
for w in "${WORKLOADS[@]}"; do
	for s in "${SIDES[@]}"; do
		if [ "$s" != highrise ] || [ -z "$BASE" ]; then
			run_one "$w" "$s"
			continue
		fi
		for r in $(seq "$REPS"); do
			run_one "$w" before "before-$r"
			run_one "$w" highrise "after-$r"
		done
		# the main tables show the first "after" run as the highrise side
		for f in "$T/$w-after-1".*; do cp "$f" "$T/$w-highrise${f#"$T/$w-after-1"}"; done
		cp "$T/scene-$w-after-1.log" "$T/scene-$w-highrise.log"
	done
done

cat >"$T/plan.json" <<EOF
{"window_start": $WSTART, "settle": $SETTLE, "tail": $TAIL,
 "durations": {"idle": ${DUR[idle]}, "typing": ${DUR[typing]}, "scrolling": ${DUR[scrolling]},
               "animation": ${DUR[animation]}},
 "key_delay_ms": $KEY_DELAY, "text_chars": ${#TEXT}, "scroll_rate": $SCROLL_RATE,
 "cpus": $(nproc), "cpu_model": "$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)",
 "x11vnc": "$(x11vnc -version 2>/dev/null | head -1 | awk '{print $2}')",
 "libvncclient": "$(pkg-config --modversion libvncclient 2>/dev/null)"}
EOF
python3 "$HERE/report.py" "$T" || fail "bench/agent: report.py failed"
if [ -n "$BASE" ]; then
	rev() { # the source revision a build directory was configured from
		local src
		src=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$1/CMakeCache.txt" 2>/dev/null)
		git -C "${src:-/nonexistent}" describe --always --dirty 2>/dev/null || echo "?"
	}
	cat >"$T/baseline.json" <<EOF
{"reps": $REPS, "workloads": "${WORKLOADS[*]}",
 "before": {"build": "$BASE", "rev": "$(rev "$BASE")"},
 "after": {"build": "$BUILD", "rev": "$(rev "$BUILD")"}}
EOF
	python3 "$HERE/compare.py" "$T" || fail "bench/agent: compare.py failed"
fi
if [ -n "${BENCH_AGENT_OUT:-}" ]; then
	mkdir -p "$BENCH_AGENT_OUT" && cp -r "$T/." "$BENCH_AGENT_OUT/"
fi
say "bench/agent: total $((SECONDS - T0)) s"
[ "$FAILED" -eq 0 ]
