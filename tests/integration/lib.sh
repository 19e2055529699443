# Shared helpers for the integration tests (bash; source it).
#   BUILD    the build directory (HIGHRISE_BINARY_DIR from ctest, or $1)
#   SRC      the source directory
#   T        a temporary directory removed at exit (kept, and its logs shown, when a
#            check failed; kept also with HIGHRISE_KEEP_LOGS=1)
# Every background process started with `bg` is killed at exit, whatever happens.

set -euo pipefail

SRC=${HIGHRISE_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${HIGHRISE_BINARY_DIR:-${1:-$SRC/build}}
T=$(mktemp -d "${TMPDIR:-/tmp}/highrise-it.XXXXXX")
# rawclient.py's TLS end, which signs the HELLO's binding proof (hr-bindproof.c)
export HIGHRISE_BINDPROOF=${HIGHRISE_BINDPROOF:-$BUILD/tests/hr-bindproof}
PASSED=0
FAILED=0
PIDS=()
CLEANUPS=()

cleanup() {
	local rc=$?
	for c in "${CLEANUPS[@]}"; do eval "$c" || true; done
	end "${PIDS[@]}"
	sleep 0.2
	# STOP_GRACE_S (benches: 3): time for what was asked to stop to finish its last words
	local p stop=$((SECONDS + ${STOP_GRACE_S:-0}))
	for p in "${PIDS[@]}"; do
		while ours "$p" && kill -0 "$p" 2>/dev/null && [ $SECONDS -lt $stop ]; do sleep 0.1; done
	done
	for p in "${PIDS[@]}"; do ours "$p" && kill -9 "$p" 2>/dev/null || true; done
	if [ "$rc" -ne 0 ] || [ "$FAILED" -ne 0 ]; then
		echo "--- logs kept in $T ---"
		for f in "$T"/*.log; do
			[ -f "$f" ] || continue
			echo "--- $f (last 40 lines)"
			tail -n 40 "$f"
		done
	elif [ -n "${HIGHRISE_KEEP_LOGS:-}" ]; then
		echo "--- logs kept in $T (HIGHRISE_KEEP_LOGS) ---"
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT

# ours PID: PID is still a process this test's shell started. A process that ended gives its
# PID back, and with pid_max 32768 and a dozen tests polling in parallel the PID is soon
# another test's (an Xvfb killed that way took client_input down in CI): never signal it then.
ours() { [ "$(ps -o ppid= -p "$1" 2>/dev/null | tr -d ' ')" = "$$" ]; }
# end PID...: SIGTERM to those of them still ours (see ours); for processes that may have
# ended by themselves already
end() {
	local p
	for p in "$@"; do ours "$p" && kill "$p" 2>/dev/null || true; done
}

say() { printf '%s\n' "$*"; }
# need_font FAMILY PACKAGE: fontconfig knows FAMILY, else a failure that names the package
need_font() {
	[[ $(fc-list : family) == *"$1"* ]] && return 0
	fail "the $1 font is missing (apt-get install $2)"
	exit 1
}
pass() {
	PASSED=$((PASSED + 1))
	say "ok: $*"
}
fail() {
	FAILED=$((FAILED + 1))
	say "FAILED: $*"
}
check() { # check "what" command...
	local what=$1
	shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}
need() {
	for t in "$@"; do
		command -v "$t" >/dev/null || {
			say "FAILED: $t is not installed (run: make deps)"
			exit 1
		}
	done
}
# need_built WHO FILE...: every FILE is an executable of the build, or WHO says which is
# missing and exits 1 (benchmarks run from a build they did not make)
need_built() {
	local who=$1 b
	shift
	for b in "$@"; do
		[ -x "$b" ] || {
			say "$who: $b is missing: build first (make)"
			exit 1
		}
	done
}
finish() {
	say "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
}

# bg NAME command...: runs command in the background, output to $T/NAME.log
bg() {
	local name=$1
	shift
	"$@" >"$T/$name.log" 2>&1 &
	PIDS+=($!)
	LAST_PID=$!
}

# wait_for SECONDS command...: polls until command succeeds
wait_for() {
	local secs=$1
	shift
	local end=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.1
	done
}

# json FILE EXPR: evaluates a Python expression on the JSON object d
json() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); r=eval(sys.argv[2]); print(r)' "$1" "$2"
}

# xvfb NAME SIZE: an X server on a display number it picks itself (-displayfd), so two tests
# (or two test runs: X's abstract sockets are shared across chroots) never take the same
# one; log in $T/NAME.log; sets XVFB_DISPLAY once the server answers
xvfb() {
	local name=$1 size=$2
	Xvfb -displayfd 5 -screen 0 "$size" -nolisten tcp 5>"$T/$name.display" >"$T/$name.log" 2>&1 &
	PIDS+=($!)
	wait_for 20 grep -q '[0-9]' "$T/$name.display" || { fail "Xvfb ($name) did not start"; exit 1; }
	XVFB_DISPLAY=$(tr -dc 0-9 <"$T/$name.display")
	wait_for 20 xdpyinfo -display ":$XVFB_DISPLAY" || { fail "Xvfb :$XVFB_DISPLAY does not answer"; exit 1; }
}

# start_xvfb [SIZE]: the test's desktop X server (log xvfb.log); sets DISPLAY_NUM
start_xvfb() {
	xvfb xvfb "${1:-1920x1080x24}"
	DISPLAY_NUM=$XVFB_DISPLAY
}

# client_display [SIZE]: an X server with openbox for the GTK client (a real window manager:
# full-screen requests, WM_DELETE_WINDOW); tried again on a fresh display when openbox cannot
# open it. Sets CDISP.
client_display() {
	local try
	for try in 1 2 3; do
		xvfb "xvfb-client$try" "${1:-1280x800x24}"
		CDISP=$XVFB_DISPLAY
		DISPLAY=":$CDISP" bg "wm$try" openbox --sm-disable
		wait_for 20 bash -c "DISPLAY=:$CDISP wmctrl -m | grep -qi openbox" && return 0
		say "openbox did not start on :$CDISP (try $try)"
	done
	fail "openbox did not start"
	exit 1
}

# make_pki: a CA, an agent certificate for 127.0.0.1 and a ticket key in $T/pki
make_pki() {
	"$SRC/certs/highrise-certs" --dir "$T/pki" init >/dev/null
	"$SRC/certs/highrise-certs" --dir "$T/pki" issue agent 127.0.0.1 >/dev/null
	"$SRC/certs/highrise-certs" --dir "$T/pki" ticket-key >/dev/null
}

# broker_pki: sets CERTS (highrise-certs) and PKI ($T/pki) and makes there a CA, a broker
# certificate for 127.0.0.1, agent a1's (with IP 127.0.0.1), admin root's and a ticket key
broker_pki() {
	CERTS="$SRC/certs/highrise-certs"
	PKI="$T/pki"
	"$CERTS" --dir "$PKI" init >/dev/null
	"$CERTS" --dir "$PKI" issue broker 127.0.0.1 >/dev/null
	"$CERTS" --dir "$PKI" issue agent a1 --san IP:127.0.0.1 >/dev/null
	"$CERTS" --dir "$PKI" issue admin root >/dev/null
	"$CERTS" --dir "$PKI" ticket-key >/dev/null
}

# start_agent NAME DESKTOP_LINE... [-- FLAGS...]: starts highrise-agent on a free port,
# sets AGENT_PORT and AGENT_PID
start_agent() {
	local name=$1
	shift
	local args=()
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do
		args+=(--desktop "$1")
		shift
	done
	[ $# -gt 0 ] && shift
	args+=("$@")
	bg agent "$BUILD/server/highrise-agent" --listen 127.0.0.1:0 --name "$name" \
		--tls.cert_file "$T/pki/agent-127.0.0.1.pem" --tls.key_file "$T/pki/agent-127.0.0.1.key" \
		--ticket.public_key "$T/pki/ticket.pub" --log.level debug "${args[@]}"
	AGENT_PID=$LAST_PID
	wait_for 20 grep -q 'listening on' "$T/agent.log" || {
		fail "the agent did not start"
		exit 1
	}
	AGENT_PORT=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$T/agent.log" | head -1)
}

# ticket FILE USER DESKTOP [AGENT]: signs a ticket for the running agent. FILE is a PEM
# bundle (mode 0600): the ticket and the private key of the client key pair it is bound to
# (docs/protocol.md §6.3); highrise-probe, highrise-client and rawclient.py read it as it is.
ticket() {
	"$BUILD/certs/highrise-ticket" --key "$T/pki/ticket.key" --user "$2" --desktop "$3" \
		--agent "${4:-$AGENT_NAME}" --out "$1"
}

# client_key NAME: a fresh Ed25519 key pair in $T/NAME.key, as a client makes one per
# connect; prints the connect body that sends its public half, {"client_key": BASE64}
client_key() {
	openssl genpkey -algorithm ed25519 -out "$T/$1.key" 2>/dev/null
	chmod 600 "$T/$1.key"
	# the raw 32-byte key is the last 32 bytes of its SubjectPublicKeyInfo (RFC 8410)
	printf '{"client_key": "%s"}' \
		"$(openssl pkey -in "$T/$1.key" -pubout -outform DER | tail -c 32 | base64 -w0)"
}
# bundle OUT JSON KEY: the broker's connect answer JSON (its base64 "ticket") and the key
# made by client_key, as one ticket file the way highrise-ticket writes it
bundle() {
	{
		echo "-----BEGIN HIGHRISE CONNECT TICKET-----"
		json "$2" 'd["ticket"]' | tr -d '\n' | fold -w 64
		echo
		echo "-----END HIGHRISE CONNECT TICKET-----"
		cat "$3"
	} >"$1"
	chmod 600 "$1"
}

# probe JSON_OUT TICKET [ARGS...]: runs highrise-probe against the agent, JSON to JSON_OUT
# stop_probe PID: ends a probe started as `probe … &` and waits for it. PID ($!) is the
# subshell running probe(), which ignores SIGINT as a script's background jobs do, so the
# signal goes to its child, the probe, which then writes its JSON (10 s, then SIGKILL).
stop_probe() {
	pkill -INT -P "$1" 2>/dev/null || true
	for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	pkill -KILL -P "$1" 2>/dev/null || true
	wait "$1" || true
}
probe() {
	local out=$1 tk=$2
	shift 2
	"$BUILD/client/highrise-probe" --agent "127.0.0.1:$AGENT_PORT" --ticket "$tk" \
		--ca "$T/pki/ca.pem" --json -q "$@" >"$out"
}

# psnr A B: PSNR in dB of two images (ImageMagick), "inf" when identical
psnr() {
	# compare exits 1 when the images differ at all: the number is what counts
	{ compare -metric PSNR "$1" "$2" null: 2>&1 || true; } | awk '{print $1}'
}
ge() { python3 -c 'import sys; a=sys.argv[1]; sys.exit(0 if (a=="inf" or float(a)>=float(sys.argv[2])) else 1)' "$1" "$2"; }

# ---- sound (tests/fixtures/pulse, tests/fixtures/sound) ----
# start_pulse NAME: a private PulseAudio server in $T/pa-NAME (stopped at exit); sets PA_SERVER
start_pulse() {
	PA_SERVER=$("$SRC/tests/fixtures/pulse/pulse.sh" start "$T/pa-$1") || {
		fail "PulseAudio ($1) did not start (see $T/pa-$1/pulse.log)"
		exit 1
	}
	CLEANUPS+=("'$SRC/tests/fixtures/pulse/pulse.sh' stop '$T/pa-$1'")
}
# has_sink SERVER SINK: the server has that sink
has_sink() { PULSE_SERVER=$1 pactl list short sinks | grep -q "^[0-9]*[[:space:]]$2[[:space:]]"; }
# speakers SERVER: a null sink "speakers" as the server's default sink (a client's sound card;
# record it from speakers.monitor)
speakers() {
	PULSE_SERVER=$1 pactl load-module module-null-sink sink_name=speakers >/dev/null
	PULSE_SERVER=$1 pactl set-default-sink speakers
}
# analyze FILE [FROM_S [TO_S]]: the dominant frequency and level of the loudest 0.5 s of a WAV
# (or .raw from parec); sets HZ and DB
analyze() {
	local out
	out=$("$BUILD/tests/fixtures/sound/wavtone" analyze "$@")
	say "  $1: $out"
	HZ=$(sed 's/.*hz=\([^ ]*\).*/\1/' <<<"$out")
	DB=$(sed 's/.*db=\([^ ]*\).*/\1/' <<<"$out")
}
# near A B TOLERANCE: |A - B| <= TOLERANCE
near() { python3 -c 'import sys; sys.exit(0 if abs(float(sys.argv[1])-float(sys.argv[2])) <= float(sys.argv[3]) else 1)' "$1" "$2" "$3"; }
