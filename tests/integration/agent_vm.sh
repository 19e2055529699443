#!/usr/bin/env bash
# highrise-agent on a real QEMU VM's console (VNC), watched by highrise-probe:
# the VM's screen arrives, typed keys reach the guest, a console resize reaches
# the client, and a VM that goes away and comes back is reported and resumed.
# One VM boot serves the first three; the last one restarts it.
. "$(dirname "$0")/lib.sh"
need qemu-system-x86_64 compare python3
VM=$SRC/tests/fixtures/vm
AGENT_NAME=agent-vm

start_vm() { # start_vm [ARGS]: boots the VM, sets the HR_VM_* variables
	eval "$("$VM/start.sh" --run-dir "$T/vm" "$@" 2>"$T/vm-start.log")" || {
		fail "the VM did not boot (see vm-start.log)"
		exit 1
	}
	CLEANUPS+=("'$VM/stop.sh' '$T/vm' >/dev/null 2>&1")
	say "VM up in ${HR_VM_BOOT_SECONDS}s ($HR_VM_ACCEL), VNC port $HR_VM_VNC_PORT"
}
screendump() { python3 "$VM/vmctl.py" --monitor "$HR_VM_MONITOR" screendump "$1" >/dev/null; }

start_vm
make_pki
# a restart that takes longer than 4 s is "not responding" (section 4; the default is 120 s)
start_agent "$AGENT_NAME" "vm vnc://127.0.0.1:$HR_VM_VNC_PORT" -- --console.restart_wait_s 4

# 1. The VM's screen: the probe's frame against the VM's own framebuffer, read directly
#    with libvncclient (vncgrab) and from QEMU itself (screendump).
ticket "$T/t1" alice vm
check "probe connects and decodes" probe "$T/p1.json" "$T/t1" --seconds 3 --png "$T/shot.png"
check "libvncclient reads the framebuffer" \
	"$BUILD/tests/vncgrab" "vnc://127.0.0.1:$HR_VM_VNC_PORT" "$T/vnc.png"
db=$(psnr "$T/shot.png" "$T/vnc.png")
say "console PSNR against libvncclient: $db dB ($(json "$T/p1.json" '(d["width"], d["height"])'))"
check "the VGA console arrives with PSNR >= 35 dB ($db)" ge "$db" 35
screendump "$T/ref.ppm"
db=$(psnr "$T/shot.png" "$T/ref.ppm")
say "console PSNR against QEMU's screendump: $db dB"
check "and matches QEMU's own screendump too ($db)" ge "$db" 35
check "at its size, 720x400" [ "$(json "$T/p1.json" '(d["width"], d["height"])')" = "(720, 400)" ]

# 2. Keys typed into the probe reach the guest's shell.
marker="HIGHRISE-$RANDOM$RANDOM"
ticket "$T/t2" alice vm
probe "$T/p2.json" "$T/t2" --seconds 6 --type "echo $marker > /dev/ttyS0\n" || true
check "typed keys reach the guest (marker in the serial log)" \
	wait_for 10 grep -q "^$marker" "$HR_VM_SERIAL"

# 3. A console resize (bochs DRM, 720x400 text -> 1280x720) reaches the client as RESIZE.
ticket "$T/t3" alice vm
probe "$T/p3.json" "$T/t3" --seconds 14 --sleep 500 --type "hr-resize\n" --png "$T/resized.png" || true
check "the guest switched mode" grep -q "HIGHRISE-VM-RESIZED 1280x720" "$HR_VM_SERIAL"
check "the probe ends at the new size" \
	[ "$(json "$T/p3.json" '(d["width"], d["height"])')" = "(1280, 720)" ]
check "the stream went on at the new size" [ -s "$T/resized.png" ] && \
	[ "$(identify -format '%wx%h' "$T/resized.png")" = 1280x720 ]
screendump "$T/ref2.ppm"
db=$(psnr "$T/resized.png" "$T/ref2.ppm")
say "framebuffer PSNR after the resize: $db dB"
check "and shows the framebuffer console (PSNR >= 35 dB: $db)" ge "$db" 35

# 4. The VM restarts: it goes away mid-stream and comes back on the same VNC display; its
#    client hears "the desktop is restarting", past 4 s that it is not responding, then
#    "back", and frames flow again (agent_spice and client_vm: back within the default 120 s).
ticket "$T/t4" alice vm
probe "$T/p4.json" "$T/t4" --seconds 60 &
P4=$!
sleep 3
display=$HR_VM_VNC_DISPLAY
"$VM/stop.sh" "$T/vm" >/dev/null 2>&1
lost_at=$SECONDS
sleep 3
start_vm --vnc "$display"
back_at=$SECONDS
# screen changes after the boot so there is video to see
python3 "$VM/vmctl.py" --monitor "$HR_VM_MONITOR" type "echo back" >/dev/null
sleep 8
stop_probe "$P4"
say "statuses: $(json "$T/p4.json" 'd["status"]')"
check "the client was told the desktop is restarting" \
	[ "$(json "$T/p4.json" 'any("the desktop is restarting" in s for s in d["status"])')" = True ]
check "then, away past console.restart_wait_s (4 s), that it is not responding" \
	[ "$(json "$T/p4.json" '[i for i, s in enumerate(d["status"]) if "unreachable for" in s][:1] > [i for i, s in enumerate(d["status"]) if "restarting" in s][:1]')" = True ]
check "and that it is back" [ "$(json "$T/p4.json" 'any("back" in s for s in d["status"])')" = True ]
since=$(((back_at - lost_at) * 1000))
check "frames arrived after the VM returned" \
	[ "$(json "$T/p4.json" "len([t for t in d['frame_ms'] if t > 3000 + $since])")" -ge 1 ]
check "the agent is still running" kill -0 "$AGENT_PID"
kill -TERM "$AGENT_PID"
check "and stops cleanly" wait "$AGENT_PID"
finish
