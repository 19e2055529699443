#!/usr/bin/env bash
# make demo, headless, on the Xvfb desktop: the whole product comes up on one machine (a demo
# CA, the broker on SQLite, an agent that registers itself, a pool, the user demo), the
# probe logs in through the broker and sees the desktop, and everything stops afterwards.
. "$(dirname "$0")/lib.sh"
need Xvfb openbox xterm xdotool convert curl python3 pulseaudio pactl paplay

out=$T/demo.out
rc=0
"$SRC/scripts/demo.sh" --headless --once --desktop x11 --build "$BUILD" >"$out" 2>&1 || rc=$?
sed 's/^/    | /' "$out"
check "the demo runs to the end (exit $rc)" [ "$rc" -eq 0 ]
check "it prints the demo user's password" grep -q 'logged in as demo (password: [A-Za-z0-9]\{8,\})' "$out"
check "the agent registered its desktop by itself" grep -q 'demo-host  *desktop1  *demo  *available' "$out"
shot=$BUILD/demo/screenshot.png
check "the probe saved a screenshot" [ -s "$shot" ]
# the desktop has a terminal with text and a clock: far from one flat colour
sd=$(convert "$shot" -colorspace Gray -format '%[fx:standard_deviation]' info: 2>/dev/null || echo 0)
check "the screenshot shows the desktop, not a blank picture (stddev $sd)" \
	python3 -c "import sys; sys.exit(0 if float('$sd') > 0.05 else 1)"
check "the demo says where the sound went" grep -q 'sound as it arrived: .*/sound.wav' "$out"
analyze "$BUILD/demo/sound.wav"
check "the chime arrived: 440 or 659 Hz ($HZ)" eval 'near "$HZ" 440 5 || near "$HZ" 659.3 5'
check "the broker recorded the session" grep -q 'demo  *demo  *demo-host  *desktop1' "$out"
# (the [r] keeps pgrep from finding this check's own command line)
check "everything stopped" bash -c "! pgrep -f '$BUILD/demo/broke[r].db' >/dev/null"
finish
