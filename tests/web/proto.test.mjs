// SPDX-License-Identifier: MIT
// client/web/proto.js against docs/protocol.md: every worked example of §10, byte for byte
// (decoded, its fields checked, encoded back to the same bytes), and the refusals of §3 and
// §5 that a receiver must make. Run by ctest (web_proto) with node's own test runner.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { MSG, CAP, VIDEO_FLAG, ProtocolError, decode, encode, frameLength } from "../../client/web/proto.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const doc = readFileSync(join(root, "docs", "protocol.md"), "utf8");

// The frames of §10: each code block's lines start with hex bytes ("00 00 00 1c   length 28").
function examples() {
  const start = doc.indexOf("## 10. Worked examples");
  const end = doc.indexOf("## 11.", start);
  assert.ok(start >= 0 && end > start, "docs/protocol.md has its §10");
  const frames = [];
  for (const block of doc.slice(start, end).matchAll(/```\n([\s\S]*?)```/g)) {
    const bytes = [];
    for (const line of block[1].split("\n")) {
      for (const tok of line.trim().split(/\s+/)) {
        if (!/^[0-9a-f]{2}$/.test(tok)) break;
        bytes.push(parseInt(tok, 16));
      }
    }
    let buf = Uint8Array.from(bytes);
    while (buf.length) {
      const n = frameLength(buf);
      assert.ok(n > 0 && n <= buf.length, "a whole frame in the block");
      frames.push(buf.subarray(0, n));
      buf = buf.subarray(n);
    }
  }
  return frames;
}

const hex = (s) => Uint8Array.from(s.match(/[0-9a-f]{2}/g).map((h) => parseInt(h, 16)));
const au = hex("00 00 00 01 65 88");

// What §10 says each example is, in its order.
const expected = [
  { type: MSG.RESIZE, width: 1280, height: 720 },
  { type: MSG.KEY, scancode: 30, keysym: 0x61, flags: 1 },
  { type: MSG.SCROLL, dx: 0, dy: 120 },
  { type: MSG.SCROLL, dx: 0, dy: -120 },
  { type: MSG.HELLO, version: 1, caps: CAP.H264 | CAP.OPUS | CAP.CURSOR, max_width: 1920,
    max_height: 1080, ticket: hex("de ad be ef"), client_name: "kiosk", proof: new Uint8Array(0) },
  { type: MSG.WELCOME, version: 1, flags: 3, width: 1280, height: 720, codec: 1,
    audio_rate: 48000, audio_channels: 2, session: "s-1", resume: new Uint8Array(0),
    resume_window_s: 0 },
  { type: MSG.VIDEO, frame: 7, capture_us: 1700000000000000n, flags: VIDEO_FLAG.KEYFRAME,
    stage_us: [], data: au },
  { type: MSG.VIDEO, frame: 7, capture_us: 1700000000000000n,
    flags: VIDEO_FLAG.KEYFRAME | VIDEO_FLAG.TIMING, stage_us: [400, 3100, 900, 14200, 120, 15],
    data: au },
  { type: MSG.ACK, frame: 7, display_us: 1700000000040000n },
  { type: MSG.KEYFRAME_REQUEST },
  { type: MSG.RESIZE_REQUEST, width: 1112, height: 778 },
  { type: MSG.WELCOME, version: 1, flags: 9, width: 1920, height: 1080, codec: 1, audio_rate: 0,
    audio_channels: 0, session: "", resume: new Uint8Array(0), resume_window_s: 0 },
  { type: MSG.BYE, reason: 1, text: "bad RESIZE" },
  { type: MSG.MIC, capture_us: 1700000000000000n, data: hex("f8 ff fe") },
  { type: MSG.AUDIO_REPORT, loss: 25, target_ms: 40, depth_ms: 30 },
  { type: MSG.CHALLENGE, challenge: Uint8Array.from({ length: 32 }, (_, i) => i) },
];

test("every worked example of docs/protocol.md §10 decodes to what it says and encodes back", () => {
  const frames = examples();
  assert.equal(frames.length, expected.length, "the test knows every example");
  frames.forEach((f, i) => {
    const m = decode(f);
    for (const [k, v] of Object.entries(expected[i]))
      assert.deepEqual(m[k], v, `example ${i} (${m.name}): ${k}`);
    assert.deepEqual(encode(m), f, `example ${i} (${m.name}) encodes to the documented bytes`);
  });
});

test("every other message survives encode and decode", () => {
  const msgs = [
    { type: MSG.PING, id: 123456789012345n },
    { type: MSG.PONG, id: 0xffffffffffffffffn },
    { type: MSG.AUDIO, capture_us: 5n, data: hex("01 02 03") },
    { type: MSG.CURSOR, width: 2, height: 1, hot_x: 1, hot_y: 0, pixels: new Uint8Array(8).fill(7) },
    { type: MSG.CURSOR, width: 0, height: 0, hot_x: 9, hot_y: 9, pixels: new Uint8Array(0) },
    { type: MSG.CURSOR_POS, x: 10, y: 20, visible: true },
    { type: MSG.CLIPBOARD, format: 1, text: "grüße, 世界" },
    { type: MSG.STATUS, code: 3, text: "the desktop is restarting" },
    { type: MSG.POINTER, x: 65535, y: 0, buttons: 5 },
    { type: MSG.TOUCH, id: 4000000000, phase: 2, x: 1, y: 2 },
    { type: MSG.PEN, flags: 3, x: 100, y: 200, pressure: 40000, tilt_x: -90, tilt_y: 45 },
    { type: MSG.HELLO, caps: CAP.H264 | CAP.TIMING, ticket: new Uint8Array(4096),
      client_name: "a".repeat(255), proof: new Uint8Array(64) },
  ];
  for (const m of msgs) {
    const d = decode(encode(m));
    for (const [k, v] of Object.entries(m)) assert.deepEqual(d[k], v, `${d.name}: ${k}`);
  }
});

const refuses = (bytes, code) =>
  assert.throws(() => decode(bytes), (e) => e instanceof ProtocolError && e.code === code);

test("framing: empty and oversized lengths are refused on the length field alone (§3)", () => {
  assert.equal(frameLength(hex("00 00 00")), 0);
  assert.equal(frameLength(hex("00 00 00 05")), 9);
  assert.throws(() => frameLength(hex("00 00 00 00")), { code: "EMPTY" });
  assert.throws(() => frameLength(hex("01 00 00 01")), { code: "TOO_LONG" });
  assert.throws(() => frameLength(hex("80 00 00 00")), { code: "TOO_LONG" });
  assert.throws(() => frameLength(hex("ff ff ff ff")), { code: "TOO_LONG" });
  assert.equal(frameLength(hex("01 00 00 00")), 4 + (16 << 20));
});

test("malformed frames are refused with the code msg_decode gives", () => {
  refuses(hex("00 00 00 05 14 05 00 02"), "TRUNCATED"); // RESIZE cut short
  refuses(hex("00 00 00 03 14 05 00"), "TRUNCATED"); // the payload ends early
  refuses(hex("00 00 00 05 14 00 00 02 d0"), "INVALID"); // RESIZE width 0
  refuses(hex("00 00 00 05 14 05 00 02 d0 00"), "INVALID"); // the length disagrees
  refuses(hex("00 00 00 08 20 00 00 00 00 00 00 01"), "INVALID"); // KEY without either
  refuses(hex("00 00 00 0d 03 00 01 00 08 62 61 64 00 52 45 53 49"), "INVALID"); // NUL in text
  refuses(hex("00 00 00 07 03 00 01 00 02 c3 28"), "INVALID"); // not UTF-8
  refuses(hex("00 00 00 0e 10 00 00 00 07 00 06 0a 24 18 1e 40 00 01"), "INVALID"); // no data
  refuses(hex("00 00 00 0f 10 00 00 00 07 00 06 0a 24 18 1e 40 00 04 00 65"), "INVALID"); // 0 stages
  refuses(hex("00 00 00 0a 24 03 00 01 00 02 00 00 5b 00"), "INVALID"); // PEN tilt 91
  refuses(hex("00 00 00 0a 23 00 00 00 01 05 00 01 00 02"), "INVALID"); // TOUCH phase 5
  // HELLO: magic and version first (§5.1)
  const hello = encode({ type: MSG.HELLO, caps: CAP.H264, client_name: "x" });
  const v2 = hello.slice();
  v2[10] = 2;
  refuses(v2, "VERSION");
  const magic = hello.slice();
  magic[5] = 0x58;
  refuses(magic, "INVALID");
  const proof = encode({ type: MSG.HELLO, caps: CAP.H264, proof: new Uint8Array(48) });
  proof[proof.length - 49] = 47; // proof_len 47 (and a byte left over)
  refuses(proof, "INVALID");
  // unknown types are skipped by the receiver: decoded as such, never an error
  const u = decode(hex("00 00 00 03 2a 01 02"));
  assert.equal(u.unknown, true);
});

test("the encoder refuses what a receiver would refuse", () => {
  const bad = [
    { type: MSG.RESIZE, width: 0, height: 720 },
    { type: MSG.RESIZE, width: 16385, height: 720 },
    { type: MSG.KEY, scancode: 0, keysym: 0 },
    { type: MSG.BYE, reason: 1, text: "x".repeat(1025) },
    { type: MSG.BYE, reason: 1, text: "nul\0" },
    { type: MSG.VIDEO, frame: 1, capture_us: 1n, data: new Uint8Array(0) },
    { type: MSG.PEN, x: 0, y: 0, tilt_x: 91 },
    { type: MSG.HELLO, proof: new Uint8Array(47) },
    { type: MSG.SCROLL, dx: 40000, dy: 0 },
    { type: 99 },
  ];
  for (const m of bad)
    assert.throws(() => encode(m), (e) => e instanceof ProtocolError && e.code === "INVALID",
      JSON.stringify(m, (k, v) => (typeof v === "bigint" ? String(v) : v)));
});

test("garbage never breaks the decoder: only ProtocolError, or a message (50 000 frames)", () => {
  let seed = 0x9e3779b9;
  const rnd = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const types = [...Object.values(MSG), 0, 42, 255];
  let decoded = 0;
  for (let i = 0; i < 50000; i++) {
    const n = 1 + Math.floor(rnd() * 80);
    const f = new Uint8Array(4 + n);
    for (let k = 5; k < f.length; k++) f[k] = rnd() < 0.3 ? 0 : Math.floor(rnd() * 256);
    f[4] = types[Math.floor(rnd() * types.length)];
    new DataView(f.buffer).setUint32(0, rnd() < 0.9 ? n : Math.floor(rnd() * 2 ** 32));
    let m;
    try {
      m = decode(f);
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      continue;
    }
    decoded++;
    // what decodes also encodes (fixed layouts drop their ignored tail)
    if (!m.unknown) assert.ok(encode(m).length <= f.length, `${m.name} re-encodes`);
  }
  assert.ok(decoded > 1000, `some garbage is a valid message (${decoded})`);
});
