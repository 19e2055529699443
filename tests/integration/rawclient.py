#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A client of the agent's wire protocol written from docs/protocol.md alone (no project code):
TLS 1.3 to the agent, frames of u32 length + u8 type + payload, big-endian. Each scenario
prints what it saw, one "key: value" line each, and exits 0 unless the transport failed.

Usage: rawclient.py --port PORT --ca CA.pem [--ticket FILE] [--source ADDR] SCENARIO

Scenarios:
  first-unknown      a frame of unknown type (200) first: the agent's BYE (reason, text)
  ping-first         PING before HELLO: its PONG, then HELLO's answer
  input-early KEYSYM HELLO, then KEY press/release of KEYSYM in the same write (before WELCOME),
                     then the answer; stays 1 s
  input-pair KEYSYM  two connections (--ticket2 for the second): the first's HELLO starts the
                     desktop's worker, the second sends HELLO and KEY at once while the
                     console is still connecting; both answers; stays 1 s
  input-late KEYSYM  HELLO, WELCOME, then KEY press/release of KEYSYM; stays 1 s
  hello-again VER    HELLO, WELCOME, then a second HELLO of version VER: what follows
  hold N SECONDS     N connections that finish TLS and send nothing, watched for SECONDS
                     (--ready FILE: made once they are all made): how many were refused at
                     once, got a BYE (and the first BYE), or stayed
  trickle            HELLO one byte a second: how long until the agent's answer, and which
"""
import argparse
import socket
import ssl
import struct
import sys
import time

MAGIC = 0x48524953
HELLO, WELCOME, BYE, PING, PONG, KEY = 1, 2, 3, 4, 5, 32
CAP_H264 = 1


def frame(t, payload=b""):
    return struct.pack(">IB", 1 + len(payload), t) + payload


def hello(ticket, version=1):
    return frame(HELLO, struct.pack(">IHIHHH", MAGIC, version, CAP_H264, 0, 0, len(ticket)) +
                 ticket + struct.pack(">B", 3) + b"raw")


def key(keysym, down):
    return frame(KEY, struct.pack(">HIB", 0, keysym, 1 if down else 0))


class Conn:
    def __init__(self, port, ca, source=None):
        ctx = ssl.create_default_context(cafile=ca)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        raw = socket.create_connection(("127.0.0.1", port), timeout=10,
                                       source_address=(source, 0) if source else None)
        self.s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def read(self, timeout=10):
        """The next frame as (type, payload), or None when the connection ended."""
        end = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack(">I", self.buf[:4])[0]
                if len(self.buf) >= 4 + n:
                    t, p = self.buf[4], self.buf[5:4 + n]
                    self.buf = self.buf[4 + n:]
                    return t, p
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError("no frame within %g s" % timeout)
            self.s.settimeout(left)
            try:
                data = self.s.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                data = b""
            if not data:
                return None
            self.buf += data

    def until(self, types, timeout=10):
        """Frames until one of types (returned) or the end (None); BYE always ends it."""
        end = time.monotonic() + timeout
        while True:
            f = self.read(max(0.1, end - time.monotonic()))
            if f is None or f[0] in types or f[0] == BYE:
                return f


def bye(f):
    if f is None:
        return "closed without BYE"
    if f[0] != BYE:
        return "type %d" % f[0]
    reason, n = struct.unpack(">HH", f[1][:4])
    return "BYE %d %s" % (reason, f[1][4:4 + n].decode("utf-8", "replace"))


def answer(c):
    f = c.until((WELCOME,), 20)
    return "WELCOME" if f and f[0] == WELCOME else bye(f)


def hold(a, n, seconds):
    conns, refused = [], 0
    for _ in range(n):
        try:
            conns.append(Conn(a.port, a.ca, a.source))
        except (OSError, ssl.SSLError):
            refused += 1
    if a.ready:
        open(a.ready, "w").close()
    end = time.monotonic() + seconds
    byes, first = 0, None
    for c in conns:
        try:
            f = c.read(max(0.05, end - time.monotonic()))
        except TimeoutError:
            continue
        byes += 1
        first = first or bye(f)
    print("refused:", refused)
    print("bye:", byes)
    print("first_bye:", first)
    print("open:", len(conns) - byes)
    for c in conns:
        c.s.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--ticket")
    ap.add_argument("--ticket2")
    ap.add_argument("--source", help="the local address to connect from (127.0.0.2, ...)")
    ap.add_argument("--ready", help="hold: create this file once all connections are made")
    ap.add_argument("scenario", nargs="+")
    a = ap.parse_args()
    ticket = open(a.ticket, "rb").read() if a.ticket else b""
    what = a.scenario[0]
    if what == "hold":
        hold(a, int(a.scenario[1]), float(a.scenario[2]))
        return
    c = Conn(a.port, a.ca, a.source)
    if what == "first-unknown":
        c.send(frame(200, b"x"))
        print("answer:", bye(c.until(())))
    elif what == "ping-first":
        c.send(frame(PING, struct.pack(">Q", 4242)))
        f = c.until((PONG,))
        print("pong:", struct.unpack(">Q", f[1][:8])[0] if f and f[0] == PONG else bye(f))
        c.send(hello(ticket))
        print("answer:", answer(c))
    elif what in ("input-early", "input-late"):
        ks = int(a.scenario[1], 0)
        if what == "input-early":
            c.send(hello(ticket) + key(ks, True) + key(ks, False))
            print("answer:", answer(c))
        else:
            c.send(hello(ticket))
            r = answer(c)
            print("answer:", r)
            if r == "WELCOME":
                c.send(key(ks, True) + key(ks, False))
        time.sleep(1)
    elif what == "input-pair":
        ks = int(a.scenario[1], 0)
        c2 = Conn(a.port, a.ca)
        c.send(hello(ticket))
        c2.send(hello(open(a.ticket2, "rb").read()) + key(ks, True) + key(ks, False))
        print("answer:", answer(c))
        print("answer2:", answer(c2))
        time.sleep(1)
        c2.s.close()
    elif what == "trickle":
        t0 = time.monotonic()
        data = hello(ticket)
        f = None
        for b in data:
            try:
                c.send(bytes([b]))
                c.s.settimeout(1)
                f = c.read(1)
                break  # an answer before the HELLO is complete
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                break
        print("answer:", bye(f))
        print("after_s: %.1f" % (time.monotonic() - t0))
    elif what == "hello-again":
        c.send(hello(ticket))
        r = answer(c)
        print("answer:", r)
        if r == "WELCOME":
            c.send(hello(ticket, int(a.scenario[1])))
            # the agent's answer, or frames for 3 s when it ignores the HELLO
            try:
                f = c.until((), 3)
                print("after:", bye(f))
            except TimeoutError:
                print("after: still open")
    else:
        sys.exit("unknown scenario %s" % what)
    c.s.close()


if __name__ == "__main__":
    main()
