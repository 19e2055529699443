#!/usr/bin/env bash
# highrise-client in broker mode, with real processes: the broker (SQLite), an agent that
# registers itself with its Xvfb desktop, highrisectl for the set-up, and the GTK client on a
# second Xvfb driven with xdotool. The login screen refuses a wrong password and says so,
# logs in, remembers the broker, offers the desktop picker for two pools; the window shows
# the desktop; a dropped connection comes back into the same session by resuming at the
# agent, without the broker; a kiosk logs in by itself from a password file.
. "$(dirname "$0")/lib.sh"
need Xvfb xdpyinfo import compare convert xdotool openbox wmctrl python3 curl ss

CLIENT=$BUILD/client/ui/highrise-client
PKI=$T/pki
CERTS="$SRC/certs/highrise-certs"
"$CERTS" --dir "$PKI" init >/dev/null
"$CERTS" --dir "$PKI" issue broker 127.0.0.1 >/dev/null
"$CERTS" --dir "$PKI" issue agent hostA --san IP:127.0.0.1 >/dev/null
"$CERTS" --dir "$PKI" issue admin root >/dev/null
"$CERTS" --dir "$PKI" ticket-key >/dev/null

export LSAN_OPTIONS="suppressions=$SRC/client/ui/lsan.supp:print_suppressions=0"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" # see client_x11.sh

xvfb desk 1280x720x24
SRC_DISPLAY=$XVFB_DISPLAY
bg app "$BUILD/tests/fixtures/x11/highrise-testapp" --display ":$SRC_DISPLAY" --log "$T/app.events" --no-stdin
wait_for 20 grep -q '^ready' "$T/app.events" || { fail "the test app did not start"; exit 1; }
client_display
xc() { DISPLAY=":$CDISP" "$@"; }

# the broker, and the agent joining it by itself
bg broker "$BUILD/broker/highrise-broker" --listen 127.0.0.1:0 --store "sqlite:$T/broker.db" \
	--tls.cert_file "$PKI/broker-127.0.0.1.pem" --tls.key_file "$PKI/broker-127.0.0.1.key" \
	--tls.ca_file "$PKI/ca.pem" --ticket.key_file "$PKI/ticket.key" --agent.heartbeat_window_s 30
wait_for 20 grep -q 'listening on' "$T/broker.log" || { fail "the broker did not start"; exit 1; }
BPORT=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$T/broker.log" | head -1)
B="https://127.0.0.1:$BPORT"
ctl() { "$BUILD/broker/highrisectl" --broker "$B" --cert "$PKI/admin-root.pem" --key "$PKI/admin-root.key" --ca "$PKI/ca.pem" "$@"; }
ctl pool create office >/dev/null
ctl pool create lab >/dev/null
ctl desktop add office hostA desk "x11::$SRC_DISPLAY" >/dev/null
ctl desktop add lab hostA spare "x11::$SRC_DISPLAY" >/dev/null
echo 'alice pw 1' | ctl user add alice >/dev/null
echo 'kiosk-pw' | ctl user add kiosk1 >/dev/null
ctl entitle office --user alice >/dev/null
ctl entitle lab --user alice >/dev/null
ctl entitle office --user kiosk1 >/dev/null
check "set-up through highrisectl" [ "$(ctl --json pool list | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["pools"]))')" = 2 ]

bg agent "$BUILD/server/highrise-agent" --listen 127.0.0.1:0 --name hostA \
	--desktop "desk x11::$SRC_DISPLAY" --desktop "spare x11::$SRC_DISPLAY" \
	--tls.cert_file "$PKI/agent-hostA.pem" --tls.key_file "$PKI/agent-hostA.key" \
	--ticket.public_key "$PKI/ticket.pub" --log.level debug \
	--broker.url "$B" --broker.ca_file "$PKI/ca.pem" --broker.advertise_address 127.0.0.1
wait_for 20 grep -q 'listening on' "$T/agent.log" || { fail "the agent did not start"; exit 1; }
check "the agent registers its desktops with the broker by itself" \
	wait_for 20 bash -c "$(declare -f ctl); B=$B BUILD=$BUILD PKI=$PKI; ctl --json desktop show hostA desk | grep -q '\"state\":\"available\"'"

# 1. The login screen: a wrong password is refused and said so, the right one logs in.
export XDG_CONFIG_HOME=$T/config
DISPLAY=":$CDISP" bg c1 "$CLIENT" --broker "$B" --ca "$PKI/ca.pem" -v -v
C1=$LAST_PID
wait_for 20 xc xdotool search --onlyvisible --name 'Highrise — log in'
LWID=$(xc xdotool search --onlyvisible --name 'Highrise — log in' | tail -1)
check "the login screen opens" [ -n "$LWID" ]
xc xdotool windowactivate --sync "$LWID" 2>/dev/null || xc xdotool windowfocus --sync "$LWID"
sleep 0.5
xc xdotool type --delay 30 'alice'
xc xdotool key Tab
xc xdotool type --delay 30 'wrong password'
xc xdotool key Return
check "a wrong password is refused with the broker's words" \
	wait_for 20 grep -q 'login: invalid user name or password' "$T/c1.log"
check "the login screen stays open after a refusal" kill -0 "$C1"
# the user name stays; focus went back to the (cleared) password
xc xdotool type --delay 30 'alice pw 1'
xc xdotool key Return
check "two pools: the picker opens (no connection yet)" \
	bash -c "sleep 2; ! grep -q 'the broker gave desktop' '$T/c1.log'"
xc xdotool key Down Up Return # the pools come by name: lab, office
check "the picked pool is used" wait_for 20 grep -q 'using pool lab' "$T/c1.log"
check "the broker gives a desktop and the client connects to its agent" \
	wait_for 30 grep -q 'showing the desktop: 1280x720' "$T/c1.log"
check "it is the lab pool's desktop" grep -q 'the broker gave desktop spare on hostA' "$T/c1.log"
check "the broker is remembered with the user" \
	grep -q "url=$B" "$XDG_CONFIG_HOME/highrise/client.conf"
check "the password is not remembered" bash -c "! grep -q 'pw 1' '$XDG_CONFIG_HOME/highrise/client.conf'"
check "the password is not in the client's log" bash -c "! grep -q 'alice pw 1' '$T/c1.log'"
check "highrisectl shows alice's session" bash -c "$(declare -f ctl); B=$B BUILD=$BUILD PKI=$PKI; ctl session list | grep -q 'alice.*lab.*spare'"
SESSION=$(ctl --json session list | python3 -c 'import json,sys; print([s["id"] for s in json.load(sys.stdin)["sessions"] if s["user"]=="alice"][0])')

# the window shows the desktop
WID=$(xc xdotool search --onlyvisible --name '^Highrise$' | tail -1)
check "the desktop window opens" [ -n "$WID" ]
# 640x400: exactly half the desktop's width, letterboxed by 20 pixels top and bottom
xc xdotool windowsize --sync "$WID" 640 400 || true
sleep 1.5
xc import -window "$WID" "$T/win.png"
import -display ":$SRC_DISPLAY" -window root "$T/src.png"
convert "$T/win.png" -crop 640x360+0+20 +repage "$T/pic.png"
convert "$T/src.png" -filter box -resize '640x360!' "$T/ref.png"
db=$(psnr "$T/pic.png" "$T/ref.png")
say "window picture against the desktop: PSNR $db dB"
check "the window shows the broker-assigned desktop (PSNR >= 30 dB: $db)" ge "$db" 30

# 2. A dropped connection: the client comes back into the same session by resuming at the
#    agent with the grant of its WELCOME (docs/protocol.md §6.4): no broker call, no login.
APORT=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$T/agent.log" | head -1)
before=$(grep -c 'the broker gave desktop' "$T/c1.log")
ss -K dst 127.0.0.1 dport = "$APORT" >/dev/null 2>&1 || true
check "the client notices the drop and reconnects" \
	wait_for 30 bash -c "[ \$(grep -c 'showing the desktop' '$T/c1.log') -ge 2 ]"
check "by resuming the session at the agent" grep -q "resumed alice's session of desktop" "$T/agent.log"
check "without asking the broker again" [ "$(grep -c 'the broker gave desktop' "$T/c1.log")" -eq "$before" ]
end "$C1"
wait "$C1" 2>/dev/null || true
check "closing the client logs out of the broker (the token is revoked)" \
	grep -q 'logged out of the broker' "$T/c1.log"

# 3. Kiosk: logs in by itself from the password file, full screen, no login screen.
printf 'kiosk-pw\n' >"$T/kiosk.pw"
chmod 600 "$T/kiosk.pw"
DISPLAY=":$CDISP" bg kiosk "$CLIENT" --kiosk --broker "$B" --ca "$PKI/ca.pem" --user kiosk1 \
	--password-file "$T/kiosk.pw" -v
K=$LAST_PID
check "the kiosk logs in and shows its desktop by itself" \
	wait_for 30 grep -q 'showing the desktop' "$T/kiosk.log"
check "the kiosk uses its only pool" grep -q 'the broker gave desktop desk on hostA' "$T/kiosk.log"
check "the kiosk shows no login screen" bash -c "! DISPLAY=:$CDISP xdotool search --onlyvisible --name 'log in' >/dev/null"
end "$K"
wait "$K" 2>/dev/null || true

# 4. highrise-probe logs in through the broker the same way (the client core's broker_login).
rc=0
"$BUILD/client/highrise-probe" --broker "$B" --ca "$PKI/ca.pem" --user kiosk1 \
	--password-file "$T/kiosk.pw" --frames 1 --json -v >"$T/pb.json" 2>"$T/pb.log" || rc=$?
check "highrise-probe --broker logs in and decodes the desktop ($rc)" \
	eval '[ $rc -eq 0 ] && [ "$(json "$T/pb.json" "d[\"frames\"]")" -ge 1 ]'
check "  on the desktop the broker gave" grep -q 'the broker gave desktop desk on hostA' "$T/pb.log"
check "  and logs out at the end" grep -q 'logged out of the broker' "$T/pb.log"
printf 'wrong\n' >"$T/bad.pw"
rc=0
"$BUILD/client/highrise-probe" --broker "$B" --ca "$PKI/ca.pem" --user kiosk1 \
	--password-file "$T/bad.pw" --frames 1 >"$T/pb2.out" 2>&1 || rc=$?
check "  a wrong password: exit 1 with the broker's words ($rc)" \
	eval '[ $rc -eq 1 ] && grep -q "logging in to the broker as kiosk1" "$T/pb2.out"'

# 5. Usage errors say what to do.
rc=0
"$CLIENT" --kiosk --broker "$B" >"$T/u1.out" 2>&1 || rc=$?
check "--kiosk without credentials is a usage error ($rc)" [ $rc -eq 2 ]
check "  and says what to give" grep -q 'password-file' "$T/u1.out"
rc=0
"$CLIENT" --agent 127.0.0.1:1 --ticket x --broker "$B" >"$T/u2.out" 2>&1 || rc=$?
check "direct and broker options do not mix ($rc)" [ $rc -eq 2 ]

finish
