/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_CLIENT_SESSION_H
#define HIGHRISE_CLIENT_SESSION_H

/*
 * One client connection to an agent's desktop, without any GUI: the core
 * that highrise-probe and the GTK client (client/ui/) share, the way
 * spice-client-glib sits under spice-gtk.
 *
 *   session_new ─ TLS 1.3 (proto/tls.h: CA file, pin, host name, optional
 *   client certificate) ─ HELLO (ticket, capabilities, name, max size) ─
 *   WELCOME (desktop size, control or view only) ─ VIDEO / CURSOR /
 *   RESIZE / CLIPBOARD / PING ... ─ BYE or an error ─ closed.
 *
 * Messages are framed by proto/conn.h. VIDEO access units are decoded here
 * (decoder.h) and handed to cbs->on_frame as YUV pictures; each decoded
 * frame is acknowledged to the agent (ACK: frame number, display time), at
 * once, or when the application says it showed it (cfg->manual_ack). When
 * the decoder cannot go on without a key frame (the stream did not start
 * with one, a frame failed to decode) the session sends KEYFRAME_REQUEST,
 * again every second until one arrives. PING is answered with PONG; the
 * session PINGs the agent itself to measure the round trip.
 *
 * Sound (issue 10): AUDIO packets go to cbs->on_audio as they arrive (the
 * application hands them to client/audio.h, which checks them); the
 * session sends AUDIO_REPORT once a second from cbs->on_audio_report, and
 * MIC only through session_send_mic after a WELCOME with flag MIC.
 *
 * What the agent sends is not trusted: malformed frames end the connection
 * (conn.h sends BYE PROTOCOL_ERROR saying why), as do messages out of order
 * (VIDEO before WELCOME, a second WELCOME); garbage H.264 costs a key frame
 * request, never a crash.
 *
 * Every failure and every ending is reported once, through
 * cbs->on_state(SESSION_CLOSED, sentence), where the sentence says what
 * happened in words for the person at the screen ("cannot connect to
 * host:7443: Connection refused", "the agent refused the ticket: connect
 * ticket expired"). session_new only fails (NULL, with a log line) for a bad
 * configuration: a missing or unreadable ticket, certificate or CA file.
 *
 * Threading: a session belongs to the thread running its event base; call
 * everything from there (the GTK client runs the session on a network
 * thread and posts to it). Callbacks run on that thread. A session may be
 * freed from inside its own callbacks.
 */

#include "decoder.h"
#include "msg.h"

#include <event2/event.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum session_state {
	SESSION_CONNECTING = 0, /* TCP and the TLS handshake */
	SESSION_AUTHENTICATING, /* TLS up, HELLO sent, waiting for WELCOME */
	SESSION_CONNECTED,	/* WELCOME received: the desktop streams */
	SESSION_CLOSED,		/* over; info->reason says why */
};

/* How a session ended (valid once SESSION_CLOSED). */
enum session_end {
	SESSION_END_NONE = 0, /* not closed yet */
	SESSION_END_LOCAL,    /* session_close() or session_free() */
	SESSION_END_REFUSED,  /* the agent said BYE before WELCOME (ticket, version, ...) */
	SESSION_END_BYE,      /* the agent said BYE during the session */
	SESSION_END_NETWORK,  /* connect, TLS, a lost connection, or a timeout */
	SESSION_END_PROTOCOL, /* the agent sent what this client cannot accept */
};

/* What HELLO offers unless session_cfg.caps says otherwise (OPUS and MIC follow on_audio
 * and offer_mic either way). */
#define SESSION_CAPS_DEFAULT \
	(MSG_CAP_H264 | MSG_CAP_H264_444 | MSG_CAP_CURSOR | MSG_CAP_CLIPBOARD | MSG_CAP_TIMING)

struct session_cfg {
	const char *host; /* agent address or name; required */
	uint16_t port;	  /* required */

	/* TLS (proto/tls.h); the agent's certificate is always verified */
	const char *ca_file;	 /* PEM CA; NULL: the system store, unless a pin is set */
	const char *ca_pem;	 /* the CA as PEM text (the broker's connect answer); wins */
	const char *pin_sha256;	 /* SHA-256 of the agent's public key (SPKI), hex */
	const char *verify_name; /* the name the certificate must carry; NULL: host */
	const char *cert_file;	 /* client certificate for mutual TLS; NULL: none */
	const char *key_file;

	/* the connect ticket from the broker: bytes, or a file holding them */
	const uint8_t *ticket; /* borrowed for session_new; copied */
	size_t ticket_len;
	const char
		*ticket_file; /* used when ticket is NULL: a ticket bundle (ticket.h); "-" stdin */
	/*
	 * The private half of the ticket's client key (proto/ticket.h), which
	 * signs the HELLO proof binding the ticket to this TLS connection;
	 * borrowed (the session takes its own reference). With ticket_file it
	 * comes from the bundle instead.
	 */
	EVP_PKEY *client_key;
	/*
	 * Resume instead of a ticket (docs/protocol.md §6.4): a grant from an
	 * earlier WELCOME (info->resume). Copied; the ticket is then not used.
	 */
	const uint8_t *resume;

	const char *client_name;	/* shown in the agent's logs; NULL: "highrise" */
	uint16_t max_width, max_height; /* largest desktop this client shows; 0: 7680x4320 */
	uint32_t caps;			/* enum msg_cap; 0: SESSION_CAPS_DEFAULT */
	int timeout_ms;			/* connect + TLS; 0: 10000 */
	int welcome_wait_ms;		/* then for WELCOME after HELLO; 0: the larger of
					 * timeout_ms and MSG_WELCOME_WAIT_MS + 3 s, so the
					 * agent's answer (its BYE reason too) is heard */
	int ping_interval_ms;		/* round-trip probes after WELCOME; 0: 2000, < 0: never */
	int decoder_threads;		/* decoder.h cfg.threads */
	enum decoder_hw decoder_hw;	/* decoder.h cfg.hw; 0: auto (VAAPI, else software) */
	bool manual_ack; /* the application calls session_ack() when it shows a frame */
	/*
	 * Sound: HELLO asks for AUDIO (CAP_OPUS) when cbs->on_audio is set,
	 * unless no_audio; it says the client can send its microphone (CAP_MIC)
	 * with offer_mic (the application has a microphone toggle).
	 */
	bool no_audio;
	bool offer_mic;
};

/* Counters since session_new. */
struct session_stats {
	uint64_t frames_received;   /* VIDEO messages */
	uint64_t frames_decoded;    /* pictures handed to on_frame */
	uint64_t frames_444;	    /* of them, 4:4:4 pictures (still colour, CAP_H264_444) */
	uint64_t frames_skipped;    /* dropped while waiting for a key frame */
	uint64_t decode_errors;	    /* access units that failed to decode */
	uint64_t keyframes;	    /* VIDEO messages holding an IDR picture */
	uint64_t keyframe_requests; /* KEYFRAME_REQUEST sent */
	uint64_t video_bytes;	    /* H.264 payload bytes */
	uint64_t bytes_received;    /* every message, headers included (above TLS) */
	uint64_t messages_received;
	uint64_t audio_packets; /* AUDIO messages handed to on_audio */
	uint64_t audio_bytes;	/* their Opus payload */
	uint64_t mic_packets;	/* MIC sent */
	uint64_t audio_reports; /* AUDIO_REPORT sent */
	int64_t rtt_us;		/* last PING round trip; -1 before the first PONG */
};

struct session_info {
	enum session_state state;
	enum session_state closed_in; /* the state the session was in when it closed */
	enum session_end end;
	int bye_reason; /* enum msg_bye_reason of the agent's BYE, -1 when none */
	char reason[MSG_REASON_MAX + 256]; /* once CLOSED: why, as a sentence */
	int width, height;		   /* desktop size (WELCOME, then RESIZE); 0 before */
	bool control;			   /* our input is applied; false: view only */
	bool clipboard, audio;		   /* WELCOME flags */
	bool resizable; /* WELCOME flag RESIZE: session_send_resize_request is applied */
	bool mic;	/* WELCOME flag MIC: session_send_mic is played into the desktop */
	char session_id[MSG_NAME_MAX + 1]; /* from WELCOME */
	/*
	 * WELCOME's resume grant (docs/protocol.md §6.4): pass it as
	 * session_cfg.resume to come back into this session, without the broker,
	 * within resume_window_s of losing the connection. Secret: never log it.
	 */
	bool has_resume;
	uint8_t resume[MSG_RESUME_GRANT_LEN];
	uint16_t resume_window_s;
	char tls[128]; /* "TLSv1.3 TLS_AES_256_GCM_SHA384" once connected */
	/* SHA-256 of the agent's public key (SPKI, hex, what --pin takes) once its certificate
	 * arrived, even when it was not trusted: for "not trusted" errors; "" when unknown */
	char peer_pin[65];
	struct session_stats stats;
};

/* One decoded picture with its timing; all borrowed for the callback. */
struct session_frame {
	const struct decoder_frame *picture;
	uint32_t number;     /* the VIDEO frame number (what ACK carries) */
	uint64_t capture_us; /* the agent's CLOCK_REALTIME at capture */
	uint64_t decoded_us; /* our CLOCK_REALTIME when decoding finished */
	uint32_t decode_us;  /* time spent in the decoder */
	size_t bytes;	     /* size of the access unit */
	bool refinement;     /* the agent marked it MSG_VIDEO_REFINE */
	/*
	 * With timed (the agent sent its stage times: we asked with
	 * CAP_TIMING): the agent's stages (enum msg_video_stage), and
	 * network_us, from the agent's write to our reading the whole frame
	 * (TLS, the network, and the bytes ahead of it), on the two clocks.
	 * capture_us + stages WAIT..QUEUE + network_us + decode_us ==
	 * decoded_us, but for the time between taking the frame and decoding.
	 */
	bool timed;
	uint32_t stage_us[MSG_STAGE_COUNT];
	uint32_t network_us;
};

struct session;

/* All optional. Borrowed arguments are valid until the callback returns. */
struct session_cbs {
	/* A state change, with a sentence for people (the close reason for SESSION_CLOSED). */
	void (*on_state)(struct session *s, enum session_state state, const char *text,
			 void *userdata);
	/* A decoded picture. Unless cfg->manual_ack, its ACK has been queued already. */
	void (*on_frame)(struct session *s, const struct session_frame *f, void *userdata);
	/* The desktop changed size (RESIZE); pictures of the new size follow. */
	void (*on_resize)(struct session *s, int width, int height, void *userdata);
	/* A new cursor image (0x0: hidden). */
	void (*on_cursor)(struct session *s, const struct msg_cursor *c, void *userdata);
	void (*on_cursor_pos)(struct session *s, const struct msg_cursor_pos *p, void *userdata);
	/* Clipboard text from the desktop (UTF-8, no NUL inside, not NUL-terminated). */
	void (*on_clipboard)(struct session *s, const char *text, size_t len, void *userdata);
	/* What the desktop is doing (STATUS): code is enum msg_status_code, text for people. */
	void (*on_status)(struct session *s, uint16_t code, const char *text, void *userdata);
	/*
	 * One AUDIO packet (untrusted Opus, borrowed) that arrived at
	 * arrival_us (CLOCK_REALTIME): client_audio_push it. Only after a
	 * WELCOME with flag AUDIO (AUDIO before WELCOME ends the session; after
	 * a WELCOME without the flag it is dropped).
	 */
	void (*on_audio)(struct session *s, const struct msg_audio *a, uint64_t arrival_us,
			 void *userdata);
	/*
	 * About once a second while WELCOME said AUDIO: fill in the playback's
	 * AUDIO_REPORT (client_audio_report) and return true to send it.
	 */
	bool (*on_audio_report)(struct session *s, struct msg_audio_report *r, void *userdata);
};

/*
 * Starts connecting (the state is SESSION_CONNECTING when it returns; no
 * callback runs before the event loop does). cfg and cbs are borrowed for
 * the call. Returns NULL and logs why for a bad configuration.
 */
/*
 * A connect ticket as people and brokers hand it over: its bytes (they start
 * with the version byte 0x01) or base64 (standard or URL-safe, padding
 * optional, blanks ignored). The ticket's length in out, or -EINVAL (not a
 * ticket, or longer than cap) / -ENOMEM. Pure.
 */
int session_ticket_decode(const uint8_t *text, size_t len, uint8_t *out, size_t cap);

/*
 * The computer's addresses changed (client/netwatch.h): when the address
 * this session's connection was made from is gone, the connection cannot
 * come back, so it ends now as a lost network (SESSION_END_NETWORK, no BYE)
 * and the application resumes from the new address instead of waiting for
 * the liveness limit. Returns true when it ended the session.
 */
bool session_network_changed(struct session *s);

/*
 * What a client keeps between connections to come back without the broker:
 * the newest resume grant and until when it may be used. Zero-initialise.
 * session_resume_note, once a session closed, keeps its grant for the
 * window when the network dropped it, and forgets any grant when the
 * session really ended (a BYE, a refused resume, a local close).
 * session_resume_use hands out the grant for the next session_cfg.resume,
 * NULL when there is none or its window has passed. Pure bookkeeping.
 */
struct session_resume {
	bool valid;
	uint8_t grant[MSG_RESUME_GRANT_LEN];
	uint64_t until_us; /* CLOCK_MONOTONIC */
};
void session_resume_note(struct session_resume *r, const struct session_info *closed);
/*
 * While a grant is held, clients retry this often, each try with at most
 * SESSION_RESUME_TIMEOUT_MS for TCP and TLS: a try into a dead network
 * never holds up the one that finds the path working again (a new
 * Wi-Fi, a hotspot), so the session is back within about 2 s of that.
 */
#define SESSION_RESUME_RETRY_MS	  250
#define SESSION_RESUME_TIMEOUT_MS 2000
const uint8_t *session_resume_use(struct session_resume *r);
void session_resume_clear(struct session_resume *r);

struct session *session_new(struct event_base *base, const struct session_cfg *cfg,
			    const struct session_cbs *cbs, void *userdata);

/*
 * Frees the session. If it is still open it is closed (BYE NORMAL) first
 * and its memory released once the event loop has flushed the BYE (at most
 * a second): keep the loop running until then. No callback runs after this.
 * NULL does nothing.
 */
void session_free(struct session *s);

/* Says BYE (NORMAL, with text), flushes, closes: on_state(SESSION_CLOSED) follows. */
void session_close(struct session *s, const char *text);

const struct session_info *session_info(const struct session *s);
const char *session_state_name(enum session_state state);

/* The decoder (for decoder_last_frame / decoder_to_rgb). Borrowed; lives as long as s. */
struct decoder *session_decoder(struct session *s);

/*
 * Input. Returns 0, -ENOTCONN before WELCOME or after the end, -EPERM in a
 * view-only session, HR_EPROTO_INVALID for a value the protocol cannot
 * carry, or -ENOMEM.
 */
int session_send_key(struct session *s, uint16_t scancode, uint32_t keysym, bool down);
int session_send_pointer(struct session *s, uint16_t x, uint16_t y, uint8_t buttons);
int session_send_scroll(struct session *s, int16_t dx, int16_t dy);
int session_send_touch(struct session *s, uint32_t id, enum msg_touch_phase phase, uint16_t x,
		       uint16_t y);
int session_send_pen(struct session *s, const struct msg_pen *pen);
/* UTF-8 text without NUL bytes, at most MSG_CLIPBOARD_MAX bytes. */
int session_send_clipboard(struct session *s, const char *text, size_t len);
/*
 * Asks the agent to resize the desktop to width x height (the window, in
 * device pixels; 1..MSG_RESIZE_REQUEST_MAX, else HR_EPROTO_INVALID).
 * -ENOTSUP when WELCOME did not offer it (info->resizable), -EPERM view only.
 * The answer is a RESIZE (on_resize) or a STATUS RESIZE_REFUSED (on_status).
 */
int session_send_resize_request(struct session *s, uint16_t width, uint16_t height);

/*
 * One microphone packet (Opus, 1..OPUS_CODEC_MAX_PACKET bytes, opus_codec.h) captured at capture_us
 * (CLOCK_REALTIME of its first sample). -ENOTCONN before WELCOME or after
 * the end, -ENOTSUP when the HELLO did not offer the microphone
 * (cfg->offer_mic), -EPERM when WELCOME did not accept it (info->mic),
 * HR_EPROTO_INVALID for an empty or oversized packet.
 */
int session_send_mic(struct session *s, uint64_t capture_us, const uint8_t *data, size_t len);

/*
 * How AUDIO playback is doing (normally sent by the session itself, see
 * cbs->on_audio_report). -ENOTCONN, -ENOTSUP without WELCOME AUDIO,
 * HR_EPROTO_INVALID for a loss above MSG_LOSS_MAX.
 */
int session_send_audio_report(struct session *s, const struct msg_audio_report *r);

/* With cfg->manual_ack: the frame was shown at display_us (CLOCK_REALTIME, microseconds). */
int session_ack(struct session *s, uint32_t frame, uint64_t display_us);

/* Asks the agent for a key frame now (e.g. after the UI lost its picture). */
int session_request_keyframe(struct session *s);

/* CLOCK_REALTIME in microseconds: what capture_us and ACK display times use. */
uint64_t session_realtime_us(void);

#endif
