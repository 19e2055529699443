#!/usr/bin/env bash
# highrise-client's rendering (issue #4): the statistics overlay shows real numbers (read
# back from --trace, which records the overlay's text), 1:1 scaling shows the desktop pixel
# for pixel and a click after scrolling lands on the right desktop pixel, and decoding falls
# back to software with the reason said (this machine has no GPU), while --decoder vaapi
# refuses to start with a message that says what to do.
#
# Two X servers: :S holds the desktop the agent streams (highrise-testapp), :C the client
# under openbox.
. "$(dirname "$0")/lib.sh"
need Xvfb xdpyinfo import convert compare xdotool xwininfo openbox wmctrl python3

CLIENT=$BUILD/client/ui/highrise-client
AGENT_NAME=agent-view
xvfb xvfb 1920x1080x24
SRC_DISPLAY=$XVFB_DISPLAY
bg app "$BUILD/tests/fixtures/x11/highrise-testapp" --display ":$SRC_DISPLAY" --log "$T/app.events" --no-stdin
APP_PID=$LAST_PID
wait_for 20 grep -q '^ready' "$T/app.events" || { fail "the test app did not start"; exit 1; }
client_display
make_pki
start_agent "$AGENT_NAME" "desk x11::$SRC_DISPLAY"
say "agent on port $AGENT_PORT, desktop on :$SRC_DISPLAY, client on :$CDISP"
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
# overlay FILE: the overlay's last text in a trace file (lines joined by |)
overlay() { sed -n 's/^O //p' "$1" | tail -1; }
# changes N: the desktop changes N times, 10 a second (the test app's next pattern)
changes() {
	for _ in $(seq "$1"); do
		kill -USR1 "$APP_PID"
		sleep 0.1
	done
}

# 1. --decoder vaapi on a machine without a GPU: a clear refusal, before any window.
if [ ! -e /dev/dri/renderD128 ]; then
	ticket "$T/t0" alice desk
	rc=0
	DISPLAY=":$CDISP" timeout 20 "$CLIENT" --agent "127.0.0.1:$AGENT_PORT" --ticket "$T/t0" \
		--ca "$T/pki/ca.pem" --decoder vaapi >"$T/c0.log" 2>&1 || rc=$?
	check "--decoder vaapi without a GPU exits 1 ($rc)" [ "$rc" -eq 1 ]
	check "saying the device is missing and what to use instead" grep -q \
		'decoder vaapi: cannot open the VAAPI device /dev/dri/renderD128: No such file or directory.*Use --decoder auto' \
		"$T/c0.log"
	rc=0
	"$BUILD/client/highrise-probe" --agent "127.0.0.1:$AGENT_PORT" --ticket "$T/t0" \
		--ca "$T/pki/ca.pem" --decoder vaapi -q >"$T/p0.log" 2>&1 || rc=$?
	check "the probe refuses --decoder vaapi too ($rc)" [ "$rc" -eq 1 ]
	probe "$T/p1.json" "$T/t0" --seconds 1
	check "the probe's JSON says software decode with the fallback's reason" python3 -c "
import json, sys; d = json.load(open(sys.argv[1]))
sys.exit(0 if d['decoder'].startswith('software (libavcodec h264') and not d['decoder_hardware']
         and 'renderD128' in d['decoder_fallback'] else 1)" "$T/p1.json"
else
	say "this machine has /dev/dri/renderD128: the fallback checks below accept VAAPI"
fi

# 2. The overlay (--stats) at 1:1 (--scale 1:1): real numbers, the decoder, the renderer.
ticket "$T/t1" alice desk
client c1 "$T/t1" --stats --scale 1:1 --trace "$T/trace1"
C1=$CLIENT_PID
check "the client shows the desktop" wait_for 20 grep -q 'showing the desktop: 1920x1080' "$T/c1.log"
WID=$(client_window)
check "the client has a window" [ -n "$WID" ]
xc xdotool windowsize --sync "$WID" 960 600 || true
changes 20
check "the overlay is drawn (its text is in the trace)" wait_for 10 grep -q '^O ' "$T/trace1"
check "frames are traced with capture, decode and shown times" \
	wait_for 10 grep -Eq '^F [0-9]+ [0-9]{16} [0-9]{16} [0-9]+ [0-9]{16}$' "$T/trace1"
check "the overlay shows a nonzero frame rate while the desktop changes" python3 -c "
import re, sys
fps = [float(m.group(1)) for l in open(sys.argv[1]) if l.startswith('O ')
       for m in [re.match(r'O ([0-9.]+) fps', l)] if m]
sys.exit(0 if fps and max(fps) > 0 else 1)" "$T/trace1"
check "and nonzero kbit/s" python3 -c "
import re, sys
k = [float(m.group(1)) for l in open(sys.argv[1]) if l.startswith('O ')
     for m in [re.search(r' ([0-9.]+) kbit/s', l)] if m]
sys.exit(0 if k and max(k) > 0 else 1)" "$T/trace1"
check "and a capture→display latency measured on this host" \
	grep -Eq '^O .*capture→display [0-9.]+ ms \(same host\)' "$T/trace1"
check "and the round trip" wait_for 10 bash -c "sed -n 's/^O //p' '$T/trace1' | grep -Eq 'RTT [0-9.]+ ms'"
check "and where the time went, stage by stage, on the agent and in the client" wait_for 10 bash -c \
	"sed -n 's/^O //p' '$T/trace1' | grep -Eq 'agent  capture [0-9.]+ .*queue [0-9.]+.*\\|client network [0-9.]+ .*present [0-9.]+'"
# every stage of a shown frame, wait .. present, adds up to its capture->display (the S line's
# stages are rounded to 1 µs, and each stage is read on its own clock: up to 0.5 ms in all,
# as in agent_x11; capture itself lies before the capture time)
check "the trace's stage times add up to each frame's capture->display" python3 -c "
import sys
f = {}
s = {}
for l in open(sys.argv[1]):
    p = l.split()
    if p[:1] == ['F']:
        f[int(p[1])] = (int(p[5]) - int(p[2])) / 1e3
    elif p[:1] == ['S'] and len(p) == 13:
        s[int(p[1])] = [float(x) for x in p[2:]]
both = [n for n in s if n in f]
bad = [(n, f[n], sum(s[n][1:])) for n in both if abs(f[n] - sum(s[n][1:])) > 0.5]
print('%d frames with stages, %d off: %s' % (len(both), len(bad), bad[:3]))
sys.exit(0 if both and not bad else 1)" "$T/trace1"
ov=$(overlay "$T/trace1")
say "overlay: $ov"
if [ ! -e /dev/dri/renderD128 ]; then
	check "the overlay names the software decoder and why not VAAPI" bash -c \
		"grep -q 'decoder software (libavcodec h264, [0-9]* threads\?)|  no VAAPI: cannot open the VAAPI device /dev/dri/renderD128' <<<'$ov'"
	check "the log says why decoding falls back to software" grep -q \
		'no hardware decode: cannot open the VAAPI device /dev/dri/renderD128.*decoding in software' "$T/c1.log"
else
	check "the overlay names a decoder" bash -c "grep -Eq 'decoder (VAAPI|software)' <<<'$ov'"
fi
# --renderer auto: OpenGL on a GPU; llvmpipe (this machine) loses to cairo, and says so
check "the overlay names the renderer (and why not GL on llvmpipe)" bash -c \
	"grep -Eq 'renderer (OpenGL \(|cairo \(OpenGL would be (llvmpipe|softpipe))' <<<'$ov'"
if grep -q 'renderer cairo (OpenGL would be' <<<"$ov"; then
	check "the log says why the software rasterizer is skipped" \
		grep -q 'drawing with cairo: OpenGL is a software rasterizer here' "$T/c1.log"
fi
check "the overlay says 1:1 at the top-left" bash -c "grep -q 'desktop 1920x1080   1:1 at +0+0' <<<'$ov'"
# the trace's latencies are real: capture before decode before shown, all within a minute
check "traced times are ordered: capture <= decoded <= shown" python3 -c "
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.startswith('F ')]
ok = rows and all(int(r[2]) <= int(r[3]) + 2000 and int(r[3]) <= int(r[5]) and
                  int(r[5]) - int(r[2]) < 60e6 for r in rows)
sys.exit(0 if ok else 1)" "$T/trace1"

# 3. 1:1: the window shows desktop pixels unscaled (the overlay hidden with its key; the
#    scrollbars at the right and bottom edge are left out of the comparison).
xc xdotool windowactivate --sync "$WID" 2>/dev/null || xc xdotool windowfocus --sync "$WID" || true
xc xdotool key --delay 50 ctrl+alt+shift+s
check "Ctrl+Alt+Shift+S hides the overlay" wait_for 5 grep -q 'statistics overlay hidden' "$T/c1.log"
sleep 2 # the still screen's refinement arrives
xc import -window "$WID" "$T/one-win.png"
import -display ":$SRC_DISPLAY" -window root "$T/one-src.png"
convert "$T/one-win.png" -crop 930x570+0+0 +repage "$T/one-pic.png"
convert "$T/one-src.png" -crop 930x570+0+0 +repage "$T/one-ref.png"
db=$(psnr "$T/one-pic.png" "$T/one-ref.png")
say "1:1 picture PSNR: $db dB"
check "1:1 shows the desktop's top-left pixel for pixel (PSNR >= 30 dB: $db)" ge "$db" 30

# 3a. Still colour detail in 4:4:4 (pattern 3: 1-pixel red/blue columns, which 4:2:0 turns
#     purple) drawn by both renderers at 1:1: cairo here (auto on llvmpipe), then OpenGL.
#     The box is 200x100 at (120, 66) (tests/fixtures/x11/pattern.h).
to_pattern() { # to_pattern N: SIGUSR1 until the app says it shows pattern N
	local i
	for i in 1 2 3 4; do
		[ "$(grep '^pattern ' "$T/app.events" | tail -1)" = "pattern $1" ] && return 0
		kill -USR1 "$APP_PID"
		sleep 0.2
	done
	[ "$(grep '^pattern ' "$T/app.events" | tail -1)" = "pattern $1" ]
}
stripes_psnr() { # stripes_psnr WINDOW NAME: the box in the window against the desktop's
	xc import -window "$1" "$T/$2-win.png"
	import -display ":$SRC_DISPLAY" -window root "$T/$2-src.png"
	convert "$T/$2-win.png" -crop 200x100+120+66 +repage "$T/$2-pic.png"
	convert "$T/$2-src.png" -crop 200x100+120+66 +repage "$T/$2-ref.png"
	psnr "$T/$2-pic.png" "$T/$2-ref.png"
}
check "the test app shows pattern 3" to_pattern 3
sleep 2 # the still screen goes 4:4:4 and is refined
db=$(stripes_psnr "$WID" stripes-cairo)
say "1:1 colour stripes PSNR (cairo): $db dB"
check "cairo draws 4:4:4 colour detail pixel for pixel (PSNR >= 38 dB: $db; 4:2:0 gives ~15)" ge "$db" 38
ticket "$T/tg" bob desk
client cg "$T/tg" --scale 1:1 --renderer gl
CG=$CLIENT_PID
check "a second client draws with OpenGL" \
	wait_for 20 grep -q 'showing the desktop: 1920x1080 pictures, drawn with gl' "$T/cg.log"
GWID=$(client_window)
xc xdotool windowsize --sync "$GWID" 960 600 || true
sleep 2
db=$(stripes_psnr "$GWID" stripes-gl)
say "1:1 colour stripes PSNR (OpenGL): $db dB"
check "OpenGL draws 4:4:4 colour detail pixel for pixel (PSNR >= 38 dB: $db)" ge "$db" 38
kill "$CG"
wait "$CG" 2>/dev/null || true
check "the agent sent 4:4:4 pictures" grep -q 'in 4:4:4 (High 4:4:4) for still colour' "$T/agent.log"

# 4. Scroll to the bottom-right end with the scrollbars, then click: window (100, 100) is
#    desktop (100 + 1920 - 960, 100 + 1080 - 600) = (1060, 580).
read -r ww wh < <(xc xwininfo -id "$WID" | awk '/Width:/{w=$2} /Height:/{h=$2} END{print w, h}')
check "the window is 960x600 (${ww}x${wh})" [ "$ww x $wh" = "960 x 600" ]
for _ in 1 2 3 4 5 6; do
	xc xdotool mousemove --window "$WID" 900 596 click 1 # the horizontal scrollbar, near its end
	xc xdotool mousemove --window "$WID" 956 540 click 1 # the vertical one
	sleep 0.2
done
sleep 1
xc import -window "$WID" "$T/end-win.png"
import -display ":$SRC_DISPLAY" -window root "$T/end-src.png"
convert "$T/end-win.png" -crop 930x570+0+0 +repage "$T/end-pic.png"
convert "$T/end-src.png" -crop 930x570+960+480 +repage "$T/end-ref.png"
db=$(psnr "$T/end-pic.png" "$T/end-ref.png")
say "1:1 scrolled picture PSNR: $db dB"
check "scrolled, the window shows the desktop's bottom-right (PSNR >= 30 dB: $db)" ge "$db" 30
xc xdotool key --delay 50 ctrl+alt+shift+s
check "Ctrl+Alt+Shift+S shows the overlay again" \
	wait_for 5 bash -c "[ \$(grep -c 'statistics overlay shown' '$T/c1.log') -ge 2 ]"
check "the overlay says the view scrolled to the end (+960+480)" \
	wait_for 5 bash -c "sed -n 's/^O //p' '$T/trace1' | tail -1 | grep -q '1:1 at +960+480'"
xc xdotool mousemove --window "$WID" 100 100 click 1
check "a click after scrolling lands at desktop (1060, 580)" \
	wait_for 5 grep -q '^click 1060 580 1$' "$T/app.events"
check "the scrollbar clicks did not reach the desktop" bash -c \
	"! grep -Eq '^click (900|956|1860|1876) ' '$T/app.events'"

# 5. Ctrl+Alt+Shift+M goes back to fit.
xc xdotool key --delay 50 ctrl+alt+shift+m
check "Ctrl+Alt+Shift+M switches to fit" wait_for 5 grep -q 'view: scaling fit' "$T/c1.log"
check "and the overlay says fit 0.50" \
	wait_for 5 bash -c "sed -n 's/^O //p' '$T/trace1' | tail -1 | grep -q 'fit 0.50'"
xc xdotool mousemove --window "$WID" 400 300 click 1
check "in fit mode a click at (400, 300) lands at (800, 540)" \
	wait_for 5 grep -q '^click 800 540 1$' "$T/app.events"
check "the overlay keys did not reach the desktop" bash -c "! grep -Eq '^key (s|S|m|M)$' '$T/app.events'"
kill "$C1"
wait "$C1" 2>/dev/null && rc=0 || rc=$?
check "the client exits cleanly on SIGTERM ($rc)" [ "$rc" -eq 0 ]

# 6. Bad values say what to write.
rc=0
"$CLIENT" --agent 127.0.0.1:1 --ticket "$T/t1" --scale zoom >"$T/c2.log" 2>&1 || rc=$?
check "--scale zoom is a usage error naming the three modes ($rc)" \
	bash -c "[ $rc -eq 2 ] && grep -q 'scale is fit, 1:1 or resize' '$T/c2.log'"
rc=0
"$CLIENT" --agent 127.0.0.1:1 --ticket "$T/t1" --decoder cuda >"$T/c3.log" 2>&1 || rc=$?
check "--decoder cuda is a usage error ($rc)" bash -c "[ $rc -eq 2 ] && grep -q 'auto, software or vaapi' '$T/c3.log'"
check "the client logged no GTK criticals" bash -c "! grep -qE 'CRITICAL|Gtk-WARNING' '$T'/c*.log"
finish
