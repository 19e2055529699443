#!/usr/bin/env bash
# highrise-agent on real QEMU VMs' SPICE consoles, watched by highrise-probe: the VM's screen
# arrives and matches QEMU's own screendump, typed keys reach the guest, the guest's sound
# comes through SPICE's playback channel (no PulseAudio on the host), the client's
# microphone reaches the guest's sound card through the record channel, a resize arrives as
# RESIZE, the client's size reaches the guest through its spice-vdagent (the fixture's
# hr-vdagent), the right password connects and a wrong one is said clearly, two SPICE desktops and
# a VNC one stream at once, and a VM that stops and starts again is reported and resumed.
# Two VMs boot side by side (a SPICE server takes one client at a time): A with a SPICE
# password and VNC too, B without a password; a third QEMU, with nothing to boot, offers a
# TLS SPICE port with a certificate from the test's CA. (Clicks in both mouse modes:
# tests/unit/test_capture_spice.c.)
. "$(dirname "$0")/lib.sh"
need qemu-system-x86_64 compare python3 pulseaudio pactl paplay
VM=$SRC/tests/fixtures/vm
AGENT_NAME=agent-spice

# boot NAME ARGS...: starts a VM in the background; booted NAME waits and sets NAME_* vars
boot() {
	local name=$1
	shift
	("$VM/start.sh" --run-dir "$T/vm-$name" "$@" >"$T/vm-$name.env" 2>"$T/vm-$name-start.log") &
	eval "BOOT_$name=$!"
	CLEANUPS+=("'$VM/stop.sh' '$T/vm-$name' >/dev/null 2>&1")
}
booted() {
	local name=$1 pid
	pid=$(eval echo "\$BOOT_$name")
	wait "$pid" || {
		fail "VM $name did not boot (see vm-$name-start.log)"
		exit 1
	}
	# shellcheck disable=SC1090
	eval "$(sed "s/^HR_VM_/${name}_/" "$T/vm-$name.env")"
	say "VM $name up in $(eval echo "\$${name}_BOOT_SECONDS")s," \
		"SPICE port $(eval echo "\$${name}_SPICE_PORT")"
}
# like_screendump PNG MONITOR WHAT: the probe's PNG against QEMU's own screendump, >= 35 dB
like_screendump() {
	python3 "$VM/vmctl.py" --monitor "$2" screendump "$1.ref.ppm" >/dev/null
	db=$(psnr "$1" "$1.ref.ppm")
	check "$3 (PSNR against QEMU's screendump >= 35 dB: $db)" ge "$db" 35
}
# clicks SERIAL DEVICE_NAME_PART: after the guest's last hr-input READY, the left-button
# presses and releases of the device whose name has DEVICE_NAME_PART, and its last absolute
# X,Y before the first press: "PRESSES RELEASES X Y" (X, Y -1 without EV_ABS)
clicks() {
	python3 - "$1" "$2" <<'PY'
import re, sys
text = open(sys.argv[1], "rb").read().decode("latin-1")
start = text.rfind("HIGHRISE-VM-INPUT-READY")
head, tail = text[:start], text[start:]
devs = [m.group(1) for m in re.finditer(r"HIGHRISE-VM-INPUT-DEV dev=(\S+) name=([^\r\n]*)", head)
        if sys.argv[2] in m.group(2)]
dev = devs[-1] if devs else None
press = release = 0
x = y = -1
for m in re.finditer(r"HIGHRISE-VM-INPUT dev=(\S+) t=\S+ type=(\d+) code=(\d+) value=(-?\d+)", tail):
    d, t, c, v = m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4))
    if d != dev:
        continue
    if t == 1 and c == 272:
        press += v == 1
        release += v == 0
    elif t == 3 and press == 0:
        if c == 0:
            x = v
        elif c == 1:
            y = v
print(press, release, x, y)
PY
}

printf 'spice-right-%s' "$RANDOM" >"$T/right.pw"
printf 'spice-wrong' >"$T/wrong.pw"
boot A --vnc auto --spice auto --spice-password-file "$T/right.pw" --audio spice --tablet --vdagent
boot B --vnc none --spice auto --audio spice
booted A
booted B

make_pki
# QEMU's x509-dir: the test CA and a server certificate for 127.0.0.1 from it
mkdir -p "$T/x509"
cp "$T/pki/ca.pem" "$T/x509/ca-cert.pem"
cp "$T/pki/agent-127.0.0.1.pem" "$T/x509/server-cert.pem"
cp "$T/pki/agent-127.0.0.1.key" "$T/x509/server-key.pem"
TLS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
bg qemu-tls qemu-system-x86_64 -display none -vga std -m 64 -monitor "unix:$T/tls.mon,server,nowait" \
	-spice "tls-port=$TLS_PORT,addr=127.0.0.1,x509-dir=$T/x509,disable-ticketing=on"
check "a QEMU with a TLS SPICE port listens" wait_for 10 bash -c "ss -ltn | grep -q ':$TLS_PORT '"
# and one with SPICE on a unix socket (QEMU's -spice unix=on)
bg qemu-unix qemu-system-x86_64 -display none -vga std -m 64 -monitor "unix:$T/unix.mon,server,nowait" \
	-spice "unix=on,addr=$T/spice.sock,disable-ticketing=on"
check "a QEMU with SPICE on a unix socket listens" wait_for 10 test -S "$T/spice.sock"
start_agent "$AGENT_NAME" \
	"tls spice+tls://127.0.0.1:$TLS_PORT?ca=$T/pki/ca.pem" \
	"tls-noca spice+tls://127.0.0.1:$TLS_PORT" \
	"sock spice+unix://$T/spice.sock" \
	"a spice://127.0.0.1:$A_SPICE_PORT password-file=$T/right.pw" \
	"a-vnc vnc://127.0.0.1:$A_VNC_PORT" \
	"a-bad spice://127.0.0.1:$A_SPICE_PORT password-file=$T/wrong.pw" \
	"a-none spice://127.0.0.1:$A_SPICE_PORT" \
	"b spice://127.0.0.1:$B_SPICE_PORT"

# 1. A wrong password, and none: a clear error in the agent's log and a STATUS the client
#    shows, never a hang. (First, while nothing else holds A's SPICE server.)
ticket "$T/t0" alice a-bad
SECONDS0=$SECONDS
probe "$T/p0.json" "$T/t0" --seconds 8 || true
say "  wrong password: statuses $(json "$T/p0.json" 'd["status"]'), bye $(json "$T/p0.json" 'd["bye"]')"
check "a wrong password is said in the agent's log" \
	grep -q "desktop a-bad.*\(password\|credentials\)" "$T/agent.log"
check "and to the client (STATUS or BYE about credentials)" \
	grep -qi "credentials\|password" "$T/p0.json"
check "within the probe's 8 s (no hang: $((SECONDS - SECONDS0)) s)" [ $((SECONDS - SECONDS0)) -le 12 ]
ticket "$T/t0n" alice a-none
probe "$T/p0n.json" "$T/t0n" --seconds 5 || true
check "no password for a console that wants one: said too" \
	grep -qi "credentials\|password" "$T/p0n.json"

# 2. The screen over SPICE against QEMU's own screendump, at the text console's size.
ticket "$T/t1" alice a
check "probe connects over SPICE and decodes" \
	probe "$T/p1.json" "$T/t1" --seconds 4 --png "$T/shot.png"
like_screendump "$T/shot.png" "$A_MONITOR" "the VGA console arrives"
check "at its size, 720x400" [ "$(json "$T/p1.json" '(d["width"], d["height"])')" = "(720, 400)" ]
check "the SPICE backend opened it at that size" \
	grep -q "spice: connected to 127.0.0.1:$A_SPICE_PORT, 720x400" "$T/agent.log"

# 3. Keys typed into the probe reach the guest's shell (SPICE inputs channel, PC scancodes).
marker="HIGHRISE-$RANDOM$RANDOM"
ticket "$T/t2" alice a
probe "$T/p2.json" "$T/t2" --seconds 6 --type "echo $marker > /dev/ttyS0\n" || true
check "typed keys reach the guest (marker in the serial log)" \
	wait_for 10 grep -q "^$marker" "$A_SERIAL"

# 3b. A click lands where the probe points: A has a USB tablet, so SPICE is in client mouse
#     mode (absolute: QEMU scales the point to 0..32767 of the screen).
ticket "$T/t2c" alice a
probe "$T/p2c.json" "$T/t2c" --seconds 9 --type "hr-input &\n" --sleep 3000 \
	--click 540,100 --sleep 1000 --type "kill %1\n" || true
check "the guest listened for input" wait_for 10 grep -q "HIGHRISE-VM-INPUT-END" "$A_SERIAL"
check "SPICE ran in client mouse mode" grep -q "spice: 127.0.0.1:$A_SPICE_PORT mouse mode client" "$T/agent.log"
read -r np nr cx cy <<<"$(clicks "$A_SERIAL" "Tablet")"
say "  client mode: $np press(es), $nr release(s) at absolute $cx,$cy (expected about 24575,8191)"
check "the click reached the guest's tablet (press and release)" [ "$np" -ge 1 ] && [ "$nr" -ge 1 ]
check "where the probe pointed (540,100 of 720x400 within 1 %: $cx,$cy)" \
	python3 -c "import sys; x,y=int(sys.argv[1]),int(sys.argv[2]); sys.exit(0 if abs(x-540*32768/720)<=328 and abs(y-100*32768/400)<=328 else 1)" "$cx" "$cy"

# 4. The guest's sound through SPICE's playback channel: the probe's output has the tone.
ticket "$T/t3" alice a
probe "$T/p3.json" "$T/t3" --seconds 9 --type "hr-tone 5 440\n" --audio-out "$T/p3.wav" || true
check "the guest played its tone" grep -q "HIGHRISE-VM-TONE-START" "$A_SERIAL"
say "  sound: $(json "$T/p3.json" '" ".join("%s %s" % (k, (d["audio"] or {}).get(k)) for k in ("packets", "kbps", "late", "dropped", "concealed", "underruns"))')"
check "AUDIO arrived" [ "$(json "$T/p3.json" '(d["audio"] or {}).get("packets", 0)')" -ge 100 ]
analyze "$T/p3.wav" 3
check "the probe plays 440 Hz (440 +- 5: $HZ)" near "$HZ" 440 5

# 4b. The client's microphone into SPICE's record channel: the probe sends a 1 kHz tone
#     (from its own PulseAudio server) while the guest records /dev/dsp (hr-record, 8 kHz u8
#     mono, dumped as hex to the serial port).
start_pulse cli
PULSE_SERVER=$PA_SERVER pactl load-module module-null-sink sink_name=micsrc >/dev/null
"$BUILD/tests/fixtures/sound/wavtone" gen "$T/t1k.wav" 1000 30 0.25
PULSE_SERVER=$PA_SERVER bg miclp paplay -d micsrc "$T/t1k.wav"
ticket "$T/t4" alice a
PULSE_SERVER=$PA_SERVER probe "$T/p4.json" "$T/t4" --seconds 10 --mic --mic-source micsrc.monitor \
	--sleep 1500 --type "hr-record 2\n" || true
check "the guest recorded" wait_for 15 grep -q "HIGHRISE-VM-REC-END rc=0" "$A_SERIAL"
check "the probe sent its microphone ($(json "$T/p4.json" 'd["audio"]["mic_packets"]') packets)" \
	[ "$(json "$T/p4.json" 'd["audio"]["mic_packets"]')" -ge 100 ]
python3 - "$A_SERIAL" "$T/rec.raw" <<'PY'
import struct, sys
text = open(sys.argv[1], "rb").read().decode("latin-1")
body = text[text.rindex("HIGHRISE-VM-REC-START"):text.rindex("HIGHRISE-VM-REC-END")]
hexs = "".join(l.strip() for l in body.splitlines()[1:])
u8 = bytes.fromhex(hexs)
with open(sys.argv[2], "wb") as f:  # 8 kHz u8 mono -> 48 kHz s16 stereo (held), for wavtone
    for b in u8:
        v = (b - 128) << 8
        f.write(struct.pack("<hh", v, v) * 6)
PY
analyze "$T/rec.raw"
check "the guest's microphone hears 1 kHz (1000 +- 25: $HZ; the card records at 8018 Hz)" \
	near "$HZ" 1000 25
check "the agent played the microphone into the console" \
	grep -q "microphone: [1-9][0-9]* packets played" "$T/agent.log"

# 5. Two SPICE desktops and a VNC one on this agent, all streaming at once.
for d in a b a-vnc; do ticket "$T/t5-$d" alice "$d"; done
probe "$T/p5-a.json" "$T/t5-a" --seconds 5 &
P5A=$!
probe "$T/p5-b.json" "$T/t5-b" --seconds 5 &
P5B=$!
probe "$T/p5-v.json" "$T/t5-a-vnc" --seconds 5 &
P5V=$!
wait "$P5A" "$P5B" "$P5V" || true
for d in a b v; do
	n=$(json "$T/p5-$d.json" 'len(d["frame_ms"])')
	check "desktop $d streamed at the same time ($n frames)" [ "${n:-0}" -ge 1 ]
done
check "b is B's screen (720x400)" [ "$(json "$T/p5-b.json" '(d["width"], d["height"])')" = "(720, 400)" ]

# 6. A resize in the guest (bochs DRM, 720x400 text -> 1280x720) arrives as RESIZE.
ticket "$T/t6" alice a
probe "$T/p6.json" "$T/t6" --seconds 14 --sleep 500 --type "hr-resize\n" --png "$T/resized.png" || true
check "the guest switched mode" grep -q "HIGHRISE-VM-RESIZED 1280x720" "$A_SERIAL"
check "the probe ends at the new size" \
	[ "$(json "$T/p6.json" '(d["width"], d["height"])')" = "(1280, 720)" ]
like_screendump "$T/resized.png" "$A_MONITOR" "and shows the framebuffer console"

# 6a. The client's window size through the guest's spice-vdagent (the fixture's hr-vdagent):
#     the session began without it (no RESIZE flag), the agent starts in the guest, the
#     client hears STATUS RESIZE_ON, asks for 1024x768, the guest sets it, RESIZE arrives.
ticket "$T/t6a" alice a
probe "$T/p6a.json" "$T/t6a" --seconds 16 --sleep 500 --type "hr-vdagent &\n" --sleep 6000 \
	--resize 1024x768 --png "$T/vdagent.png" || true
say "  statuses: $(json "$T/p6a.json" 'd["status"]')"
check "the guest's agent came up" grep -q "HIGHRISE-VM-VDAGENT-READY" "$A_SERIAL"
check "the agent heard it can resize the console now" grep -q "desktop a: the console can be resized now" "$T/agent.log"
check "and told the client (STATUS RESIZE_ON)" \
	[ "$(json "$T/p6a.json" 'any("can be resized" in s for s in d["status"])')" = True ]
check "the guest set the client's size" grep -q "HIGHRISE-VM-VDAGENT-RESIZED 1024x768" "$A_SERIAL"
check "the probe ends at that size" [ "$(json "$T/p6a.json" '(d["width"], d["height"])')" = "(1024, 768)" ]
like_screendump "$T/vdagent.png" "$A_MONITOR" "and shows the guest's new screen"

# 6b. B has no tablet: SPICE's server mouse mode (QEMU's PS/2 mouse, relative motion). The
#     click reaches the guest (where relative motion lands: tests/unit/test_capture_spice.c).
ticket "$T/t6b" alice b
probe "$T/p6b.json" "$T/t6b" --seconds 9 --type "hr-input &\n" --sleep 3000 \
	--click 300,200 --sleep 1000 --type "kill %1\n" || true
check "B's guest listened for input" wait_for 10 grep -q "HIGHRISE-VM-INPUT-END" "$B_SERIAL"
read -r np nr cx cy <<<"$(clicks "$B_SERIAL" "PS/2")"
say "  server mode: $np press(es), $nr release(s) on the PS/2 mouse"
check "SPICE ran in server mouse mode there" grep -q "spice: 127.0.0.1:$B_SPICE_PORT mouse mode server" "$T/agent.log"
check "a click in server mode reached the guest's PS/2 mouse" [ "$np" -ge 1 ] && [ "$nr" -ge 1 ]

# 7. VM B stops mid-stream and starts again on the same SPICE port: restarting, back, frames again.
ticket "$T/t7" alice b
probe "$T/p7.json" "$T/t7" --seconds 90 &
P7=$!
sleep 3
"$VM/stop.sh" "$T/vm-B" >/dev/null 2>&1
lost_at=$SECONDS
sleep 3
boot B --vnc none --spice "$B_SPICE_PORT" --audio spice
booted B
back_at=$SECONDS
python3 "$VM/vmctl.py" --monitor "$B_MONITOR" type "echo back" >/dev/null
sleep 8
stop_probe "$P7"
say "  statuses: $(json "$T/p7.json" 'd["status"]')"
check "the client was told the desktop is restarting" \
	[ "$(json "$T/p7.json" 'any("the desktop is restarting" in s for s in d["status"])')" = True ]
check "and never that it is not responding (back within console.restart_wait_s)" \
	[ "$(json "$T/p7.json" 'any("unreachable for" in s for s in d["status"])')" = False ]
check "and that it is back" [ "$(json "$T/p7.json" 'any("back" in s for s in d["status"])')" = True ]
since=$(((back_at - lost_at) * 1000))
check "frames arrived after the VM returned" \
	[ "$(json "$T/p7.json" "len([t for t in d['frame_ms'] if t > 3000 + $since])")" -ge 1 ]

# 8. SPICE over TLS (QEMU's tls-port): the certificate verified against the CA given, and
#    refused with the reason without it.
ticket "$T/t8" alice tls
check "the probe decodes a TLS SPICE console" \
	probe "$T/p8.json" "$T/t8" --seconds 3 --png "$T/tls.png"
check "the agent's relay spoke TLS 1.3" grep -q "tls relay: 127.0.0.1: TLSv1.3" "$T/agent.log"
like_screendump "$T/tls.png" "$T/tls.mon" "its screen is the console's"
ticket "$T/t9" alice tls-noca
probe "$T/p9.json" "$T/t9" --seconds 3 || true
say "  without the CA: $(json "$T/p9.json" 'd["bye"]')"
check "without the CA the certificate does not verify, and the client is told" \
	grep -q "TLS certificate does not verify" "$T/p9.json"

# 9. SPICE on a unix socket (spice+unix://).
ticket "$T/t10" alice sock
check "the probe decodes a SPICE console on a unix socket" \
	probe "$T/p10.json" "$T/t10" --seconds 3 --png "$T/sock.png"
like_screendump "$T/sock.png" "$T/unix.mon" "its screen is the console's"

check "the agent is still running" kill -0 "$AGENT_PID"
kill -TERM "$AGENT_PID"
check "and stops cleanly" wait "$AGENT_PID"
finish
