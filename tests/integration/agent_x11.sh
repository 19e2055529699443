#!/usr/bin/env bash
# highrise-agent on a real Xvfb desktop, watched by highrise-probe over real TLS 1.3:
# pixels that arrive, clicks that land, an idle screen that sends nothing,
# shadowing, tickets refused, and hostile bytes that end only their own connection.
. "$(dirname "$0")/lib.sh"
need Xvfb xdpyinfo import compare openssl python3 xdotool

AGENT_NAME=agent-x11
start_xvfb 1920x1080x24
bg app "$BUILD/tests/fixtures/x11/highrise-testapp" --display ":$DISPLAY_NUM" --log "$T/app.events" --no-stdin
APP_PID=$LAST_PID
wait_for 20 grep -q '^ready' "$T/app.events" || { fail "the test app did not start"; exit 1; }
make_pki
# superfast, not the default ultrafast: video.preset must reach the worker's encoder
start_agent "$AGENT_NAME" "desk x11::$DISPLAY_NUM" -- --hello_timeout_ms 3000 \
	--video.preset superfast
say "agent on port $AGENT_PORT, desktop on :$DISPLAY_NUM"

# 1. The desktop arrives: the probe's last frame against the X server's own pixels.
ticket "$T/t1" alice desk
check "probe connects and decodes" probe "$T/p1.json" "$T/t1" --seconds 3 --png "$T/shot.png"
import -display ":$DISPLAY_NUM" -window root "$T/ref.png"
db=$(psnr "$T/shot.png" "$T/ref.png")
say "pattern PSNR: $db dB"
check "the pattern arrives with PSNR >= 35 dB ($db)" ge "$db" 35
check "the desktop is 1920x1080" [ "$(json "$T/p1.json" '(d["width"], d["height"])')" = "(1920, 1080)" ]
check "the first client has control" [ "$(json "$T/p1.json" 'd["control"]')" = True ]
check "the worker encodes at video.preset, at most 60 fps by default" grep -q \
	'encoder: running libx264 at 1920x1080 .*, 60 fps, preset superfast' "$T/agent.log"

# 1b. Still colour detail (pattern 3: 1-pixel red and blue columns) that 4:2:0 averages
#     away arrives sharp in 4:4:4 (encoder.h "Sharp colour"); a client without CAP_H264_444
#     gets 4:2:0 only, and the same screen is visibly worse there.
for i in 1 2 3; do
	kill -USR1 "$APP_PID"
	wait_for 5 grep -q "^pattern $i\$" "$T/app.events" || { fail "the test app did not show pattern $i"; exit 1; }
done
import -display ":$DISPLAY_NUM" -window root "$T/ref444.png"
ticket "$T/t444" alice desk
check "probe on still colour" probe "$T/p444.json" "$T/t444" --seconds 3 --png "$T/shot444.png"
ticket "$T/t420" alice desk
check "probe without 4:4:4" probe "$T/p420.json" "$T/t420" --seconds 3 --png "$T/shot420.png" --no-444
db444=$(psnr "$T/shot444.png" "$T/ref444.png")
db420=$(psnr "$T/shot420.png" "$T/ref444.png")
say "still colour PSNR: $db444 dB with 4:4:4 ($(json "$T/p444.json" 'd["frames_444"]') frames 4:4:4), $db420 dB without"
check "still colour reaches PSNR >= 45 dB in 4:4:4 ($db444)" ge "$db444" 45
check "it came as 4:4:4 frames" [ "$(json "$T/p444.json" 'd["frames_444"]')" -ge 1 ]
check "a client without CAP_H264_444 gets no 4:4:4 frame" [ "$(json "$T/p420.json" 'd["frames_444"]')" -eq 0 ]
check "and its picture is worse ($db420 < 40 dB)" bash -c "! ge '$db420' 40"
check "the worker opened libx264 in 4:4:4" grep -q 'encoder: libx264 opened at 1920x1080 in 4:4:4' "$T/agent.log"
n0=$(grep -c '^pattern 0$' "$T/app.events" || true)
kill -USR1 "$APP_PID" # back to pattern 0
wait_for 5 eval '[ "$(grep -c "^pattern 0\$" "$T/app.events")" -gt "$n0" ]' ||
	{ fail "the test app did not go back to pattern 0"; exit 1; }

# 2. A click at (x, y) in the probe lands at (x, y) in the app.
ticket "$T/t2" alice desk
probe "$T/p2.json" "$T/t2" --seconds 2 --click 517,311 || true
check "a click lands where it was sent" wait_for 5 grep -q '^click 517 311 1$' "$T/app.events"

# 2b. CURSOR_POS (docs/protocol.md §5.8): the pointer's place reaches a client that draws the
#     cursor itself, whoever moved it: the probe's own click, then xdotool on the desktop.
ticket "$T/tc" alice desk
probe "$T/pc.json" "$T/tc" --seconds 4 --click 517,311 &
PC=$!
sleep 2.5
DISPLAY=":$DISPLAY_NUM" xdotool mousemove 640 480
wait "$PC" || true
say "cursor_pos: $(json "$T/pc.json" 'd["cursor_pos"]')"
check "CURSOR_POS follows the pointer to where xdotool moved it" \
	[ "$(json "$T/pc.json" '(d["cursor_pos"]["x"], d["cursor_pos"]["y"])')" = "(640, 480)" ]
check "and it moved more than once (the probe's click came first)" \
	[ "$(json "$T/pc.json" 'd["cursor_pos"]["moves"]')" -ge 2 ]
# Every client that joins gets the current cursor shape, also while others already watch.
ticket "$T/tcw" alice desk
probe "$T/pcw.json" "$T/tcw" --seconds 12 &
PCW=$!
sleep 1
got=0
for i in 1 2 3 4 5 6 7 8; do
	ticket "$T/tcj$i" bob desk
	probe "$T/pcj$i.json" "$T/tcj$i" --seconds 0.7 || true
	[ "$(json "$T/pcj$i.json" 'd["cursor_shapes"]')" -ge 1 ] && got=$((got + 1))
done
wait "$PCW" || true
say "cursor shape at join: $got of 8 joining clients, and the first one $(json "$T/pcw.json" 'd["cursor_shapes"]') shape(s)"
check "every joining client gets the cursor shape ($got of 8)" [ "$got" -eq 8 ]

# 3. Idle: after the picture and its refinement, a still screen sends nothing. The first
#    frames may be slow on a loaded machine, so the check is on the session's last 3 s.
ticket "$T/t3" alice desk
probe "$T/p3.json" "$T/t3" --seconds 8 || true
late=$(json "$T/p3.json" 'len([t for t in d["frame_ms"] if t > d["seconds"] * 1000 - 3000])')
total=$(json "$T/p3.json" 'd["frames"]')
say "idle: $total frames in all, $late in the last 3 s ($(json "$T/p3.json" 'd["frame_ms"]') ms)"
check "an idle desktop sends no video for 3 s" [ "$late" -eq 0 ]
check "and it did send the picture first" [ "$total" -ge 1 ]

# 4. Two probes on one desktop: both see frames, only the first one's input lands.
toggle() { # keeps the screen changing, so there is video to see
	while kill -0 "$APP_PID" 2>/dev/null; do
		kill -USR1 "$APP_PID" 2>/dev/null || true
		sleep 0.4
	done
}
toggle &
TOGGLER=$!
PIDS+=("$TOGGLER")
ticket "$T/ta" alice desk
ticket "$T/tb" bob desk
probe "$T/pa.json" "$T/ta" --seconds 12 --sleep 3000 --click 601,402 &
PA=$!
sleep 1.5
probe "$T/pb.json" "$T/tb" --seconds 4 --click 703,404 || true
wait "$PA" || true
check "the first probe sees frames" [ "$(json "$T/pa.json" 'd["frames"]')" -ge 3 ]
check "the second probe sees frames" [ "$(json "$T/pb.json" 'd["frames"]')" -ge 3 ]
check "the second probe is view only" [ "$(json "$T/pb.json" 'd["control"]')" = False ]
check "the controlling probe's click lands" wait_for 5 grep -q '^click 601 402 1$' "$T/app.events"
check "the view-only probe's click does not" bash -c "! grep -q '^click 703 404' '$T/app.events'"

# 4a. The controller leaves: control passes to the viewer that watched longest, which is told
#     so (STATUS CONTROL_ON) and whose input now lands; a viewer joining hears who has control.
ticket "$T/tca" alice desk
ticket "$T/tcb" bob desk
ticket "$T/tcc" carol desk
probe "$T/pca.json" "$T/tca" --seconds 3 &
PCA=$!
sleep 1
probe "$T/pcb.json" "$T/tcb" --seconds 9 --sleep 5000 --click 222,333 &
PCB=$!
sleep 0.5
probe "$T/pcc.json" "$T/tcc" --seconds 6 &
PCC=$!
wait "$PCA" "$PCB" "$PCC" || true
say "viewer's STATUS: $(json "$T/pcb.json" 'd["status"]')"
check "the first viewer is told it has control once the controller left" \
	bash -c "grep -q 'you have control of the desktop now (alice left)' '$T/pcb.json'"
check "and its click lands" wait_for 5 grep -q '^click 222 333 1$' "$T/app.events"
check "a viewer hears who has control: first alice, then bob" \
	bash -c "grep -q 'alice has control of the desktop.*bob has control of the desktop' '$T/pcc.json'"
check "the agent logs the hand-over" grep -q 'alice left; bob has control now' "$T/agent.log"

# 4b. Flow control (the screen keeps changing): a client that never acknowledges gets a
#     few frames and then the stream waits for it (max_inflight = 4), never a queue; next
#     to a client that keeps up, the stalled one is skipped and the other streams on.
ticket "$T/tn" dave desk
probe "$T/pn.json" "$T/tn" --seconds 4 --no-ack || true
stalled=$(json "$T/pn.json" 'd["frames_received"]')
say "a client that never acknowledges received $stalled frames in 4 s"
check "a stalled client gets at most max_inflight frames plus what was queued ($stalled)" \
	eval '[ "$stalled" -ge 1 ] && [ "$stalled" -le 8 ]'
ticket "$T/tk0" erin desk
# alone: what the stream costs. In 4:2:0 only (--no-444 here and beside it below): with the
# patterns toggling, when the picture goes 4:4:4 and back depends on encode times, and so would
# its key frames; this compares flow control, not that.
probe "$T/pk0.json" "$T/tk0" --seconds 5 --no-444 || true

# 4c. Every frame says where its time went (VIDEO's stage times, docs/protocol.md 5.5), and
#     the stages add up to the frame's capture-to-decoded latency; a client that did not ask
#     (no CAP_TIMING) gets plain frames it decodes.
say "stages p50 (ms): $(json "$T/pk0.json" '{k: v["p50"] for k, v in d["stages_ms"].items()}')"
check "every frame came with its stage times ($(json "$T/pk0.json" 'd["timed_frames"]') of $(json "$T/pk0.json" 'd["frames"]'))" \
	[ "$(json "$T/pk0.json" 'd["frames"] >= 5 and d["timed_frames"] == d["frames"]')" = True ]
# (refinements, 4:4:4 ones among them, copy and convert nothing: the frames of a change do)
check "the agent timed its copy from X, the conversion and the encoder" \
	[ "$(json "$T/pk0.json" '(lambda ch: len(ch) >= 3 and all(sorted(s[i] for s in ch)[len(ch) // 2] > 0 for i in (0, 2, 3)))([s for s, r in zip(d["frame_stages_ms"], d["frame_refine"]) if s and not r])')" = True ]
sums=$(json "$T/pk0.json" 'sorted(abs(lat - sum(st[1:])) for lat, st in zip(d["frame_latency_ms"], d["frame_stages_ms"]) if st)')
say "per frame, |latency - (wait .. decode)| in ms: $sums" | cut -c1-300
check "each frame's stages after capture add up to its latency (within 0.5 ms)" \
	[ "$(json "$T/pk0.json" 'all(abs(lat - sum(st[1:])) < 0.5 for lat, st in zip(d["frame_latency_ms"], d["frame_stages_ms"]) if st)')" = True ]
ticket "$T/tk1" erin desk
probe "$T/pk1.json" "$T/tk1" --seconds 2 --no-timing || true
check "a client without CAP_TIMING decodes frames without them" \
	[ "$(json "$T/pk1.json" 'd["frames"] >= 2 and d["timed_frames"] == 0 and d["decode_errors"] == 0')" = True ]
ticket "$T/tn2" dave desk
ticket "$T/tk" erin desk
probe "$T/pn2.json" "$T/tn2" --seconds 6 --no-ack &
PN=$!
probe "$T/pk.json" "$T/tk" --seconds 5 --no-444 || true
wait "$PN" || true
say "beside it: stalled $(json "$T/pn2.json" 'd["frames_received"]'), keeping up $(json "$T/pk.json" 'd["frames"]')"
check "beside a stalled client, the other keeps streaming" [ "$(json "$T/pk.json" 'd["frames"]')" -ge 5 ]
check "and the stalled one is capped (4 x max_inflight)" \
	[ "$(json "$T/pn2.json" 'd["frames_received"]')" -le 20 ]
# One client's lag must not cost the others: the stalled viewer waits for a key frame it
# cannot take, and asks for none until it acknowledges again.
alone="$(json "$T/pk0.json" 'd["kbps"]') kbit/s, $(json "$T/pk0.json" 'd["keyframes"]') key frames"
beside="$(json "$T/pk.json" 'd["kbps"]') kbit/s, $(json "$T/pk.json" 'd["keyframes"]') key frames"
say "the keeping-up client alone: $alone; beside the stalled one: $beside"
check "beside a stalled viewer, the other client gets no extra key frames" \
	[ "$(json "$T/pk.json" 'd["keyframes"]')" -le $(($(json "$T/pk0.json" 'd["keyframes"]') + 1)) ]
check "and its stream costs at most 1.5 times as much" \
	python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) <= 1.5 * float(sys.argv[2]) + 50 else 1)" \
	"$(json "$T/pk.json" 'd["kbps"]')" "$(json "$T/pk0.json" 'd["kbps"]')"

# 5. Tickets: replayed, for another agent, for an unknown desktop, forged.
set +e
probe "$T/r1.json" "$T/t1" --seconds 1 2>"$T/r1.err"
rc=$?
set -e
check "a replayed ticket is refused (exit $rc)" [ "$rc" -eq 1 ]
check "and the reason says so" grep -q "already used" "$T/r1.err"
ticket "$T/t5" alice desk other-agent
probe "$T/r2.json" "$T/t5" --seconds 1 2>"$T/r2.err" || true
check "a ticket for another agent is refused" grep -q "another agent" "$T/r2.err"
ticket "$T/t6" alice nosuchdesk
probe "$T/r3.json" "$T/t6" --seconds 1 2>"$T/r3.err" || true
check "a ticket for an unknown desktop is refused" grep -q "no desktop" "$T/r3.err"
ticket "$T/t7" alice desk
# the file is a PEM bundle (lib.sh's ticket): flip the last bit of its ticket's signature
python3 - "$T/t7" <<'PY'
import base64, sys
begin, end = "-----BEGIN HIGHRISE CONNECT TICKET-----\n", "-----END HIGHRISE CONNECT TICKET-----"
text = open(sys.argv[1]).read()
head, rest = text.split(begin, 1)
body, tail = rest.split(end, 1)
b = bytearray(base64.b64decode("".join(body.split())))
b[-1] ^= 1
b64 = base64.b64encode(bytes(b)).decode()
lines = "".join(b64[i:i + 64] + "\n" for i in range(0, len(b64), 64))
open(sys.argv[1], "w").write(head + begin + lines + end + tail)
PY
probe "$T/r4.json" "$T/t7" --seconds 1 2>"$T/r4.err" || true
check "a ticket with one flipped bit is refused" grep -q "signature" "$T/r4.err"

# 6. Hostile bytes over TLS, each on its own connection, while a probe streams.
ticket "$T/ts" carol desk
probe "$T/ps.json" "$T/ts" --seconds 14 &
PS=$!
sleep 1
hello() { # hello VERSION TICKET_HEX: a HELLO frame with that version and ticket
	python3 - "$1" "$2" <<'PY'
import struct, sys
ver, ticket = int(sys.argv[1]), bytes.fromhex(sys.argv[2])
body = b"HRIS" + struct.pack(">HIHHH", ver, 1, 0, 0, len(ticket)) + ticket + b"\x00"
sys.stdout.buffer.write(struct.pack(">IB", len(body) + 1, 1) + body)
PY
}
declare -A cases=(
	[empty]='\x00\x00\x00\x00\x00'
	[len-7fffffff]='\x7f\xff\xff\xff\x10'
	[len-80000000]='\x80\x00\x00\x00\x10'
	[len-ffffffff]='\xff\xff\xff\xff\x10'
	[over-limit]='\x00\x20\x00\x00\x15\x01'
	[resize-0x0]='\x00\x00\x00\x05\x14\x00\x00\x00\x00'
	[truncated-key]='\x00\x00\x00\x03\x20\x00\x1e'
	[key-before-hello]='\x00\x00\x00\x08\x20\x00\x1e\x00\x00\x00\x61\x01'
	[unknown-then-nothing]='\x00\x00\x00\x02\xc8\x00'
)
expect_close() { # expect_close NAME: the agent answers BYE with a reason and hangs up by itself
	local name=$1 rc=0
	timeout 10 openssl s_client -connect "127.0.0.1:$AGENT_PORT" -CAfile "$T/pki/ca.pem" \
		-verify_return_error -quiet -ign_eof <"$T/bad-$name.bin" >"$T/bad-$name.out" \
		2>/dev/null || rc=$?
	[ "$rc" -ne 124 ] || return 1 # still open after 10 s
	python3 - "$T/bad-$name.out" <<'PY'
import struct, sys
b = open(sys.argv[1], "rb").read()
assert len(b) >= 9, "no BYE"
n, t = struct.unpack(">IB", b[:5])
assert t == 3 and len(b) == 4 + n, "not one BYE frame"
reason, tl = struct.unpack(">HH", b[5:9])
print("   BYE %d: %s" % (reason, b[9:9 + tl].decode()))
PY
}
for name in "${!cases[@]}"; do
	printf "${cases[$name]}" >"$T/bad-$name.bin"
done
hello 2 "00" >"$T/bad-hello-v2.bin"
hello 1 "6162636465" >"$T/bad-hello-garbage-ticket.bin"
hello 1 "" >"$T/bad-hello-no-ticket.bin"
for f in "$T"/bad-*.bin; do
	name=$(basename "$f" .bin)
	name=${name#bad-}
	check "hostile '$name': BYE with the reason, connection closed" expect_close "$name"
done
wait "$PS" || true
check "the streaming probe kept going through all of it" [ "$(json "$T/ps.json" 'd["ok"]')" = True ]
check "and kept receiving frames" [ "$(json "$T/ps.json" 'len([t for t in d["frame_ms"] if t > 6000])')" -ge 5 ]
end "$TOGGLER"
check "the agent is still running" kill -0 "$AGENT_PID"
ticket "$T/t8" alice desk
check "and serves a new client afterwards" probe "$T/p8.json" "$T/t8" --frames 1 --seconds 5
check "the agent logged the refusals" grep -q "refused" "$T/agent.log"
check "no ticket bytes in the agent's log" bash -c "! grep -qi 'ticket [0-9a-f]\{40\}' '$T/agent.log'"

# 7. A clean stop: SIGTERM, BYE to clients, exit 0.
kill -TERM "$AGENT_PID"
check "the agent stops cleanly on SIGTERM" wait "$AGENT_PID"
finish
