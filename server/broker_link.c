/* SPDX-License-Identifier: MIT */
#include "broker_link.h"

#include "brokerapi.h"
#include "capture.h"
#include "clock.h"
#include "error.h"
#include "log.h"
#include "queue.h"
#include "routes.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define NAME_MAX_LEN	   128	/* session and desktop names (TICKET_NAME_MAX) */
#define EVENT_QUEUE_LEN	   1024 /* events from the loop not yet picked up by the thread */
#define END_QUEUE_LEN	   1024 /* "end" orders waiting for the loop */
#define EVENTS_PER_REQUEST 128	/* keeps a request well under the broker's 64 KiB body limit */
#define BACKOFF_FIRST_MS   1000
#define BACKOFF_MAX_MS	   30000
#define INTERVAL_DEFAULT_S 10	/* until the broker says otherwise */
#define WINDOW_INTERVALS   3	/* the broker's window is three heartbeat intervals */
#define PROBE_TIMEOUT_MS   1000 /* a console probe, per desktop */
#define TIMEOUT_DEFAULT_MS 5000

struct link_event {
	enum broker_session_event ev;
	char session[NAME_MAX_LEN + 1];
	char desktop[NAME_MAX_LEN + 1];
	char client[64];
};

struct link_end {
	enum broker_end_reason reason;
	char session[NAME_MAX_LEN + 1];
};

struct link_desktop {
	char *name, *uri;
	atomic_int console;			 /* enum broker_console, written by the loop */
	char reason[BROKER_LINK_REASON_MAX + 1]; /* why it is down; under reason_lock */
};

enum link_log {
	LOGGED_NOTHING,
	LOGGED_REGISTERED,
	LOGGED_UNREACHABLE,
	LOGGED_REFUSED,
};

struct broker_link {
	struct event_base *base;
	broker_link_end_fn on_end;
	void *ud;
	char *url, *ca_file, *cert_file, *key_file, *advertise;
	uint16_t port;
	struct link_desktop *desktops;
	size_t ndesktops;
	pthread_mutex_t reason_lock; /* the desktops' reason texts: loop writes, thread reads */
	bool lock_ready;
	struct https_target target;

	struct queue *events; /* loop -> thread: struct link_event * */
	struct queue *ends;   /* thread -> loop: struct link_end * */
	struct event *ends_ev;
	pthread_t thread;
	bool started;
	atomic_bool stop;

	/* the thread's own state */
	struct link_event **pending; /* ring of BROKER_LINK_PENDING_MAX */
	size_t head, npending, dropped;
	bool registered;
	int interval_s;
	uint64_t last_ok_ms; /* the broker's last answer */
	enum link_log logged;
	bool one_by_one;     /* a batch was refused: find the event at fault */
	bool warned_refused; /* said once until a report goes through */
};

static const char *const event_names[] = {
	[BROKER_SESSION_CONNECTED] = "connected",
	[BROKER_SESSION_DISCONNECTED] = "disconnected",
	[BROKER_SESSION_IDLE] = "idle",
	[BROKER_SESSION_ACTIVE] = "active",
};

static uint64_t mono_ms(void)
{
	return (uint64_t)clock_mono_ms();
}

/* Is the desktop up? When the loop said it is down, *reason gets why ("" if it did not say). */
static bool desktop_up(struct broker_link *l, struct link_desktop *d,
		       char reason[BROKER_LINK_REASON_MAX + 1])
{
	reason[0] = '\0';
	switch ((enum broker_console)atomic_load(&d->console)) {
	case BROKER_CONSOLE_UP:
		return true;
	case BROKER_CONSOLE_DOWN:
		pthread_mutex_lock(&l->reason_lock);
		memcpy(reason, d->reason, sizeof(d->reason));
		pthread_mutex_unlock(&l->reason_lock);
		return false;
	case BROKER_CONSOLE_UNKNOWN:
	default:
		return capture_reachable(d->uri, PROBE_TIMEOUT_MS); /* the link thread */
	}
}

/* ---- pending events (the link thread) ------------------------------------ */

static void pending_add(struct broker_link *l, struct link_event *e)
{
	if (l->npending == BROKER_LINK_PENDING_MAX) {
		/* the oldest goes: the broker learns the newest state of each session */
		free(l->pending[l->head]);
		l->head = (l->head + 1) % BROKER_LINK_PENDING_MAX;
		l->npending--;
		if (l->dropped++ == 0)
			log_warn("broker link: %d session events waiting for the broker; dropping "
				 "the oldest",
				 BROKER_LINK_PENDING_MAX);
	}
	l->pending[(l->head + l->npending) % BROKER_LINK_PENDING_MAX] = e;
	l->npending++;
}

static void pending_drop(struct broker_link *l, size_t n)
{
	for (size_t i = 0; i < n && l->npending; i++) {
		free(l->pending[l->head]);
		l->head = (l->head + 1) % BROKER_LINK_PENDING_MAX;
		l->npending--;
	}
	if (l->npending == 0)
		l->dropped = 0;
}

/*
 * Waits up to timeout_ms for events from the loop; keeps them. With
 * until_deadline it waits the whole time (a backoff); otherwise it returns
 * as soon as something arrived. False once the link is stopping.
 */
static bool collect(struct broker_link *l, int timeout_ms, bool until_deadline)
{
	uint64_t deadline = mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);

	for (;;) {
		uint64_t now = mono_ms();
		int left = now >= deadline ? 0 : (int)(deadline - now);
		struct link_event *e;

		if (atomic_load(&l->stop))
			return false;
		e = queue_pop_wait(l->events, left);
		if (e) {
			pending_add(l, e);
			while ((e = queue_try_pop(l->events)))
				pending_add(l, e);
			if (!until_deadline)
				return true;
			continue;
		}
		if (mono_ms() >= deadline)
			return !atomic_load(&l->stop);
	}
}

/* ---- requests (the link thread) ------------------------------------------ */

enum call_result {
	CALL_OK,	     /* 2xx; *json parsed (may be NULL when not JSON) */
	CALL_NOT_REGISTERED, /* 404 with the code "not_registered" */
	CALL_REFUSED,	     /* another 4xx: err says why */
	CALL_UNAVAILABLE,    /* 5xx, or no answer: err says why */
};

static enum call_result call(struct broker_link *l, const char *path, cJSON *body, cJSON **json,
			     char *err, size_t errlen)
{
	struct bapi_answer a;
	char why[512];
	enum call_result r;
	int rc = bapi_call(&l->target, "POST", path, NULL, body, &a, why, sizeof(why));

	*json = NULL;
	if (rc == 0) {
		r = CALL_OK;
		*json = a.json;
		a.json = NULL;
	} else if (a.status) {
		hr_errorf(err, errlen, "the broker answered %d to %s: %s", a.status, path, why);
		if (a.status == 404 && strcmp(a.code, API_CODE_NOT_REGISTERED) == 0)
			r = CALL_NOT_REGISTERED;
		else if (rc == -HR_EBROKER_REFUSED)
			r = CALL_REFUSED;
		else
			r = CALL_UNAVAILABLE;
	} else {
		hr_errorf(err, errlen, "%s", why);
		r = CALL_UNAVAILABLE;
	}
	bapi_answer_deinit(&a);
	if (r == CALL_OK || r == CALL_NOT_REGISTERED || r == CALL_REFUSED)
		l->last_ok_ms = mono_ms(); /* the broker is there */
	return r;
}

static int json_int(const cJSON *o, const char *name, int def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsNumber(v) ? (int)v->valuedouble : def;
}

static void take_interval(struct broker_link *l, const cJSON *answer)
{
	int s = json_int(answer, "heartbeat_interval_s", l->interval_s);
	l->interval_s = s >= 1 && s <= 3600 ? s : INTERVAL_DEFAULT_S;
}

static cJSON *desktops_json(struct broker_link *l)
{
	cJSON *arr = cJSON_CreateArray();

	for (size_t i = 0; arr && i < l->ndesktops; i++) {
		char reason[BROKER_LINK_REASON_MAX + 1];
		cJSON *d = cJSON_CreateObject();
		bool up;

		if (!d || !cJSON_AddItemToArray(arr, d)) {
			cJSON_Delete(d);
			break;
		}
		up = desktop_up(l, &l->desktops[i], reason);
		cJSON_AddStringToObject(d, "name", l->desktops[i].name);
		cJSON_AddBoolToObject(d, "up", up);
		if (!up && reason[0])
			cJSON_AddStringToObject(d, "reason", reason);
	}
	return arr;
}

static enum call_result do_register(struct broker_link *l, char *err, size_t errlen)
{
	cJSON *body = cJSON_CreateObject(), *answer = NULL;
	enum call_result r = CALL_UNAVAILABLE;

	if (!body) {
		snprintf(err, errlen, "out of memory");
		return r;
	}
	if (l->advertise)
		cJSON_AddStringToObject(body, "address", l->advertise);
	cJSON_AddNumberToObject(body, "port", l->port);
	cJSON_AddItemToObject(body, "desktops", desktops_json(l));
	r = call(l, "/api/v1/agent/register", body, &answer, err, errlen);
	if (r == CALL_OK) {
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(answer, "agent");
		int unknown = json_int(answer, "unknown", 0);

		take_interval(l, answer);
		log_info("registered with the broker at %s as %s: %d of %zu desktop(s) known, "
			 "heartbeat every %d s",
			 l->url, cJSON_IsString(name) ? name->valuestring : "?",
			 json_int(answer, "desktops", 0), l->ndesktops, l->interval_s);
		if (unknown > 0)
			log_warn("the broker does not know %d of this agent's desktops: add them "
				 "with 'highrisectl desktop add'",
				 unknown);
	}
	cJSON_Delete(answer);
	cJSON_Delete(body);
	return r;
}

static void push_end(struct broker_link *l, const char *session, enum broker_end_reason reason)
{
	struct link_end *e = calloc(1, sizeof(*e));

	if (!e)
		return;
	e->reason = reason;
	snprintf(e->session, sizeof(e->session), "%s", session);
	if (queue_push(l->ends, e) < 0) {
		log_warn("broker link: too many sessions to end at once; %s waits for the next "
			 "heartbeat",
			 session);
		free(e);
	}
}

static void take_ends(struct broker_link *l, const cJSON *answer)
{
	const cJSON *ends = cJSON_GetObjectItemCaseSensitive(answer, "end"), *it;

	cJSON_ArrayForEach(it, ends)
	{
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(it, "session");
		const cJSON *why = cJSON_GetObjectItemCaseSensitive(it, "reason");
		enum broker_end_reason reason = BROKER_END_ADMIN;

		if (!cJSON_IsString(s) || !*s->valuestring || strlen(s->valuestring) > NAME_MAX_LEN)
			continue;
		if (cJSON_IsString(why) && strcmp(why->valuestring, "logoff") == 0)
			reason = BROKER_END_LOGOFF;
		else if (cJSON_IsString(why) && strcmp(why->valuestring, "idle_timeout") == 0)
			reason = BROKER_END_IDLE_TIMEOUT;
		push_end(l, s->valuestring, reason);
	}
}

static enum call_result do_heartbeat(struct broker_link *l, char *err, size_t errlen)
{
	cJSON *body = cJSON_CreateObject(), *answer = NULL;
	enum call_result r = CALL_UNAVAILABLE;

	if (!body) {
		snprintf(err, errlen, "out of memory");
		return r;
	}
	cJSON_AddItemToObject(body, "desktops", desktops_json(l));
	r = call(l, "/api/v1/agent/heartbeat", body, &answer, err, errlen);
	if (r == CALL_OK) {
		take_interval(l, answer);
		take_ends(l, answer);
	}
	cJSON_Delete(answer);
	cJSON_Delete(body);
	return r;
}

/* Sends up to EVENTS_PER_REQUEST pending events; drops them once the broker has them. */
static enum call_result send_events(struct broker_link *l, char *err, size_t errlen)
{
	cJSON *body = cJSON_CreateObject(), *arr, *answer = NULL;
	size_t most = l->one_by_one ? 1 : EVENTS_PER_REQUEST;
	size_t n = l->npending < most ? l->npending : most;
	enum call_result r;

	arr = cJSON_AddArrayToObject(body, "events");
	if (!arr) {
		cJSON_Delete(body);
		snprintf(err, errlen, "out of memory");
		return CALL_UNAVAILABLE;
	}
	for (size_t i = 0; i < n; i++) {
		const struct link_event *e = l->pending[(l->head + i) % BROKER_LINK_PENDING_MAX];
		cJSON *o = cJSON_CreateObject();
		if (!o || !cJSON_AddItemToArray(arr, o)) {
			cJSON_Delete(o);
			n = i;
			break;
		}
		cJSON_AddStringToObject(o, "session", e->session);
		cJSON_AddStringToObject(o, "desktop", e->desktop);
		cJSON_AddStringToObject(o, "event", event_names[e->ev]);
		if (e->client[0])
			cJSON_AddStringToObject(o, "client", e->client);
	}
	r = call(l, "/api/v1/agent/sessions", body, &answer, err, errlen);
	if (r == CALL_OK) {
		log_debug("broker link: %zu session event(s) sent: %d accepted, %d unknown", n,
			  json_int(answer, "accepted", -1), json_int(answer, "unknown", -1));
		pending_drop(l, n);
		l->warned_refused = false;
		if (l->npending == 0)
			l->one_by_one = false;
	} else if (r == CALL_REFUSED && n > 1) {
		/* one bad event must not cost the others: send them one at a time */
		l->one_by_one = true;
	} else if (r == CALL_REFUSED) {
		/* the same bytes would be refused again: drop the event, say why once */
		if (!l->warned_refused)
			log_warn("%s; the event is dropped", err);
		else
			log_debug("%s; the event is dropped", err);
		l->warned_refused = true;
		pending_drop(l, n);
		if (l->npending == 0)
			l->one_by_one = false;
	}
	cJSON_Delete(answer);
	cJSON_Delete(body);
	return r;
}

/* ---- the thread ------------------------------------------------------------- */

static void log_down(struct broker_link *l, enum call_result r, const char *err, int backoff_ms)
{
	enum link_log now = r == CALL_REFUSED ? LOGGED_REFUSED : LOGGED_UNREACHABLE;

	if (l->logged == now) {
		log_debug("%s; retrying in %d s", err, backoff_ms / 1000);
		return;
	}
	l->logged = now;
	if (r == CALL_REFUSED)
		log_error("%s; check the agent's certificate and the broker's configuration; "
			  "retrying in %d s",
			  err, backoff_ms / 1000);
	else
		log_warn("%s; retrying in %d s", err, backoff_ms / 1000);
}

static void *link_main(void *arg)
{
	struct broker_link *l = arg;
	char err[512];
	int backoff = BACKOFF_FIRST_MS;
	uint64_t next_hb = 0, events_after = 0;
	enum call_result r;

	pthread_setname_np(pthread_self(), "hr-broker");
	l->interval_s = INTERVAL_DEFAULT_S;
	while (!atomic_load(&l->stop)) {
		uint64_t now = mono_ms();

		if (l->registered &&
		    now - l->last_ok_ms > (uint64_t)l->interval_s * WINDOW_INTERVALS * 1000u) {
			/* we were stopped or cut off for longer than the window: the broker
			 * has marked our desktops offline, and only a registration restores
			 * them */
			log_info("no word with the broker for %llu s: registering again",
				 (unsigned long long)((now - l->last_ok_ms) / 1000u));
			l->registered = false;
		}
		if (!l->registered) {
			r = do_register(l, err, sizeof(err));
			if (r != CALL_OK) {
				log_down(l, r, err, backoff);
				if (!collect(l, backoff, true))
					break;
				backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
								       : backoff * 2;
				continue;
			}
			l->registered = true;
			l->logged = LOGGED_REGISTERED;
			backoff = BACKOFF_FIRST_MS;
			next_hb = mono_ms() + (uint64_t)l->interval_s * 1000u;
			events_after = 0;
		}

		/* events first: they are what users and admins are waiting to see */
		now = mono_ms();
		if (l->npending && now >= events_after) {
			r = send_events(l, err, sizeof(err));
			if (r == CALL_NOT_REGISTERED) {
				l->registered = false;
				continue;
			}
			if (r == CALL_UNAVAILABLE) {
				log_warn("%s; the session events wait for the next heartbeat", err);
				events_after = next_hb;
			}
			if ((r == CALL_OK || r == CALL_REFUSED) && l->npending)
				continue; /* more than one request's worth */
		}
		now = mono_ms();
		if (now >= next_hb) {
			r = do_heartbeat(l, err, sizeof(err));
			next_hb = mono_ms() + (uint64_t)l->interval_s * 1000u;
			if (r == CALL_NOT_REGISTERED) {
				log_info("the broker does not know this agent (it may have "
					 "restarted): registering again");
				l->registered = false;
				continue;
			}
			if (r != CALL_OK) {
				/* a new registration restates our desktops once it answers */
				log_down(l, r, err, backoff);
				l->registered = false;
				if (!collect(l, backoff, true))
					break;
				backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
								       : backoff * 2;
				continue;
			}
			events_after = 0;
			continue;
		}
		now = mono_ms();
		if (!collect(l, (int)(next_hb - now), false))
			break;
	}

	/* stopping: the events the loop queued last (disconnects) go out once */
	struct link_event *e;
	while ((e = queue_try_pop(l->events)))
		pending_add(l, e);
	if (l->registered && l->npending)
		send_events(l, err, sizeof(err));
	return NULL;
}

/* ---- the loop side ----------------------------------------------------------- */

static void ends_cb(evutil_socket_t fd, short what, void *arg)
{
	struct broker_link *l = arg;
	struct link_end *e;
	(void)fd;
	(void)what;

	while ((e = queue_try_pop(l->ends))) {
		l->on_end(e->session, e->reason, l->ud);
		free(e);
	}
}

static char *dup_or_null(const char *s, bool *oom)
{
	char *d;

	if (!s || !*s)
		return NULL;
	d = strdup(s);
	if (!d)
		*oom = true;
	return d;
}

struct broker_link *broker_link_new(struct event_base *base, const struct broker_link_cfg *cfg,
				    broker_link_end_fn on_end, void *ud)
{
	struct broker_link *l;
	char host[256], port[16];
	bool oom = false;

	if (!cfg->url || https_parse_url(cfg->url, host, sizeof(host), port, sizeof(port)) < 0) {
		log_error("broker.url = '%s': write https://HOST[:PORT], e.g. "
			  "https://broker.example.com:8443",
			  cfg->url ? cfg->url : "");
		return NULL;
	}
	if (!cfg->ca_file || access(cfg->ca_file, R_OK) != 0) {
		log_error("broker.ca_file = '%s': the CA that signed the broker's certificate is "
			  "needed (ca.pem from highrise-certs) and must be readable",
			  cfg->ca_file ? cfg->ca_file : "");
		return NULL;
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		goto oom;
	l->base = base;
	l->on_end = on_end;
	l->ud = ud;
	l->port = cfg->port;
	atomic_init(&l->stop, false);
	if (pthread_mutex_init(&l->reason_lock, NULL) != 0)
		goto oom;
	l->lock_ready = true;
	l->url = dup_or_null(cfg->url, &oom);
	l->ca_file = dup_or_null(cfg->ca_file, &oom);
	l->cert_file = dup_or_null(cfg->cert_file, &oom);
	l->key_file = dup_or_null(cfg->key_file, &oom);
	l->advertise = dup_or_null(cfg->advertise_address, &oom);
	l->desktops = calloc(cfg->ndesktops ? cfg->ndesktops : 1, sizeof(*l->desktops));
	l->pending = calloc(BROKER_LINK_PENDING_MAX, sizeof(*l->pending));
	l->events = queue_new(EVENT_QUEUE_LEN);
	l->ends = queue_new(END_QUEUE_LEN);
	if (oom || !l->desktops || !l->pending || !l->events || !l->ends)
		goto oom;
	for (size_t i = 0; i < cfg->ndesktops; i++) {
		struct link_desktop *d = &l->desktops[i];
		d->name = dup_or_null(cfg->desktops[i].name, &oom);
		d->uri = dup_or_null(cfg->desktops[i].uri, &oom);
		atomic_init(&d->console, BROKER_CONSOLE_UNKNOWN);
		l->ndesktops++;
		if (oom || !d->name || !d->uri)
			goto oom;
	}
	l->target.url = l->url;
	l->target.ca_file = l->ca_file;
	l->target.cert_file = l->cert_file;
	l->target.key_file = l->key_file;
	l->target.timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : TIMEOUT_DEFAULT_MS;
	l->ends_ev = event_new(base, queue_fd(l->ends), EV_READ | EV_PERSIST, ends_cb, l);
	if (!l->ends_ev || event_add(l->ends_ev, NULL) < 0)
		goto oom;
	if (pthread_create(&l->thread, NULL, link_main, l) != 0) {
		log_error("cannot start the broker link's thread: %m");
		goto fail;
	}
	l->started = true;
	log_info("joining the broker at %s", l->url);
	return l;
oom:
	log_error("broker link: out of memory");
fail:
	broker_link_free(l);
	return NULL;
}

void broker_link_free(struct broker_link *l)
{
	if (!l)
		return;
	if (l->started) {
		atomic_store(&l->stop, true);
		queue_close(l->events); /* wakes the thread */
		pthread_join(l->thread, NULL);
	}
	if (l->ends_ev)
		event_free(l->ends_ev);
	if (l->pending) {
		pending_drop(l, l->npending);
		free(l->pending);
	}
	queue_free(l->events, free);
	queue_free(l->ends, free);
	for (size_t i = 0; i < l->ndesktops; i++) {
		free(l->desktops[i].name);
		free(l->desktops[i].uri);
	}
	free(l->desktops);
	if (l->lock_ready)
		pthread_mutex_destroy(&l->reason_lock);
	free(l->url);
	free(l->ca_file);
	free(l->cert_file);
	free(l->key_file);
	free(l->advertise);
	free(l);
}

void broker_link_event(struct broker_link *l, const char *session, const char *desktop,
		       enum broker_session_event ev, const char *client)
{
	struct link_event *e;

	if (!l || !session || !*session)
		return;
	e = calloc(1, sizeof(*e));
	if (!e)
		return;
	e->ev = ev;
	snprintf(e->session, sizeof(e->session), "%s", session);
	snprintf(e->desktop, sizeof(e->desktop), "%s", desktop ? desktop : "");
	snprintf(e->client, sizeof(e->client), "%s", client ? client : "");
	if (queue_push(l->events, e) < 0) {
		log_warn("broker link: the link thread is behind; session %s's '%s' event dropped",
			 session, event_names[ev]);
		free(e);
	}
}

/* The length of the well-formed UTF-8 character (RFC 3629 §4) at s, n bytes left; 0: none. */
static size_t utf8_char(const unsigned char *s, size_t n)
{
	size_t need;
	uint32_t cp;

	if (s[0] < 0x80)
		return s[0] ? 1 : 0;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		need = 1;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		need = 2;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		need = 3;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (need >= n)
		return 0;
	for (size_t k = 1; k <= need; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[k] & 0x3f);
	}
	if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need + 1;
}

/*
 * reason as the broker accepts it: UTF-8 (a byte that is not becomes '?'),
 * at most BROKER_LINK_REASON_MAX bytes, cut between characters.
 */
static void reason_copy(char out[BROKER_LINK_REASON_MAX + 1], const char *reason)
{
	const unsigned char *s = (const unsigned char *)(reason ? reason : "");
	size_t n = strlen((const char *)s), o = 0;

	while (n > 0) {
		size_t k = utf8_char(s, n);
		if (o + (k ? k : 1) > BROKER_LINK_REASON_MAX)
			break;
		if (k) {
			memcpy(out + o, s, k);
		} else {
			out[o] = '?';
			k = 1;
		}
		o += k;
		s += k;
		n -= k;
	}
	out[o] = '\0';
}

void broker_link_console(struct broker_link *l, size_t i, enum broker_console state,
			 const char *reason)
{
	char text[BROKER_LINK_REASON_MAX + 1];
	struct link_desktop *d;

	if (!l || i >= l->ndesktops)
		return;
	d = &l->desktops[i];
	reason_copy(text, state == BROKER_CONSOLE_DOWN ? reason : NULL);
	pthread_mutex_lock(&l->reason_lock);
	memcpy(d->reason, text, sizeof(text));
	pthread_mutex_unlock(&l->reason_lock);
	/* the state last: a thread that sees DOWN finds its reason already there */
	atomic_store(&d->console, (int)state);
}
