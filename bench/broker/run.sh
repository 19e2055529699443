#!/usr/bin/env bash
# bench/broker: highrise-broker on loopback, on an SQLite file and on a PostgreSQL the script
# starts from Debian's postgresql package, under 1, 16 and 64 concurrent HTTPS clients
# (bench-broker-load: one thread and one keep-alive TLS 1.3 connection per client). See
# README.md.
#
#   bench/broker/run.sh [BUILD_DIR]       (make bench runs it; BUILD_DIR defaults to build/)
#
# Per store: a fresh broker and database; users, pools and desktops made through the admin
# API (admin certificate), the desktops registered with the agent certificate; then per
# client count: logins (argon2id), connects that make a new assignment (floating pool,
# sessions logged off between rounds) and connects that resume a live session (dedicated
# pool). Every process started here is stopped at exit (lib.sh's trap).
#   BENCH_BROKER_SECONDS=S      measured seconds per cell (default 3)
#   BENCH_BROKER_CLIENTS="1 16 64", BENCH_BROKER_STORES="sqlite postgresql"
#   BENCH_BROKER_USERS=N        users (and desktops per pool), default 128
#   BENCH_BROKER_WORKERS=N      the broker's --workers (default: its own default, 4)
#   BENCH_BROKER_PG_SYNC=off    PostgreSQL with synchronous_commit=off (default: on, fsync
#                               per commit; "off" loses no consistency, like SQLite's WAL
#                               with synchronous=NORMAL, only the last commits on a crash)
#   BENCH_BROKER_OUT=DIR        keep every result, log and the database in DIR

. "$(dirname "$0")/../../tests/integration/lib.sh" # BUILD from $HIGHRISE_BINARY_DIR or $1
need openssl python3 curl
trap 'exit 130' INT TERM # so that lib.sh's EXIT trap stops everything on ^C too
BUILD=$(cd "$BUILD" && pwd)
HERE="$SRC/bench/broker"
LOAD="$BUILD/bench/broker/bench-broker-load"
BROKER="$BUILD/broker/highrise-broker"
need_built bench/broker "$LOAD" "$BROKER"
SECS=${BENCH_BROKER_SECONDS:-3}
USERS=${BENCH_BROKER_USERS:-128}
read -r -a CLIENTS <<<"${BENCH_BROKER_CLIENTS:-1 16 64}"
read -r -a STORES <<<"${BENCH_BROKER_STORES:-sqlite postgresql}"
WORKERS=()
[ -z "${BENCH_BROKER_WORKERS:-}" ] || WORKERS=(--workers "$BENCH_BROKER_WORKERS")
T0=$SECONDS

PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [[ " ${STORES[*]} " == *" postgresql "* ]] && [ ! -x "$PGBIN/initdb" ]; then
	say "bench/broker: PostgreSQL is not installed (run: make deps)"
	exit 1
fi

PKI="$T/pki"
CERTS="$SRC/certs/highrise-certs"
"$CERTS" --dir "$PKI" init >/dev/null
"$CERTS" --dir "$PKI" issue broker 127.0.0.1 >/dev/null
"$CERTS" --dir "$PKI" issue agent a1 --san IP:127.0.0.1 >/dev/null
"$CERTS" --dir "$PKI" issue admin bench >/dev/null
"$CERTS" --dir "$PKI" ticket-key >/dev/null
for ((i = 0; i < USERS; i++)); do printf 'u%04d pw-%d\n' $i $i; done >"$T/passwords.txt"

# ---- PostgreSQL: a throw-away cluster on a Unix socket (as tests/integration/broker_pg.sh) --
PG_STARTED=0
start_pg() {
	local pgd="$T/pg"
	mkdir -p "$pgd"
	as_pg() { "$@"; }
	if [ "$(id -u)" -eq 0 ]; then # initdb refuses root: the cluster belongs to postgres
		chmod o+x "$T"
		chown postgres "$pgd"
		as_pg() { runuser -u postgres -- "$@"; }
	fi
	as_pg "$PGBIN/initdb" -D "$pgd/data" -U postgres --auth=trust >"$T/initdb.log" 2>&1 || {
		fail "bench/broker: initdb failed (see initdb.log)"
		exit 1
	}
	PGPORT=$((20000 + RANDOM % 20000))
	# fsync stays on: by default the numbers are those of a database that keeps its commits
	as_pg "$PGBIN/pg_ctl" -D "$pgd/data" -l "$pgd/server.log" -w -t 60 \
		-o "-c listen_addresses='' -c unix_socket_directories='$pgd' -p $PGPORT \
			-c synchronous_commit=${BENCH_BROKER_PG_SYNC:-on}" \
		start >"$T/pg_ctl.log" 2>&1 || {
		cp "$pgd/server.log" "$T/pgserver.log" 2>/dev/null || true
		fail "bench/broker: PostgreSQL did not start (see pgserver.log)"
		exit 1
	}
	CLEANUPS+=("as_pg '$PGBIN/pg_ctl' -D '$pgd/data' -m fast stop >/dev/null 2>&1")
	PG_STARTED=1
	as_pg "$PGBIN/createdb" -h "$pgd" -p "$PGPORT" -U postgres bench
	PG_URI="postgresql:///bench?host=$pgd&port=$PGPORT&user=postgres"
}

# ---- the broker ------------------------------------------------------------------------------
start_broker() { # start_broker STORE_URI LOGNAME
	bg "$2" "$BROKER" --listen 127.0.0.1:0 --store "$1" \
		--tls.cert_file "$PKI/broker-127.0.0.1.pem" --tls.key_file "$PKI/broker-127.0.0.1.key" \
		--tls.ca_file "$PKI/ca.pem" --ticket.key_file "$PKI/ticket.key" \
		--login.free_attempts 1000 --agent.heartbeat_window_s 86400 "${WORKERS[@]}"
	BROKER_PID=$LAST_PID
	wait_for 30 grep -q 'listening on' "$T/$2.log" || {
		fail "bench/broker: the broker did not start (see $2.log)"
		exit 1
	}
	BPORT=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$T/$2.log" | head -1)
}
stop_broker() {
	local rc=0
	kill -TERM "$BROKER_PID"
	wait "$BROKER_PID" || rc=$?
	[ "$rc" -eq 0 ] || fail "bench/broker: the broker exited with $rc (see its log)"
}

cpu_ticks() { # utime + stime of PID
	local f
	read -r -a f <"/proc/$1/stat"
	echo $((f[13] + f[14]))
}
busy_ticks() { # all CPUs' busy ticks (everything but idle and iowait) since boot
	awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat
}

# run_cell STORE OP CLIENTS [POOL]: one measurement, one JSON line into results.jsonl
run_cell() {
	local store=$1 op=$2 n=$3 pool=${4:-} users="$T/tokens.txt" b0 b1 s0 s1 t0 t1 line
	local args=(--op "$op" --port "$BPORT" --ca "$PKI/ca.pem" --clients "$n" --seconds "$SECS")
	[ "$op" != login ] || users="$T/passwords.txt"
	[ -z "$pool" ] || args+=(--pool "$pool")
	[ "$op" != connect-new ] || args+=(--cert "$PKI/admin-bench.pem" --key "$PKI/admin-bench.key")
	b0=$(cpu_ticks "$BROKER_PID")
	s0=$(busy_ticks)
	t0=$EPOCHREALTIME
	if line=$("$LOAD" "${args[@]}" --users "$users" 2>"$T/load-$store-$op-$n.err"); then
		:
	else
		fail "bench/broker: $store $op with $n clients: $(head -c 600 "$T/load-$store-$op-$n.err")"
	fi
	t1=$EPOCHREALTIME
	b1=$(cpu_ticks "$BROKER_PID")
	s1=$(busy_ticks)
	[ -n "$line" ] || return 0
	# CPU over the whole run of the load generator (warm-up and logoffs included), 100 = 1 core
	echo "${line%\}}, \"store\": \"$store\", \"broker_cpu\": $(python3 -c \
		"print(round(($b1 - $b0) / $CLK_TCK / ($t1 - $t0) * 100))"), \"machine_cpu\": \
$(python3 -c "print(round(($s1 - $s0) / $CLK_TCK / ($t1 - $t0) * 100))")}" >>"$T/results.jsonl"
	printf '  %-10s %-15s %3d clients  done (%ds so far)\n' "$store" "$op" "$n" \
		$((SECONDS - T0))
}
CLK_TCK=$(getconf CLK_TCK)

# set-up through the admin API, as highrisectl would: pool "float" (floating) and pool
# "dedi" (dedicated), USERS users in group "bench" entitled to both, one floating desktop
# per user and one dedicated desktop assigned to each user, all served by agent a1
setup() {
	python3 - "https://127.0.0.1:$BPORT/api/v1" "$PKI" "$USERS" <<'PY' || return 1
import http.client, json, ssl, sys, threading
from concurrent.futures import ThreadPoolExecutor
base, pki, users = sys.argv[1], sys.argv[2], int(sys.argv[3])
host, port = base[8:].split("/")[0].split(":")
ctx = ssl.create_default_context(cafile=pki + "/ca.pem")
ctx.load_cert_chain(pki + "/admin-bench.pem", pki + "/admin-bench.key")
local = threading.local()
def post(path, body):
    if not hasattr(local, "c"):
        local.c = http.client.HTTPSConnection(host, int(port), context=ctx)
    local.c.request("POST", "/api/v1" + path, json.dumps(body),
                    {"Content-Type": "application/json"})
    r = local.c.getresponse()
    text = r.read()
    if r.status not in (200, 201):
        raise SystemExit("POST %s: %d %s" % (path, r.status, text[:300]))
post("/admin/pools", {"name": "float", "kind": "floating"})
post("/admin/pools", {"name": "dedi", "kind": "dedicated"})
post("/admin/groups", {"name": "bench"})
post("/admin/entitlements", {"pool": "float", "group": "bench"})
post("/admin/entitlements", {"pool": "dedi", "group": "bench"})
def desks(i):
    post("/admin/pools/float/desktops", {"agent": "a1", "name": "f%04d" % i})
    post("/admin/pools/dedi/desktops", {"agent": "a1", "name": "d%04d" % i})
def user(i):  # argon2id on the broker: the slow part
    post("/admin/users", {"name": "u%04d" % i, "password": "pw-%d" % i})
    post("/admin/groups/bench/members", {"user": "u%04d" % i})
    post("/admin/assignments", {"user": "u%04d" % i, "agent": "a1", "desktop": "d%04d" % i})
with ThreadPoolExecutor(8) as ex:
    list(ex.map(desks, range(users)))
    list(ex.map(user, range(users)))
PY
	# the agent registers its desktops with its own certificate (mutual TLS)
	python3 -c "import json,sys; n=int(sys.argv[1]); print(json.dumps({'port': 7443,
		'desktops': ['f%04d' % i for i in range(n)] + ['d%04d' % i for i in range(n)]}))" \
		"$USERS" >"$T/register.json"
	curl -sf --cacert "$PKI/ca.pem" --cert "$PKI/agent-a1.pem" --key "$PKI/agent-a1.key" \
		-H 'Content-Type: application/json' --data-binary "@$T/register.json" \
		"https://127.0.0.1:$BPORT/api/v1/agent/register" >"$T/registered.json" || return 1
	[ "$(json "$T/registered.json" 'd["desktops"]')" -eq $((2 * USERS)) ]
}

bench_store() { # bench_store NAME URI
	local store=$1 n
	start_broker "$2" "broker-$store"
	say "bench/broker: $store: broker on port $BPORT, setting up $USERS users (argon2id each)"
	setup || {
		fail "bench/broker: $store: set-up through the admin API failed"
		return 0
	}
	# every user logs in once: the tokens the connect cells use (not measured)
	"$LOAD" --op tokens --port "$BPORT" --ca "$PKI/ca.pem" --clients 16 \
		--users "$T/passwords.txt" --out "$T/tokens.txt" >/dev/null 2>"$T/tokens-$store.err" ||
		{
			fail "bench/broker: $store: logging every user in failed: $(head -c 600 \
				"$T/tokens-$store.err")"
			return 0
		}
	say "bench/broker: $store: set-up done ($((SECONDS - T0)) s)"
	for n in "${CLIENTS[@]}"; do
		run_cell "$store" login "$n"
		run_cell "$store" connect-new "$n" float
		run_cell "$store" connect-resume "$n" dedi
	done
	stop_broker
}

for s in "${STORES[@]}"; do
	case $s in
	sqlite) bench_store sqlite "sqlite:$T/broker.db" ;;
	postgresql)
		[ "$PG_STARTED" -eq 1 ] || start_pg
		bench_store postgresql "$PG_URI"
		;;
	*)
		say "bench/broker: unknown store '$s' (sqlite or postgresql)"
		exit 1
		;;
	esac
done

cat >"$T/plan.json" <<EOF
{"seconds": $SECS, "users": $USERS, "workers": "${BENCH_BROKER_WORKERS:-default (4)}",
 "cpus": $(nproc), "cpu_model": "$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)",
 "sqlite": "$(sqlite3 --version 2>/dev/null | awk '{print $1}')",
 "postgresql": "$(basename "$(dirname "${PGBIN:-/x/none/bin}")")",
 "pg_sync": "${BENCH_BROKER_PG_SYNC:-on}"}
EOF
if [ ! -s "$T/results.jsonl" ]; then
	fail "bench/broker: no results"
elif ! python3 "$HERE/report.py" "$T"; then
	fail "bench/broker: report.py failed"
fi
if [ -n "${BENCH_BROKER_OUT:-}" ]; then
	mkdir -p "$BENCH_BROKER_OUT" && cp -r "$T/." "$BENCH_BROKER_OUT/"
fi
say "bench/broker: total $((SECONDS - T0)) s"
[ "$FAILED" -eq 0 ]
