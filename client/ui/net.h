/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_CLIENT_UI_NET_H
#define HIGHRISE_CLIENT_UI_NET_H

/*
 * The GTK client's network thread: one libevent loop ("hr-net") that runs
 * the client core (session.h, which decodes on this thread too), reconnects
 * with backoff, and hands what it receives to the UI thread.
 *
 *   UI thread                               net thread (libevent)
 *     net_send_* / net_ack ── command queue ─▶ event_active(wake) ─▶ session_send_*
 *     net_take_frame  ◀── newest-frame slot ── on_frame (planes copied)
 *     net_pop_event   ◀── GAsyncQueue ──────── state, resize, cursor, status
 *                    ◀── cfg->wake() ───────── called on the net thread after each post
 *
 * Sound runs on the net thread too, as in highrise-probe: AUDIO goes into a
 * client_audio (client/audio.h; its own playback thread) created when a
 * WELCOME says AUDIO, freed when the session ends; the microphone is a
 * client_mic on this loop, live while the user wants it and the WELCOME
 * said MIC. Lip sync uses the times the UI gives net_ack.
 *
 * Frames: only the newest matters. The slot holds one picture; a new one
 * replaces (and drops) the one the UI has not taken yet, so a UI that falls
 * behind skips to the newest screen and memory stays bounded. The UI shows
 * what it took and acknowledges it with net_ack (the session runs with
 * manual_ack: frames that were never shown are never acknowledged, which is
 * what the agent's flow control wants).
 *
 * Everything here may be called from any thread except net_new/net_free,
 * which belong to the thread that owns the net (the UI thread).
 */

#include "audio.h"
#include "msg.h"
#include "session.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A picture for the UI: 8-bit 4:2:0 planes, tightly packed, or BGRA for cairo. */
struct ui_frame {
	int refs; /* atomic */
	int width, height;
	uint8_t *plane[3]; /* Y (width x height), U and V ((width+1)/2 x (height+1)/2) */
	int stride[3];	   /* width, (width+1)/2, (width+1)/2 */
	bool chroma444;	   /* U and V are width x height (stride width) instead */
	uint8_t *bgra;	   /* with net_cfg.want_bgra: width*4 per row, A = 255; else NULL */
	bool full_range, bt709;
	uint32_t number;     /* VIDEO frame number, for net_ack */
	uint64_t capture_us; /* agent's clock at capture */
	uint64_t decoded_us;
	uint32_t decode_us; /* time spent in the decoder */
	/* the agent's stage times (session_frame's), when it sent them */
	bool timed;
	uint32_t stage_us[MSG_STAGE_COUNT];
	uint32_t network_us;
	/* the UI thread's CLOCK_REALTIME: when it took the frame, when it drew it */
	uint64_t taken_us, painted_us;
};

struct ui_frame *ui_frame_ref(struct ui_frame *f);
void ui_frame_unref(struct ui_frame *f);

enum net_event_kind {
	NET_EV_STATE,	   /* state, text: connecting, authenticating, connected */
	NET_EV_CLOSED,	   /* the session ended: end, bye_reason, text; retry_ms says what next */
	NET_EV_RESIZE,	   /* width, height */
	NET_EV_CURSOR,	   /* width x height BGRA premultiplied pixels (0x0: hidden), hot_x/y */
	NET_EV_CURSOR_POS, /* x, y, visible */
	NET_EV_STATUS,	   /* code (enum msg_status_code), text */
	NET_EV_CLIPBOARD,  /* clip, clip_len: text from the desktop's clipboard */
};

struct net_event {
	enum net_event_kind kind;
	enum session_state state;
	enum session_state closed_in; /* NET_EV_CLOSED: the state it ended in */
	enum session_end end;
	int bye_reason;	    /* -1 when none */
	bool was_connected; /* NET_EV_CLOSED: a session of this net had reached WELCOME */
	int retry_ms;	    /* NET_EV_CLOSED: next attempt in this many ms; -1: none */
	int attempt;	    /* NET_EV_CLOSED: the attempt that comes next (1, 2, ...) */
	int width, height;
	int hot_x, hot_y;
	int x, y;
	bool visible;
	uint16_t code;
	bool control;	 /* NET_EV_STATE connected: input is applied */
	bool audio;	 /* NET_EV_STATE connected: the desktop's sound plays */
	bool mic;	 /* NET_EV_STATE connected: the desktop takes the microphone */
	bool resizable;	 /* NET_EV_STATE connected: net_send_resize_request is applied */
	uint8_t *pixels; /* NET_EV_CURSOR; owned by the event */
	char *clip;	 /* NET_EV_CLIPBOARD: UTF-8, NUL-terminated, no NUL inside; owned */
	size_t clip_len;
	char peer_pin[65]; /* NET_EV_CLOSED: the agent key's SHA-256 when it was seen, or "" */
	char text[MSG_REASON_MAX + 512];
};

void net_event_free(struct net_event *ev);

struct net_cfg {
	struct session_cfg session; /* borrowed strings must outlive the net */
	bool retry_always;	    /* kiosk: retry every failure, refused tickets too */
	bool want_bgra;		    /* also convert each frame to BGRA (the cairo renderer) */
	/* clipboard text from the desktop up to this many bytes is posted (NET_EV_CLIPBOARD);
	 * longer text is dropped (logged); 0: the clipboard is off, nothing is posted */
	size_t clipboard_max;
	/* called on the net thread after something was posted; must be thread-safe */
	void (*wake)(void *userdata);
	void *userdata;
	/*
	 * Broker mode (optional): called on the net thread before every
	 * connection, the first and each retry, to ask the broker for a fresh
	 * ticket. It may block (the broker's answer) and fills cfg's host, port,
	 * ca_pem and ticket (memory it keeps until its next call). 0, or < 0 with
	 * a sentence in text, *retry_ms (-1: a person must act) and *bye_reason
	 * (MSG_BYE_DESKTOP_UNAVAILABLE for "no desktop available", else -1).
	 */
	int (*prepare)(void *prepare_ud, struct session_cfg *cfg, char *text, size_t textlen,
		       int *retry_ms, int *bye_reason);
	void *prepare_ud;
	/* sound: session.no_audio turns it off; session.offer_mic says there is a mic toggle */
	const char *audio_sink; /* PulseAudio sink; NULL: the default (PULSE_SERVER honoured) */
	int volume;		/* percent at start, 1..100; 0: 100 */
	const char *mic_source; /* PulseAudio source for the microphone; NULL: the default */
	bool mic_on;		/* the user wants the microphone from the start (--mic, kiosks) */
};

/*
 * Starts the thread and the first connection. NULL (logged) when the thread
 * or the loop cannot start. cfg is copied (its strings are borrowed).
 */
struct net *net_new(const struct net_cfg *cfg);

/* Closes the session (BYE NORMAL), stops and joins the thread. NULL does nothing. */
void net_free(struct net *n);

/* The newest frame not taken yet (the caller owns the reference), or NULL. */
struct ui_frame *net_take_frame(struct net *n);
/* The next event (free with net_event_free), or NULL. */
struct net_event *net_pop_event(struct net *n);

/* Input and acknowledgements: queued for the net thread; dropped while not connected. */
void net_send_key(struct net *n, uint16_t scancode, uint32_t keysym, bool down);
void net_send_pointer(struct net *n, uint16_t x, uint16_t y, uint8_t buttons);
void net_send_scroll(struct net *n, int16_t dx, int16_t dy);
void net_send_touch(struct net *n, uint32_t id, enum msg_touch_phase phase, uint16_t x, uint16_t y);
void net_send_pen(struct net *n, const struct msg_pen *pen);
/*
 * Clipboard text for the desktop (copied). Sent only while connected and when
 * the agent's WELCOME turned the clipboard on; text the protocol cannot carry
 * (longer than the client frame limit, NUL inside) is dropped and logged.
 */
void net_send_clipboard(struct net *n, const char *text, size_t len);
/* The picture captured at capture_us was shown at display_us: ACK, and lip sync. */
void net_ack(struct net *n, uint32_t frame, uint64_t capture_us, uint64_t display_us);
/* Playback volume 0..100 % and mute (kept across sessions). */
void net_set_volume(struct net *n, int percent, bool muted);
/* The user's microphone switch; it is live only while the desktop takes it. */
void net_set_mic(struct net *n, bool on);
/* Asks the agent to resize the desktop (RESIZE_REQUEST); dropped unless WELCOME offered it. */
void net_send_resize_request(struct net *n, int width, int height);
/* BGRA on (cairo) or off; on also re-sends the last picture converted. */
void net_set_bgra(struct net *n, bool on);
/* Connect again now (the user asked to), resetting the backoff. */
void net_retry_now(struct net *n);

/* What the statistics overlay needs from the session, refreshed twice a second. */
struct net_stats {
	bool connected;
	uint64_t bytes_received; /* this session, every message (session_stats) */
	uint64_t frames_decoded;
	int64_t rtt_us;		    /* -1: no PONG yet */
	char decoder[160];	    /* decoder_describe() */
	char decoder_fallback[320]; /* decoder_fallback_reason() */
	bool audio;		    /* sound is playing (WELCOME said AUDIO) */
	struct client_audio_stats audio_st;
	bool mic_allowed; /* WELCOME said MIC */
	bool mic_live;	  /* the microphone is being sent */
	uint64_t mic_packets;
};
/* A copy of the latest snapshot (any thread). */
void net_get_stats(struct net *n, struct net_stats *out);

/*
 * Whether and when to try again after a session ended. attempt counts from
 * 1 for the first retry. Returns the delay in ms, or -1 for "do not retry"
 * (the failure needs a person: a refused ticket, an untrusted certificate
 * (trust_failure), a protocol disagreement), unless retry_always. Pure.
 */
int net_retry_delay_ms(enum session_end end, int bye_reason, bool trust_failure, int attempt,
		       bool retry_always);

/* Whether a close reason is about trust (certificate, pin): a person must act. Pure. */
bool net_is_trust_failure(const char *reason);

#endif
