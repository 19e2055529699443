#!/usr/bin/env bash
# highrise-client's touch, pen and clipboard against a real agent on an Xvfb desktop:
# synthesized GdkEventTouch sequences and tablet events delivered to the client's widget
# (--test-events) become the click, right click, drag, scroll and PEN events they should
# at the agent and the X11 test app; clipboard text crosses both ways (xclip on both X
# displays), not when switched off, and not over the size limit.
. "$(dirname "$0")/lib.sh"
need Xvfb xdpyinfo xclip python3

CLIENT=$BUILD/client/ui/highrise-client
AGENT_NAME=agent-input
xvfb desk 1920x1080x24
SRC_DISPLAY=$XVFB_DISPLAY
bg app "$BUILD/tests/fixtures/x11/highrise-testapp" --display ":$SRC_DISPLAY" --log "$T/app.events" --no-stdin
wait_for 20 grep -q '^ready' "$T/app.events" || { fail "the test app did not start"; exit 1; }
xvfb client 1280x800x24
CDISP=$XVFB_DISPLAY

make_pki
start_agent "$AGENT_NAME" "desk x11::$SRC_DISPLAY" -- --clipboard.max_bytes 1000
say "agent on port $AGENT_PORT, desktop on :$SRC_DISPLAY, client on :$CDISP"
export LSAN_OPTIONS="suppressions=$SRC/client/ui/lsan.supp:print_suppressions=0"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" # see client_x11.sh

N=0
# client NAME [ARGS...]: a client with a fresh ticket on :C, log in $T/NAME.log
client() {
	local name=$1
	shift
	N=$((N + 1))
	ticket "$T/t$N" alice desk
	DISPLAY=":$CDISP" bg "$name" "$CLIENT" --agent "127.0.0.1:$AGENT_PORT" --ticket "$T/t$N" \
		--ca "$T/pki/ca.pem" -v -v "$@"
	CLIENT_PID=$LAST_PID
	wait_for 20 grep -q 'showing the desktop' "$T/$name.log" || fail "$name shows the desktop"
}
# stop PID: ends a client and waits until the agent let its session go
stop() {
	local left
	left=$(grep -c ' left$' "$T/agent.log" || true)
	kill "$1"
	wait_for 10 bash -c "[ \$(grep -c ' left\$' '$T/agent.log') -gt $left ]" || true
}
app() { grep -q "^$1\$" "$T/app.events"; }
dclip() { DISPLAY=":$SRC_DISPLAY" xclip -selection clipboard -o 2>/dev/null; }
cclip() { DISPLAY=":$CDISP" xclip -selection clipboard -o 2>/dev/null; }
dcopy() { printf '%s' "$1" | DISPLAY=":$SRC_DISPLAY" xclip -selection clipboard -i; }
ccopy() { printf '%s' "$1" | DISPLAY=":$CDISP" xclip -selection clipboard -i; }
is() { [ "$("$1")" = "$2" ]; } # is GETTER TEXT

# 1. Gestures (coordinates in desktop pixels; the window shows the desktop at 1/2).
cat >"$T/gestures" <<'SCRIPT'
# tap
touch begin 1 800 540
wait 50
touch end 1 800 540
wait 400
# long press: held 800 ms
touch begin 2 400 300
wait 800
touch end 2 400 300
wait 400
# drag
touch begin 3 100 100
wait 30
touch update 3 200 100
wait 30
touch update 3 300 120
wait 30
touch end 3 300 120
wait 400
# two fingers up by 400 desktop px = 200 window px = 5 wheel clicks down
touch begin 4 900 800
touch begin 5 1100 800
wait 30
touch update 4 900 700
touch update 5 1100 700
wait 30
touch update 4 900 600
touch update 5 1100 600
wait 30
touch update 4 900 500
touch update 5 1100 500
wait 30
touch update 4 900 400
touch update 5 1100 400
wait 30
touch end 4 900 400
touch end 5 1100 400
wait 400
# pen: hover, tip down with pressure and tilt, up; barrel button; eraser; out of range
pen 300 200 0 0.2 -0.3 -
wait 30
pen 300 200 0.75 0.2 -0.3 contact
wait 30
pen 320 210 0.5 0 0 contact
wait 30
pen 320 210 0 0 0 -
wait 30
pen 600 400 0 0 0 b1
wait 30
pen 600 400 0 0 0 -
wait 30
pen 700 500 1 0 0 contact,eraser
wait 30
pen 700 500 0 0 0 eraser
wait 30
pen 700 500 0 0 0 out
SCRIPT
client c1 --test-events "$T/gestures"
C1=$CLIENT_PID
check "the script ran" wait_for 20 grep -q 'test: done' "$T/c1.log"
# its last event (the pen leaving) reached the agent: everything before it did too
check "the agent received the whole script" \
	wait_for 10 grep -q 'PEN [0-9]*,[0-9]* pressure 0 tilt 0,0 flags 0x0$' "$T/agent.log"
wait_for 5 app 'release 700 500 1' || true # and the desktop took it in
check "a tap is a left click where the finger went down (800, 540)" wait_for 5 app 'click 800 540 1'
check "  and lets go there" app 'release 800 540 1'
check "a long press is a right click (400, 300)" app 'click 400 300 3'
check "  and no left click there" bash -c "! grep -q '^click 400 300 1$' '$T/app.events'"
check "a one-finger drag presses at its start (100, 100)" app 'click 100 100 1'
check "  and releases where it ends (300, 120)" app 'release 300 120 1'
clicks=$(grep -c '^click [0-9]* [0-9]* 5$' "$T/app.events" || true)
check "two fingers moving up scroll down: 5 wheel clicks (button 5: $clicks)" [ "$clicks" -eq 5 ]
check "  and never up (button 4)" bash -c "! grep -q ' 4$' '$T/app.events'"
check "the pen hovers: PEN in range, no contact" \
	grep -q 'PEN 300,200 pressure 0 tilt 18,-27 flags 0x1$' "$T/agent.log"
check "the pen tip: PEN with pressure 3/4 and tilt (18, -27) degrees" \
	grep -q 'PEN 300,200 pressure 49151 tilt 18,-27 flags 0x3$' "$T/agent.log"
check "  a left click on the desktop (300, 200)" app 'click 300 200 1'
check "  released at (320, 210)" app 'release 320 210 1'
check "the barrel button: PEN flag BUTTON1, a middle click (600, 400)" \
	bash -c "grep -q 'PEN 600,400 pressure 0 tilt 0,0 flags 0x9$' '$T/agent.log' && grep -q '^click 600 400 2$' '$T/app.events'"
check "the eraser: PEN flags IN_RANGE|CONTACT|ERASER at full pressure" \
	grep -q 'PEN 700,500 pressure 65535 tilt 0,0 flags 0x7$' "$T/agent.log"
check "the client announced touch and pen (no raw TOUCH without --touch-raw)" \
	bash -c "! grep -q 'TOUCH ' '$T/agent.log'"

# 2. Clipboard, both ways, with c1 (it has control).
ccopy "from the client: héllo"
check "text copied on the client's display reaches the desktop's CLIPBOARD" \
	wait_for 10 is dclip "from the client: héllo"
dcopy "from the desktop: ünïcode ✓"
check "text copied on the desktop reaches the client's CLIPBOARD" \
	wait_for 10 is cclip "from the desktop: ünïcode ✓"
check "  and is not echoed back (one clipboard message from the client)" \
	[ "$(grep -c 'clipboard set from the client' "$T/agent.log")" -eq 1 ]
big=$(head -c 2000 /dev/zero | tr '\0' x)
ccopy "$big"
check "text over the agent's clipboard.max_bytes (1000) is not copied" \
	wait_for 10 grep -q 'clipboard text of 2000 bytes from alice is over clipboard.max_bytes' "$T/agent.log"
check "  the desktop keeps its text" is dclip "from the desktop: ünïcode ✓"
dcopy "$(head -c 2000 /dev/zero | tr '\0' y)"
check "  nor the other way" wait_for 10 grep -q 'clipboard text over clipboard.max_bytes (1000): not copied' "$T/agent.log"
check "  the client keeps its text" is cclip "$big"
stop "$C1"

# 3. The client's own limit (--clipboard-max) and switch (--no-clipboard).
client c2 --clipboard-max 10
ccopy "eleven byte"
check "--clipboard-max 10: 11 bytes are not sent" \
	wait_for 10 grep -q 'clipboard: 11 bytes copied here are over the limit of 10' "$T/c2.log"
ccopy "ten bytes!"
check "  10 bytes are" wait_for 10 is dclip "ten bytes!"
stop "$CLIENT_PID"
client c3 --no-clipboard
ccopy "not shared"
dcopy "desktop only"
sleep 2
check "--no-clipboard: the client's text stays on the client" is dclip "desktop only"
check "  and the desktop's stays on the desktop" is cclip "not shared"
check "  the agent did not offer it (no clipboard message)" \
	bash -c "[ \$(grep -c 'clipboard set from the client' '$T/agent.log') -eq 2 ]"
stop "$CLIENT_PID"

# 4. --touch-raw: touches go as TOUCH points (the X11 backend makes the first a pointer).
cat >"$T/raw" <<'SCRIPT'
touch begin 7 640 360
wait 50
touch update 7 650 370
wait 50
touch end 7 660 380
SCRIPT
client c4 --touch-raw --test-events "$T/raw"
check "--touch-raw: TOUCH BEGIN reaches the agent" \
	wait_for 10 grep -q 'TOUCH 0 phase 0 at 640,360' "$T/agent.log"
check "  UPDATE and END with the same id" \
	wait_for 10 bash -c "grep -q 'TOUCH 0 phase 1 at 650,370' '$T/agent.log' && grep -q 'TOUCH 0 phase 2 at 660,380' '$T/agent.log'"
check "  the desktop sees a press and a release" \
	wait_for 10 bash -c "grep -q '^click 640 360 1$' '$T/app.events' && grep -q '^release 660 380 1$' '$T/app.events'"
stop "$CLIENT_PID"
check "the client logged no GTK criticals" bash -c "! grep -qE 'CRITICAL|Gtk-WARNING' '$T'/c*.log"
finish
