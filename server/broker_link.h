/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_BROKER_LINK_H
#define HIGHRISE_BROKER_LINK_H

/*
 * The agent's link to its broker (docs/broker-api.md "Agents"): register,
 * heartbeat with the desktops' console states, report session events, and
 * hand the broker's "end this session" orders back to the agent.
 *
 * All HTTPS calls (brokerapi.h, mutual TLS with the agent's certificate)
 * block, so they run on the link's own thread ("hr-broker"). The loop
 * thread talks to it only through bounded queues (STYLE.md "Loops and
 * threads"):
 *  - broker_link_event() queues a session event; the thread sends what is
 *    queued in one request as soon as it can. While the broker is
 *    unreachable the events are kept (at most BROKER_LINK_PENDING_MAX, the
 *    oldest dropped first) and sent once it answers again.
 *  - the broker's "end" list comes back through a queue whose eventfd wakes
 *    the loop, which calls on_end for each session to drop.
 *
 * Registering retries with backoff (1 s doubling to 30 s) while the broker
 * cannot be reached; the log says so once per change of state. A heartbeat
 * answered 404 (not registered), or a link silent for longer than the
 * broker's window (3 heartbeat intervals, e.g. after the process was
 * stopped), registers again: only a registration brings desktops back
 * online.
 *
 * Console states: broker_link_console() records what the loop knows about
 * a desktop's console (a running pipeline knows) and why it is down; for a
 * desktop nobody watches (BROKER_CONSOLE_UNKNOWN) the thread checks before
 * each heartbeat whether the console accepts a connection (TCP for vnc://
 * and x11::HOST:N, the X server's socket for x11::N). A down desktop's
 * reason goes into the heartbeat beside "up": false.
 *
 * Threading: every function here is for the loop thread. on_end runs on the
 * loop thread.
 */

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#define BROKER_LINK_PENDING_MAX 4096 /* session events kept while the broker is away */
#define BROKER_LINK_REASON_MAX	200  /* bytes of a down console's reason (API_REASON_MAX) */

enum broker_session_event {
	BROKER_SESSION_CONNECTED,
	BROKER_SESSION_DISCONNECTED,
	BROKER_SESSION_IDLE,
	BROKER_SESSION_ACTIVE,
};

enum broker_end_reason {
	BROKER_END_ADMIN,	 /* an admin disconnected or logged off the session */
	BROKER_END_LOGOFF,	 /* the session was logged off (pool policy, user) */
	BROKER_END_IDLE_TIMEOUT, /* the pool's idle timeout passed */
};

enum broker_console {
	BROKER_CONSOLE_UNKNOWN, /* no pipeline runs: the thread probes the console */
	BROKER_CONSOLE_UP,
	BROKER_CONSOLE_DOWN,
};

struct broker_link_desktop {
	const char *name; /* as in tickets and the broker's desktop list */
	const char *uri;  /* console URI, for the reachability probe */
};

struct broker_link_cfg {
	const char *url;	       /* https://HOST[:PORT] of the broker */
	const char *ca_file;	       /* CA that signed the broker's certificate */
	const char *cert_file;	       /* the agent's certificate (OU=agent, CN = its name) */
	const char *key_file;	       /* its key */
	const char *advertise_address; /* host clients should use; NULL: the request's source */
	uint16_t port;		       /* the agent's stream port */
	const struct broker_link_desktop *desktops;
	size_t ndesktops;
	int timeout_ms; /* per HTTPS step; 0: 5000 */
};

/* Called on the loop thread for each session the broker wants ended now. */
typedef void (*broker_link_end_fn)(const char *session, enum broker_end_reason reason, void *ud);

struct broker_link;

/*
 * Copies cfg and starts the thread, which registers at once. NULL (and a
 * log line) when the configuration cannot work (e.g. a bad URL, an
 * unreadable CA file) or out of resources.
 */
struct broker_link *broker_link_new(struct event_base *base, const struct broker_link_cfg *cfg,
				    broker_link_end_fn on_end, void *ud);

/*
 * Stops the thread: it sends the events still pending once (if the broker
 * was reachable) and returns; a call in flight is bounded by timeout_ms per
 * step. No on_end calls after this. NULL is fine.
 */
void broker_link_free(struct broker_link *l);

/*
 * Queues a session event. session (the ticket's session id) and desktop are
 * copied; client is the client's address without the port (NULL for
 * events other than CONNECTED). Never blocks; a full queue drops the event
 * with a warning.
 */
void broker_link_event(struct broker_link *l, const char *session, const char *desktop,
		       enum broker_session_event ev, const char *client);

/*
 * What the loop knows about desktop i's console (index into cfg->desktops)
 * and, when it is down, why: a sentence for admins (NULL or "": none). The
 * reason is copied, cut to BROKER_LINK_REASON_MAX bytes at a character
 * boundary; bytes that are not UTF-8 become '?'. Cheap enough to call every
 * second: the link thread reads the latest copy under a mutex.
 */
void broker_link_console(struct broker_link *l, size_t i, enum broker_console state,
			 const char *reason);

#endif
