#!/usr/bin/env bash
# Crashes and restarts with real processes (docs/reliability.md): a broker on SQLite, an agent
# with an Xvfb desktop that joins it, and highrise-probe --reconnect logged in through the
# broker. kill -9 the broker while the session streams: the stream goes on (the agent never
# needs the broker to keep a session), and the restarted broker on the same file still knows
# the one session, not two. kill -9 the agent: its resume grants die with it, so the probe's
# resume is refused by the restarted agent and it comes back through the broker, into the
# same broker session. kill -9 the broker in the middle of a login, a connect and a logoff:
# the SQLite file stays whole and nothing is doubled.
. "$(dirname "$0")/lib.sh"
need Xvfb xdpyinfo xclock python3 curl

broker_pki # $PKI: broker 127.0.0.1, agent a1, admin root, the ticket key
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
BPORT=$(free_port)
APORT=$(free_port)
export HIGHRISE_BROKER="https://127.0.0.1:$BPORT" HIGHRISE_CA="$PKI/ca.pem"
export HIGHRISE_CERT="$PKI/admin-root.pem" HIGHRISE_KEY="$PKI/admin-root.key"
ctl() { "$BUILD/broker/highrisectl" "$@"; }

start_xvfb 800x600x24
bg clock xclock -display ":$DISPLAY_NUM" -digital -update 1 -geometry 600x80+10+10 # a frame a second

BROKER_ARGS=(--listen "127.0.0.1:$BPORT" --store "sqlite:$T/broker.db"
	--tls.cert_file "$PKI/broker-127.0.0.1.pem" --tls.key_file "$PKI/broker-127.0.0.1.key"
	--tls.ca_file "$PKI/ca.pem" --ticket.key_file "$PKI/ticket.key"
	--agent.heartbeat_window_s 3 --log.level debug)
AGENT_ARGS=(--listen "127.0.0.1:$APORT" --name a1 --desktop "desk x11::$DISPLAY_NUM"
	--tls.cert_file "$PKI/agent-a1.pem" --tls.key_file "$PKI/agent-a1.key"
	--ticket.public_key "$PKI/ticket.pub" --broker.url "$HIGHRISE_BROKER"
	--broker.ca_file "$PKI/ca.pem" --broker.advertise_address 127.0.0.1 --log.level debug)
start_broker() { # start_broker NAME
	bg "$1" "$BUILD/broker/highrise-broker" "${BROKER_ARGS[@]}"
	BROKER_PID=$LAST_PID
	wait_for 20 grep -q 'listening on' "$T/$1.log" || { fail "the broker did not start"; exit 1; }
}
start_agent_a1() { # start_agent_a1 NAME
	bg "$1" "$BUILD/server/highrise-agent" "${AGENT_ARGS[@]}"
	AGENT_PID=$LAST_PID
	wait_for 20 grep -q 'registered with the broker at' "$T/$1.log" || { fail "the agent did not register"; exit 1; }
}
sessions() { # the broker's live sessions as "id state" lines
	ctl --json session list | python3 -c 'import json,sys
for s in json.load(sys.stdin)["sessions"]: print(s["id"], s["state"])'
}

start_broker broker
ctl pool create office --kind floating >/dev/null
printf 'pw-alice\n' >"$T/pw"
chmod 600 "$T/pw"
ctl user add alice --password-file "$T/pw" >/dev/null
ctl entitle office --user alice >/dev/null
ctl desktop add office a1 desk "x11::$DISPLAY_NUM" >/dev/null
start_agent_a1 agent
desk_up() { ctl --json desktop list | grep -q '"state":"available"'; }
check "the desktop is available" wait_for 20 desk_up

"$BUILD/client/highrise-probe" --broker "$HIGHRISE_BROKER" --ca "$PKI/ca.pem" --user alice \
	--password-file "$T/pw" --pool office --reconnect --seconds 45 --json >"$T/p.json" 2>"$T/p.err" &
PROBE=$!
PIDS+=("$PROBE")
check "the probe's session is connected" wait_for 15 bash -c "$(declare -f ctl sessions); BUILD=$BUILD; sessions | grep -q ' connected$'"
SESSION=$(sessions | awk '{print $1; exit}')
say "broker session $SESSION"

# 1. kill -9 the broker mid-session: the stream goes on; a restarted broker has the one session.
kill -9 "$BROKER_PID"
wait "$BROKER_PID" 2>/dev/null || true
sleep 6
start_broker broker2
check "the restarted broker still has exactly one session, the same one" \
	wait_for 10 bash -c "$(declare -f ctl sessions); BUILD=$BUILD; [ \"\$(sessions | wc -l)\" -eq 1 ] && sessions | grep -q '^$SESSION '"
check "no reconnect was needed while the broker was gone" bash -c "! grep -q 'connection lost' '$T/p.err'"

# 2. kill -9 the agent: resume is refused by the new agent (its grants died), the probe goes
#    through the broker and lands in the same broker session.
kill -9 "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null || true
sleep 2
start_agent_a1 agent2
check "the probe is back through the broker" wait_for 30 grep -q 'back in through the broker' "$T/p.err"
check "after the restarted agent refused the dead resume grant" \
	grep -q 'resume refused: resume id is unknown' "$T/agent2.log"
check "in the same broker session, not a second one" \
	bash -c "$(declare -f ctl sessions); BUILD=$BUILD; [ \"\$(sessions | wc -l)\" -eq 1 ] && sessions | grep -q '^$SESSION connected'"
wait "$PROBE" || true
say "reconnects: $(json "$T/p.json" 'd["reconnects"]')"
check "frames arrived after it" [ "$(json "$T/p.json" 'd["frames_after_reconnect"]')" -ge 5 ]
# 3. kill -9 of the broker in the middle of a login, a connect and an admin's logoff, each at
#    three moments: after every restart the SQLite file is whole, alice still logs in, and
#    she has at most one session (nothing lost, nothing doubled: one transaction per change).
U="$HIGHRISE_BROKER/api/v1"
api() { curl -s --max-time 5 --cacert "$PKI/ca.pem" -H 'Content-Type: application/json' "$@"; }
login() { api -d '{"user":"alice","password":"pw-alice"}' "$U/login"; }
token() { login | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'; }
n=0
for what in login connect logoff; do
	for delay in 0.005 0.03 0.1; do
		n=$((n + 1))
		tok=$(token)
		sid=$(sessions | awk '{print $1; exit}')
		case $what in
		login) api -d '{"user":"alice","password":"pw-alice"}' "$U/login" >/dev/null & ;;
		connect) api -H "Authorization: Bearer $tok" -d "$(client_key "k$n")" "$U/pools/office/connect" >/dev/null & ;;
		logoff) ctl session logoff "${sid:-none}" >/dev/null 2>&1 & ;;
		esac
		REQ=$!
		sleep "$delay"
		kill -9 "$BROKER_PID"
		wait "$BROKER_PID" 2>/dev/null || true
		wait "$REQ" 2>/dev/null || true
		start_broker "broker-$what-$n"
		ok=$(python3 -c 'import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("PRAGMA integrity_check").fetchone()[0])' "$T/broker.db" 2>&1)
		count=$(sessions | wc -l)
		if [ "$ok" = ok ] && [ -n "$(token)" ] && [ "$count" -le 1 ]; then
			pass "kill -9 $delay s into a $what: the store is whole, login works, $count session(s)"
		else
			fail "kill -9 $delay s into a $what: integrity '$ok', sessions $count"
		fi
	done
done

check "no secret in the logs" bash -c "! grep -q -e pw-alice '$T'/agent*.log '$T'/broker*.log"
finish
