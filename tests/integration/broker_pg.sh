#!/usr/bin/env bash
# The broker's store suite (test_broker_store: the model, the connect decision, 200 connects
# from 8 threads on 50 desktops) on PostgreSQL, started by the test from Debian's
# `postgresql` package on a Unix socket in a temporary directory; then a real broker on it:
# login, connect, and the same answers as on SQLite.
. "$(dirname "$0")/lib.sh"
need curl openssl python3
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$PGBIN/initdb" ] || {
	say "FAILED: PostgreSQL is not installed (run: make deps)"
	exit 1
}
[ -x "$BUILD/tests/unit/test_broker_store" ] || {
	say "FAILED: $BUILD/tests/unit/test_broker_store is not built"
	exit 1
}

PGD="$T/pg"
mkdir -p "$PGD"
as_pg() { "$@"; }
if [ "$(id -u)" -eq 0 ]; then # initdb refuses root: the cluster belongs to postgres
	chmod o+x "$T"
	chown postgres "$PGD"
	as_pg() { runuser -u postgres -- "$@"; }
fi
as_pg "$PGBIN/initdb" -D "$PGD/data" -U postgres --auth=trust >"$T/initdb.log" 2>&1 || {
	fail "initdb failed"
	exit 1
}
PGPORT=$((20000 + RANDOM % 20000))
as_pg "$PGBIN/pg_ctl" -D "$PGD/data" -l "$PGD/server.log" -w -t 60 \
	-o "-c listen_addresses='' -c unix_socket_directories='$PGD' -p $PGPORT -c fsync=off" \
	start >"$T/pg_ctl.log" 2>&1 || {
	fail "PostgreSQL did not start"
	cat "$PGD/server.log" >"$T/pgserver.log" 2>/dev/null || true
	exit 1
}
CLEANUPS+=("as_pg '$PGBIN/pg_ctl' -D '$PGD/data' -m immediate stop >/dev/null 2>&1")
pass "PostgreSQL runs on $PGD (port $PGPORT)"
newdb() { as_pg "$PGBIN/createdb" -h "$PGD" -p "$PGPORT" -U postgres "$1"; }
uri() { echo "postgresql:///$1?host=$PGD&port=$PGPORT&user=postgres"; }

newdb suite
check "the store suite passes on PostgreSQL" \
	env HIGHRISE_TEST_STORE="$(uri suite)" "$BUILD/tests/unit/test_broker_store"
HIGHRISE_TEST_STORE="$(uri suite)" "$BUILD/tests/unit/test_broker_store" 2>/dev/null |
	grep 'connect decisions' || true

# a broker on PostgreSQL
newdb broker
broker_pki # $PKI: broker 127.0.0.1, agent a1, admin root, the ticket key
bg broker "$BUILD/broker/highrise-broker" --listen 127.0.0.1:0 --store "$(uri broker)" \
	--tls.cert_file "$PKI/broker-127.0.0.1.pem" --tls.key_file "$PKI/broker-127.0.0.1.key" \
	--tls.ca_file "$PKI/ca.pem" --ticket.key_file "$PKI/ticket.key"
BROKER_PID=$LAST_PID
wait_for 20 grep -q 'listening on' "$T/broker.log" || {
	fail "the broker did not start on PostgreSQL"
	exit 1
}
BPORT=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$T/broker.log" | head -1)
export HIGHRISE_BROKER="https://127.0.0.1:$BPORT" HIGHRISE_CA="$PKI/ca.pem"
export HIGHRISE_CERT="$PKI/admin-root.pem" HIGHRISE_KEY="$PKI/admin-root.key"
ctl() { "$BUILD/broker/highrisectl" "$@" >/dev/null; }
check "highrisectl builds a pool on PostgreSQL" bash -c "
	'$BUILD/broker/highrisectl' pool create office >/dev/null &&
	echo pw | '$BUILD/broker/highrisectl' user add alice >/dev/null &&
	'$BUILD/broker/highrisectl' entitle office --user alice >/dev/null &&
	'$BUILD/broker/highrisectl' desktop add office a1 desk >/dev/null"
curl -s --cacert "$PKI/ca.pem" --cert "$PKI/agent-a1.pem" --key "$PKI/agent-a1.key" \
	-H 'Content-Type: application/json' -d '{"port":7443,"desktops":["desk"]}' \
	"$HIGHRISE_BROKER/api/v1/agent/register" >/dev/null
login() { curl -s --cacert "$PKI/ca.pem" -H 'Content-Type: application/json' -d "$1" -o "$T/login.json" -w '%{http_code}' "$HIGHRISE_BROKER/api/v1/login"; }
check "a wrong password is 401" [ "$(login '{"user":"alice","password":"nope"}')" = 401 ]
check "the right one is 200" [ "$(login '{"user":"alice","password":"pw"}')" = 200 ]
TOKEN=$(json "$T/login.json" 'd["token"]')
code=$(curl -s --cacert "$PKI/ca.pem" -H "Authorization: Bearer $TOKEN" -X POST -o "$T/c.json" \
	-H 'Content-Type: application/json' -d "$(client_key c)" \
	-w '%{http_code}' "$HIGHRISE_BROKER/api/v1/pools/office/connect")
check "connect on PostgreSQL hands out the desktop with a ticket" \
	[ "$code/$(json "$T/c.json" 'd["desktop"]')/$(json "$T/c.json" 'len(d["ticket"]) > 100')" = "200/desk/True" ]
check "session list shows it" bash -c "'$BUILD/broker/highrisectl' session list | grep -q 'alice  *office  *a1  *desk'"
kill -TERM "$BROKER_PID"
rc=0
wait "$BROKER_PID" || rc=$?
check "the broker stops cleanly" [ "$rc" -eq 0 ]
finish
