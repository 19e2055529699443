#!/usr/bin/env bash
# The agent against docs/protocol.md §2, with a client written from the document alone
# (rawclient.py): before HELLO only HELLO and PING are taken (an unknown type first is
# BYE PROTOCOL_ERROR, a PING first is answered), input sent before WELCOME never reaches
# the desktop while input after it does, and a second HELLO that does not decode ends the
# session with BYE VERSION while one of this version is ignored; a console that never answers
# reaches the client as the agent's reason, not as a network timeout of the client's own; a
# ticket relayed to another TLS connection, a replayed resume proof and a used resume grant
# are refused, the newest resume evicts the older connection, and an input flood is capped.
. "$(dirname "$0")/lib.sh"
need Xvfb xdpyinfo python3

AGENT_NAME=agent-protocol
xvfb desk 1024x768x24
bg app "$BUILD/tests/fixtures/x11/highrise-testapp" --display ":$XVFB_DISPLAY" --log "$T/app.events" --no-stdin
wait_for 20 grep -q '^ready' "$T/app.events" || { fail "the test app did not start"; exit 1; }
# a console that accepts TCP and never speaks: the agent's wait for it runs out (section 5)
bg mute python3 -c '
import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
print(s.getsockname()[1], flush=True)
held = []
while True:
    held.append(s.accept()[0])'
wait_for 10 grep -q '[0-9]' "$T/mute.log" || { fail "the silent console did not start"; exit 1; }
MUTE_PORT=$(head -1 "$T/mute.log")
make_pki
start_agent "$AGENT_NAME" "desk x11::$XVFB_DISPLAY" "mute vnc://127.0.0.1:$MUTE_PORT" -- \
	--hello_timeout_ms 5000 --max_pending 12 --max_pending_per_source 6
say "agent on port $AGENT_PORT, desktop on :$XVFB_DISPLAY"

N=0
# raw NAME SCENARIO...: rawclient.py with a fresh ticket, its lines in $T/NAME.out
raw() {
	local name=$1
	shift
	N=$((N + 1))
	ticket "$T/t$N" alice desk
	python3 "$SRC/tests/integration/rawclient.py" --port "$AGENT_PORT" --ca "$T/pki/ca.pem" \
		--ticket "$T/t$N" "$@" >"$T/$name.out" 2>&1 || fail "$name: rawclient failed: $(tail -1 "$T/$name.out")"
	sed "s/^/  $name: /" "$T/$name.out"
}
# its NAME KEY: the value of KEY: in NAME's output
its() { sed -n "s/^$2: //p" "$T/$1.out" | head -1; }

# 1. Before HELLO: an unknown type is not skipped, it is a protocol error (§2.1).
raw unknown first-unknown
case "$(its unknown answer)" in
"BYE 1 expected HELLO"*) pass "an unknown frame type before HELLO gets BYE PROTOCOL_ERROR" ;;
*) fail "an unknown frame type before HELLO: $(its unknown answer)" ;;
esac
check "the agent says which frame it got" grep -q 'expected HELLO, got UNKNOWN (type 200)' "$T/agent.log"

# 2. A PING before HELLO is answered, and HELLO still opens the session.
raw ping ping-first
check "PING before HELLO gets its PONG" [ "$(its ping pong)" = 4242 ]
check "and HELLO after it is welcomed" [ "$(its ping answer)" = WELCOME ]

# 3. Input sent before WELCOME never reaches the desktop; after WELCOME it does. The desktop
#    was just watched (its console is known), the case where early input used to slip in.
raw early input-early 0x71 # q
check "input before WELCOME: the session still opens" [ "$(its early answer)" = WELCOME ]
# the desktop's worker starts for a first client while a second sends HELLO and KEY at once:
# the worker runs, the console is not up yet, so the second is not welcomed either
wait_for 10 grep -q 'stopped (nobody watches)' "$T/agent.log" || true
ticket "$T/pair2" alice desk
raw pair input-pair 0x7a --ticket2 "$T/pair2" # z
check "both clients of the pair are welcomed" [ "$(its pair answer2)" = WELCOME ]
raw late input-late 0x77 # w
wait_for 10 grep -q '^key w' "$T/app.events" || true
check "input after WELCOME reaches the desktop" grep -q '^key w' "$T/app.events"
check "input before WELCOME did not" bash -c "! grep -Eq '^key (q|z)' '$T/app.events'"
check "the agent logs the early input it dropped" grep -q 'before WELCOME: dropped' "$T/agent.log"

# 4. A second HELLO once the session is open: one of this version is ignored (§2, a
#    well-formed message not meant for the agent); one of another version does not decode
#    and ends the session with BYE VERSION (§3: what does not decode is a protocol error).
raw again1 hello-again 1
check "a second HELLO of version 1 is ignored" [ "$(its again1 after)" = "still open" ]
raw again2 hello-again 2
case "$(its again2 after)" in
"BYE 2 "*) pass "a second HELLO of version 2 ends the session with BYE VERSION" ;;
*) fail "a second HELLO of version 2: $(its again2 after)" ;;
esac

# 5. Timeouts that agree: the agent answers within 15 s however its console behaves, and the
#    probe (default --timeout 10) waits for that answer instead of blaming the network.
ticket "$T/tmute" alice mute
T0=$SECONDS
probe "$T/mute.json" "$T/tmute" --seconds 2 || true
took=$((SECONDS - T0))
say "  silent console: bye \"$(json "$T/mute.json" 'd["bye"]')\" after $took s"
check "a console that never answers: the client hears the agent's reason" \
	grep -q "console is not reachable" "$T/mute.json"
check "not a network timeout of its own" bash -c "! grep -q 'no answer from the agent' '$T/mute.json'"
check "within the agent's 15 s and the probe's wait ($took s)" [ "$took" -ge 14 ] && [ "$took" -le 19 ]

# 6. Greedy peers before HELLO (this agent: --max_pending_per_source 6 --max_pending 12
#    --hello_timeout_ms 5000). Connections that finish TLS and say nothing:
raw hold1 hold 10 1 --source 127.0.0.5 &
HOLD=$!
sleep 0.5
raw other ping-first --source 127.0.0.9
wait $HOLD
check "one address gets 6 such connections, the next 4 are refused" \
	[ "$(its hold1 refused)/$(its hold1 open)" = 4/6 ]
check "the agent says why" grep -q 'have not sent HELLO yet (max_pending_per_source)' "$T/agent.log"
check "meanwhile a client from another address is served" [ "$(its other answer)" = WELCOME ]
# past 12 from everywhere the oldest goes: 6 + 6 held, then 2 more arrive
raw hold2 hold 6 4 --source 127.0.0.6 --ready "$T/h2.ready" &
H2=$!
wait_for 10 test -e "$T/h2.ready" || fail "hold2 did not connect"
raw hold3 hold 6 3 --source 127.0.0.7 --ready "$T/h3.ready" &
H3=$!
wait_for 10 test -e "$T/h3.ready" || fail "hold3 did not connect"
raw hold4 hold 2 1 --source 127.0.0.8
wait $H2 $H3
check "two newcomers past 12 drop the two oldest (the first address's)" \
	[ "$(its hold2 bye)/$(its hold3 bye)/$(its hold4 refused)" = 2/0/0 ]
check "with the reason" bash -c "grep -q 'max_pending' '$T/hold2.out'"
# a HELLO at one byte a second never completes in time: dropped at hello_timeout_ms
raw slow trickle
case "$(its slow answer)" in
"BYE 1 no HELLO within 5000 ms") pass "a HELLO trickled at 1 byte/s is dropped at 5 s ($(its slow after_s) s)" ;;
*) fail "a trickled HELLO: $(its slow answer) after $(its slow after_s) s" ;;
esac

# Tickets and resume secrets are bound to their TLS connection (§6.3, §6.4).
raw relay relay-ticket
check "a ticket relayed to another TLS connection is refused" \
	bash -c "grep -q '^relayed: BYE 3 connect ticket refused: ticket is not bound to this connection' '$T/relay.out'"
check "and is not used up for its holder" [ "$(its relay holder)" = WELCOME ]
raw replay resume-replay
check "WELCOME hands out a resume grant for 180 s" [ "$(its replay window)" = 180 ]
check "the grant resumes the session on a new connection after a drop" [ "$(its replay resume)" = WELCOME ]
check "a replayed resume proof is refused" bash -c "grep -q '^replayed: BYE 10 resume refused: resume id is unknown' '$T/replay.out'"
check "a used grant proven on another connection is refused" \
	bash -c "grep -q '^reused: BYE 10 resume refused: resume id is unknown' '$T/replay.out'"
check "the newest attach takes the session over" [ "$(its replay takeover)" = WELCOME ]
check "and the older connection is told so at once" \
	bash -c "grep -q '^evicted: BYE 7 this session was resumed on another connection' '$T/replay.out'"
check "the agent logs why it refused, with a short id" grep -q 'resume refused: resume id is unknown .*(resume id [0-9a-f]\{8\}…)' "$T/agent.log"
check "and never a secret, a proof or a ticket (no long hex, no base64 blocks)" \
	bash -c "! grep -Eq '[0-9a-f]{40}|[A-Za-z0-9+/]{60}' '$T/agent.log'"
# A client that floods input is capped (input.max_per_s 2000, bursts of 500); releases pass.
before=$(grep -c '^key a' "$T/app.events" || true)
raw flood input-flood 20000
after=$(grep -c '^key a' "$T/app.events" || true)
say "input flood: 20000 presses sent, $((after - before)) key events reached the desktop"
check "an input flood is capped: far fewer than the 20000 presses reach the desktop" \
	[ $((after - before)) -lt 4000 ]
check "the agent says so" grep -q 'sends input faster than input.max_per_s' "$T/agent.log"

check "the agent is still serving" grep -q 'listening on' "$T/agent.log"
raw final input-late 0x65 # e
check "and a session after all this works" [ "$(its final answer)" = WELCOME ]
finish
