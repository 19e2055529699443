#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A client of the agent's wire protocol written from docs/protocol.md alone (no project code):
TLS 1.3 to the agent, frames of u32 length + u8 type + payload, big-endian. Each scenario
prints what it saw, one "key: value" line each, and exits 0 unless the transport failed.

A --ticket file is what highrise-ticket writes: a PEM "HIGHRISE CONNECT TICKET" block and
the client's private key (§6.3). The HELLO's binding proof signs the TLS connection's
exporter, which Python's ssl module cannot give, so a connection with a ticket runs through
hr-bindproof (tests/integration/hr-bindproof.c; --bindproof, else $HIGHRISE_BINDPROOF): it
makes the TLS connection, prints the proof, then relays bytes; the frames stay this file's.

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
  relay-ticket       two connections with the same ticket file: the first's proof on the
                     second (a relayed ticket), then on the first: both answers
  resume-replay      HELLO, WELCOME with a resume grant, the link drops (no BYE), then
                     resume (§6.4) on a new connection; the same proof replayed on a third;
                     the old grant proven again on a fourth; the new grant from a fifth while
                     the second still holds it: each answer, and what the second heard
  input-flood N      HELLO, WELCOME, then N KEY presses and releases in one burst; stays 2 s
"""
import argparse
import base64
import hashlib
import hmac
import os
import select
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


def hello(ticket, proof=b"", version=1):
    """HELLO (§5.1): ..., ticket, client name, then u8 proof_len and the proof (§6.3)."""
    return frame(HELLO, struct.pack(">IHIHHH", MAGIC, version, CAP_H264, 0, 0, len(ticket)) +
                 ticket + struct.pack(">B", 3) + b"raw" + struct.pack(">B", len(proof)) + proof)


def read_bundle(path):
    """The ticket bytes of a highrise-ticket file (its first PEM block)."""
    text = open(path).read()
    begin, end = "-----BEGIN HIGHRISE CONNECT TICKET-----", "-----END HIGHRISE CONNECT TICKET-----"
    if begin not in text or end not in text:
        sys.exit("%s is not a ticket file from highrise-ticket (no %s)" % (path, begin))
    body = text.split(begin, 1)[1].split(end, 1)[0]
    return base64.b64decode("".join(body.split()), validate=True)


class Piped:
    """hr-bindproof's relay with the socket calls Conn makes (sendall, recv, settimeout, close)."""

    def __init__(self, helper, port, ca, bundle, source=None):
        import subprocess
        args = [helper, "--port", str(port), "--ca", ca] + (["--bundle", bundle] if bundle else [])
        if source:
            args += ["--source", source]
        self.p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        self.timeout = None
        line = b""
        while not line.endswith(b"\n"):  # byte by byte: what follows is the agent's
            r, _, _ = select.select([self.p.stdout], [], [], 10)
            b = os.read(self.p.stdout.fileno(), 1) if r else b""
            if not b:
                self.close()
                raise OSError("hr-bindproof gave no proof (exit %s)" % self.p.poll())
            line += b
        proof, exporter = line.decode().split()
        self.proof = bytes.fromhex(proof) if proof != "-" else b""
        self.exporter = bytes.fromhex(exporter)

    def sendall(self, data):
        self.p.stdin.write(data)

    def settimeout(self, t):
        self.timeout = t

    def recv(self, n):
        r, _, _ = select.select([self.p.stdout], [], [], self.timeout)
        if not r:
            raise TimeoutError("timed out")
        return os.read(self.p.stdout.fileno(), n)

    def close(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(5)
        except Exception:
            self.p.kill()
            self.p.wait()


def welcome_grant(p):
    """WELCOME (§5.2): the resume grant (id, secret) and its window, or (None, 0)."""
    slen = p[20]
    at = 21 + slen
    rlen = p[at]
    grant = p[at + 1:at + 1 + rlen]
    (window,) = struct.unpack(">H", p[at + 1 + rlen:at + 3 + rlen])
    return (grant if rlen == 48 else None), window


def resume_proof(grant, exporter):
    """HELLO.proof for a resume (§6.4): id || HMAC-SHA256(secret, context || id || E)."""
    rid, secret = grant[:16], grant[16:]
    return rid + hmac.new(secret, b"highrise resume v1\0" + rid + exporter, hashlib.sha256).digest()


def key(keysym, down):
    return frame(KEY, struct.pack(">HIB", 0, keysym, 1 if down else 0))


class Conn:
    def __init__(self, port, ca, source=None, bundle=None, helper=None, piped=False):
        """bundle: a ticket file, so the connection goes through hr-bindproof (self.proof);
        piped: through it without one, for the exporter alone (self.exporter)."""
        self.buf = b""
        self.proof = b""
        if bundle or piped:
            self.s = Piped(helper, port, ca, bundle, source)
            self.proof, self.exporter = self.s.proof, self.s.exporter
            return
        ctx = ssl.create_default_context(cafile=ca)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        raw = socket.create_connection(("127.0.0.1", port), timeout=10,
                                       source_address=(source, 0) if source else None)
        self.s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")

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
    ap.add_argument("--bindproof", help="hr-bindproof (default $HIGHRISE_BINDPROOF, else "
                    "$HIGHRISE_BINARY_DIR/tests/hr-bindproof)")
    ap.add_argument("scenario", nargs="+")
    a = ap.parse_args()
    helper = a.bindproof or os.environ.get("HIGHRISE_BINDPROOF") or os.path.join(
        os.environ.get("HIGHRISE_BINARY_DIR", "build"), "tests", "hr-bindproof")
    ticket = read_bundle(a.ticket) if a.ticket else b""
    what = a.scenario[0]
    if what == "hold":
        hold(a, int(a.scenario[1]), float(a.scenario[2]))
        return
    # a scenario that never sends HELLO needs no proof: plain TLS from here
    bundle = a.ticket if what != "first-unknown" else None
    c = Conn(a.port, a.ca, a.source, bundle, helper)
    proof = c.proof
    if what == "first-unknown":
        c.send(frame(200, b"x"))
        print("answer:", bye(c.until(())))
    elif what == "ping-first":
        c.send(frame(PING, struct.pack(">Q", 4242)))
        f = c.until((PONG,))
        print("pong:", struct.unpack(">Q", f[1][:8])[0] if f and f[0] == PONG else bye(f))
        c.send(hello(ticket, proof))
        print("answer:", answer(c))
    elif what in ("input-early", "input-late"):
        ks = int(a.scenario[1], 0)
        if what == "input-early":
            c.send(hello(ticket, proof) + key(ks, True) + key(ks, False))
            print("answer:", answer(c))
        else:
            c.send(hello(ticket, proof))
            r = answer(c)
            print("answer:", r)
            if r == "WELCOME":
                c.send(key(ks, True) + key(ks, False))
        time.sleep(1)
    elif what == "input-pair":
        ks = int(a.scenario[1], 0)
        c2 = Conn(a.port, a.ca, None, a.ticket2, helper)
        c.send(hello(ticket, proof))
        c2.send(hello(read_bundle(a.ticket2), c2.proof) + key(ks, True) + key(ks, False))
        print("answer:", answer(c))
        print("answer2:", answer(c2))
        time.sleep(1)
        c2.s.close()
    elif what == "trickle":
        t0 = time.monotonic()
        data = hello(ticket, proof)
        f = None
        for b in data:
            try:
                c.send(bytes([b]))
                c.s.settimeout(1)
                f = c.read(1)
                break  # an answer before the HELLO is complete
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
                break
        print("answer:", bye(f))
        print("after_s: %.1f" % (time.monotonic() - t0))
    elif what == "hello-again":
        c.send(hello(ticket, proof))
        r = answer(c)
        print("answer:", r)
        if r == "WELCOME":
            c.send(hello(ticket, proof, int(a.scenario[1])))
            # the agent's answer, or frames for 3 s when it ignores the HELLO
            try:
                f = c.until((), 3)
                print("after:", bye(f))
            except TimeoutError:
                print("after: still open")
    elif what == "relay-ticket":
        c2 = Conn(a.port, a.ca, None, a.ticket, helper)
        c2.send(hello(ticket, c.proof))  # the first connection's proof, relayed
        print("relayed:", answer(c2))
        c2.s.close()
        c.send(hello(ticket, c.proof))
        print("holder:", answer(c))
    elif what == "resume-replay":
        c.send(hello(ticket, proof))
        f = c.until((WELCOME,), 20)
        if not f or f[0] != WELCOME:
            print("answer:", bye(f))
            return
        grant, window = welcome_grant(f[1])
        print("window:", window)
        c.s.close()  # the link drops: TLS closes, no BYE
        time.sleep(0.5)
        r1 = Conn(a.port, a.ca, None, None, helper, piped=True)
        p1 = resume_proof(grant, r1.exporter)
        r1.send(hello(b"", p1))
        f1 = r1.until((WELCOME,), 20)
        print("resume:", "WELCOME" if f1 and f1[0] == WELCOME else bye(f1))
        r2 = Conn(a.port, a.ca, None, None, helper, piped=True)
        r2.send(hello(b"", p1))  # the same bytes again
        print("replayed:", answer(r2))
        r3 = Conn(a.port, a.ca, None, None, helper, piped=True)
        r3.send(hello(b"", resume_proof(grant, r3.exporter)))  # the used grant, proven anew
        print("reused:", answer(r3))
        if f1 and f1[0] == WELCOME:
            grant2, _ = welcome_grant(f1[1])
            r4 = Conn(a.port, a.ca, None, None, helper, piped=True)
            r4.send(hello(b"", resume_proof(grant2, r4.exporter)))
            print("takeover:", answer(r4))
            print("evicted:", bye(r1.until((), 5)))
            r4.s.close()
        for r in (r1, r2, r3):
            r.s.close()
    elif what == "input-flood":
        c.send(hello(ticket, proof))
        r = answer(c)
        print("answer:", r)
        if r == "WELCOME":
            n = int(a.scenario[1])
            c.send(b"".join(key(0x61, True) + key(0x61, False) for _ in range(n)))
            time.sleep(2)
    else:
        sys.exit("unknown scenario %s" % what)
    c.s.close()


if __name__ == "__main__":
    main()
