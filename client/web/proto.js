// SPDX-License-Identifier: MIT
// The Highrise wire protocol in JavaScript: docs/protocol.md §3 (framing) and §5 (messages),
// the same rules as proto/msg.c, for the browser client. One frame per binary WebSocket
// message is the transport (issue 15); this module knows only bytes.
//
//   frameLength(bytes)  -> the whole frame's size once its 4-byte length has arrived, or 0
//   decode(frame)       -> {type, name, ...fields}; throws ProtocolError
//   encode(msg)         -> Uint8Array; throws ProtocolError for what a receiver would refuse
//
// Fields are named as in docs/protocol.md. u64 fields (capture_us, display_us, PING ids) are
// BigInt; text fields are strings (UTF-8 on the wire, NUL refused); byte fields are
// Uint8Array views into the frame (copy them to keep them past the frame's buffer).

export const MAGIC = 0x48524953; // "HRIS"
export const VERSION = 1;
export const FRAME_MAX = 16 << 20; // the length field's largest value
export const HEADER_SIZE = 5;

export const MSG = Object.freeze({
  HELLO: 1, WELCOME: 2, BYE: 3, PING: 4, PONG: 5, CHALLENGE: 6,
  VIDEO: 16, AUDIO: 17, CURSOR: 18, CURSOR_POS: 19, RESIZE: 20, CLIPBOARD: 21, STATUS: 22,
  KEY: 32, POINTER: 33, SCROLL: 34, TOUCH: 35, PEN: 36, KEYFRAME_REQUEST: 37, ACK: 38,
  RESIZE_REQUEST: 39, MIC: 40, AUDIO_REPORT: 41,
});
const NAMES = Object.fromEntries(Object.entries(MSG).map(([k, v]) => [v, k]));

// HELLO caps (§9.1), WELCOME flags (§9.2), VIDEO flags (§5.5), KEY flags, PEN flags (§9.4)
export const CAP = Object.freeze({
  H264: 1 << 0, H264_444: 1 << 1, OPUS: 1 << 2, TOUCH: 1 << 3, PEN: 1 << 4,
  CLIPBOARD: 1 << 5, CURSOR: 1 << 6, MIC: 1 << 7, TIMING: 1 << 8,
});
export const WELCOME_FLAG = Object.freeze({
  CONTROL: 1 << 0, AUDIO: 1 << 1, CLIPBOARD: 1 << 2, RESIZE: 1 << 3, MIC: 1 << 4,
});
export const VIDEO_FLAG = Object.freeze({ KEYFRAME: 1 << 0, REFINE: 1 << 1, TIMING: 1 << 2 });
export const KEY_DOWN = 1;
export const STAGES = Object.freeze(["capture", "wait", "convert", "encode", "link", "queue"]);

const LIMIT = {
  ticket: 4096, name: 255, reason: 1024, dimension: 16384, cursor: 512, resizeRequest: 8192,
  stages: 32, loss: 1000, proofTicket: 64, proofResume: 48, resumeGrant: 48,
};

// proto/msg.h's HR_EPROTO_* names, for messages and tests
export class ProtocolError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "ProtocolError";
    this.code = code; // "EMPTY", "TOO_LONG", "TRUNCATED", "INVALID", "VERSION"
  }
}

const fail = (code, message) => { throw new ProtocolError(code, message); };
const utf8in = new TextDecoder("utf-8", { fatal: true });
const utf8out = new TextEncoder();

// ---- framing (§3) ----

export function frameLength(bytes) {
  if (bytes.length < 4) return 0;
  const n = ((bytes[0] << 24) >>> 0) + (bytes[1] << 16) + (bytes[2] << 8) + bytes[3];
  if (n === 0) fail("EMPTY", "frame with length 0");
  if (n > FRAME_MAX) fail("TOO_LONG", `frame length ${n} is over ${FRAME_MAX}`);
  return 4 + n;
}

// ---- decoding ----

class Reader {
  constructor(frame) {
    this.b = frame;
    this.v = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    this.at = HEADER_SIZE;
  }
  need(n) { if (this.b.length - this.at < n) fail("TRUNCATED", "the payload ends early"); }
  u8() { this.need(1); return this.v.getUint8(this.at++); }
  i8() { this.need(1); return this.v.getInt8(this.at++); }
  u16() { this.need(2); const x = this.v.getUint16(this.at); this.at += 2; return x; }
  i16() { this.need(2); const x = this.v.getInt16(this.at); this.at += 2; return x; }
  u32() { this.need(4); const x = this.v.getUint32(this.at); this.at += 4; return x; }
  u64() { this.need(8); const x = this.v.getBigUint64(this.at); this.at += 8; return x; }
  bytes(n, max, what) {
    if (n > max) fail("INVALID", `${what}: ${n} bytes, at most ${max}`);
    this.need(n);
    const x = this.b.subarray(this.at, this.at + n);
    this.at += n;
    return x;
  }
  rest() { const x = this.b.subarray(this.at); this.at = this.b.length; return x; }
}

function text(bytes, what) {
  if (bytes.includes(0)) fail("INVALID", `${what}: NUL in text`);
  try {
    return utf8in.decode(bytes);
  } catch {
    return fail("INVALID", `${what}: not UTF-8`);
  }
}

function check(ok, what) { if (!ok) fail("INVALID", what); }

function magicVersion(r, what) {
  check(r.u32() === MAGIC, `${what}: bad magic`);
  const version = r.u16();
  if (version !== VERSION) fail("VERSION", `${what}: protocol version ${version}, not ${VERSION}`);
  return version;
}

const decoders = {
  [MSG.HELLO](r, m) {
    m.version = magicVersion(r, "HELLO");
    m.caps = r.u32();
    m.max_width = r.u16();
    m.max_height = r.u16();
    m.ticket = r.bytes(r.u16(), LIMIT.ticket, "HELLO ticket");
    m.client_name = text(r.bytes(r.u8(), LIMIT.name, "HELLO name"), "HELLO name");
    m.proof = r.bytes(r.u8(), LIMIT.proofTicket, "HELLO proof");
    check([0, LIMIT.proofResume, LIMIT.proofTicket].includes(m.proof.length),
      `HELLO proof of ${m.proof.length} bytes (0, 48 or 64)`);
  },
  [MSG.WELCOME](r, m) {
    m.version = magicVersion(r, "WELCOME");
    m.flags = r.u32();
    m.width = r.u16();
    m.height = r.u16();
    m.codec = r.u8();
    m.audio_rate = r.u32();
    m.audio_channels = r.u8();
    const session = r.bytes(r.u8(), LIMIT.name, "WELCOME session");
    check(m.width >= 1 && m.width <= LIMIT.dimension, `WELCOME width ${m.width}`);
    check(m.height >= 1 && m.height <= LIMIT.dimension, `WELCOME height ${m.height}`);
    check(m.codec === 1, `WELCOME codec ${m.codec}`);
    check(m.audio_channels <= 8 && m.audio_rate <= 384000, "WELCOME audio");
    m.session = text(session, "WELCOME session");
    m.resume = r.bytes(r.u8(), LIMIT.resumeGrant, "WELCOME resume");
    m.resume_window_s = r.u16();
    check(m.resume.length === 0 || m.resume.length === LIMIT.resumeGrant, "WELCOME resume");
  },
  [MSG.BYE](r, m) {
    m.reason = r.u16();
    m.text = text(r.bytes(r.u16(), LIMIT.reason, "BYE text"), "BYE text");
  },
  [MSG.PING](r, m) { m.id = r.u64(); },
  [MSG.PONG](r, m) { m.id = r.u64(); },
  // WebSocket only (§1.1, §5.4a): what HELLO.proof signs in place of the TLS exporter
  [MSG.CHALLENGE](r, m) { m.challenge = r.bytes(32, 32, "CHALLENGE value"); },
  [MSG.VIDEO](r, m) {
    m.frame = r.u32();
    m.capture_us = r.u64();
    m.flags = r.u8();
    m.stage_us = [];
    if (m.flags & VIDEO_FLAG.TIMING) {
      const n = r.u8();
      check(n >= 1 && n <= LIMIT.stages, `VIDEO stage_count ${n}`);
      for (let i = 0; i < n; i++) m.stage_us.push(r.u32());
    }
    m.data = r.rest();
    check(m.data.length > 0, "VIDEO without data");
  },
  [MSG.AUDIO](r, m) { audio(r, m, "AUDIO"); },
  [MSG.MIC](r, m) { audio(r, m, "MIC"); },
  [MSG.CURSOR](r, m) {
    m.width = r.u16();
    m.height = r.u16();
    m.hot_x = r.u16();
    m.hot_y = r.u16();
    check(m.width <= LIMIT.cursor && m.height <= LIMIT.cursor, "CURSOR size");
    check((m.width === 0) === (m.height === 0), "CURSOR size");
    check(m.width === 0 || (m.hot_x < m.width && m.hot_y < m.height), "CURSOR hot spot");
    const n = m.width * m.height * 4;
    m.pixels = r.bytes(n, n, "CURSOR pixels");
  },
  [MSG.CURSOR_POS](r, m) {
    m.x = r.u16();
    m.y = r.u16();
    m.visible = (r.u8() & 1) === 1;
  },
  [MSG.RESIZE](r, m) {
    m.width = r.u16();
    m.height = r.u16();
    check(m.width >= 1 && m.width <= LIMIT.dimension, `RESIZE width ${m.width}`);
    check(m.height >= 1 && m.height <= LIMIT.dimension, `RESIZE height ${m.height}`);
  },
  [MSG.CLIPBOARD](r, m) {
    m.format = r.u8();
    m.data = r.rest();
    if (m.format === 1) m.text = text(m.data, "CLIPBOARD text");
  },
  [MSG.STATUS](r, m) {
    m.code = r.u16();
    m.text = text(r.bytes(r.u16(), LIMIT.reason, "STATUS text"), "STATUS text");
  },
  [MSG.KEY](r, m) {
    m.scancode = r.u16();
    m.keysym = r.u32();
    m.flags = r.u8();
    check(m.scancode !== 0 || m.keysym !== 0, "KEY without scancode and keysym");
  },
  [MSG.POINTER](r, m) {
    m.x = r.u16();
    m.y = r.u16();
    m.buttons = r.u8();
  },
  [MSG.SCROLL](r, m) {
    m.dx = r.i16();
    m.dy = r.i16();
  },
  [MSG.TOUCH](r, m) {
    m.id = r.u32();
    m.phase = r.u8();
    m.x = r.u16();
    m.y = r.u16();
    check(m.phase <= 3, `TOUCH phase ${m.phase}`);
  },
  [MSG.PEN](r, m) {
    m.flags = r.u8();
    m.x = r.u16();
    m.y = r.u16();
    m.pressure = r.u16();
    m.tilt_x = r.i8();
    m.tilt_y = r.i8();
    check(Math.abs(m.tilt_x) <= 90 && Math.abs(m.tilt_y) <= 90, "PEN tilt");
  },
  [MSG.KEYFRAME_REQUEST]() {},
  [MSG.ACK](r, m) {
    m.frame = r.u32();
    m.display_us = r.u64();
  },
  [MSG.RESIZE_REQUEST](r, m) {
    m.width = r.u16();
    m.height = r.u16();
    check(m.width >= 1 && m.width <= LIMIT.resizeRequest, `RESIZE_REQUEST width ${m.width}`);
    check(m.height >= 1 && m.height <= LIMIT.resizeRequest, `RESIZE_REQUEST height ${m.height}`);
  },
  [MSG.AUDIO_REPORT](r, m) {
    m.loss = r.u16();
    m.target_ms = r.u16();
    m.depth_ms = r.u16();
    check(m.loss <= LIMIT.loss, `AUDIO_REPORT loss ${m.loss}`);
  },
};

function audio(r, m, what) {
  m.capture_us = r.u64();
  m.data = r.rest();
  check(m.data.length > 0, `${what} without data`);
}

// One whole frame (frameLength(frame) === frame.length). Unknown types: {type, unknown: true}.
export function decode(frame) {
  if (frame.length < 4) fail("TRUNCATED", "a frame shorter than its length field");
  const len = frameLength(frame);
  if (len > frame.length) fail("TRUNCATED", "the frame ends early");
  if (len !== frame.length) fail("INVALID", "the length field disagrees with the frame");
  const type = frame[4];
  const m = { type, name: NAMES[type] ?? "unknown" };
  const dec = decoders[type];
  if (!dec) {
    m.unknown = true;
    return m;
  }
  dec(new Reader(frame), m);
  return m;
}

// ---- encoding ----

class Writer {
  constructor() { this.parts = []; this.size = 0; }
  push(bytes) { this.parts.push(bytes); this.size += bytes.length; }
  num(n, set, width) {
    const b = new Uint8Array(width);
    set(new DataView(b.buffer), n);
    this.push(b);
  }
  u8(n) { this.num(n, (v, x) => v.setUint8(0, x), 1); }
  i8(n) { this.num(n, (v, x) => v.setInt8(0, x), 1); }
  u16(n) { this.num(n, (v, x) => v.setUint16(0, x), 2); }
  i16(n) { this.num(n, (v, x) => v.setInt16(0, x), 2); }
  u32(n) { this.num(n, (v, x) => v.setUint32(0, x), 4); }
  u64(n) { this.num(BigInt(n), (v, x) => v.setBigUint64(0, x), 8); }
}

function int(x, lo, hi, what) {
  check(Number.isInteger(x) && x >= lo && x <= hi, `${what}: ${x} is not in ${lo} .. ${hi}`);
  return x;
}

function textBytes(s, max, what) {
  const b = utf8out.encode(s ?? "");
  check(!b.includes(0), `${what}: NUL in text`);
  check(b.length <= max, `${what}: ${b.length} bytes, at most ${max}`);
  return b;
}

function bin(b, max, what) {
  b = b ?? new Uint8Array(0);
  check(b instanceof Uint8Array, `${what}: not a Uint8Array`);
  check(b.length <= max, `${what}: ${b.length} bytes, at most ${max}`);
  return b;
}

const U8 = [0, 0xff], U16 = [0, 0xffff], U32 = [0, 0xffffffff], I16 = [-0x8000, 0x7fff];

const encoders = {
  [MSG.HELLO](w, m) {
    w.u32(MAGIC);
    w.u16(VERSION);
    w.u32(int(m.caps ?? 0, ...U32, "HELLO caps"));
    w.u16(int(m.max_width ?? 0, ...U16, "HELLO max_width"));
    w.u16(int(m.max_height ?? 0, ...U16, "HELLO max_height"));
    const ticket = bin(m.ticket, LIMIT.ticket, "HELLO ticket");
    w.u16(ticket.length);
    w.push(ticket);
    const name = textBytes(m.client_name, LIMIT.name, "HELLO name");
    w.u8(name.length);
    w.push(name);
    const proof = bin(m.proof, LIMIT.proofTicket, "HELLO proof");
    check([0, LIMIT.proofResume, LIMIT.proofTicket].includes(proof.length), "HELLO proof");
    w.u8(proof.length);
    w.push(proof);
  },
  [MSG.WELCOME](w, m) {
    w.u32(MAGIC);
    w.u16(VERSION);
    w.u32(int(m.flags ?? 0, ...U32, "WELCOME flags"));
    w.u16(int(m.width, 1, LIMIT.dimension, "WELCOME width"));
    w.u16(int(m.height, 1, LIMIT.dimension, "WELCOME height"));
    w.u8(int(m.codec ?? 1, 1, 1, "WELCOME codec"));
    w.u32(int(m.audio_rate ?? 0, 0, 384000, "WELCOME audio_rate"));
    w.u8(int(m.audio_channels ?? 0, 0, 8, "WELCOME audio_channels"));
    const session = textBytes(m.session, LIMIT.name, "WELCOME session");
    w.u8(session.length);
    w.push(session);
    const resume = bin(m.resume, LIMIT.resumeGrant, "WELCOME resume");
    check(resume.length === 0 || resume.length === LIMIT.resumeGrant, "WELCOME resume");
    w.u8(resume.length);
    w.push(resume);
    w.u16(int(m.resume_window_s ?? 0, ...U16, "WELCOME resume_window_s"));
  },
  [MSG.BYE](w, m) { status(w, m.reason ?? 0, m.text, "BYE"); },
  [MSG.PING](w, m) { w.u64(m.id ?? 0n); },
  [MSG.PONG](w, m) { w.u64(m.id ?? 0n); },
  [MSG.CHALLENGE](w, m) {
    check(m.challenge instanceof Uint8Array && m.challenge.length === 32, "CHALLENGE value");
    w.push(m.challenge);
  },
  [MSG.VIDEO](w, m) {
    w.u32(int(m.frame ?? 0, ...U32, "VIDEO frame"));
    w.u64(m.capture_us ?? 0n);
    const stages = m.stage_us ?? [];
    let flags = int(m.flags ?? 0, ...U8, "VIDEO flags");
    flags = stages.length ? flags | VIDEO_FLAG.TIMING : flags & ~VIDEO_FLAG.TIMING;
    w.u8(flags);
    if (stages.length) {
      int(stages.length, 1, LIMIT.stages, "VIDEO stage_count");
      w.u8(stages.length);
      for (const us of stages) w.u32(int(us, ...U32, "VIDEO stage_us"));
    }
    data(w, m.data, "VIDEO");
  },
  [MSG.AUDIO](w, m) { w.u64(m.capture_us ?? 0n); data(w, m.data, "AUDIO"); },
  [MSG.MIC](w, m) { w.u64(m.capture_us ?? 0n); data(w, m.data, "MIC"); },
  [MSG.CURSOR](w, m) {
    const cw = int(m.width ?? 0, 0, LIMIT.cursor, "CURSOR width");
    const ch = int(m.height ?? 0, 0, LIMIT.cursor, "CURSOR height");
    check((cw === 0) === (ch === 0), "CURSOR size");
    const hx = int(m.hot_x ?? 0, ...U16, "CURSOR hot_x");
    const hy = int(m.hot_y ?? 0, ...U16, "CURSOR hot_y");
    check(cw === 0 || (hx < cw && hy < ch), "CURSOR hot spot");
    const px = bin(m.pixels, cw * ch * 4, "CURSOR pixels");
    check(px.length === cw * ch * 4, "CURSOR pixels");
    w.u16(cw); w.u16(ch); w.u16(hx); w.u16(hy); w.push(px);
  },
  [MSG.CURSOR_POS](w, m) {
    w.u16(int(m.x, ...U16, "CURSOR_POS x"));
    w.u16(int(m.y, ...U16, "CURSOR_POS y"));
    w.u8(m.visible ? 1 : 0);
  },
  [MSG.RESIZE](w, m) {
    w.u16(int(m.width, 1, LIMIT.dimension, "RESIZE width"));
    w.u16(int(m.height, 1, LIMIT.dimension, "RESIZE height"));
  },
  [MSG.CLIPBOARD](w, m) {
    const format = int(m.format ?? 1, ...U8, "CLIPBOARD format");
    w.u8(format);
    if (format === 1 && m.text !== undefined)
      w.push(textBytes(m.text, FRAME_MAX - 2, "CLIPBOARD text"));
    else
      w.push(bin(m.data, FRAME_MAX - 2, "CLIPBOARD data"));
  },
  [MSG.STATUS](w, m) { status(w, m.code ?? 0, m.text, "STATUS"); },
  [MSG.KEY](w, m) {
    const sc = int(m.scancode ?? 0, ...U16, "KEY scancode");
    const ks = int(m.keysym ?? 0, ...U32, "KEY keysym");
    check(sc !== 0 || ks !== 0, "KEY without scancode and keysym");
    w.u16(sc); w.u32(ks); w.u8(int(m.flags ?? 0, ...U8, "KEY flags"));
  },
  [MSG.POINTER](w, m) {
    w.u16(int(m.x, ...U16, "POINTER x"));
    w.u16(int(m.y, ...U16, "POINTER y"));
    w.u8(int(m.buttons ?? 0, ...U8, "POINTER buttons"));
  },
  [MSG.SCROLL](w, m) {
    w.i16(int(m.dx ?? 0, ...I16, "SCROLL dx"));
    w.i16(int(m.dy ?? 0, ...I16, "SCROLL dy"));
  },
  [MSG.TOUCH](w, m) {
    w.u32(int(m.id, ...U32, "TOUCH id"));
    w.u8(int(m.phase, 0, 3, "TOUCH phase"));
    w.u16(int(m.x, ...U16, "TOUCH x"));
    w.u16(int(m.y, ...U16, "TOUCH y"));
  },
  [MSG.PEN](w, m) {
    w.u8(int(m.flags ?? 0, ...U8, "PEN flags"));
    w.u16(int(m.x, ...U16, "PEN x"));
    w.u16(int(m.y, ...U16, "PEN y"));
    w.u16(int(m.pressure ?? 0, ...U16, "PEN pressure"));
    w.i8(int(m.tilt_x ?? 0, -90, 90, "PEN tilt_x"));
    w.i8(int(m.tilt_y ?? 0, -90, 90, "PEN tilt_y"));
  },
  [MSG.KEYFRAME_REQUEST]() {},
  [MSG.ACK](w, m) {
    w.u32(int(m.frame, ...U32, "ACK frame"));
    w.u64(m.display_us ?? 0n);
  },
  [MSG.RESIZE_REQUEST](w, m) {
    w.u16(int(m.width, 1, LIMIT.resizeRequest, "RESIZE_REQUEST width"));
    w.u16(int(m.height, 1, LIMIT.resizeRequest, "RESIZE_REQUEST height"));
  },
  [MSG.AUDIO_REPORT](w, m) {
    w.u16(int(m.loss ?? 0, 0, LIMIT.loss, "AUDIO_REPORT loss"));
    w.u16(int(m.target_ms ?? 0, ...U16, "AUDIO_REPORT target_ms"));
    w.u16(int(m.depth_ms ?? 0, ...U16, "AUDIO_REPORT depth_ms"));
  },
};

function status(w, code, s, what) {
  w.u16(int(code, ...U16, `${what} code`));
  const b = textBytes(s, LIMIT.reason, `${what} text`);
  w.u16(b.length);
  w.push(b);
}

function data(w, b, what) {
  b = bin(b, FRAME_MAX - 32, `${what} data`);
  check(b.length > 0, `${what} without data`);
  w.push(b);
}

// {type, ...fields} -> one frame. Fields left out are 0 / empty where the protocol allows it.
export function encode(m) {
  const enc = encoders[m.type];
  if (!enc) fail("INVALID", `no message type ${m.type}`);
  const w = new Writer();
  enc(w, m);
  check(w.size + 1 <= FRAME_MAX, "the message is over 16 MiB");
  const out = new Uint8Array(HEADER_SIZE + w.size);
  new DataView(out.buffer).setUint32(0, w.size + 1);
  out[4] = m.type;
  let at = HEADER_SIZE;
  for (const p of w.parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
