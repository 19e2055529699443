#!/usr/bin/env bash
# highrise-client --scale resize (issue #4, the third scaling mode): the remote desktop takes the
# client window's size where its console can.
#
# Three X servers: :V is Xtigervnc (its RandR takes new modes: the x11 backend resizes it), :F
# an Xvfb (one fixed RandR mode: it cannot be resized), :C the client's Xvfb under openbox. The
# X11 test app runs on :V and logs where clicks land. One agent serves both desktops.
#
#  1. resize: the window set to 1000x700 -> the client asks, the agent resizes :V through RandR
#     (xdpyinfo says 1000x700), the client gets RESIZE and shows 1000x700 pictures, and a click
#     lands 1:1 at the same desktop pixel; a drag through three sizes ends at the last one.
#     A second, view-only client is not offered resizing.
#  2. HiDPI (GDK_SCALE=2): the request is in device pixels.
#  3. the Xvfb desktop (its RandR maximum is its start size: it could only shrink, so the agent
#     calls it not resizable): the client says once that it cannot be resized, shows it fitted,
#     and no mode of ours is left on Xvfb.
. "$(dirname "$0")/lib.sh"
need Xtigervnc Xvfb xdpyinfo xrandr xdotool xwininfo openbox wmctrl python3

CLIENT=$BUILD/client/ui/highrise-client
AGENT_NAME=agent-resize

# Xtigervnc picks its display number itself (-displayfd, as lib.sh's Xvfb does); no VNC port
# (-rfbport -1) and no TCP, so nothing collides with tests running beside this one.
Xtigervnc -displayfd 5 -geometry 1920x1080 -depth 24 -SecurityTypes None -rfbport -1 \
	-nolisten tcp 5>"$T/vnc.display" >"$T/xtigervnc.log" 2>&1 &
PIDS+=($!)
wait_for 20 grep -q '[0-9]' "$T/vnc.display" || { fail "Xtigervnc did not start (see xtigervnc.log)"; exit 1; }
V=$(tr -dc 0-9 <"$T/vnc.display")
wait_for 20 xdpyinfo -display ":$V" || { fail "Xtigervnc :$V does not answer"; exit 1; }
xvfb xvfb-fixed 1280x720x24
F=$XVFB_DISPLAY
bg app "$BUILD/tests/fixtures/x11/highrise-testapp" --display ":$V" --log "$T/app.events" --no-stdin
wait_for 20 grep -q '^ready' "$T/app.events" || { fail "the test app did not start"; exit 1; }
client_display 1600x1000x24
make_pki
start_agent "$AGENT_NAME" "vnc x11::$V" "fixed x11::$F"
say "agent on port $AGENT_PORT; desktops :$V (Xtigervnc) and :$F (Xvfb); client on :$CDISP"
export LSAN_OPTIONS="suppressions=$SRC/client/ui/lsan.supp:print_suppressions=0"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" # see client_x11.sh

client() { # client NAME TICKET [ARGS...]
	local name=$1 tk=$2
	shift 2
	DISPLAY=":$CDISP" bg "$name" "$CLIENT" --agent "127.0.0.1:$AGENT_PORT" --ticket "$tk" \
		--ca "$T/pki/ca.pem" -v "$@"
	CLIENT_PID=$LAST_PID
}
client_window() { DISPLAY=":$CDISP" xdotool search --onlyvisible --name '^Highrise$' 2>/dev/null | tail -1; }
xc() { DISPLAY=":$CDISP" "$@"; }
screen_size() { xdpyinfo -display ":$1" | awk '/dimensions:/{print $2}'; }
is_size() { [ "$(screen_size "$1")" = "$2" ]; }
our_modes() { xrandr -display ":$1" --verbose | grep -c 'highrise-' || true; }
stop_client() {
	end "$1"
	wait "$1" 2>/dev/null || true
}

# 1. --scale resize against Xtigervnc.
ticket "$T/t1" alice vnc
client c1 "$T/t1" --scale resize
C1=$CLIENT_PID
check "the client shows the desktop" wait_for 30 grep -q 'showing the desktop: 1920x1080' "$T/c1.log"
check "the agent's x11 backend says the screen can be resized" \
	grep -q "x11 :$V: RandR 1\.[2-9]: the screen can follow the client's window" "$T/agent.log"
check "WELCOME offers resizing to the controlling client" \
	grep -q 'connected: desktop 1920x1080, keyboard and mouse enabled, resizable to the window' "$T/c1.log"
WID=$(client_window)
check "the client has a window" [ -n "$WID" ]
xc xdotool windowsize --sync "$WID" 1000 700 || true
read -r ww wh < <(xc xwininfo -id "$WID" | awk '/Width:/{w=$2} /Height:/{h=$2} END{print w, h}')
check "the window is 1000x700 (${ww}x${wh})" [ "$ww x $wh" = "1000 x 700" ]
check "the client asks for the window's size" \
	wait_for 20 grep -q "asking the desktop to take the window's size: 1000x700" "$T/c1.log"
check "the agent resizes the console" \
	wait_for 20 grep -q 'desktop vnc: resizing the console from [0-9]*x[0-9]* to 1000x700' "$T/agent.log"
check "through RandR" wait_for 20 grep -q "x11 :$V: screen set to 1000x700 through RandR" "$T/agent.log"
check "Xtigervnc's screen is now 1000x700 (xdpyinfo)" wait_for 20 is_size "$V" 1000x700
check "the agent saw the new size and told its clients" \
	wait_for 20 grep -q 'desktop vnc: console resized to 1000x700' "$T/agent.log"
check "the client got RESIZE" wait_for 20 grep -q 'the desktop is now 1000x700' "$T/c1.log"
check "and shows 1000x700 pictures" wait_for 20 grep -q 'showing the desktop: 1000x700' "$T/c1.log"
check "one mode of ours is on Xtigervnc, the one shown ($(our_modes "$V"))" [ "$(our_modes "$V")" -eq 1 ]
# one window pixel is one desktop pixel now: (300, 200) in the window is (300, 200) on :V
xc xdotool mousemove --window "$WID" 300 200 click 1
check "a click at window (300, 200) lands 1:1 at desktop (300, 200)" \
	wait_for 10 grep -q '^click 300 200 1$' "$T/app.events"
xc xdotool mousemove --window "$WID" 999 699 click 1
check "and one at the far corner at desktop (999, 699)" \
	wait_for 10 grep -q '^click 999 699 1$' "$T/app.events"

# a drag: three sizes in a row; the desktop ends at the last one
for size in "900 600" "1100 650" "1200 720"; do
	# shellcheck disable=SC2086
	xc xdotool windowsize "$WID" $size
done
check "after a drag the desktop takes the last size, 1200x720 (xdpyinfo)" \
	wait_for 30 is_size "$V" 1200x720
check "the client shows 1200x720 pictures" wait_for 20 grep -q 'showing the desktop: 1200x720' "$T/c1.log"
check "the mode of the size before was removed (one of ours left)" \
	wait_for 10 bash -c "[ \$(xrandr -display :$V --verbose | grep -c highrise-) -eq 1 ]"
xc xdotool mousemove --window "$WID" 1100 700 click 1
check "a click at window (1100, 700) lands at desktop (1100, 700)" \
	wait_for 10 grep -q '^click 1100 700 1$' "$T/app.events"
# a second client watches (view only): it may not resize the desktop, and says so once
ticket "$T/t1b" bob vnc
client c1b "$T/t1b" --scale resize
C1B=$CLIENT_PID
check "a view-only client is not offered resizing" wait_for 30 \
	grep -q 'connected: desktop 1200x720, view only, not resizable to the window' "$T/c1b.log"
check "and says it shows the desktop fitted" \
	grep -q 'notice: View only: the desktop cannot be resized to the window' "$T/c1b.log"
check "the desktop kept the controlling client's size" is_size "$V" 1200x720
stop_client "$C1B"
stop_client "$C1"

# 2. HiDPI: GDK_SCALE=2, a window of 1200x800 device pixels (600x400 logical): the request is
#    in device pixels, and the picture is one desktop pixel per device pixel.
ticket "$T/t2" alice vnc
GDK_SCALE=2 client c2 "$T/t2" --scale resize
C2=$CLIENT_PID
check "the HiDPI client shows the desktop" wait_for 30 grep -q 'showing the desktop' "$T/c2.log"
WID=$(client_window)
xc xdotool windowsize --sync "$WID" 1200 800 || true
check "the HiDPI client asks for 1200x800 device pixels" \
	wait_for 20 grep -q "asking the desktop to take the window's size: 1200x800" "$T/c2.log"
check "Xtigervnc's screen is now 1200x800 (xdpyinfo)" wait_for 20 is_size "$V" 1200x800
check "and the client shows 1200x800 pictures" wait_for 20 grep -q 'showing the desktop: 1200x800' "$T/c2.log"
xc xdotool mousemove --window "$WID" 640 480 click 1
check "a click at device pixel (640, 480) lands at desktop (640, 480)" \
	wait_for 10 grep -q '^click 640 480 1$' "$T/app.events"
stop_client "$C2"

# 3. The Xvfb desktop cannot be resized: the client says so once, stays fitted, asks nothing.
ticket "$T/t3" alice fixed
client c3 "$T/t3" --scale resize --stats --trace "$T/trace3"
C3=$CLIENT_PID
check "the client shows the Xvfb desktop" wait_for 30 grep -q 'showing the desktop: 1280x720' "$T/c3.log"
check "the agent's x11 backend says the Xvfb screen cannot be resized" \
	grep -q "x11 :$F: the screen cannot be resized to the client's window" "$T/agent.log"
check "WELCOME does not offer it" grep -q 'connected: desktop 1280x720, .*, not resizable to the window' "$T/c3.log"
check "the client says so (a notice and a log line)" \
	grep -q 'notice: This desktop cannot be resized to the window: showing it fitted instead.' "$T/c3.log"
WID=$(client_window)
xc xdotool windowsize --sync "$WID" 640 360 || true
check "and shows it fitted: the overlay says fit 0.50" \
	wait_for 10 bash -c "sed -n 's/^O //p' '$T/trace3' | tail -1 | grep -q 'fit 0.50'"
check "a window change asks nothing" bash -c "! grep -q 'asking the desktop' '$T/c3.log'"
check "Xvfb keeps its size ($(screen_size "$F"))" is_size "$F" 1280x720
check "said once only" [ "$(grep -c 'notice: This desktop cannot be resized' "$T/c3.log")" -eq 1 ]
check "the probe left no mode on Xvfb ($(our_modes "$F"))" [ "$(our_modes "$F")" -eq 0 ]
stop_client "$C3"

check "no client logged a GTK critical" bash -c "! grep -qE 'CRITICAL|Gtk-WARNING' '$T'/c*.log"
check "the agent is still running" kill -0 "$AGENT_PID"
kill -TERM "$AGENT_PID"
check "and stops cleanly on SIGTERM (exit 0; under ASan: no leak, no error)" wait "$AGENT_PID"
check "no sanitizer report in the agent's log" bash -c "! grep -qE 'ERROR: (Address|Leak|UndefinedBehavior)Sanitizer|runtime error' '$T/agent.log'"
finish
