#!/usr/bin/env bash
# highrise-client against a hostile agent: a small TLS server (Python's ssl, the agent's
# real certificate) answers HELLO with frames no agent should send. The client must say
# what went wrong or ignore the frame, and never crash (this test is meant for the ASan
# build too): VIDEO before WELCOME, RESIZE 0x0 and 65535x65535, a 4 GB CLIPBOARD length,
# a 65535x65535 cursor, a truncated cursor, garbage H.264 marked as a key frame.
. "$(dirname "$0")/lib.sh"
need Xvfb xdpyinfo python3

CLIENT=$BUILD/client/ui/highrise-client
export LSAN_OPTIONS="suppressions=$SRC/client/ui/lsan.supp:print_suppressions=0"
# Under ASan, LeakSanitizer's exit-time tracer can crash inside Mesa's llvmpipe threads (seen in
# CI: "Tracer caught signal 11"), failing a clean exit for a reason outside our code. The GTK
# client runs here without leak detection; test_client_ui leak-checks the client's own objects
# and agent_x11/agent_vm leak-check the agent.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

Xvfb -displayfd 5 -screen 0 1024x768x24 -nolisten tcp 5>"$T/xvfb.display" >"$T/xvfb.log" 2>&1 &
PIDS+=($!)
wait_for 20 grep -q '[0-9]' "$T/xvfb.display" || { fail "Xvfb did not start"; exit 1; }
CDISP=$(tr -dc 0-9 <"$T/xvfb.display")
wait_for 20 xdpyinfo -display ":$CDISP" || { fail "Xvfb does not answer"; exit 1; }
make_pki
# a real bundle: the client reads it, the hostile server never checks it
ticket "$T/ticket" alice desk hostile.test

cat >"$T/hostile.py" <<'PY'
import socket, ssl, struct, sys, os

def frame(t, payload=b""):
    return struct.pack(">IB", len(payload) + 1, t) + payload

def welcome(w=640, h=480):
    p = struct.pack(">IHIHHBIBB", 0x48524953, 1, 1, w, h, 1, 0, 0, 1) + b"s"
    p += b"\x00" + struct.pack(">H", 0)  # no resume grant, no window (protocol.md §6.4)
    return frame(2, p)

def video(data, key=True):
    return frame(16, struct.pack(">IQB", 0, 0, 1 if key else 0) + data)

CASES = {
    "video-before-welcome": video(b"\x00\x00\x00\x01\x65\x88\x84"),
    "resize-0x0": welcome() + frame(20, struct.pack(">HH", 0, 0)),
    "resize-65535": welcome() + frame(20, struct.pack(">HH", 65535, 65535)),
    "clipboard-4gb": welcome() + struct.pack(">IB", 0xFFFFFFF0, 21) + b"\x01" + b"x" * 64,
    "cursor-65535": welcome() + frame(18, struct.pack(">HHHH", 65535, 65535, 0, 0) + b"\xff" * 64),
    "cursor-truncated": welcome() + frame(18, struct.pack(">HHHH", 64, 64, 1, 1) + b"\xff" * 100),
    "welcome-twice": welcome() + welcome(100, 100),
    "h264-garbage": welcome() + b"".join(
        video(b"\x00\x00\x00\x01\x67" + os.urandom(40) + b"\x00\x00\x00\x01\x65" + os.urandom(2000))
        for _ in range(20)),
}

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(8)
print("port", srv.getsockname()[1], flush=True)
for name in sys.argv[3:]:
    conn, _ = srv.accept()
    try:
        s = ctx.wrap_socket(conn, server_side=True)
        s.settimeout(20)
        head = s.recv(5)  # HELLO: read it whole, then misbehave
        n = struct.unpack(">I", head[:4])[0]
        got = len(head) - 4
        while got < n:
            got += len(s.recv(n - got))
        s.sendall(CASES[name])
        print("sent", name, flush=True)
        while s.recv(4096):  # until the client closes
            pass
    except Exception as e:
        print("case", name, "ended:", e, flush=True)
    finally:
        conn.close()
PY

names=(video-before-welcome resize-0x0 resize-65535 clipboard-4gb cursor-65535 cursor-truncated welcome-twice h264-garbage)
bg server python3 "$T/hostile.py" "$T/pki/agent-127.0.0.1.pem" "$T/pki/agent-127.0.0.1.key" "${names[@]}"
wait_for 10 grep -q '^port' "$T/server.log" || { fail "the hostile server did not start"; exit 1; }
PORT=$(awk '/^port/{print $2}' "$T/server.log")

for name in "${names[@]}"; do
	DISPLAY=":$CDISP" bg "c-$name" "$CLIENT" --agent "127.0.0.1:$PORT" --ticket "$T/ticket" \
		--ca "$T/pki/ca.pem" -v
	pid=$LAST_PID
	log="$T/c-$name.log"
	wait_for 20 grep -q "sent $name" "$T/server.log" || fail "$name: the server did not send"
	case $name in
	h264-garbage)
		# nothing to end the session for: the client stays connected and alive
		sleep 3
		check "$name: the client ignores it and stays connected" \
			bash -c "kill -0 $pid && ! grep -q 'session closed' '$log'"
		;;
	*)
		check "$name: the client ends the session and says why" \
			wait_for 15 grep -q 'status: The desktop and this client do not understand each other' "$log"
		;;
	esac
	kill -TERM "$pid" 2>/dev/null || true
	rc=0
	wait "$pid" || rc=$?
	check "$name: no crash, a clean exit (status $rc)" [ "$rc" -eq 0 ]
	check "$name: no sanitizer report" bash -c "! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error' '$log'"
done
finish
