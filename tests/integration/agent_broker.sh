#!/usr/bin/env bash
# highrise-agent joins a real highrise-broker (SQLite) by itself over mutual TLS: it keeps
# registering until the broker answers, heartbeats, and reports its sessions. A user logs in
# and connects (curl, as the client would), highrise-probe streams with the broker's ticket,
# highrisectl shows the session connected with the client's address, idle, then disconnected.
# A stopped agent (SIGSTOP) makes its desktop go offline and connect answer 503; SIGCONT
# brings it back. The broker ending a session drops the probe with BYE and the reason.
. "$(dirname "$0")/lib.sh"
need Xvfb xdpyinfo curl openssl python3

broker_pki # $PKI: broker 127.0.0.1, agent a1, admin root, the ticket key
is() { # is WHAT GOT WANT
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1 (got $2, want $3)"; fi
}

# 1. The agent starts first: the broker is not there yet, so it retries with backoff and
#    says so once. The broker's port is picked now and the broker started on it later.
BPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export HIGHRISE_BROKER="https://127.0.0.1:$BPORT" HIGHRISE_CA="$PKI/ca.pem"
export HIGHRISE_CERT="$PKI/admin-root.pem" HIGHRISE_KEY="$PKI/admin-root.key"
U="$HIGHRISE_BROKER/api/v1"
start_xvfb 1280x720x24
# a VNC console that refuses every password (tests/fixtures/rfb/hostile-rfb auth-fail)
bg rfb-auth "$BUILD/tests/fixtures/rfb/hostile-rfb" --port 0 --mode auth-fail
wait_for 10 grep -q 'listening on' "$T/rfb-auth.log" || { fail "hostile-rfb did not start"; exit 1; }
RFB_PORT=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$T/rfb-auth.log" | head -1)
echo "not-the-password" >"$T/locked.pw"
AGENT_ARGS=(--listen 127.0.0.1:0 --name a1 --desktop "desk x11::$DISPLAY_NUM" --desktop "desk2 x11::$DISPLAY_NUM"
	--desktop "gone x11::4999" --desktop "locked vnc://127.0.0.1:$RFB_PORT password-file=$T/locked.pw"
	--tls.cert_file "$PKI/agent-a1.pem" --tls.key_file "$PKI/agent-a1.key"
	--ticket.public_key "$PKI/ticket.pub" --broker.url "$HIGHRISE_BROKER"
	--broker.ca_file "$PKI/ca.pem" --broker.advertise_address 127.0.0.1
	--session.idle_after_s 2 --log.level debug)
rc=0
"$BUILD/server/highrise-agent" "${AGENT_ARGS[@]}" --broker.ca_file "" >/dev/null 2>"$T/noca.err" || rc=$?
check "broker.url without broker.ca_file is refused with a sentence" \
	bash -c "[ $rc -ne 0 ] && grep -q 'broker.ca_file' '$T/noca.err'"
rc=0
"$BUILD/server/highrise-agent" "${AGENT_ARGS[@]}" --name "a 1" >/dev/null 2>"$T/badname.err" || rc=$?
check "a name the broker could not take is refused with a sentence" \
	bash -c "[ $rc -ne 0 ] && grep -q \"an agent's name must be\" '$T/badname.err'"
rc=0
"$BUILD/server/highrise-agent" "${AGENT_ARGS[@]}" --desktop "my'desk x11::$DISPLAY_NUM" >/dev/null 2>"$T/baddesk.err" || rc=$?
check "so is such a desktop name" bash -c "[ $rc -ne 0 ] && grep -q 'its name must be' '$T/baddesk.err'"
check "--help names the broker settings" bash -c \
	"'$BUILD/server/highrise-agent' --help | grep -q 'broker.advertise_address' && '$BUILD/server/highrise-agent' --help | grep -q 'session.idle_after_s'"
bg agent "$BUILD/server/highrise-agent" "${AGENT_ARGS[@]}"
AGENT_PID=$LAST_PID
wait_for 20 grep -q 'listening on' "$T/agent.log" || {
	fail "the agent did not start"
	exit 1
}
APORT=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$T/agent.log" | head -1)
check "the agent says it cannot reach the broker" wait_for 10 grep -q 'cannot reach the broker at' "$T/agent.log"
sleep 3.5 # 1 s, 2 s: at least two more attempts
check "and says it once, not once per attempt (the retries log at debug)" \
	[ "$(grep -c ' warn .*cannot reach the broker at' "$T/agent.log")" -eq 1 ]
check "trying again" [ "$(grep -c 'cannot reach the broker at' "$T/agent.log")" -ge 3 ]

bg broker "$BUILD/broker/highrise-broker" --listen "127.0.0.1:$BPORT" --store "sqlite:$T/broker.db" \
	--tls.cert_file "$PKI/broker-127.0.0.1.pem" --tls.key_file "$PKI/broker-127.0.0.1.key" \
	--tls.ca_file "$PKI/ca.pem" --ticket.key_file "$PKI/ticket.key" \
	--agent.heartbeat_window_s 3 --log.level debug
BROKER_PID=$LAST_PID
wait_for 20 grep -q 'listening on' "$T/broker.log" || {
	fail "the broker did not start"
	exit 1
}
ctl() { "$BUILD/broker/highrisectl" "$@"; }
ctl pool create office --kind floating >/dev/null
printf 'pw-alice\n' >"$T/pw"
ctl user add alice --password-file "$T/pw" >/dev/null
ctl entitle office --user alice >/dev/null
ctl desktop add office a1 desk "x11::$DISPLAY_NUM" >/dev/null
ctl pool create lab --kind floating --logoff after_idle --idle-timeout 3 >/dev/null
ctl entitle lab --user alice >/dev/null
ctl desktop add lab a1 desk2 "x11::$DISPLAY_NUM" >/dev/null
ctl desktop add office a1 gone x11::4999 >/dev/null # no X server there: its console is down

# 2. It registers by itself (within the 8 s backoff step) and its desktop becomes available.
state() { # state [DESKTOP]: its state in highrisectl desktop list
	ctl --json desktop list | python3 -c 'import json,sys; print([d["state"] for d in json.load(sys.stdin)["desktops"] if d["name"]==sys.argv[1]][0])' "${1:-desk}"
}
desk_is() { [ "$(state "${2:-desk}")" = "$1" ]; }
desk_not() { [ "$(state)" != "$1" ]; }
check "the agent registers by itself" wait_for 40 grep -q 'registered with the broker at' "$T/agent.log"
check "its desktop becomes available (highrisectl desktop list)" wait_for 20 desk_is available
sleep 2 # two heartbeats
is "a desktop whose console is down stays offline" "$(state gone)" offline
check "the broker knows the agent at its stream port" bash -c "'$BUILD/broker/highrisectl' agent list | grep -q '^a1  *127.0.0.1  *$APORT'"

# 3. alice logs in and connects; the probe streams with the broker's ticket.
TOKEN=$(curl -s --cacert "$PKI/ca.pem" -H 'Content-Type: application/json' \
	-d '{"user":"alice","password":"pw-alice"}' "$U/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
connect() { # connect NAME [POOL]: the connect answer in $T/NAME.json, the status printed
	curl -s --cacert "$PKI/ca.pem" -H "Authorization: Bearer $TOKEN" -X POST \
		-H 'Content-Type: application/json' -d "$(client_key "$1")" \
		-o "$T/$1.json" -w '%{http_code}' "$U/pools/${2:-office}/connect"
}
# probe_bg NAME SECONDS: streams with the ticket of $T/NAME.json, report to $T/NAME.probe
probe_bg() {
	bundle "$T/$1.ticket" "$T/$1.json" "$T/$1.key" # the ticket and connect's key
	json "$T/$1.json" 'd["ca"]' >"$T/$1.ca"
	"$BUILD/client/highrise-probe" --agent "127.0.0.1:$APORT" --ticket "$T/$1.ticket" \
		--ca "$T/$1.ca" --json -q --seconds "$2" >"$T/$1.probe" 2>"$T/$1.err" &
	PROBE=$!
	PIDS+=("$PROBE")
}
session_field() { # session_field ID FIELD: from highrisectl session list --json
	ctl --json session list 2>/dev/null | python3 -c 'import json,sys
for s in json.load(sys.stdin)["sessions"]:
    if s["id"]==sys.argv[1]: print(s[sys.argv[2]])' "$1" "$2"
}
session_is() { [ "$(session_field "$1" state)" = "$2" ]; }

is "connect" "$(connect c1)" 200
SESSION=$(json "$T/c1.json" 'd["session"]')
probe_bg c1 6
check "highrisectl shows the session connected" wait_for 10 session_is "$SESSION" connected
is "with the client's address" "$(session_field "$SESSION" client)" 127.0.0.1
wait "$PROBE" || true
check "probe: frames arrive with the broker's ticket" [ "$(json "$T/c1.probe" 'd["frames"]' 2>/dev/null || echo 0)" -ge 1 ]
check "when the probe ends the session shows disconnected" wait_for 10 session_is "$SESSION" disconnected

# 3b. Idle: the agent reports a session without input for session.idle_after_s (2 s); in a
#     pool that logs off after 3 s idle the broker ends it and the agent drops the client
#     with BYE IDLE_TIMEOUT.
is "connect to the after_idle pool" "$(connect i1 lab)" 200
IDLE_SESSION=$(json "$T/i1.json" 'd["session"]')
probe_bg i1 30
check "the idle pool's session is connected" wait_for 10 session_is "$IDLE_SESSION" connected
check "an idle session is dropped well before the probe's 30 s" wait_for 20 bash -c "! kill -0 $PROBE 2>/dev/null"
wait "$PROBE" || true
say "idle BYE: $(json "$T/i1.probe" 'd["bye"]' 2>/dev/null)"
check "the probe prints the idle BYE reason" grep -q 'idle timeout; the session was logged off' "$T/i1.probe"
check "the idle session ended" wait_for 10 bash -c "! '$BUILD/broker/highrisectl' session list | grep -q '^$IDLE_SESSION'"

# 3c. A console that refuses the agent's password: the client hears so at once, the desktop
#     goes offline at the broker with that reason, and it is not handed out again.
ctl pool create vault --kind floating >/dev/null
ctl entitle vault --user alice >/dev/null
ctl desktop add vault a1 locked "vnc://127.0.0.1:$RFB_PORT" >/dev/null
check "the locked desktop is handed out while its port answers" wait_for 20 desk_is available locked
is "connect to the vault" "$(connect v1 vault)" 200
probe_bg v1 10
wait "$PROBE" || true
say "vault BYE: $(json "$T/v1.probe" 'd["bye"]' 2>/dev/null)"
check "the client hears the console refused the agent's credentials" \
	grep -q "refused the agent's credentials" "$T/v1.probe"
check "the broker marks the desktop offline" wait_for 15 desk_is offline locked
reason=$(ctl --json desktop list | python3 -c 'import json,sys; print([d.get("offline_reason","") for d in json.load(sys.stdin)["desktops"] if d["name"]=="locked"][0])')
say "offline_reason: $reason"
check "with the reason" bash -c "[[ \"$reason\" == *\"refused the agent's credentials\"* ]]"
is "and does not hand it out (503)" "$(connect v2 vault)" 503
check "the console was tried once (hostile-rfb saw one attempt)" \
	[ "$(grep -c 'auth attempt' "$T/rfb-auth.log")" -eq 1 ]

# 4. The agent stops (SIGSTOP) past the heartbeat window: offline, connect 503; SIGCONT: back.
kill -STOP "$AGENT_PID"
check "a stopped agent's desktop goes offline" wait_for 20 desk_is offline
is "connect to an offline desktop answers 503" "$(connect c2)" 503
kill -CONT "$AGENT_PID"
check "SIGCONT: the desktop is back" wait_for 20 desk_not offline
check "the agent registered again" [ "$(grep -c 'registered with the broker at' "$T/agent.log")" -ge 2 ]
is "connect works again" "$(connect c3)" 200

# 5. The broker ends a connected session: the probe gets BYE with the reason.
SESSION=$(json "$T/c3.json" 'd["session"]')
probe_bg c3 30
check "the new probe's session is connected" wait_for 10 session_is "$SESSION" connected
if ctl --help 2>&1 | grep -q 'session.*disconnect'; then
	check "highrisectl session disconnect" ctl session disconnect "$SESSION"
	WANT="connect again to resume the session"
else
	check "highrisectl session logoff" ctl session logoff "$SESSION"
	WANT="the session was logged off"
fi
check "the probe is dropped well before its 30 s" wait_for 15 bash -c "! kill -0 $PROBE 2>/dev/null"
wait "$PROBE" || true
say "BYE: $(json "$T/c3.probe" 'd["bye"]' 2>/dev/null)"
check "the probe prints the BYE reason" grep -q "$WANT" "$T/c3.probe"
check "the agent logged who ended it" grep -q "session $SESSION: the broker ended it" "$T/agent.log"

# 5b. Disconnected, the session stays: alice resumes it; a logoff then drops her for good.
is "connect again resumes the session" "$(connect c4; json "$T/c4.json" '(d["session"] == "'"$SESSION"'", d["resumed"])')" "200(True, True)"
probe_bg c4 30
check "the resumed session is connected" wait_for 10 session_is "$SESSION" connected
check "highrisectl session logoff" ctl session logoff "$SESSION"
check "a logged-off session's probe is dropped" wait_for 15 bash -c "! kill -0 $PROBE 2>/dev/null"
wait "$PROBE" || true
say "BYE: $(json "$T/c4.probe" 'd["bye"]' 2>/dev/null)"
check "the probe prints the logoff reason" grep -q "the session was logged off" "$T/c4.probe"

# 5c. A broker that does not know the agent (restarted on an empty database): its heartbeat
#     answer's code "not_registered" (not its English text) makes the agent register again.
regs=$(grep -c 'registered with the broker at' "$T/agent.log")
kill "$BROKER_PID"
wait "$BROKER_PID" 2>/dev/null || true
bg broker2 "$BUILD/broker/highrise-broker" --listen "127.0.0.1:$BPORT" --store "sqlite:$T/broker2.db" \
	--tls.cert_file "$PKI/broker-127.0.0.1.pem" --tls.key_file "$PKI/broker-127.0.0.1.key" \
	--tls.ca_file "$PKI/ca.pem" --ticket.key_file "$PKI/ticket.key" \
	--agent.heartbeat_window_s 3 --log.level debug
check "a broker that forgot the agent: the agent hears so and registers again" \
	wait_for 20 bash -c "grep -q 'the broker does not know this agent' '$T/agent.log' &&
		[ \$(grep -c 'registered with the broker at' '$T/agent.log') -gt $regs ]"
check "the new broker lists the agent" wait_for 10 bash -c "'$BUILD/broker/highrisectl' agent list | grep -q '^a1 '"

# 6. SIGTERM: the agent stops promptly (the link thread does not hold it up).
kill -TERM "$AGENT_PID"
rc=0
wait "$AGENT_PID" || rc=$?
check "the agent stops cleanly on SIGTERM ($rc)" [ "$rc" -eq 0 ]
check "no secret in the agent's log" bash -c "! grep -q -e pw-alice -e '$TOKEN' '$T/agent.log'"
finish
