#!/usr/bin/env bash
# make demo: the whole product on one machine — a demo CA, the broker on its embedded SQLite,
# an agent with a demo desktop (the QEMU test VM, or an Xvfb desktop with a terminal and a
# clock) and its sound (a private PulseAudio server; a chime plays into the desktop's sink
# every few seconds, and the VM's own sound card plays there too: try `hr-tone` in it), a
# pool with a user "demo", and the client logged in, its sound on your default output.
# Ctrl+C stops it all.
#
#   scripts/demo.sh [--headless] [--desktop vm|x11|auto] [--once] [--build DIR]
#   make demo                      (ARGS="--headless" for the same through make)
#
#   --headless     no window: highrise-probe logs in the same way and saves a screenshot
#                  and the sound that arrived (BUILD/demo/sound.wav); also chosen when there
#                  is no DISPLAY
#   --desktop D    vm: the QEMU VM fixture (tests/fixtures/vm; the Debian kernel is fetched
#                  once), x11: an Xvfb desktop, auto (default): the VM when its kernel can be
#                  fetched, else x11
#   --once         stop after the screenshot (headless) instead of waiting for Ctrl+C
#   --build DIR    the build directory [build]
#
# Everything it makes lives in BUILD/demo (certificates, keys, the database, logs, the
# password); nothing is installed or left running.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
BUILD=build
HEADLESS=0
DESKTOP=auto
ONCE=0
while [ $# -gt 0 ]; do
	case "$1" in
	--headless) HEADLESS=1 ;;
	--desktop) DESKTOP=${2:?--desktop needs vm, x11 or auto}; shift ;;
	--desktop=*) DESKTOP=${1#*=} ;;
	--once) ONCE=1 ;;
	--build) BUILD=${2:?--build needs a directory}; shift ;;
	--build=*) BUILD=${1#*=} ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "demo: unknown option $1 (see scripts/demo.sh --help)" >&2; exit 2 ;;
	esac
	shift
done
case "$DESKTOP" in vm | x11 | auto) ;; *) echo "demo: --desktop is vm, x11 or auto" >&2; exit 2 ;; esac
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "demo: no build in $BUILD: run 'make build' first" >&2; exit 1; }
for p in broker/highrise-broker broker/highrisectl server/highrise-agent client/highrise-probe \
	tests/fixtures/sound/wavtone; do
	[ -x "$BUILD/$p" ] || { echo "demo: $BUILD/$p is missing: run 'make build' first" >&2; exit 1; }
done
if [ $HEADLESS = 0 ] && [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
	echo "demo: no DISPLAY here, so no window: running --headless (a screenshot instead)"
	HEADLESS=1
fi

D=$BUILD/demo
say() { printf '\033[1mdemo:\033[0m %s\n' "$*"; }
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }
PIDS=()
VM_RUN=""
# ours PID: still a process this script started (an ended one's PID is soon someone else's)
ours() { [ "$(ps -o ppid= -p "$1" 2>/dev/null | tr -d ' ')" = "$$" ]; }
cleanup() {
	trap - EXIT INT TERM
	say "stopping"
	[ -n "${CLIENT_PID:-}" ] && kill "$CLIENT_PID" 2>/dev/null && wait "$CLIENT_PID" 2>/dev/null
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		ours "${PIDS[i]}" && kill "${PIDS[i]}" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	[ -n "$VM_RUN" ] && "$SRC/tests/fixtures/vm/stop.sh" --run-dir "$VM_RUN" >/dev/null 2>&1 || true
	"$SRC/tests/fixtures/pulse/pulse.sh" stop "$D/pulse" >/dev/null 2>&1 || true
	say "stopped; logs are in $D"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_log FILE PATTERN SECONDS WHAT: wait for a line, or show the log's tail and fail
wait_log() {
	for _ in $(seq $(($3 * 10))); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	tail -n 20 "$1" >&2 || true
	die "$4 did not start (log: $1)"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port_or_free() { if python3 -c "import socket,sys; s=socket.socket(); s.bind(('127.0.0.1', $1))" 2>/dev/null; then echo "$1"; else free_port; fi; }

mkdir -p "$D"
rm -f "$D"/*.log "$D"/broker.db "$D"/broker.db-* "$D"/screenshot.png "$D"/sound.wav # a fresh demo
PKI=$D/pki
CERTS=$SRC/certs/highrise-certs

say "1/6 certificates: a demo CA in $PKI"
if [ ! -f "$PKI/ca.pem" ]; then
	"$CERTS" --dir "$PKI" init --name "Highrise demo CA" >/dev/null
	"$CERTS" --dir "$PKI" issue broker 127.0.0.1 >/dev/null
	"$CERTS" --dir "$PKI" issue agent demo-host --san IP:127.0.0.1 >/dev/null
	"$CERTS" --dir "$PKI" issue admin demo-admin >/dev/null
	"$CERTS" --dir "$PKI" ticket-key >/dev/null
fi

BPORT=$(port_or_free 8443)
APORT=$(port_or_free 7443)
B="https://127.0.0.1:$BPORT"

say "2/6 broker on $B (SQLite: $D/broker.db)"
"$BUILD/broker/highrise-broker" --listen "127.0.0.1:$BPORT" --store "sqlite:$D/broker.db" \
	--tls.cert_file "$PKI/broker-127.0.0.1.pem" --tls.key_file "$PKI/broker-127.0.0.1.key" \
	--tls.ca_file "$PKI/ca.pem" --ticket.key_file "$PKI/ticket.key" >"$D/broker.log" 2>&1 &
PIDS+=($!)
wait_log "$D/broker.log" 'listening on' 20 "the broker"

ctl() { "$BUILD/broker/highrisectl" --broker "$B" --cert "$PKI/admin-demo-admin.pem" \
	--key "$PKI/admin-demo-admin.key" --ca "$PKI/ca.pem" "$@"; }

say "3/6 the demo desktop, and its sound server"
# the host's sound server, private to the demo: the desktop's sink "desktop1" lives there
PULSE=$("$SRC/tests/fixtures/pulse/pulse.sh" start "$D/pulse") ||
	die "PulseAudio did not start (log: $D/pulse/pulse.log; make deps installs it)"
PULSE_SERVER=$PULSE pactl load-module module-null-sink sink_name=desktop1 >/dev/null ||
	die "cannot make the desktop's sink on $PULSE"
URI=""
if [ "$DESKTOP" != x11 ]; then
	VM_RUN=$D/vm
	rm -rf "$VM_RUN"
	mkdir -p "$VM_RUN"
	say "    booting the QEMU test VM (fetches a Debian kernel once; TCG boots take a minute)"
	if "$SRC/tests/fixtures/vm/start.sh" --run-dir "$VM_RUN" --video 1280x720 --audio pa \
		--pulse-server "$PULSE" --pulse-sink desktop1 >"$D/vm.env" 2>"$D/vm.log"; then
		. "$D/vm.env"
		URI="vnc://127.0.0.1:$HR_VM_VNC_PORT"
		say "    VM up in ${HR_VM_BOOT_SECONDS}s ($HR_VM_ACCEL), console on VNC port $HR_VM_VNC_PORT"
	else
		VM_RUN=""
		[ "$DESKTOP" = vm ] && { tail -n 20 "$D/vm.log" >&2; die "the VM did not start (log: $D/vm.log)"; }
		say "    the VM cannot start here (see $D/vm.log): using an Xvfb desktop instead"
	fi
fi
if [ -z "$URI" ]; then
	Xvfb -displayfd 1 -screen 0 1280x800x24 -nolisten tcp >"$D/xvfb.display" 2>"$D/xvfb.log" &
	PIDS+=($!)
	for _ in $(seq 100); do [ -s "$D/xvfb.display" ] && break; sleep 0.1; done
	[ -s "$D/xvfb.display" ] || die "Xvfb did not start (log: $D/xvfb.log)"
	N=$(head -1 "$D/xvfb.display")
	DISPLAY=:$N xsetroot -solid '#1d3557' 2>/dev/null || true
	DISPLAY=:$N xterm -geometry 72x28+30+30 -fa Monospace -fs 11 -title "Highrise demo" \
		-e bash -c 'echo "Welcome to the Highrise demo desktop."; echo "Type here: it runs on the agent side."; exec bash' \
		>"$D/xterm.log" 2>&1 &
	PIDS+=($!)
	if command -v xclock >/dev/null; then
		DISPLAY=:$N xclock -geometry 200x200+1040+30 -update 1 >"$D/xclock.log" 2>&1 &
		PIDS+=($!)
	fi
	# the agent starts streaming right away: let the terminal be on screen first (mapped
	# before the window manager starts, which then frames it)
	shown=0
	for _ in $(seq 150); do
		DISPLAY=:$N xdotool search --onlyvisible --name 'Highrise demo' >/dev/null 2>&1 && { shown=1; break; }
		sleep 0.2
	done
	if [ $shown = 0 ]; then
		say "    warning: the terminal did not appear within 30 s (see $D/xterm.log)"
		DISPLAY=:$N xwininfo -root -tree >"$D/windows.log" 2>&1 || true
	fi
	DISPLAY=:$N openbox --sm-disable >"$D/openbox.log" 2>&1 &
	PIDS+=($!)
	sleep 1 # openbox frames the windows
	URI="x11::$N"
	say "    Xvfb desktop :$N with a terminal and a clock"
fi

# a chime (A4 then E5) into the desktop's sink every 4 s: the sound the client should play
"$BUILD/tests/fixtures/sound/wavtone" gen "$D/chime-a.wav" 440 0.6 0.3
"$BUILD/tests/fixtures/sound/wavtone" gen "$D/chime-e.wav" 659.3 0.6 0.3
(while :; do
	PULSE_SERVER=$PULSE paplay -d desktop1 "$D/chime-a.wav" && PULSE_SERVER=$PULSE paplay -d desktop1 "$D/chime-e.wav" || exit 0
	sleep 2.8
done) >"$D/chime.log" 2>&1 &
PIDS+=($!)
say "    sound: a chime into the desktop's sink every 4 s (PulseAudio at $PULSE)"

say "4/6 agent demo-host on 127.0.0.1:$APORT, registering with the broker"
"$BUILD/server/highrise-agent" --name demo-host --listen "127.0.0.1:$APORT" \
	--desktop "desktop1 $URI audio=pulse:desktop1" --audio.server "$PULSE" \
	--tls.cert_file "$PKI/agent-demo-host.pem" --tls.key_file "$PKI/agent-demo-host.key" \
	--ticket.public_key "$PKI/ticket.pub" \
	--broker.url "$B" --broker.ca_file "$PKI/ca.pem" --broker.advertise_address 127.0.0.1 \
	>"$D/agent.log" 2>&1 &
PIDS+=($!)
wait_log "$D/agent.log" 'listening on' 20 "the agent"

say "5/6 pool 'demo', user 'demo', entitlement (highrisectl)"
PW_FILE=$D/demo.password
if [ ! -s "$PW_FILE" ]; then
	(umask 077 && openssl rand -base64 12 | tr -d '/+=' >"$PW_FILE")
fi
ctl pool create demo --kind floating --logoff never >/dev/null 2>&1 || true
ctl desktop add demo demo-host desktop1 "$URI" >/dev/null 2>&1 || true
ctl user add demo --password-file "$PW_FILE" >/dev/null 2>&1 || ctl user passwd demo --password-file "$PW_FILE" >/dev/null
ctl entitle demo --user demo >/dev/null 2>&1 || true
for _ in $(seq 100); do
	ctl --json desktop show demo-host desktop1 2>/dev/null | grep -q '"state":"\(available\|assigned\|in_use\)"' && break
	sleep 0.2
done
ctl desktop list

say "6/6 the client, logged in as demo (password: $(cat "$PW_FILE"))"
if [ $HEADLESS = 1 ]; then
	"$BUILD/client/highrise-probe" --broker "$B" --ca "$PKI/ca.pem" --user demo \
		--password-file "$PW_FILE" --pool demo \
		--seconds 5 --png "$D/screenshot.png" --audio-out "$D/sound.wav" \
		--json >"$D/probe.json" 2>"$D/probe.log" ||
		{ cat "$D/probe.log" >&2; die "the probe could not log in and show the desktop"; }
	say "screenshot of the desktop: $D/screenshot.png"
	snd=$("$BUILD/tests/fixtures/sound/wavtone" analyze "$D/sound.wav" |
		sed -n 's/hz=\([0-9]*\).* db=\([-0-9]*\).* seconds=\([0-9.]*\).*/\3 s, loudest: \1 Hz at \2 dBFS/p')
	say "the desktop's sound as it arrived: $D/sound.wav (${snd:-unreadable})"
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("    %d frames, %d bytes, %dx%d" % (d.get("frames",0), d.get("bytes",0), d.get("width",0), d.get("height",0)))' "$D/probe.json" 2>/dev/null || true
	ctl session list
else
	"$BUILD/client/ui/highrise-client" --broker "$B" --ca "$PKI/ca.pem" --user demo \
		--password-file "$PW_FILE" --pool demo >"$D/client.log" 2>&1 &
	CLIENT_PID=$!
	say "the client window is open; log in again any time with:"
	echo "    $BUILD/client/ui/highrise-client --broker $B --ca $PKI/ca.pem --user demo"
fi
[ $ONCE = 1 ] && exit 0
cat <<EOF

  Broker   $B          (admin: highrisectl --broker $B --cert $PKI/admin-demo-admin.pem
                                          --key $PKI/admin-demo-admin.key --ca $PKI/ca.pem ...)
  Agent    127.0.0.1:$APORT  desktop1 = $URI, sound from sink desktop1 at $PULSE
  User     demo / $(cat "$PW_FILE")
  Logs     $D/*.log

Press Ctrl+C to stop everything.
EOF
while :; do
	if [ -n "${CLIENT_PID:-}" ] && ! kill -0 "$CLIENT_PID" 2>/dev/null; then
		say "the client window was closed"
		exit 0
	fi
	for p in "${PIDS[@]}"; do
		kill -0 "$p" 2>/dev/null || { say "a demo process ($p) ended; see the logs in $D"; exit 1; }
	done
	sleep 1
done
