#!/usr/bin/env bash
# highrisectl against a real highrise-broker: an admin builds a pool, users, a group and an
# entitlement; a user connects (curl, as the client would); highrisectl shows the session and
# logs it off. Human tables, --json, exit codes, refusals, and no certificate, no entry.
. "$(dirname "$0")/lib.sh"
need curl openssl python3

CERTS="$SRC/certs/highrise-certs"
PKI="$T/pki"
"$CERTS" --dir "$PKI" init >/dev/null
"$CERTS" --dir "$PKI" issue broker 127.0.0.1 >/dev/null
"$CERTS" --dir "$PKI" issue agent a1 --san IP:127.0.0.1 >/dev/null
"$CERTS" --dir "$PKI" issue admin root >/dev/null
"$CERTS" --dir "$PKI" ticket-key >/dev/null

# the configuration file, as an operator writes it; --listen on the command line wins
cat >"$T/broker.conf" <<CONF
listen = 0.0.0.0:8443   # replaced below
store = "sqlite:$T/broker.db"
workers = 2
[tls]
cert_file = $PKI/broker-127.0.0.1.pem
key_file = $PKI/broker-127.0.0.1.key
ca_file = $PKI/ca.pem
[ticket]
key_file = $PKI/ticket.key
lifetime_s = 20
CONF
B="$BUILD/broker/highrise-broker"
check "broker --help lists every setting" bash -c "'$B' --help | grep -q 'agent.heartbeat_window_s'"
check "broker --print-config shows the file's values and the flag's" bash -c \
	"'$B' --config '$T/broker.conf' --listen 127.0.0.1:1 --print-config | grep -q '^listen = \"127.0.0.1:1\"' && '$B' --config '$T/broker.conf' --print-config | grep -q 'lifetime_s = 20'"
printf 'listen = 127.0.0.1:0\nticket.lifetime_s = 61\n' >"$T/bad.conf"
rc=0
"$B" --config "$T/bad.conf" 2>"$T/bad.err" || rc=$?
check "a ticket lifetime over 60 s is refused, naming the file and line" \
	bash -c "[ $rc -ne 0 ] && grep -q 'bad.conf:2' '$T/bad.err'"
rc=0
"$B" --config "$T/broker.conf" --store "" --listen 127.0.0.1:0 2>"$T/nostore.err" || rc=$?
check "no store: refused with a sentence" bash -c "[ $rc -ne 0 ] && grep -q 'needs a store' '$T/nostore.err'"
bg broker "$B" --config "$T/broker.conf" --listen 127.0.0.1:0
BROKER_PID=$LAST_PID
wait_for 20 grep -q 'listening on' "$T/broker.log" || {
	fail "the broker did not start"
	exit 1
}
BPORT=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$T/broker.log" | head -1)
export HIGHRISE_BROKER="https://127.0.0.1:$BPORT" HIGHRISE_CA="$PKI/ca.pem"
export HIGHRISE_CERT="$PKI/admin-root.pem" HIGHRISE_KEY="$PKI/admin-root.key"
ctl() { "$BUILD/broker/highrisectl" "$@"; }
rc_of() { # rc_of WANT command...: the command's exit code is WANT
	local want=$1 rc=0
	shift
	"$@" >"$T/out.txt" 2>"$T/err.txt" || rc=$?
	[ "$rc" -eq "$want" ]
}

check "--help lists the commands" bash -c "'$BUILD/broker/highrisectl' --help | grep -q 'session list'"
check "pool create" rc_of 0 ctl pool create office --kind floating --max-sessions 1
check "pool create twice is refused (exit 1)" rc_of 1 ctl pool create office
check "and says why" grep -q 'already exists' "$T/err.txt"
check "a bad pool kind is refused (exit 1)" rc_of 1 ctl pool create weird --kind sideways
check "user add (password from a file)" bash -c "printf 'pw-alice\n' >'$T/pw' && '$BUILD/broker/highrisectl' user add alice --password-file '$T/pw' >/dev/null"
check "user add (password on stdin)" bash -c "echo pw-bob | '$BUILD/broker/highrisectl' user add bob >/dev/null"
check "group add" rc_of 0 ctl group add staff
check "group add-member" rc_of 0 ctl group add-member staff alice
check "entitle a group" rc_of 0 ctl entitle office --group staff
check "entitle needs --user or --group (exit 2)" rc_of 2 ctl entitle office
check "desktop add" rc_of 0 ctl desktop add office a1 desk x11::7
check "desktop add to a missing pool is refused" rc_of 1 ctl desktop add nope a1 d9
check "desktop maintenance on" rc_of 0 ctl desktop maintenance a1 desk on
check "desktop show says maintenance" bash -c "'$BUILD/broker/highrisectl' desktop show a1 desk | grep -q 'maintenance'"
check "desktop maintenance off" rc_of 0 ctl desktop maintenance a1 desk off
check "an unknown command is a usage error (exit 2)" rc_of 2 ctl frobnicate now

ctl pool list >"$T/pools.txt"
check "pool list: a table with a header" grep -q '^NAME  *KIND' "$T/pools.txt"
check "pool list: the pool" grep -q '^office  *floating' "$T/pools.txt"
check "user list: alice in staff" bash -c "'$BUILD/broker/highrisectl' user list | grep -q '^alice  *staff'"
check "pool list --json" bash -c "'$BUILD/broker/highrisectl' --json pool list | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"pools\"][0][\"name\"]==\"office\"'"

# an agent registers, alice connects; the session shows up
curl -s --cacert "$PKI/ca.pem" --cert "$PKI/agent-a1.pem" --key "$PKI/agent-a1.key" \
	-H 'Content-Type: application/json' -d '{"port":7443,"desktops":["desk"]}' \
	"$HIGHRISE_BROKER/api/v1/agent/register" >/dev/null
check "agent list shows a1" bash -c "'$BUILD/broker/highrisectl' agent list | grep -q '^a1  *127.0.0.1  *7443'"
TOKEN=$(curl -s --cacert "$PKI/ca.pem" -H 'Content-Type: application/json' \
	-d '{"user":"alice","password":"pw-alice"}' "$HIGHRISE_BROKER/api/v1/login" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
curl -s --cacert "$PKI/ca.pem" -H "Authorization: Bearer $TOKEN" -X POST \
	"$HIGHRISE_BROKER/api/v1/pools/office/connect" >"$T/connect.json"
SESSION=$(json "$T/connect.json" 'd["session"]')
ctl session list >"$T/sessions.txt"
check "session list shows alice's session" grep -q "^$SESSION  *alice  *office  *a1  *desk" "$T/sessions.txt"
check "desktop list shows it assigned to alice" bash -c "'$BUILD/broker/highrisectl' desktop list | grep -q '^a1  *desk  *office  *assigned  *alice'"
check "session logoff" rc_of 0 ctl session logoff "$SESSION"
check "session list is empty after logoff" bash -c "'$BUILD/broker/highrisectl' session list | grep -q '(none)'"
check "desktop available again" bash -c "'$BUILD/broker/highrisectl' desktop show a1 desk | grep -q available"

# dedicated assignments, passwords, removal
check "assign a desktop to bob" rc_of 0 ctl assign bob a1 desk
check "desktop list shows it assigned to bob" bash -c "'$BUILD/broker/highrisectl' desktop list | grep -q '^a1  *desk  *office  *assigned  *bob'"
check "assign it again is refused (409, exit 1)" rc_of 1 ctl assign alice a1 desk
check "unassign" rc_of 0 ctl unassign a1 desk
check "unassign again: not found (exit 1)" rc_of 1 ctl unassign a1 desk
check "user passwd" bash -c "echo new-pw | '$BUILD/broker/highrisectl' user passwd alice >/dev/null"
code=$(curl -s --cacert "$PKI/ca.pem" -H 'Content-Type: application/json' -o /dev/null -w '%{http_code}' \
	-d '{"user":"alice","password":"new-pw"}' "$HIGHRISE_BROKER/api/v1/login")
check "the new password logs in ($code)" [ "$code" = 200 ]
check "desktop remove" rc_of 0 ctl desktop remove a1 desk
check "desktop remove again: not found (exit 1)" rc_of 1 ctl desktop remove a1 desk

# credentials
check "no admin certificate: refused by the broker (exit 1)" rc_of 1 ctl --cert "" --key "" pool list
check "an agent certificate is not an admin's (exit 1)" rc_of 1 ctl --cert "$PKI/agent-a1.pem" --key "$PKI/agent-a1.key" pool list
check "a wrong host name fails verification (exit 3)" rc_of 3 ctl --broker "https://localhost:$BPORT" pool list
check "and says so" grep -q 'hostname mismatch' "$T/err.txt"
check "user delete" rc_of 0 ctl user delete bob
check "pool delete of a missing pool (exit 1)" rc_of 1 ctl pool delete nope

kill -TERM "$BROKER_PID"
rc=0
wait "$BROKER_PID" || rc=$?
check "the broker stops cleanly ($rc)" [ "$rc" -eq 0 ]
kill -TERM "$BROKER_PID" 2>/dev/null || true
bash -c "'$BUILD/broker/highrisectl' pool list" >/dev/null 2>&1 && rc=0 || rc=$?
check "a stopped broker is unreachable (exit 3, got $rc)" [ "$rc" -eq 3 ]
finish
