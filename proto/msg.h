/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_MSG_H
#define HIGHRISE_MSG_H

/*
 * Wire messages: C structs <-> bytes. No I/O here (STYLE.md): the agent's
 * event loop, the client, the tests and the fuzzers all drive this code.
 * docs/protocol.md is the byte-exact specification; keep the two in step.
 *
 * A frame is  u32 length | u8 type | payload  in network byte order, where
 * length counts the type byte and the payload (so it is >= 1) and never
 * exceeds MSG_FRAME_MAX. Receivers skip frames of unknown type by length.
 *
 * Decoding borrows: pointers inside a decoded struct msg (ticket, video data,
 * strings) point into the caller's buffer and are valid as long as it is.
 * Strings are NOT NUL-terminated on the wire; they come as (pointer, length)
 * pairs and are checked to be free of NUL bytes.
 *
 * Every function here is pure and thread-safe.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MSG_PROTOCOL_VERSION 1
#define MSG_MAGIC	     0x48524953u /* "HRIS": first field of HELLO and WELCOME */

#define MSG_HEADER_SIZE	       5u	   /* u32 length + u8 type */
#define MSG_FRAME_MAX	       (16u << 20) /* hard maximum of the length field: 16 MiB */
#define MSG_TICKET_MAX	       4096u
#define MSG_NAME_MAX	       255u /* client name, session id */
#define MSG_REASON_MAX	       1024u
#define MSG_DIMENSION_MAX      16384u /* desktop width/height */
#define MSG_CURSOR_MAX	       512u   /* cursor width/height */
#define MSG_CLIPBOARD_MAX      (MSG_FRAME_MAX - 2u)
#define MSG_RESIZE_REQUEST_MAX 8192u /* RESIZE_REQUEST width/height */
/*
 * docs/protocol.md §2: the agent answers HELLO (WELCOME or BYE) within this
 * long, however slow the console; clients wait longer than that for it.
 */
#define MSG_WELCOME_WAIT_MS 15000

/* HELLO.proof and WELCOME.resume lengths (docs/protocol.md §5.1, §5.2, §6.3, §6.4) */
#define MSG_PROOF_TICKET_LEN 64 /* TICKET_BIND_LEN */
#define MSG_PROOF_RESUME_LEN 48 /* RESUME_ID_LEN + RESUME_MAC_LEN */
#define MSG_RESUME_GRANT_LEN 48 /* RESUME_ID_LEN + RESUME_SECRET_LEN */
#define MSG_CHALLENGE_LEN    32 /* CHALLENGE.value: TLS_BINDING_LEN, the exporter it stands for */

enum msg_type {
	MSG_UNKNOWN = 0, /* a decoded frame of a type this version does not know */

	/* session control, both directions */
	MSG_HELLO = 1,	 /* client -> agent */
	MSG_WELCOME = 2, /* agent -> client */
	MSG_BYE = 3,
	MSG_PING = 4,
	MSG_PONG = 5,
	MSG_CHALLENGE =
		6, /* agent -> client, WebSocket only: what HELLO.proof signs instead of E */

	/* agent -> client */
	MSG_VIDEO = 16,
	MSG_AUDIO = 17,
	MSG_CURSOR = 18,
	MSG_CURSOR_POS = 19,
	MSG_RESIZE = 20,
	MSG_CLIPBOARD = 21, /* both directions */
	MSG_STATUS = 22,    /* what the desktop is doing, for the user ("console lost") */

	/* client -> agent */
	MSG_KEY = 32,
	MSG_POINTER = 33,
	MSG_SCROLL = 34,
	MSG_TOUCH = 35,
	MSG_PEN = 36,
	MSG_KEYFRAME_REQUEST = 37,
	MSG_ACK = 38,
	MSG_RESIZE_REQUEST = 39, /* resize the desktop to the client's window */
	MSG_MIC = 40,		 /* the client's microphone: one Opus packet */
	MSG_AUDIO_REPORT = 41,	 /* how the client's AUDIO playback is doing (loss, delay) */
};

/* HELLO capability bits */
enum msg_cap {
	MSG_CAP_H264 = 1u << 0,
	MSG_CAP_H264_444 = 1u << 1,
	MSG_CAP_OPUS = 1u << 2,
	MSG_CAP_TOUCH = 1u << 3,
	MSG_CAP_PEN = 1u << 4,
	MSG_CAP_CLIPBOARD = 1u << 5,
	MSG_CAP_CURSOR = 1u << 6,
	MSG_CAP_MIC = 1u << 7,	  /* the client may send MIC (its user turned the microphone on) */
	MSG_CAP_TIMING = 1u << 8, /* VIDEO may carry the agent's stage times (flag TIMING) */
};

enum msg_codec {
	MSG_CODEC_H264 = 1,
};

/* WELCOME flags */
enum msg_welcome_flag {
	MSG_WELCOME_CONTROL = 1u << 0, /* this client's input is applied (else view only) */
	MSG_WELCOME_AUDIO = 1u << 1,   /* AUDIO frames will follow */
	MSG_WELCOME_CLIPBOARD = 1u << 2,
	MSG_WELCOME_RESIZE = 1u << 3, /* RESIZE_REQUEST from this client is applied */
	MSG_WELCOME_MIC = 1u << 4,    /* MIC from this client is played into the desktop */
};

enum msg_bye_reason {
	MSG_BYE_NORMAL = 0,
	MSG_BYE_PROTOCOL_ERROR = 1,
	MSG_BYE_VERSION = 2,
	MSG_BYE_TICKET_INVALID = 3,
	MSG_BYE_TICKET_EXPIRED = 4,
	MSG_BYE_DESKTOP_UNAVAILABLE = 5,
	MSG_BYE_SHUTDOWN = 6,
	MSG_BYE_REPLACED = 7, /* the same user connected elsewhere */
	MSG_BYE_IDLE_TIMEOUT = 8,
	MSG_BYE_ADMIN = 9,	     /* an admin disconnected the session */
	MSG_BYE_RESUME_REFUSED = 10, /* the resume proof failed: ask the broker for a ticket */
};

enum msg_status_code {
	MSG_STATUS_OK = 0,	       /* streaming normally (again) */
	MSG_STATUS_CONSOLE_LOST = 1,   /* the console went away; the agent is reconnecting */
	MSG_STATUS_RESIZE_REFUSED = 2, /* a RESIZE_REQUEST was not applied; the text says why */
	MSG_STATUS_RESTARTING = 3,     /* the desktop's worker is restarting; a key frame follows */
	MSG_STATUS_RESIZE_ON = 4,   /* the console can be resized now: RESIZE_REQUEST is applied */
	MSG_STATUS_RESIZE_OFF = 5,  /* the console can no longer be resized */
	MSG_STATUS_CONTROL_ON = 6,  /* this client has control now (the controller left) */
	MSG_STATUS_CONTROL_OFF = 7, /* view only; the text says who has control */
};

enum msg_video_flag {
	MSG_VIDEO_KEYFRAME = 1u << 0,
	MSG_VIDEO_REFINE = 1u << 1, /* a quality refinement of a still screen */
	MSG_VIDEO_TIMING = 1u << 2, /* stage times precede the data (only after CAP_TIMING) */
};

/*
 * What the agent spent on a frame, stage by stage (docs/protocol.md §5.5),
 * in the order they happen. CAPTURE (copying the screen) ends at capture_us;
 * the others follow it back to back: capture_us + WAIT + CONVERT + ENCODE +
 * LINK + QUEUE is when the agent wrote the frame to this client's TLS
 * connection, on the agent's clock.
 */
enum msg_video_stage {
	MSG_STAGE_CAPTURE = 0, /* copying the changed pixels from the console */
	MSG_STAGE_WAIT = 1,    /* from capture to the encode's start: pacing, more damage */
	MSG_STAGE_CONVERT = 2, /* BGRA -> I420 of the changed part */
	MSG_STAGE_ENCODE = 3,  /* the H.264 encoder */
	MSG_STAGE_LINK = 4,    /* worker process -> agent */
	MSG_STAGE_QUEUE = 5,   /* the agent, to the write on this client's connection */
	MSG_STAGE_COUNT = 6,
};
#define MSG_VIDEO_STAGES_MAX 32u /* on the wire; receivers keep the first MSG_STAGE_COUNT */

enum msg_clipboard_format {
	MSG_CLIPBOARD_TEXT = 1, /* UTF-8 text */
};

enum msg_key_flag {
	MSG_KEY_DOWN = 1u << 0,
};

enum msg_touch_phase {
	MSG_TOUCH_BEGIN = 0,
	MSG_TOUCH_UPDATE = 1,
	MSG_TOUCH_END = 2,
	MSG_TOUCH_CANCEL = 3,
};

enum msg_pen_flag {
	MSG_PEN_IN_RANGE = 1u << 0,
	MSG_PEN_CONTACT = 1u << 1,
	MSG_PEN_ERASER = 1u << 2,
	MSG_PEN_BUTTON1 = 1u << 3,
	MSG_PEN_BUTTON2 = 1u << 4,
};

/* A borrowed byte string: not NUL-terminated. */
struct msg_bytes {
	const uint8_t *data;
	size_t len;
};

struct msg_hello {
	uint16_t version;
	uint32_t caps; /* enum msg_cap */
	uint16_t max_width, max_height;
	struct msg_bytes ticket;      /* <= MSG_TICKET_MAX */
	struct msg_bytes client_name; /* <= MSG_NAME_MAX, UTF-8, no NUL */
	/*
	 * After client_name, a u8 length and the bytes: with a ticket, MSG_PROOF_TICKET_LEN bytes binding it to this TLS connection
	 * (proto/ticket.h); without one, MSG_PROOF_RESUME_LEN bytes, a resume
	 * id and its proof (proto/resume.h). msg_decode takes 0, 48 and 64;
	 * the agent refuses 0.
	 */
	struct msg_bytes proof;
};

struct msg_welcome {
	uint16_t version;
	uint32_t flags; /* enum msg_welcome_flag */
	uint16_t width, height;
	uint8_t codec;		  /* enum msg_codec */
	uint32_t audio_rate;	  /* Hz; 0 without audio */
	uint8_t audio_channels;	  /* 0 without audio */
	struct msg_bytes session; /* <= MSG_NAME_MAX */
	/*
	 * After session: a u8 length and a resume grant of 0 or
	 * MSG_RESUME_GRANT_LEN bytes (id || secret, proto/resume.h), then the
	 * u16 seconds it stays valid after the connection drops.
	 */
	struct msg_bytes resume;
	uint16_t resume_window_s;
};

struct msg_bye {
	uint16_t reason;       /* enum msg_bye_reason; unknown values are kept */
	struct msg_bytes text; /* <= MSG_REASON_MAX, UTF-8, for people */
};

struct msg_ping {
	uint64_t id; /* echoed by PONG; senders use their clock in microseconds */
};

/* The WebSocket transport's binding value (docs/protocol.md §6.5): random, one per connection. */
struct msg_challenge {
	struct msg_bytes value; /* exactly MSG_CHALLENGE_LEN bytes */
};

struct msg_video {
	uint32_t frame;	       /* increases by 1 per VIDEO on a connection */
	uint64_t capture_us;   /* agent's CLOCK_REALTIME at capture, microseconds */
	uint8_t flags;	       /* enum msg_video_flag */
	struct msg_bytes data; /* one H.264 access unit, Annex B */
	/* with flag TIMING: microseconds per enum msg_video_stage; else all 0 */
	uint32_t stage_us[MSG_STAGE_COUNT];
};

struct msg_audio {	       /* AUDIO and MIC */
	uint64_t capture_us;   /* sender's CLOCK_REALTIME at the packet's first sample, µs */
	struct msg_bytes data; /* one Opus packet */
};

#define MSG_LOSS_MAX 1000u /* AUDIO_REPORT loss: per mille */

struct msg_audio_report {
	uint16_t loss;	    /* AUDIO packets lost or late since the last report, per mille */
	uint16_t target_ms; /* the jitter buffer's target delay */
	uint16_t depth_ms;  /* sound buffered right now */
};

struct msg_cursor {
	uint16_t width, height;	 /* 0x0 hides the cursor; each <= MSG_CURSOR_MAX */
	uint16_t hot_x, hot_y;	 /* inside the image */
	struct msg_bytes pixels; /* width*height*4 bytes: B,G,R,A, premultiplied, rows top down */
};

struct msg_cursor_pos {
	uint16_t x, y;
	bool visible;
};

struct msg_resize {
	uint16_t width, height; /* 1..MSG_DIMENSION_MAX */
};

struct msg_clipboard {
	uint8_t format; /* enum msg_clipboard_format */
	struct msg_bytes data;
};

struct msg_status {
	uint16_t code;	       /* enum msg_status_code; unknown codes are shown as text only */
	struct msg_bytes text; /* <= MSG_REASON_MAX, UTF-8, for people */
};

struct msg_key {
	uint16_t scancode; /* Linux evdev key code (input-event-codes.h); 0 if unknown */
	uint32_t keysym;   /* X11 keysym; 0 if unknown */
	uint8_t flags;	   /* enum msg_key_flag */
};

struct msg_pointer {
	uint16_t x, y;	 /* desktop pixels */
	uint8_t buttons; /* bit n = button n+1 held (1 left, 2 middle, 3 right, ..., 8) */
};

struct msg_scroll {
	int16_t dx, dy; /* in 1/120 of a wheel step: 120 = one click; smooth devices send less */
};

struct msg_touch {
	uint32_t id;   /* a touch point, stable from BEGIN to END/CANCEL */
	uint8_t phase; /* enum msg_touch_phase */
	uint16_t x, y;
};

struct msg_pen {
	uint8_t flags; /* enum msg_pen_flag */
	uint16_t x, y;
	uint16_t pressure;     /* 0..65535 */
	int8_t tilt_x, tilt_y; /* degrees, -90..90 */
};

struct msg_ack {
	uint32_t frame;
	uint64_t display_us; /* client's clock when the frame was shown, microseconds */
};

struct msg_resize_request {
	uint16_t width, height; /* 1..MSG_RESIZE_REQUEST_MAX: the window, device pixels */
};

struct msg {
	enum msg_type type;
	uint8_t raw_type; /* the type byte as received (useful for MSG_UNKNOWN) */
	union {
		struct msg_hello hello;
		struct msg_welcome welcome;
		struct msg_bye bye;
		struct msg_ping ping; /* PING and PONG */
		struct msg_challenge challenge;
		struct msg_video video;
		struct msg_audio audio; /* AUDIO and MIC */
		struct msg_audio_report audio_report;
		struct msg_cursor cursor;
		struct msg_cursor_pos cursor_pos;
		struct msg_resize resize;
		struct msg_clipboard clipboard;
		struct msg_status status;
		struct msg_key key;
		struct msg_pointer pointer;
		struct msg_scroll scroll;
		struct msg_touch touch;
		struct msg_pen pen;
		struct msg_ack ack;
		struct msg_resize_request resize_request;
	} u;
};

/*
 * Looks at the start of a receive buffer. Returns 0 and the whole frame's
 * size (header included) in *frame_len when a complete frame is there,
 * -EAGAIN when more bytes are needed (fewer than 5, or a partial payload),
 * HR_EPROTO_EMPTY for a length of 0 and HR_EPROTO_TOO_LONG above
 * MSG_FRAME_MAX. On an error the connection cannot be resynchronised: close it.
 */
int msg_frame_peek(const uint8_t *buf, size_t len, size_t *frame_len);

/*
 * Decodes exactly one whole frame (as delimited by msg_frame_peek). Returns
 * 0, or HR_EPROTO_* naming what was wrong; unknown types decode to
 * MSG_UNKNOWN with raw_type set (skip them). Trailing bytes after the known
 * fields of a fixed-size message are ignored: later versions append fields.
 */
int msg_decode(const uint8_t *frame, size_t len, struct msg *out);

/* The exact encoded size of m, header included, or 0 if m cannot be encoded. */
size_t msg_encoded_size(const struct msg *m);

/*
 * Encodes m into buf. Returns 0 and the size in *out_len, -ENOSPC when cap
 * is too small, HR_EPROTO_INVALID when a field breaks a limit above (an
 * encoder never writes what a decoder would refuse).
 */
int msg_encode(const struct msg *m, uint8_t *buf, size_t cap, size_t *out_len);

/*
 * For large payloads (VIDEO, AUDIO, MIC, CLIPBOARD) senders may write the header
 * and fixed fields with msg_encode_head and the payload bytes after it
 * without copying them: head_len receives the bytes written, and the full
 * frame is head_len + payload length.
 */
int msg_encode_head(const struct msg *m, uint8_t *buf, size_t cap, size_t *head_len);

/*
 * The length of the longest prefix of the NUL-terminated UTF-8 string s that
 * fits in max bytes without splitting a character: how senders cut a BYE or
 * STATUS text to MSG_REASON_MAX.
 */
size_t msg_text_fit(const char *s, size_t max);

/*
 * When stage `end` of a timed VIDEO began, on the agent's clock: capture_us
 * plus stages WAIT .. end-1, which follow each other back to back
 * (MSG_STAGE_COUNT: when the agent wrote the frame to the connection).
 */
int64_t msg_video_stage_start(const struct msg_video *v, enum msg_video_stage end);

/* "HELLO", "VIDEO", ...; "UNKNOWN" for others. */
const char *msg_type_name(uint8_t type);
const char *msg_bye_reason_name(uint16_t reason);

#endif
