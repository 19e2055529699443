/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_WLINK_H
#define HIGHRISE_WLINK_H

/*
 * The worker link: what crosses between the agent and one desktop's worker
 * process (worker.h) over their unix socket. No I/O here (STYLE.md): the
 * agent's loop, the worker and fuzz_wlink drive the same code.
 *
 * Frames are the wire protocol's (msg.h): u32 length | u8 type | payload.
 * Where the client protocol already has the message (VIDEO, CURSOR,
 * CLIPBOARD, input, PING/PONG...) it is sent as is and decoded by
 * msg_decode; the five messages only the link needs have types from 0xF0
 * up, which no client ever sends (docs/architecture.md "The worker link"
 * lists every message and its direction).
 *
 * The worker is untrusted: everything it sends is decoded with the hard
 * limits below, and a message that is malformed, of a type that does not
 * travel in that direction, or out of range ends the worker (the agent
 * kills and restarts it). Unknown types are errors too: both ends are the
 * same build.
 *
 * Decoding borrows byte strings from the caller's buffer, as msg_decode.
 * Pure and thread-safe.
 */
#include "msg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WLINK_FRAME_MAX	   MSG_FRAME_MAX /* a key frame of a big desktop is the longest */
#define WLINK_URI_MAX	   1024u
#define WLINK_PASSWORD_MAX 1024u
#define WLINK_CODEC_MAX	   64u
#define WLINK_TEXT_MAX	   MSG_REASON_MAX
#define WLINK_CHROOT_MAX   1024u

enum wlink_type {
	WLINK_CONFIG = 0xF0,  /* agent -> worker, exactly once and first: what to run */
	WLINK_CONTROL = 0xF1, /* agent -> worker: bitrate and throttle from the clients' ACKs */
	WLINK_CONSOLE = 0xF2, /* worker -> agent: the console is up, or why it is not */
	WLINK_SIZE = 0xF3,    /* worker -> agent: the console (re)initialised at this size */
	WLINK_PCM = 0xF4,     /* both: raw sound; to the agent the console's, to the worker
				 the client's microphone (consoles with a sound channel: SPICE) */
};

enum wlink_dir {
	WLINK_TO_WORKER,
	WLINK_TO_AGENT,
};

enum wlink_console_state {
	WLINK_CONSOLE_UP = 0,	       /* connected; frames follow */
	WLINK_CONSOLE_LOST = 1,	       /* was up, went away (the worker exits next) */
	WLINK_CONSOLE_UNREACHABLE = 2, /* could not connect */
	WLINK_CONSOLE_AUTH = 3,	       /* the console refused our credentials */
	WLINK_CONSOLE_REFUSED = 4,     /* we refused the console (too large, unsupported) */
	WLINK_CONSOLE_SANDBOX = 5,     /* the worker could not confine itself */
	WLINK_CONSOLE_STATE_MAX = 5,
};

/* WLINK_CONFIG flags */
enum wlink_config_flag {
	WLINK_CONFIG_CLIPBOARD = 1u << 0, /* poll the console's clipboard */
	WLINK_CONFIG_SECCOMP = 1u << 1,	  /* install the seccomp filter */
	WLINK_CONFIG_CHROOT = 1u << 2,	  /* chroot into an empty directory (root only) */
	WLINK_CONFIG_SETUID = 1u << 3,	  /* become uid/gid (root only) */
	WLINK_CONFIG_SOUND = 1u << 4,	  /* send the console's own sound (WLINK_PCM) */
};

struct wlink_config {
	uint32_t flags; /* enum wlink_config_flag */
	uint16_t fps;	/* 1..240 */
	uint32_t bitrate_kbps;
	uint32_t clipboard_max;	   /* bytes, <= MSG_CLIPBOARD_MAX */
	uint32_t memory_mb;	   /* RLIMIT_AS; 0: none */
	uint32_t uid, gid;	   /* WLINK_CONFIG_SETUID */
	uint8_t log_level;	   /* enum log_level */
	struct msg_bytes id;	   /* the desktop's id, <= MSG_NAME_MAX, for logs */
	struct msg_bytes uri;	   /* <= WLINK_URI_MAX */
	struct msg_bytes password; /* <= WLINK_PASSWORD_MAX; may be empty */
	struct msg_bytes codec;	   /* <= WLINK_CODEC_MAX; empty: the default */
	struct msg_bytes preset;   /* libx264 preset, <= WLINK_CODEC_MAX; empty: the default */
	struct msg_bytes chroot;   /* the empty directory for WLINK_CONFIG_CHROOT */
};

/* On the wire: u32 bitrate_kbps, u8 flags (bit 0 throttle, bit 1 chroma444). */
struct wlink_control {
	uint32_t bitrate_kbps;
	bool throttle;	/* every client lags: collect damage, do not encode */
	bool chroma444; /* every client decodes H.264 4:4:4 (CAP_H264_444): still colour may */
};

struct wlink_console {
	uint8_t state;	       /* enum wlink_console_state */
	struct msg_bytes text; /* <= WLINK_TEXT_MAX, UTF-8: a sentence for logs and users */
};

struct wlink_size {
	uint16_t width, height; /* 1..MSG_DIMENSION_MAX, area <= ENCODER_AREA_MAX */
	bool resizable;		/* the console takes RESIZE_REQUEST */
};

/*
 * WLINK_PCM: 48 kHz stereo interleaved s16 in host byte order (both ends
 * are one build on one host; audio/source.h's format), 1 to
 * WLINK_PCM_SAMPLES_MAX samples per channel. data borrows the frame:
 * samples * 4 bytes.
 */
#define WLINK_PCM_SAMPLES_MAX 960 /* AUDIO_FRAME_MAX: 20 ms */
struct wlink_pcm {
	uint64_t capture_us; /* CLOCK_REALTIME µs of the first sample */
	uint16_t samples;    /* per channel */
	struct msg_bytes data;
};

struct wlink_msg {
	uint8_t type; /* enum wlink_type, or enum msg_type when msg is set */
	union {
		struct msg msg; /* a client-protocol message */
		struct wlink_config config;
		struct wlink_control control;
		struct wlink_console console;
		struct wlink_size size;
		struct wlink_pcm pcm;
	} u;
};

/*
 * Decodes one whole frame (delimited by msg_frame_peek) travelling in dir.
 * Returns 0, or HR_EPROTO_* (HR_EPROTO_INVALID also for a type that does
 * not travel in that direction).
 */
int wlink_decode(const uint8_t *frame, size_t len, enum wlink_dir dir, struct wlink_msg *out);

/*
 * Encodes m: link-only types here, client-protocol ones through
 * msg_encode. Returns 0 and the size in *out_len, -ENOSPC, or
 * HR_EPROTO_INVALID for a field out of range. wlink_encoded_size gives the
 * exact size (0 when m cannot be encoded).
 */
int wlink_encode(const struct wlink_msg *m, uint8_t *buf, size_t cap, size_t *out_len);
size_t wlink_encoded_size(const struct wlink_msg *m);

/* "CONFIG", "CONSOLE", ... or msg_type_name's answer. */
const char *wlink_type_name(uint8_t type);
const char *wlink_console_state_name(uint8_t state);

#endif
