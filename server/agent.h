/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_AGENT_H
#define HIGHRISE_AGENT_H

/*
 * highrise-agent: the TLS listener, the handshake (HELLO with a connect
 * ticket -> WELCOME or BYE) and the desktops of this host.
 *
 * A connection must send HELLO within hello_timeout_ms. Its ticket must
 * verify with the broker's public key, be for this agent (cfg->name) and
 * name a desktop configured here; otherwise the client gets BYE with the
 * reason and the refusal is logged (never the ticket itself).
 *
 * With broker.url set the agent joins that broker (server/broker_link.h):
 * it registers, heartbeats with its consoles' states, reports each
 * session's connect (after WELCOME), disconnect, idle and active, and ends
 * the sessions the broker names with BYE ADMIN or IDLE_TIMEOUT.
 *
 * Threading: the agent lives on its event base's thread.
 */

#include "config.h"

#include <event2/event.h>
#include <stdint.h>

struct agent_cfg {
	char *listen;		     /* HOST:PORT; port 0 picks a free one (tests) */
	char *name;		     /* this agent's name, as in tickets and its certificate */
	char *cert_file;	     /* TLS certificate (highrise-certs issue agent NAME) */
	char *key_file;		     /* and its key */
	char *ticket_key;	     /* the broker's ticket public key (ticket.pub) */
	struct config_list desktops; /* "ID URI [password-file=PATH] [audio=SRC] [mic=SRC]" */
	char *codec;		     /* H.264 encoder; NULL: libx264 */
	int preset;		     /* index into agent_presets (libx264's --preset) */
	bool chroma444;		     /* still colour in 4:4:4 for clients that decode it */
	int64_t bitrate_kbps;
	int64_t fps;
	int64_t max_inflight;
	int64_t hello_timeout_ms;
	int64_t max_clients;
	int64_t max_pending, max_pending_per_source; /* connections before their HELLO */
	int64_t input_max_per_s;		     /* input events a client may send per second */
	bool clipboard;				     /* share clipboard text with clients */
	int64_t clipboard_max_bytes;		     /* longest clipboard text either way */
	int log_level;
	char *web_origin;	 /* browsers' Origin; NULL: broker_url's origin */
	char *broker_url;	 /* https://HOST:PORT; NULL: standalone, no broker */
	char *broker_ca_file;	 /* CA of the broker's certificate */
	char *broker_advertise;	 /* host clients should use; NULL: the broker decides */
	int64_t idle_after_s;	 /* no input that long: the session is reported idle */
	int64_t resume_window_s; /* a dropped client may resume this long (0: never) */
	int64_t restart_wait_s;	 /* a closed console this long away: not responding */
	int64_t dead_after_ms;	 /* nothing heard from a client this long: it is gone */
	bool worker_sandbox;	 /* confine the desktops' worker processes */
	int64_t worker_uid_base; /* desktop i's worker runs as uid/gid base + i (as root) */
	int64_t worker_memory_mb;
	int64_t worker_hang_ms;
	int64_t worker_cpu_percent;
	int64_t worker_cpu_window_s;
	char *audio_server;    /* PulseAudio server for the desktops' sound; NULL: libpulse's */
	int audio_frame;       /* index into "2.5", "5", "10", "20" ms */
	int audio_application; /* enum opus_codec_app */
	int64_t audio_bitrate_kbps;
	bool audio_mic;		 /* desktops with mic= take the controlling client's microphone */
	int64_t test_audio_drop; /* test hook: % of AUDIO packets dropped on purpose */
};

/* The table behind the config file, --KEY VALUE flags, --help and --print-config. */
extern const struct config_key agent_config_table[];

struct agent;

/* NULL (and log lines saying what is wrong) when the configuration cannot work. */
struct agent *agent_new(struct event_base *base, const struct agent_cfg *cfg);

/*
 * Stops listening and says BYE (SHUTDOWN) to every client. Returns the
 * number of connections still closing; run the loop until agent_busy() is 0
 * (or a deadline passes), then agent_free.
 */
int agent_shutdown(struct agent *a);
int agent_busy(const struct agent *a);
void agent_free(struct agent *a);

/* The port actually listened on. */
uint16_t agent_port(const struct agent *a);

#endif
