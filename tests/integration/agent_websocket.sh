#!/usr/bin/env bash
# The agent's WebSocket transport (docs/protocol.md §1.1), with a browser's side written from
# the document and RFC 6455 alone (wsclient.py): the same port as the native stream, Origin
# checked against web.origin, CHALLENGE first and a HELLO proof that signs it, VIDEO in
# binary messages of exactly one frame each, WebSocket pings answered; a reused ticket, a
# proof signed for another value, a text message, two frames in one message and an unmasked
# frame are refused with a BYE saying why; a dropped link resumes with a proof over the new
# connection's challenge; and a native client still works on the same port.
. "$(dirname "$0")/lib.sh"
need Xvfb xdpyinfo python3 openssl

AGENT_NAME=agent-ws
ORIGIN=https://broker.example:8443
xvfb desk 800x600x24
bg app "$BUILD/tests/fixtures/x11/highrise-testapp" --display ":$XVFB_DISPLAY" --log "$T/app.events" --no-stdin
wait_for 20 grep -q '^ready' "$T/app.events" || { fail "the test app did not start"; exit 1; }
make_pki
start_agent "$AGENT_NAME" "desk x11::$XVFB_DISPLAY" -- --web.origin "$ORIGIN/"
say "agent on port $AGENT_PORT, desktop on :$XVFB_DISPLAY"
check "the agent says which origin it takes browsers from" \
	grep -q "browsers: $ORIGIN" "$T/agent.log"

N=0
# ws NAME ORIGIN SCENARIO: wsclient.py with a fresh ticket, its lines in $T/NAME.out
ws() {
	local name=$1 origin=$2
	shift 2
	N=$((N + 1))
	ticket "$T/t$N" alice desk
	python3 "$SRC/tests/integration/wsclient.py" --port "$AGENT_PORT" --ca "$T/pki/ca.pem" \
		--origin "$origin" --ticket "$T/t$N" "$@" >"$T/$name.out" 2>&1 ||
		fail "$name: wsclient failed: $(tail -1 "$T/$name.out")"
	sed "s/^/  $name: /" "$T/$name.out"
}
its() { sed -n "s/^$2: //p" "$T/$1.out" | head -1; }

# 1. Origin: only the configured one is upgraded (the default port and case do not matter).
ws evil https://evil.example handshake
check "another origin is refused with 403" [ "$(its evil status)" = "HTTP/1.1 403 Forbidden" ]
check "and told which origin the agent takes" bash -c "its() { sed -n \"s/^\$2: //p\" '$T/evil.out'; }; its x body | grep -q 'broker.example:8443'"
ws noorigin "" handshake
check "no Origin at all is refused with 403" [ "$(its noorigin status)" = "HTTP/1.1 403 Forbidden" ]
ws good "HTTPS://Broker.Example:8443" handshake
check "the configured origin is upgraded" [ "$(its good status)" = "HTTP/1.1 101 Switching Protocols" ]

# 2. A session: CHALLENGE, HELLO signed over it, WELCOME, video, ping, BYE.
ws hello "$ORIGIN" hello
check "a HELLO whose proof signs the challenge is welcomed" [ "$(its hello answer)" = WELCOME ]
check "VIDEO arrives in binary messages of one frame each" [ "$(its hello video)" -ge 1 ]
check "a WebSocket ping is answered with its payload" [ "$(its hello pong)" = "are you there" ]
case "$(its hello 'after bye')" in
closed*) pass "after the page's BYE the agent ends the connection" ;;
*) fail "after BYE: $(its hello 'after bye')" ;;
esac
check "the agent logs the WebSocket and its origin" grep -q "WebSocket from $ORIGIN" "$T/agent.log"

# 3. Refusals, each with its reason.
ws replay "$ORIGIN" replay
check "a ticket is good once" [ "$(its replay first)" = WELCOME ]
case "$(its replay second)" in
"BYE 3 connect ticket refused"*) pass "a reused ticket, properly signed on another connection, is refused" ;;
*) fail "a reused ticket: $(its replay second)" ;;
esac
ws wrong "$ORIGIN" wrong-binding
case "$(its wrong answer)" in
"BYE 3 "*"not bound to this connection"*) pass "a proof that signs anything but this connection's challenge is refused" ;;
*) fail "a proof over another value: $(its wrong answer)" ;;
esac
ws text "$ORIGIN" text
case "$(its text answer)" in
"BYE 1 WebSocket: a text message"*) pass "a text message is a protocol error" ;;
*) fail "a text message: $(its text answer)" ;;
esac
ws two "$ORIGIN" two-frames
case "$(its two answer)" in
"BYE 1 WebSocket: a message of"*"not exactly one frame"*) pass "two frames in one message are a protocol error" ;;
*) fail "two frames in one message: $(its two answer)" ;;
esac
ws unmasked "$ORIGIN" unmasked
case "$(its unmasked answer)" in
"BYE 1 WebSocket: "*mask*) pass "an unmasked frame from the browser is a protocol error" ;;
*) fail "an unmasked frame: $(its unmasked answer)" ;;
esac

# 4. Resume over WebSocket: the HMAC binds the new connection's challenge.
ws resume "$ORIGIN" resume
check "WELCOME carries a resume grant" [ "$(its resume grant)" = 48 ]
check "a dropped WebSocket resumes with a proof over the new challenge" [ "$(its resume resumed)" = WELCOME ]

# 5. The native transport on the same port is unchanged.
ticket "$T/native" alice desk
python3 "$SRC/tests/integration/rawclient.py" --port "$AGENT_PORT" --ca "$T/pki/ca.pem" \
	--ticket "$T/native" input-late 0x61 >"$T/native.out" 2>&1 ||
	fail "rawclient failed: $(tail -1 "$T/native.out")"
check "a native client is still welcomed on the same port" grep -q '^answer: WELCOME' "$T/native.out"
check "the agent is still running" kill -0 "$AGENT_PID"
finish
