#!/usr/bin/env bash
# highrise-broker end to end with real processes on loopback: an admin builds a pool over the
# admin API (mutual TLS), an agent with an Xvfb desktop registers and heartbeats (mutual TLS),
# a user logs in, lists pools, connects, and highrise-probe shows frames with the broker's
# ticket. Then: brute force slowed, hostile requests answered with clear 4xx while the
# broker keeps serving and the database stays unchanged, a silent agent's desktops go
# offline, and SIGTERM stops the broker cleanly.
. "$(dirname "$0")/lib.sh"
need Xvfb xdpyinfo curl openssl python3

broker_pki # $PKI: broker 127.0.0.1, agent a1, admin root, the ticket key
DB="$T/broker.db"

bg broker "$BUILD/broker/highrise-broker" --listen 127.0.0.1:0 --store "sqlite:$DB" \
	--tls.cert_file "$PKI/broker-127.0.0.1.pem" --tls.key_file "$PKI/broker-127.0.0.1.key" \
	--tls.ca_file "$PKI/ca.pem" --ticket.key_file "$PKI/ticket.key" \
	--agent.heartbeat_window_s 4 --login.free_attempts 3 --login.backoff_ms 2000 \
	--log.level debug
BROKER_PID=$LAST_PID
wait_for 20 grep -q 'listening on' "$T/broker.log" || {
	fail "the broker did not start"
	exit 1
}
BPORT=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$T/broker.log" | head -1)
U="https://127.0.0.1:$BPORT/api/v1"
say "broker on port $BPORT"

# req NAME [curl args...]: body to $T/NAME.json, status code printed
req() {
	local name=$1
	shift
	curl -s --cacert "$PKI/ca.pem" -o "$T/$name.json" -w '%{http_code}' "$@"
}
JSON=(-H 'Content-Type: application/json')
ADMIN=(--cert "$PKI/admin-root.pem" --key "$PKI/admin-root.key" "${JSON[@]}")
AGENT=(--cert "$PKI/agent-a1.pem" --key "$PKI/agent-a1.key" "${JSON[@]}")
is() { # is WHAT GOT WANT
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1 (got $2, want $3)"; fi
}

# 1. The admin builds a pool.
is "admin: user alice" "$(req a1 "${ADMIN[@]}" -d '{"name":"alice","password":"correct horse"}' "$U/admin/users")" 201
is "admin: user bob" "$(req a2 "${ADMIN[@]}" -d '{"name":"bob","password":"b0b"}' "$U/admin/users")" 201
is "admin: user carol" "$(req a2 "${ADMIN[@]}" -d '{"name":"carol","password":"c"}' "$U/admin/users")" 201
is "admin: a duplicate user is 409" "$(req a3 "${ADMIN[@]}" -d '{"name":"alice","password":"x"}' "$U/admin/users")" 409
is "admin: pool" "$(req a4 "${ADMIN[@]}" -d '{"name":"office","kind":"floating"}' "$U/admin/pools")" 201
is "admin: desktop" "$(req a5 "${ADMIN[@]}" -d '{"agent":"a1","name":"desk","console_uri":"x11"}' "$U/admin/pools/office/desktops")" 201
is "admin: group" "$(req a6 "${ADMIN[@]}" -d '{"name":"staff"}' "$U/admin/groups")" 201
is "admin: member" "$(req a7 "${ADMIN[@]}" -d '{"user":"alice"}' "$U/admin/groups/staff/members")" 201
is "admin: entitle the group" "$(req a8 "${ADMIN[@]}" -d '{"pool":"office","group":"staff"}' "$U/admin/entitlements")" 201
is "admin: entitle carol" "$(req a8 "${ADMIN[@]}" -d '{"pool":"office","user":"carol"}' "$U/admin/entitlements")" 201
is "admin: the desktop is offline before its agent registers" \
	"$(req a9 "${ADMIN[@]}" "$U/admin/desktops/a1/desk" >/dev/null; json "$T/a9.json" 'd["state"]')" offline

# 2. A real agent on an Xvfb desktop registers and heartbeats.
start_xvfb 1280x720x24
bg agent "$BUILD/server/highrise-agent" --listen 127.0.0.1:0 --name a1 --desktop "desk x11::$DISPLAY_NUM" \
	--tls.cert_file "$PKI/agent-a1.pem" --tls.key_file "$PKI/agent-a1.key" \
	--ticket.public_key "$PKI/ticket.pub"
wait_for 20 grep -q 'listening on' "$T/agent.log" || {
	fail "the agent did not start"
	exit 1
}
APORT=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$T/agent.log" | head -1)
register() { req reg "${AGENT[@]}" -d "{\"address\":\"127.0.0.1\",\"port\":$APORT,\"desktops\":[\"desk\",\"ghost\"]}" "$U/agent/register"; }
is "agent: register" "$(register)" 200
is "agent: one desktop known, one unknown" "$(json "$T/reg.json" '(d["desktops"], d["unknown"])')" "(1, 1)"
heartbeat_loop() { # each answer a line of $T/hb.txt
	while :; do
		{ curl -s --cacert "$PKI/ca.pem" "${AGENT[@]}" -d '{}' "$U/agent/heartbeat" || true; } >>"$T/hb.txt"
		sleep 1
	done
}
heartbeat_loop &
HB=$!
PIDS+=("$HB")
is "agent: heartbeat" "$(req hb "${AGENT[@]}" -d '{}' "$U/agent/heartbeat")" 200
is "agent: the heartbeat answers the interval and an empty end list" "$(json "$T/hb.json" '(d["heartbeat_interval_s"], d["end"])')" "(1, [])"
is "a user certificate-less call to the agent API is 401" "$(req x "${JSON[@]}" -d '{}' "$U/agent/heartbeat")" 401
is "an admin certificate cannot act as an agent (403)" "$(req x "${ADMIN[@]}" -d '{}' "$U/agent/heartbeat")" 403

# 3. Login: a wrong password and an unknown user get the same answer.
is "login: wrong password is 401" "$(req l1 "${JSON[@]}" -d '{"user":"alice","password":"nope"}' "$U/login")" 401
is "login: unknown user is 401" "$(req l2 "${JSON[@]}" -d '{"user":"mallory","password":"nope"}' "$U/login")" 401
check "login: both answers are the same bytes" cmp -s "$T/l1.json" "$T/l2.json"
is "login: good password" "$(req l3 "${JSON[@]}" -d '{"user":"alice","password":"correct horse"}' "$U/login")" 200
TOKEN=$(json "$T/l3.json" 'd["token"]')
check "the token is 43 base64url characters" [ ${#TOKEN} -eq 43 ]
check "the broker never logs the password or the token" \
	bash -c "! grep -q -e 'correct horse' -e '$TOKEN' '$T/broker.log'"
AUTH=(-H "Authorization: Bearer $TOKEN")

# 4. Pools and connect; the agent accepts the broker's ticket and the probe sees frames.
is "pools" "$(req p1 "${AUTH[@]}" "$U/pools")" 200
is "pools: alice may use office (through her group)" "$(json "$T/p1.json" '[p["name"] for p in d["pools"]]')" "['office']"
is "connect: without a client key is 400" "$(req c0 "${AUTH[@]}" -X POST "$U/pools/office/connect")" 400
is "connect: and it says what the key must be" "$(json "$T/c0.json" 'd["error"]')" \
	"\"client_key\" must be the client's Ed25519 public key: 32 bytes in base64"
is "connect: a base64url key is 400" "$(req c0b "${AUTH[@]}" "${JSON[@]}" -d '{"client_key": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo="}' -X POST "$U/pools/office/connect")" 400
is "connect" "$(req c1 "${AUTH[@]}" "${JSON[@]}" -d "$(client_key c1)" -X POST "$U/pools/office/connect")" 200
is "connect: the agent and desktop" "$(json "$T/c1.json" '(d["agent"], d["desktop"], d["address"], d["port"])')" "('a1', 'desk', '127.0.0.1', $APORT)"
json "$T/c1.json" 'd["ticket"]' >"$T/ticket.b64"
json "$T/c1.json" 'd["ca"]' >"$T/agent-ca.pem"
bundle "$T/ticket.pem" "$T/c1.json" "$T/c1.key" # the ticket works only with c1's key
SESSION=$(json "$T/c1.json" 'd["session"]')
check "connect: the ticket expires within 60 s" \
	[ "$(json "$T/c1.json" 'd["expires"]')" -le $(($(date +%s) + 60)) ]
check "the broker never logs the ticket" bash -c "! grep -q -F '$(head -c 40 "$T/ticket.b64")' '$T/broker.log'"
"$BUILD/client/highrise-probe" --agent "127.0.0.1:$APORT" --ticket "$T/ticket.pem" \
	--ca "$T/agent-ca.pem" --json -q --seconds 2 >"$T/probe1.json" 2>"$T/probe1.err" || true
check "probe: the agent accepts the broker's ticket and frames arrive" \
	[ "$(json "$T/probe1.json" 'd["frames"]' 2>/dev/null || echo 0)" -ge 1 ]
"$BUILD/client/highrise-probe" --agent "127.0.0.1:$APORT" --ticket "$T/ticket.pem" \
	--ca "$T/agent-ca.pem" --json -q --seconds 1 >"$T/replay.json" 2>"$T/replay.err" || true
check "probe: the same ticket a second time is refused" grep -q "already used" "$T/replay.err"
is "connect again: the same session" "$(req c2 "${AUTH[@]}" "${JSON[@]}" -d "$(client_key c2)" -X POST "$U/pools/office/connect"; json "$T/c2.json" '(d["session"] == "'"$SESSION"'", d["resumed"])')" "200(True, True)"
bundle "$T/ticket2.pem" "$T/c2.json" "$T/c2.key"
"$BUILD/client/highrise-probe" --agent "127.0.0.1:$APORT" --ticket "$T/ticket2.pem" \
	--ca "$T/agent-ca.pem" --json -q --seconds 2 >"$T/probe2.json" || true
check "probe: a fresh ticket to the same session streams" [ "$(json "$T/probe2.json" 'd["frames"]')" -ge 1 ]

# carol is entitled but the only desktop is alice's; bob is not entitled
is "login carol" "$(req l4 "${JSON[@]}" -d '{"user":"carol","password":"c"}' "$U/login")" 200
CAROL=(-H "Authorization: Bearer $(json "$T/l4.json" 'd["token"]')")
is "connect: no desktop left is 503" "$(req c3 "${CAROL[@]}" "${JSON[@]}" -d "$(client_key c3)" -X POST "$U/pools/office/connect")" 503
is "connect: and it says so" "$(json "$T/c3.json" 'd["error"]')" "no desktop available"
is "login bob" "$(req l5 "${JSON[@]}" -d '{"user":"bob","password":"b0b"}' "$U/login")" 200
BOB=(-H "Authorization: Bearer $(json "$T/l5.json" 'd["token"]')")
is "pools: bob has none" "$(req p2 "${BOB[@]}" "$U/pools"; json "$T/p2.json" 'd["pools"]')" "200[]"
is "connect: bob is not entitled (403)" "$(req c4 "${BOB[@]}" "${JSON[@]}" -d "$(client_key c4)" -X POST "$U/pools/office/connect")" 403
is "connect: an unknown pool is 404" "$(req c5 "${BOB[@]}" "${JSON[@]}" -d "$(client_key c5)" -X POST "$U/pools/nope/connect")" 404

# 5. Hostile requests: clear 4xx, the broker keeps serving, the database is unchanged.
snapshot() {
	python3 - "$DB" <<'PY'
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
for t in ("users", "groups", "group_members", "pools", "desktops", "entitlements", "assignments"):
    for row in db.execute("SELECT * FROM %s ORDER BY 1" % t):
        print(t, row)
PY
}
snapshot >"$T/before.txt"
is "bad: malformed JSON is 400" "$(req b1 "${JSON[@]}" -d '{"user": "alice", "password": ' "$U/login")" 400
python3 -c 'print("[" * 30000 + "]" * 30000, end="")' >"$T/deep.json" # under max_body
is "bad: deeply nested JSON is 400" "$(req b2 "${JSON[@]}" --data-binary "@$T/deep.json" "$U/login")" 400
python3 -c 'import json; print(json.dumps({"user": "u" * 1048576, "password": "x"}), end="")' >"$T/big.json"
is "bad: a 1 MB user name is 413" "$(req b3 "${JSON[@]}" --data-binary "@$T/big.json" "$U/login")" 413
python3 -c 'import json; print(json.dumps({"user": "u" * 5000, "password": "x"}), end="")' >"$T/long.json"
is "bad: a 5000-byte user name is 400" "$(req b3b "${JSON[@]}" --data-binary "@$T/long.json" "$U/login")" 400
is "bad: an SQL injection user name is just a wrong login (401)" \
	"$(req b4 "${JSON[@]}" -d "{\"user\":\"alice' OR '1'='1' --\",\"password\":\"x' OR 1=1; DROP TABLE users; --\"}" "$U/login")" 401
is "bad: an SQL injection pool name is 400" "$(req b5 "${AUTH[@]}" "${JSON[@]}" -d "$(client_key b5)" -X POST "$U/pools/office'%20OR%20'1'='1/connect")" 400
is "bad: admin SQL injection names are refused (400)" \
	"$(req b6 "${ADMIN[@]}" -d "{\"name\":\"x'); DROP TABLE users; --\",\"password\":\"p\"}" "$U/admin/users")" 400
is "bad: GET /login is 405" "$(req b7 "$U/login")" 405
check "bad: and says which method" grep -q 'POST' "$T/b7.json"
is "bad: DELETE /pools is 405" "$(req b8 -X DELETE "${AUTH[@]}" "$U/pools")" 405
is "bad: a form body is 415" "$(req b9 -d 'user=alice&password=x' "$U/login")" 415
is "bad: text/plain is 415" "$(req b10 -H 'Content-Type: text/plain' -d '{}' "$U/login")" 415
is "bad: no token is 401" "$(req b11 "$U/pools")" 401
is "bad: a forged token is 401" "$(req b12 -H "Authorization: Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" "$U/pools")" 401
is "bad: a malformed token is 401" "$(req b13 -H "Authorization: Bearer ';--" "$U/pools")" 401
is "bad: a non-object body is 400" "$(req b14 "${JSON[@]}" -d '["alice","x"]' "$U/login")" 400
is "bad: a number for a user name is 400" "$(req b15 "${JSON[@]}" -d '{"user":7,"password":"x"}' "$U/login")" 400
is "bad: an unknown path is 404" "$(req b16 "$U/nothing/here")" 404
is "bad: the admin API without a certificate is 401" "$(req b17 "${JSON[@]}" -d '{"name":"evil","password":"p"}' "$U/admin/users")" 401
is "bad: the admin API with an agent certificate is 403" "$(req b18 "${AGENT[@]}" -d '{"name":"evil","password":"p"}' "$U/admin/users")" 403
is "bad: a registration with a bad port is 400" "$(req b19 "${AGENT[@]}" -d '{"port":70000,"desktops":[]}' "$U/agent/register")" 400
# issue 13: cJSON turns \u0000 into a NUL that strlen would cut at: "alice\u0000x" was alice,
# a password counted up to the NUL, and "evil\u0000root" passed the name check as "evil"
is "bad: a user name with \\u0000 is 400, not alice" \
	"$(req b20 "${JSON[@]}" -d '{"user":"alice\u0000x","password":"correct horse"}' "$U/login")" 400
check "bad: and the broker says why" grep -q 'u0000' "$T/b20.json"
is "bad: a password with \\u0000 is 400, not cut" \
	"$(req b21 "${JSON[@]}" -d '{"user":"alice","password":"correct horse\u0000junk"}' "$U/login")" 400
is "bad: an admin user name with \\u0000 is 400" \
	"$(req b22 "${ADMIN[@]}" -d '{"name":"evil\u0000root","password":"p"}' "$U/admin/users")" 400
printf '{"user":"alice\000x","password":"correct horse"}' >"$T/nul.json"
is "bad: a raw NUL byte in the body is 400" "$(req b23 "${JSON[@]}" --data-binary "@$T/nul.json" "$U/login")" 400
check "bad: and the broker says why" grep -q 'NUL byte' "$T/b23.json"
is "bad: bytes after the JSON value are 400" \
	"$(req b24 "${JSON[@]}" -d '{"user":"alice","password":"correct horse"} {"user":"root"}' "$U/login")" 400
check "bad: and the broker says why" grep -q 'after its JSON value' "$T/b24.json"
for f in b1 b2 b4 b5 b7 b9 b11 b12 b14 b16 b17 b18 b19 b20 b21 b22 b23 b24; do
	json "$T/$f.json" 'd["error"]' >/dev/null 2>&1 || fail "bad: $f has no JSON error"
done
pass "bad: every 4xx above carries a JSON {\"error\": ...}"
is "the broker still serves" "$(req p3 "${AUTH[@]}" "$U/pools")" 200
snapshot >"$T/after.txt"
check "the database is unchanged by the hostile requests" cmp -s "$T/before.txt" "$T/after.txt"

# 6. Brute force is slowed, per address, across connections (every curl is a new one).
is "a good login first (it clears the address's count)" "$(req l7 "${JSON[@]}" -d '{"user":"alice","password":"correct horse"}' "$U/login")" 200
codes=""
for i in 1 2 3 4 5; do
	codes="$codes $(req bf "${JSON[@]}" -d '{"user":"alice","password":"guess'$i'"}' "$U/login")"
done
say "brute force answers:$codes"
is "brute force: 3 tries, then 429" "$codes" " 401 401 401 429 429"
hdr=$(curl -s --cacert "$PKI/ca.pem" -D - -o /dev/null "${JSON[@]}" -d '{"user":"alice","password":"correct horse"}' "$U/login")
check "brute force: even the right password waits, with Retry-After" grep -qi '^retry-after: [0-9]' <<<"$hdr"
sleep "$(sed -n 's/^[Rr]etry-[Aa]fter: \([0-9]*\).*/\1/p' <<<"$hdr" | tr -d '\r')"
is "brute force: after the wait the right password works" "$(req l6 "${JSON[@]}" -d '{"user":"alice","password":"correct horse"}' "$U/login")" 200

# 7. Logoff returns the floating desktop; logout ends the token.
is "agent: reports alice's client connected" "$(req ev "${AGENT[@]}" -d '{"events":[{"session":"'"$SESSION"'","desktop":"desk","event":"connected","client":"127.0.0.1"}]}' "$U/agent/sessions"; json "$T/ev.json" '(d["accepted"], d["unknown"])')" "200(1, 0)"
is "admin: the session is connected, the desktop in use" "$(req sl "${ADMIN[@]}" "$U/admin/sessions" >/dev/null; json "$T/sl.json" '[(x["state"], x["client"]) for x in d["sessions"]]')$(req ds "${ADMIN[@]}" "$U/admin/desktops/a1/desk" >/dev/null; json "$T/ds.json" 'd["state"]')" "[('connected', '127.0.0.1')]in_use"
is "admin: log off alice's session" "$(req lo "${ADMIN[@]}" -d '{}' "$U/admin/sessions/$SESSION/logoff")" 200
check "the agent's heartbeat is told to drop alice's client (logoff)" wait_for 15 grep -q "\"session\":\"$SESSION\",\"reason\":\"logoff\"" "$T/hb.txt"
is "connect: carol now gets the desktop" "$(req c6 "${CAROL[@]}" "${JSON[@]}" -d "$(client_key c6)" -X POST "$U/pools/office/connect"; json "$T/c6.json" 'd["desktop"]')" "200desk"
is "logout" "$(req lg "${BOB[@]}" -X POST "$U/logout")" 200
is "the token is gone after logout" "$(req lg2 "${BOB[@]}" "$U/pools")" 401

# 8. The agent falls silent: its desktop goes offline and is not handed out; it comes back.
end "$HB"
wait "$HB" 2>/dev/null || true
check "silent agent: the desktop goes offline" wait_for 15 bash -c \
	"curl -s --cacert '$PKI/ca.pem' --cert '$PKI/admin-root.pem' --key '$PKI/admin-root.key' '$U/admin/desktops/a1/desk' | grep -q '\"offline\"'"
is "silent agent: carol's session is not handed out (503)" "$(req c7 "${CAROL[@]}" "${JSON[@]}" -d "$(client_key c7)" -X POST "$U/pools/office/connect")" 503
is "agent back: register" "$(register)" 200
is "agent back: carol's session resumes" "$(req c8 "${CAROL[@]}" "${JSON[@]}" -d "$(client_key c8)" -X POST "$U/pools/office/connect"; json "$T/c8.json" '(d["desktop"], d["resumed"])')" "200('desk', True)"

# 9. kill -9 and a restart on the same database: nothing lost or duplicated, sessions resume.
snapshot >"$T/before-kill.txt"
kill -9 "$BROKER_PID"
wait "$BROKER_PID" 2>/dev/null || true
bg broker2 "$BUILD/broker/highrise-broker" --listen "127.0.0.1:$BPORT" --store "sqlite:$DB" \
	--tls.cert_file "$PKI/broker-127.0.0.1.pem" --tls.key_file "$PKI/broker-127.0.0.1.key" \
	--tls.ca_file "$PKI/ca.pem" --ticket.key_file "$PKI/ticket.key" --agent.heartbeat_window_s 60
BROKER_PID=$LAST_PID
wait_for 20 grep -q 'listening on' "$T/broker2.log" || fail "the broker did not restart"
check "restart: no migration is applied twice" bash -c "! grep -q 'applied schema migration' '$T/broker2.log'"
snapshot >"$T/after-kill.txt"
check "restart: every assignment is still there, none doubled" cmp -s "$T/before-kill.txt" "$T/after-kill.txt"
is "restart: the token still works and carol's session resumes" \
	"$(req c9 "${CAROL[@]}" "${JSON[@]}" -d "$(client_key c9)" -X POST "$U/pools/office/connect"; json "$T/c9.json" '(d["desktop"], d["resumed"])')" "200('desk', True)"

# 10. SIGTERM stops the broker cleanly.
kill -TERM "$BROKER_PID"
rc=0
wait "$BROKER_PID" || rc=$?
is "SIGTERM: the broker exits 0" "$rc" 0
check "SIGTERM: and says it stopped" grep -q 'stopped' "$T/broker2.log"
finish
