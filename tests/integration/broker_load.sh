#!/usr/bin/env bash
# highrise-broker under concurrent load, over real HTTPS: 200 users connect at once to a
# floating pool of 50 desktops — exactly 50 succeed, no desktop twice, the rest hear "no
# desktop available". Then the same crowd again while the broker is killed with -9: after a
# restart on the same database no assignment is lost or duplicated and sessions resume.
. "$(dirname "$0")/lib.sh"
need curl openssl python3

USERS=200
DESKTOPS=50
broker_pki # $PKI: broker 127.0.0.1, agent a1, admin root, the ticket key
DB="$T/broker.db"

start_broker() { # start_broker LOGNAME [PORT]
	bg "$1" "$BUILD/broker/highrise-broker" --listen "127.0.0.1:${2:-0}" --store "sqlite:$DB" \
		--tls.cert_file "$PKI/broker-127.0.0.1.pem" --tls.key_file "$PKI/broker-127.0.0.1.key" \
		--tls.ca_file "$PKI/ca.pem" --ticket.key_file "$PKI/ticket.key" \
		--login.free_attempts 1000 --agent.heartbeat_window_s 3600 --workers 4
	BROKER_PID=$LAST_PID
	wait_for 30 grep -q 'listening on' "$T/$1.log" || {
		fail "the broker did not start"
		exit 1
	}
	BPORT=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$T/$1.log" | head -1)
}
start_broker broker
U="https://127.0.0.1:$BPORT/api/v1"
export U PKI T

# set-up through the admin API, with the users' passwords as they would be
python3 - "$U" "$PKI" "$USERS" "$DESKTOPS" <<'PY'
import json, ssl, sys, urllib.request
from concurrent.futures import ThreadPoolExecutor
u, pki, users, desktops = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ctx = ssl.create_default_context(cafile=pki + "/ca.pem")
ctx.load_cert_chain(pki + "/admin-root.pem", pki + "/admin-root.key")
def post(path, body):
    r = urllib.request.Request(u + path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(r, context=ctx) as f:
        assert f.status in (200, 201), f.status
post("/admin/pools", {"name": "crowd", "kind": "floating"})
post("/admin/groups", {"name": "everyone"})
post("/admin/entitlements", {"pool": "crowd", "group": "everyone"})
for d in range(desktops):
    post("/admin/pools/crowd/desktops", {"agent": "a1", "name": "d%02d" % d})
def add(i):
    post("/admin/users", {"name": "u%03d" % i, "password": "pw-%d" % i})
    post("/admin/groups/everyone/members", {"user": "u%03d" % i})
with ThreadPoolExecutor(8) as ex:
    list(ex.map(add, range(users)))
PY
check "set-up: $USERS users, $DESKTOPS desktops" [ $? -eq 0 ]
curl -s --cacert "$PKI/ca.pem" --cert "$PKI/agent-a1.pem" --key "$PKI/agent-a1.key" \
	-H 'Content-Type: application/json' \
	-d "{\"port\":7443,\"desktops\":[$(seq -f '"d%02g"' 0 $((DESKTOPS - 1)) | paste -sd,)]}" \
	"$U/agent/register" >"$T/reg.json"
check "the agent registers $DESKTOPS desktops" [ "$(json "$T/reg.json" 'd["desktops"]')" -eq $DESKTOPS ]

# crowd OUT: every user logs in (once) and connects, 32 at a time; one line per user:
# "user status desktop session" into OUT
cat >"$T/crowd.py" <<'PY'
import base64, json, os, ssl, sys, urllib.request, urllib.error
from concurrent.futures import ThreadPoolExecutor
u, pki, users, out = os.environ["U"], os.environ["PKI"], int(sys.argv[1]), sys.argv[2]
tokens = os.path.join(os.environ["T"], "tokens.json")
ctx = ssl.create_default_context(cafile=pki + "/ca.pem")
def call(path, body=None, token=None):
    h = {"Content-Type": "application/json"}
    if token:
        h["Authorization"] = "Bearer " + token
    r = urllib.request.Request(u + path, json.dumps(body or {}).encode(), h)
    try:
        with urllib.request.urlopen(r, context=ctx, timeout=60) as f:
            return f.status, json.load(f)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)
    except Exception as e:
        return 0, {"error": str(e)}
tok = json.load(open(tokens)) if os.path.exists(tokens) else {}
def login(i):
    name = "u%03d" % i
    if name not in tok:
        s, d = call("/login", {"user": name, "password": "pw-%d" % i})
        tok[name] = d.get("token")
with ThreadPoolExecutor(16) as ex:
    list(ex.map(login, range(users)))
json.dump(tok, open(tokens, "w"))
def connect(i):
    name = "u%03d" % i
    # the client's Ed25519 public key; the ticket is never used here, so any 32 bytes
    # that are not all zero will do (the broker cannot tell them from a real key)
    key = base64.b64encode(os.urandom(31) + b"\x01").decode()
    s, d = call("/pools/crowd/connect", {"client_key": key}, token=tok[name])
    return "%s %d %s %s" % (name, s, d.get("desktop", "-"), d.get("session", d.get("error", "-").replace(" ", "_")))
with ThreadPoolExecutor(32) as ex:
    lines = list(ex.map(connect, range(users)))
open(out, "w").write("\n".join(lines) + "\n")
PY
python3 "$T/crowd.py" $USERS "$T/wave1.txt"
ok=$(awk '$2 == 200' "$T/wave1.txt" | wc -l)
busy=$(awk '$2 == 503 && $4 == "no_desktop_available"' "$T/wave1.txt" | wc -l)
dups=$(awk '$2 == 200 {print $3}' "$T/wave1.txt" | sort | uniq -d | wc -l)
say "wave 1: $ok connected, $busy told no desktop is available, $dups desktops twice"
is() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1 (got $2, want $3)"; fi; }
is "200 concurrent connects: exactly $DESKTOPS succeed" "$ok" $DESKTOPS
is "the others get 'no desktop available'" "$busy" $((USERS - DESKTOPS))
is "no desktop is handed out twice" "$dups" 0
awk '$2 == 200 {print $1, $3, $4}' "$T/wave1.txt" | sort >"$T/held1.txt"

invariants() { # prints "assignments live_sessions desktops_twice sessions_without_assignment"
	python3 - "$DB" <<'PY'
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
q = lambda s: db.execute(s).fetchone()[0]
print(q("SELECT count(*) FROM assignments"),
      q("SELECT count(*) FROM sessions WHERE state <> 'ended'"),
      q("SELECT count(*) FROM (SELECT desktop_id FROM sessions WHERE state <> 'ended' GROUP BY desktop_id HAVING count(*) > 1)"),
      q("SELECT count(*) FROM sessions x WHERE state <> 'ended' AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.desktop_id = x.desktop_id AND a.user_id = x.user_id)"))
PY
}
is "the database: $DESKTOPS assignments, $DESKTOPS live sessions, consistent" "$(invariants)" "$DESKTOPS $DESKTOPS 0 0"

# wave 2 with kill -9 in the middle of it
python3 "$T/crowd.py" $USERS "$T/wave2.txt" &
CROWD=$!
sleep 0.3
kill -9 "$BROKER_PID"
wait "$CROWD" || true
say "wave 2 (broker killed): $(awk '$2 == 200' "$T/wave2.txt" | wc -l) answered before the kill"
start_broker broker2 "$BPORT"
is "after kill -9 and restart: nothing lost or duplicated" "$(invariants)" "$DESKTOPS $DESKTOPS 0 0"
python3 "$T/crowd.py" $USERS "$T/wave3.txt"
awk '$2 == 200 {print $1, $3, $4}' "$T/wave3.txt" | sort >"$T/held3.txt"
check "after the restart the same $DESKTOPS users resume the same desktops and sessions" \
	cmp -s "$T/held1.txt" "$T/held3.txt"
is "and the others still hear 'no desktop available'" \
	"$(awk '$2 == 503' "$T/wave3.txt" | wc -l)" $((USERS - DESKTOPS))
kill -TERM "$BROKER_PID"
rc=0
wait "$BROKER_PID" || rc=$?
is "the broker stops cleanly" "$rc" 0
finish
