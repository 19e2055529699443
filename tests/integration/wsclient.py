#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A browser's side of the agent's WebSocket transport, written from docs/protocol.md §1.1 and
RFC 6455 alone (no project code): TLS 1.3, the opening handshake with an Origin, then one
protocol frame per masked binary message. The binding proof signs the agent's CHALLENGE (§6.3),
which is what lets a browser (and Python, which has no TLS exporter) bind a ticket.

Signing uses `openssl pkeyutl` with the client key of the ticket file highrise-ticket wrote.
Each scenario prints what it saw, one "key: value" line each; exit 0 unless the transport failed.

Usage: wsclient.py --port PORT --ca CA.pem --origin ORIGIN [--ticket FILE] SCENARIO

Scenarios:
  handshake       the opening handshake alone: the HTTP status line and the body
  hello           CHALLENGE, HELLO with the proof, the answer; then a WebSocket ping, the
                  VIDEO frames within 3 s, and BYE: what came back
  replay          hello on one connection, then the same ticket, properly signed for a
                  second connection's challenge: the second answer
  wrong-binding   HELLO whose proof signs 32 zero bytes instead of the challenge: the answer
  text            a text message after CHALLENGE: the answer
  two-frames      HELLO and PING in one binary message: the answer
  unmasked        an unmasked binary message: the answer
  resume          hello, the link drops without BYE, then a resume proof over a new
                  connection's challenge: the answer
"""
import argparse
import base64
import hashlib
import hmac
import os
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time

from rawclient import bye, frame  # the native test client's frame helpers (same folder)

MAGIC = 0x48524953
HELLO, WELCOME, BYE, PING, PONG, CHALLENGE, VIDEO = 1, 2, 3, 4, 5, 6, 16
CAP_H264 = 1


def hello(ticket, proof):
    return frame(HELLO, struct.pack(">IHIHHH", MAGIC, 1, CAP_H264, 0, 0, len(ticket)) +
                 ticket + struct.pack(">B", 3) + b"web" + struct.pack(">B", len(proof)) + proof)


def pem_block(text, name):
    begin, end = "-----BEGIN %s-----" % name, "-----END %s-----" % name
    if begin not in text or end not in text:
        sys.exit("the ticket file has no %s block" % name)
    return begin + text.split(begin, 1)[1].split(end, 1)[0] + end + "\n"


def read_bundle(path):
    """(ticket bytes, PEM of the client's private key) from a highrise-ticket file."""
    text = open(path).read()
    body = pem_block(text, "HIGHRISE CONNECT TICKET").split("-----")[2]
    return base64.b64decode("".join(body.split()), validate=True), pem_block(text, "PRIVATE KEY")


def sign(key_pem, message):
    """An Ed25519 signature (RFC 8032) with openssl, as the page signs with WebCrypto."""
    with tempfile.TemporaryDirectory() as d:
        k, m = os.path.join(d, "key.pem"), os.path.join(d, "msg")
        with open(k, "w") as f:
            f.write(key_pem)
        with open(m, "wb") as f:
            f.write(message)
        return subprocess.run(["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", k, "-in", m],
                              check=True, capture_output=True).stdout


def ticket_proof(ticket, key_pem, value):
    """§6.3 with the CHALLENGE value in place of the exporter (§1.1)."""
    return sign(key_pem, b"highrise ticket binding v1\0" + ticket[1:33] + value)


class WS:
    def __init__(self, port, ca, origin):
        ctx = ssl.create_default_context(cafile=ca)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        self.buf = b""
        key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET /desktop HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
               % (port, key))
        if origin:
            req += "Origin: %s\r\n" % origin
        self.s.sendall((req + "\r\n").encode())
        while b"\r\n\r\n" not in self.buf:
            data = self.s.recv(4096)
            if not data:
                break
            self.buf += data
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = lines[0]
        self.headers = dict(l.split(": ", 1) for l in lines[1:] if ": " in l)
        self.body = b""
        if not self.status.startswith("HTTP/1.1 101"):
            n = int(self.headers.get("Content-Length", "0"))
            while len(self.buf) < n:
                data = self.s.recv(4096)
                if not data:
                    break
                self.buf += data
            self.body = self.buf[:n]
            return
        want = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        if self.headers.get("Sec-WebSocket-Accept") != want:
            sys.exit("bad Sec-WebSocket-Accept: %r" % self.headers.get("Sec-WebSocket-Accept"))

    def send_message(self, payload, opcode=2, masked=True):
        n = len(payload)
        head = bytes([0x80 | opcode])
        bit = 0x80 if masked else 0
        if n < 126:
            head += bytes([bit | n])
        elif n < 65536:
            head += bytes([bit | 126]) + struct.pack(">H", n)
        else:
            head += bytes([bit | 127]) + struct.pack(">Q", n)
        if masked:
            mask = os.urandom(4)
            head += mask
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.s.sendall(head + payload)

    def send(self, frame_bytes):
        self.send_message(frame_bytes)

    def _need(self, n, end):
        while len(self.buf) < n:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError("timed out")
            self.s.settimeout(left)
            try:
                data = self.s.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                data = b""
            if not data:
                return False
            self.buf += data
        return True

    def message(self, timeout=10):
        """The next WebSocket message as (opcode, payload); None when the connection ended."""
        end = time.monotonic() + timeout
        if not self._need(2, end):
            return None
        b0, b1 = self.buf[0], self.buf[1]
        if b1 & 0x80:
            sys.exit("the agent masked a frame (RFC 6455 §5.1 forbids it)")
        n, at = b1 & 0x7f, 2
        if n == 126:
            if not self._need(4, end):
                return None
            n, at = struct.unpack(">H", self.buf[2:4])[0], 4
        elif n == 127:
            if not self._need(10, end):
                return None
            n, at = struct.unpack(">Q", self.buf[2:10])[0], 10
        if not self._need(at + n, end):
            return None
        payload, self.buf = self.buf[at:at + n], self.buf[at + n:]
        if not b0 & 0x80:
            sys.exit("the agent fragmented a message")
        return b0 & 0x0f, payload

    def read(self, timeout=10):
        """The next protocol frame (type, payload): each binary message must be exactly one."""
        end = time.monotonic() + timeout
        while True:
            m = self.message(max(0.1, end - time.monotonic()))
            if m is None:
                return None
            op, p = m
            if op == 8:
                self.closed = struct.unpack(">H", p[:2])[0] if len(p) >= 2 else 0
                return None
            if op != 2:
                self.other = op
                continue
            if len(p) < 5 or struct.unpack(">I", p[:4])[0] + 4 != len(p):
                sys.exit("a binary message that is not exactly one frame (%d bytes)" % len(p))
            return p[4], p[5:]

    def until(self, types, timeout=10):
        end = time.monotonic() + timeout
        while True:
            f = self.read(max(0.1, end - time.monotonic()))
            if f is None or f[0] in types or f[0] == BYE:
                return f

    def challenge(self):
        f = self.read()
        if f is None or f[0] != CHALLENGE or len(f[1]) != 32:
            sys.exit("the agent's first message is not a CHALLENGE: %r" % (f,))
        return f[1]

    def close(self):
        self.s.close()


def answer(ws):
    f = ws.until((WELCOME,), 20)
    return "WELCOME" if f and f[0] == WELCOME else bye(f)


def out(k, v):
    print("%s: %s" % (k, v), flush=True)


def signed_hello(a, ws, ticket, key):
    ws.send(hello(ticket, ticket_proof(ticket, key, ws.challenge())))
    return answer(ws)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--origin", default="")
    ap.add_argument("--ticket")
    ap.add_argument("scenario")
    a = ap.parse_args()
    ticket, key = read_bundle(a.ticket) if a.ticket else (b"", "")
    conn = lambda: WS(a.port, a.ca, a.origin)

    if a.scenario == "handshake":
        ws = conn()
        out("status", ws.status)
        out("body", ws.body.decode("utf-8", "replace"))
        return
    ws = conn()
    if not ws.status.startswith("HTTP/1.1 101"):
        sys.exit("the handshake was refused: %s %s" % (ws.status, ws.body))
    if a.scenario == "hello":
        out("answer", signed_hello(a, ws, ticket, key))
        ws.send_message(b"are you there", opcode=9)
        pong, video = None, 0
        end = time.monotonic() + 3
        while time.monotonic() < end:
            try:
                m = ws.message(max(0.1, end - time.monotonic()))
            except TimeoutError:
                break
            if m is None:
                break
            if m[0] == 10:
                pong = m[1]
            elif m[0] == 2 and m[1][4] == VIDEO:
                video += 1
        out("pong", pong.decode() if pong else None)
        out("video", video)
        ws.send(frame(BYE, struct.pack(">HH", 0, 0)))
        f = ws.read(5)
        out("after bye", "closed %s" % getattr(ws, "closed", "-") if f is None else f[0])
    elif a.scenario == "replay":
        out("first", signed_hello(a, ws, ticket, key))
        out("second", signed_hello(a, conn(), ticket, key))
    elif a.scenario == "wrong-binding":
        ws.challenge()
        ws.send(hello(ticket, ticket_proof(ticket, key, bytes(32))))
        out("answer", answer(ws))
    elif a.scenario == "text":
        ws.challenge()
        ws.send_message(b"hello", opcode=1)
        out("answer", bye(ws.read()))
    elif a.scenario == "two-frames":
        c = ws.challenge()
        ws.send(hello(ticket, ticket_proof(ticket, key, c)) + frame(PING, bytes(8)))
        out("answer", bye(ws.read()))
    elif a.scenario == "unmasked":
        ws.challenge()
        ws.send_message(frame(PING, bytes(8)), masked=False)
        out("answer", bye(ws.read()))
    elif a.scenario == "resume":
        c = ws.challenge()
        ws.send(hello(ticket, ticket_proof(ticket, key, c)))
        f = ws.until((WELCOME,), 20)
        if not f or f[0] != WELCOME:
            sys.exit("no WELCOME: %s" % bye(f))
        p = f[1]
        slen = p[20]
        grant = p[22 + slen:22 + slen + p[21 + slen]]
        out("grant", len(grant))
        ws.s.shutdown(socket.SHUT_RDWR)  # the link drops: no BYE, no close
        ws.close()
        time.sleep(0.5)
        ws2 = conn()
        c2 = ws2.challenge()
        rid, secret = grant[:16], grant[16:]
        proof = rid + hmac.new(secret, b"highrise resume v1\0" + rid + c2,
                               hashlib.sha256).digest()
        ws2.send(hello(b"", proof))
        out("resumed", answer(ws2))
    else:
        sys.exit("unknown scenario %s (see --help)" % a.scenario)


if __name__ == "__main__":
    main()
