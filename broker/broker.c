/* SPDX-License-Identifier: MIT */
/*
 * The broker daemon's core: TLS listener, routing, authentication, the
 * worker threads that do the blocking work, and the answers.
 *
 * A request's life: the loop routes it, checks method, content type and
 * the caller's credentials (client certificate; a token is checked by the
 * worker, as it needs the store), counts a login attempt, and queues a job.
 * A worker runs the job against its own store connection and writes the
 * answer as JSON text. The loop sends it. Nothing secret is logged:
 * passwords and tokens never, tickets by their short id only.
 */
#include "broker.h"
#include "api_parse.h"
#include "clock.h"
#include "error.h"
#include "hostport.h"
#include "limiter.h"
#include "log.h"
#include "password.h"
#include "queue.h"
#include "store.h"
#include "ticket.h"
#include "tls.h"

#include <arpa/inet.h>
#include <assert.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define WORKERS_MAX   64
#define JOB_QUEUE_LEN 1024
#define CA_PEM_MAX    (256 * 1024)

static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};

const struct config_key broker_config_table[] = {
	{"listen", CONFIG_STRING, "0.0.0.0:8443", 0, 300, offsetof(struct broker_cfg, listen), NULL,
	 "address and TCP port of the HTTPS API"},
	{"tls.cert_file", CONFIG_STRING, NULL, 0, 4096, offsetof(struct broker_cfg, cert_file),
	 NULL, "the broker's TLS certificate (highrise-certs issue broker NAME)"},
	{"tls.key_file", CONFIG_STRING, NULL, 0, 4096, offsetof(struct broker_cfg, key_file), NULL,
	 "its private key"},
	{"tls.ca_file", CONFIG_STRING, NULL, 0, 4096, offsetof(struct broker_cfg, ca_file), NULL,
	 "the CA that verifies agent and admin certificates (ca.pem)"},
	{"tls.agent_ca_file", CONFIG_STRING, NULL, 0, 4096,
	 offsetof(struct broker_cfg, agent_ca_file), NULL,
	 "the CA handed to clients to verify agents (default: tls.ca_file)"},
	{"ticket.key_file", CONFIG_STRING, NULL, 0, 4096, offsetof(struct broker_cfg, ticket_key),
	 NULL,
	 "the Ed25519 key that signs connect tickets (highrise-certs ticket-key: ticket.key)"},
	{"ticket.lifetime_s", CONFIG_INT, "30", 1, TICKET_LIFETIME_MAX,
	 offsetof(struct broker_cfg, ticket_lifetime_s), NULL,
	 "seconds a connect ticket stays valid"},
	{"store", CONFIG_STRING, NULL, 0, 4096, offsetof(struct broker_cfg, store), NULL,
	 "the database: sqlite:PATH"},
	{"login.token_lifetime_s", CONFIG_INT, "28800", 60, 31 * 86400,
	 offsetof(struct broker_cfg, token_lifetime_s), NULL, "seconds a login token stays valid"},
	{"login.free_attempts", CONFIG_INT, "3", 1, 1000,
	 offsetof(struct broker_cfg, login_free_attempts), NULL,
	 "login attempts per user and per address before backoff starts"},
	{"login.backoff_ms", CONFIG_INT, "1000", 1, 3600000,
	 offsetof(struct broker_cfg, login_backoff_ms), NULL,
	 "the first backoff; it doubles with each further attempt"},
	{"login.backoff_max_ms", CONFIG_INT, "300000", 1, 86400000,
	 offsetof(struct broker_cfg, login_backoff_max_ms), NULL, "the longest backoff"},
	{"agent.heartbeat_window_s", CONFIG_INT, "30", 2, 86400,
	 offsetof(struct broker_cfg, heartbeat_window_s), NULL,
	 "an agent silent this long has its desktops marked offline"},
	{"session.pending_timeout_s", CONFIG_INT, "300", 1, 7 * 86400,
	 offsetof(struct broker_cfg, pending_timeout_s), NULL,
	 "a session whose client never connected counts as disconnected after this long"},
	{"workers", CONFIG_INT, "4", 1, WORKERS_MAX, offsetof(struct broker_cfg, workers), NULL,
	 "threads for database work and password hashing"},
	{"max_body", CONFIG_INT, "65536", 1024, 16777216, offsetof(struct broker_cfg, max_body),
	 NULL, "largest request body accepted, bytes"},
	{"log.level", CONFIG_ENUM, "info", 0, 0, offsetof(struct broker_cfg, log_level), log_levels,
	 "log verbosity"},
	{NULL, 0, NULL, 0, 0, 0, NULL, NULL},
};

enum job_kind {
	JOB_REQUEST, /* answers an HTTP request */
	JOB_EXPIRE,  /* the heartbeat sweep; no request */
};

struct job {
	enum job_kind kind;
	struct evhttp_request *req;
	struct api_path path;
	char peer[64];		     /* the client's address */
	char cn[API_NAME_MAX + 1];   /* agent or admin certificate CN */
	uint8_t token_hash[32];	     /* API_AUTH_TOKEN */
	char user[API_NAME_MAX + 1]; /* API_AUTH_TOKEN: the token's user (on the worker) */
	char *body;		     /* a copy of the request body */
	size_t len;
	struct api_login login; /* API_LOGIN, parsed on the loop for the limiter */
	int64_t now;
	/* the answer */
	int status;
	char *reply; /* JSON text */
	int retry_after;
	bool login_ok;
};

struct worker {
	struct broker *b;
	struct store *store;
	pthread_t thread;
	bool started;
};

struct broker {
	struct event_base *base;
	struct broker_cfg cfg; /* strings borrowed from the caller's cfg: see broker_new */
	struct tls_ctx *tls;   /* proto/tls.h: TLS 1.3, a client certificate asked for */
	struct evhttp *http;
	uint16_t port;
	EVP_PKEY *ticket_key;
	char *agent_ca_pem;
	struct queue *jobs, *done;
	struct event *done_ev, *expire_ev;
	struct worker workers[WORKERS_MAX];
	int nworkers;
	struct limiter *limiter;
};

static void job_free(struct job *j)
{
	if (!j)
		return;
	free(j->body);
	free(j->reply);
	/* the password is gone with the job; wipe it so no copy lingers in freed memory */
	OPENSSL_cleanse(&j->login, sizeof(j->login));
	free(j);
}

static void job_free_item(void *item)
{
	job_free(item);
}

/* ---- answers ---- */

static char *json_text(cJSON *j)
{
	char *s = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	return s;
}

/* {"error", "hint"?, "code"?}: code only where a program acts on it (routes.h's API_CODE_*) */
static char *error_text(const char *error, const char *hint, const char *code)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "error", error);
	if (hint)
		cJSON_AddStringToObject(j, "hint", hint);
	if (code)
		cJSON_AddStringToObject(j, "code", code);
	return json_text(j);
}

static void job_error_code(struct job *j, int status, const char *error, const char *hint,
			   const char *code)
{
	j->status = status;
	free(j->reply);
	j->reply = error_text(error, hint, code);
}

static void job_error(struct job *j, int status, const char *error, const char *hint)
{
	job_error_code(j, status, error, hint, NULL);
}

static void job_ok(struct job *j, int status, cJSON *body)
{
	j->status = status;
	free(j->reply);
	j->reply = json_text(body);
}

static const char *reason_phrase(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 413:
		return "Payload Too Large";
	case 415:
		return "Unsupported Media Type";
	case 429:
		return "Too Many Requests";
	case 503:
		return "Service Unavailable";
	default:
		return status < 500 ? "Client Error" : "Server Error";
	}
}

static void send_json(struct evhttp_request *req, int status, const char *text, int retry_after,
		      const char *allow)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *out = evbuffer_new();
	char ra[24];

	evhttp_add_header(h, "Content-Type", "application/json");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	if (retry_after > 0) {
		snprintf(ra, sizeof(ra), "%d", retry_after);
		evhttp_add_header(h, "Retry-After", ra);
	}
	if (allow)
		evhttp_add_header(h, "Allow", allow);
	if (out && text)
		evbuffer_add(out, text, strlen(text));
	if (out)
		evbuffer_add(out, "\n", 1);
	evhttp_send_reply(req, status, reason_phrase(status), out);
	evbuffer_free(out);
}

static void reply_error(struct evhttp_request *req, int status, const char *error, const char *hint)
{
	char *t = error_text(error, hint, NULL);
	send_json(req, status, t, 0, NULL);
	free(t);
}

/* ---- the worker side: everything here may block ---- */

static int status_for(int rc)
{
	switch (rc) {
	case -ENOENT:
		return 404;
	case -EEXIST:
		return 409;
	case -EACCES:
		return 403;
	case -ENOSPC:
	case -EHOSTDOWN:
		return 503;
	case -EDQUOT:
	case -EBUSY:
		return 409;
	case -EINVAL:
		return 400;
	default:
		return 500;
	}
}

static void job_store_error(struct job *j, int rc, const char *what)
{
	char msg[160];
	snprintf(msg, sizeof(msg), "%s: %s", what, store_strerror(rc));
	job_error(j, status_for(rc), msg, NULL);
}

/* A user name for a log line: what a client typed may hold newlines or worse. */
static const char *loggable(const char *name)
{
	return hr_name_ok(name) ? name : "(not a valid name)";
}

static void run_login(struct worker *w, struct job *j)
{
	struct broker *b = w->b;
	char hash[STORE_HASH_MAX + 1], text[API_TOKEN_TEXT];
	uint8_t token[API_TOKEN_LEN], th[32];
	int64_t expires = j->now + b->cfg.token_lifetime_s;
	cJSON *r;
	int rc;

	rc = w->store->impl->user_password_hash(w->store, j->login.user, hash, sizeof(hash));
	if (rc == 0) {
		rc = password_verify(j->login.password, hash);
	} else if (rc == -ENOENT) {
		password_dummy_verify(j->login.password); /* as slow as a wrong password */
		rc = -EACCES;
	}
	OPENSSL_cleanse(j->login.password, sizeof(j->login.password));
	if (rc == -EACCES || rc == -EINVAL) {
		/* the same answer for an unknown user and a wrong password */
		log_info("login refused for '%s' from %s", loggable(j->login.user), j->peer);
		job_error(j, 401, "invalid user name or password", NULL);
		return;
	}
	if (rc < 0) {
		job_store_error(j, rc, "login failed");
		return;
	}
	if (RAND_bytes(token, sizeof(token)) != 1) {
		job_error(j, 500, "cannot make a token", NULL);
		return;
	}
	api_token_hash(token, th);
	rc = w->store->impl->token_add(w->store, th, j->login.user, expires);
	if (rc < 0) {
		job_store_error(j, rc, "login failed");
		return;
	}
	api_token_text(token, text);
	OPENSSL_cleanse(token, sizeof(token));
	r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "token", text);
	cJSON_AddNumberToObject(r, "expires", (double)expires);
	cJSON_AddStringToObject(r, "user", j->login.user);
	OPENSSL_cleanse(text, sizeof(text));
	job_ok(j, 200, r);
	j->login_ok = true;
	log_info("login: '%s' from %s", j->login.user, j->peer);
}

static void run_pools(struct worker *w, struct job *j)
{
	const char *user = j->user;
	struct store_pool *pools;
	size_t n;
	cJSON *r, *a;
	int rc = w->store->impl->pools_for_user(w->store, user, &pools, &n);
	if (rc < 0) {
		job_store_error(j, rc, "cannot list pools");
		return;
	}
	r = cJSON_CreateObject();
	a = cJSON_AddArrayToObject(r, "pools");
	for (size_t i = 0; i < n; i++) {
		cJSON *p = cJSON_CreateObject();
		cJSON_AddStringToObject(p, "name", pools[i].name);
		cJSON_AddStringToObject(p, "kind", store_pool_kind_name(pools[i].kind));
		cJSON_AddItemToArray(a, p);
	}
	free(pools);
	job_ok(j, 200, r);
}

_Static_assert(API_CLIENT_KEY_LEN == TICKET_CLIENT_KEY_LEN, "a connect's key is the ticket's");

static void run_connect(struct worker *w, struct job *j)
{
	const char *user = j->user;
	struct broker *b = w->b;
	struct store_connect_req q = {.user = user,
				      .pool = j->path.arg[0],
				      .client_address = j->peer,
				      .now = j->now,
				      .heartbeat_window = b->cfg.heartbeat_window_s};
	struct store_connect_res res;
	struct api_connect body;
	uint8_t wire[TICKET_WIRE_MAX];
	char b64[4 * ((TICKET_WIRE_MAX + 2) / 3) + 1], id[17];
	const char *why;
	struct ticket t;
	size_t len;
	cJSON *r;
	int rc;

	/* before the store: a request that cannot get a ticket must not get a desktop either */
	if (api_parse_connect(j->body, j->len, &body, &why) < 0) {
		job_error(j, 400, why,
			  "send {\"client_key\": \"BASE64\"}: the public half of a fresh Ed25519 "
			  "key pair, whose private half signs the HELLO (docs/broker-api.md)");
		return;
	}
	rc = w->store->impl->connect(w->store, &q, &res);
	switch (rc) {
	case 0:
		break;
	case -ENOENT:
		job_error(j, 404, "no such pool", "GET /api/v1/pools lists the pools you may use");
		return;
	case -EACCES:
		job_error(j, 403, "you are not entitled to this pool",
			  "ask an administrator to entitle you (highrisectl entitle)");
		return;
	case -ENOSPC:
		job_error(j, 503, "no desktop available",
			  "every desktop of the pool is in use, offline or in maintenance; try "
			  "again later");
		return;
	case -EHOSTDOWN:
		job_error(j, 503, "your desktop is offline or in maintenance", "try again later");
		return;
	case -EDQUOT:
		job_error(j, 409, "you have the most sessions this pool allows",
			  "log off one of them first");
		return;
	default:
		job_store_error(j, rc, "cannot connect");
		return;
	}
	rc = ticket_init(&t, user, res.desktop, res.agent, res.session, body.client_key, j->now,
			 (int)b->cfg.ticket_lifetime_s);
	if (rc == 0)
		rc = ticket_sign(&t, b->ticket_key, wire, sizeof(wire), &len);
	if (rc < 0) {
		log_error("cannot sign a ticket: %s", hr_strerror(rc));
		job_error(j, 500, "cannot sign a connect ticket", NULL);
		return;
	}
	EVP_EncodeBlock((unsigned char *)b64, wire, (int)len);
	ticket_id_short(&t, id);
	r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "agent", res.agent);
	cJSON_AddStringToObject(r, "address", res.address);
	cJSON_AddNumberToObject(r, "port", res.port);
	if (b->agent_ca_pem)
		cJSON_AddStringToObject(r, "ca", b->agent_ca_pem);
	cJSON_AddStringToObject(r, "ticket", b64);
	cJSON_AddNumberToObject(r, "expires", (double)t.expires);
	cJSON_AddStringToObject(r, "desktop", res.desktop);
	cJSON_AddStringToObject(r, "session", res.session);
	cJSON_AddBoolToObject(r, "resumed", res.reused);
	job_ok(j, 200, r);
	OPENSSL_cleanse(b64, sizeof(b64));
	log_info("connect: '%s' -> %s/%s session %s ticket %s", user, res.agent, res.desktop,
		 res.session, id);
}

/* A registration's or heartbeat's desktops as the store takes them. */
struct desktop_report {
	const char **names, **reasons; /* into the api_register */
	bool *changed;		       /* filled by the store */
};

static void desktop_report_free(struct desktop_report *d)
{
	free(d->names);
	free(d->reasons);
	free(d->changed);
}

static int desktop_report_init(struct desktop_report *d, const struct api_register *reg)
{
	size_t n = reg->count ? reg->count : 1;

	d->names = calloc(n, sizeof(*d->names));
	d->reasons = calloc(n, sizeof(*d->reasons));
	d->changed = calloc(n, sizeof(*d->changed));
	if (!d->names || !d->reasons || !d->changed) {
		desktop_report_free(d);
		return -ENOMEM;
	}
	for (size_t i = 0; i < reg->count; i++) {
		d->names[i] = reg->desktops[i];
		d->reasons[i] = reg->reasons[i];
	}
	return 0;
}

/*
 * A registration's or heartbeat's body parsed (rc, *why from api_parse_*)
 * into d; false when it answered 400 (the hint names the route) or 500.
 */
static bool report_parsed(struct job *j, int rc, const char *const *why, struct api_register *reg,
			  struct desktop_report *d)
{
	char hint[96];
	if (rc < 0) {
		snprintf(hint, sizeof(hint), "see docs/broker-api.md, POST /api/v1/%s",
			 j->path.def->path);
		job_error(j, 400, *why, hint);
		return false;
	}
	if (desktop_report_init(d, reg) < 0) {
		api_register_free(reg);
		job_error(j, 500, "out of memory", NULL);
		return false;
	}
	return true;
}

/*
 * One line per desktop whose console state changed (the store says which):
 * an admin reads why a desktop stopped being handed out, once. Comings
 * online only for heartbeats: after a registration the agent's line says it.
 */
static void log_desktop_changes(const char *agent, const struct api_register *reg,
				const struct desktop_report *d, bool online_too)
{
	for (size_t i = 0; i < reg->count; i++) {
		if (!d->changed[i])
			continue;
		if (!reg->up[i])
			log_warn("desktop %s on agent %s is offline: %s", reg->desktops[i], agent,
				 reg->reasons[i][0] ? reg->reasons[i]
						    : "its agent reports the console down");
		else if (online_too)
			log_info("desktop %s on agent %s is online again", reg->desktops[i], agent);
	}
}

static void run_heartbeat(struct worker *w, struct job *j)
{
	struct store *s = w->store;
	struct store_end *ends = NULL;
	struct api_register hb;
	struct desktop_report d;
	const char *why;
	size_t nends = 0;
	cJSON *r, *a;
	int rc;

	if (!report_parsed(j, api_parse_heartbeat(j->body, j->len, &hb, &why), &why, &hb, &d))
		return;
	rc = s->impl->agent_heartbeat(s, j->cn, j->now, d.names, hb.up, d.reasons, hb.count,
				      d.changed, &ends, &nends);
	if (rc == 0)
		log_desktop_changes(j->cn, &hb, &d, true);
	desktop_report_free(&d);
	api_register_free(&hb);
	if (rc == -ENOENT) {
		job_error_code(j, 404, "this agent is not registered",
			       "POST /api/v1/agent/register first", API_CODE_NOT_REGISTERED);
		return;
	}
	if (rc < 0) {
		job_store_error(j, rc, "heartbeat failed");
		return;
	}
	r = cJSON_CreateObject();
	cJSON_AddNumberToObject(r, "heartbeat_interval_s",
				(double)(w->b->cfg.heartbeat_window_s / 3));
	a = cJSON_AddArrayToObject(r, "end");
	for (size_t i = 0; i < nends; i++) {
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "session", ends[i].session);
		cJSON_AddStringToObject(e, "reason", store_end_reason_name(ends[i].reason));
		cJSON_AddItemToArray(a, e);
		log_info("agent %s: drop the client of session %s (%s)", j->cn, ends[i].session,
			 store_end_reason_name(ends[i].reason));
	}
	free(ends);
	job_ok(j, 200, r);
}

static void run_sessions(struct worker *w, struct job *j)
{
	struct store *s = w->store;
	struct store_event *ev;
	struct api_events e;
	size_t accepted = 0, unknown = 0;
	const char *why;
	cJSON *r;
	int rc;

	if (api_parse_events(j->body, j->len, &e, &why) < 0) {
		job_error(j, 400, why, "see docs/broker-api.md, POST /api/v1/agent/sessions");
		return;
	}
	ev = calloc(e.count ? e.count : 1, sizeof(*ev));
	if (!ev) {
		api_events_free(&e);
		job_error(j, 500, "out of memory", NULL);
		return;
	}
	for (size_t i = 0; i < e.count; i++) {
		ev[i].session = e.ev[i].session;
		ev[i].desktop = e.ev[i].desktop;
		ev[i].event = (enum store_session_event)e.ev[i].event;
		ev[i].client = e.ev[i].client[0] ? e.ev[i].client : NULL;
	}
	rc = s->impl->session_events(s, j->cn, j->now, ev, e.count, &accepted, &unknown);
	free(ev);
	api_events_free(&e);
	if (rc < 0) {
		job_store_error(j, rc, "session report failed");
		return;
	}
	if (unknown)
		log_info("agent %s reported %zu sessions the broker does not have: they go on its "
			 "end list",
			 j->cn, unknown);
	r = cJSON_CreateObject();
	cJSON_AddNumberToObject(r, "accepted", (double)accepted);
	cJSON_AddNumberToObject(r, "unknown", (double)unknown);
	job_ok(j, 200, r);
}

static void run_register(struct worker *w, struct job *j)
{
	struct broker *b = w->b;
	struct store *s = w->store;
	struct api_register reg;
	struct desktop_report d;
	const char *why;
	size_t unknown = 0;
	cJSON *r;
	int rc;

	if (!report_parsed(j, api_parse_register(j->body, j->len, &reg, &why), &why, &reg, &d))
		return;
	rc = s->impl->agent_register(s, j->cn, reg.address[0] ? reg.address : j->peer, reg.port,
				     j->now, d.names, reg.up, d.reasons, reg.count, d.changed,
				     &unknown);
	if (rc < 0) {
		desktop_report_free(&d);
		api_register_free(&reg);
		job_store_error(j, rc, "registration failed");
		return;
	}
	log_info("agent %s registered from %s: %zu desktops, %zu unknown to the broker", j->cn,
		 j->peer, reg.count, unknown);
	log_desktop_changes(j->cn, &reg, &d, false);
	desktop_report_free(&d);
	r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "agent", j->cn);
	cJSON_AddNumberToObject(r, "desktops", (double)(reg.count - unknown));
	cJSON_AddNumberToObject(r, "unknown", (double)unknown);
	cJSON_AddNumberToObject(r, "heartbeat_interval_s", (double)(b->cfg.heartbeat_window_s / 3));
	api_register_free(&reg);
	job_ok(j, 200, r);
}

static int parse_enum(const char *s, const char *const *names, int def)
{
	if (!s[0])
		return def;
	for (int i = 0; names[i]; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

/* Columns that hold numbers go out as JSON numbers. */
static bool numeric_column(const char *name)
{
	static const char *const nums[] = {
		"port",		  "idle_timeout_s", "max_sessions", "desktops", "available",
		"last_heartbeat", "started",	    "last_seen",    "sessions", NULL};
	for (int i = 0; nums[i]; i++)
		if (strcmp(name, nums[i]) == 0)
			return true;
	return false;
}

/* One row of a listing as an object, numbers as numbers. */
static cJSON *row_object(const struct store_table *t, size_t row)
{
	cJSON *o = cJSON_CreateObject();
	for (size_t c = 0; c < t->ncols; c++) {
		const char *v = t->cells[row * t->ncols + c];
		if (numeric_column(t->cols[c]))
			cJSON_AddNumberToObject(o, t->cols[c], strtod(v, NULL));
		else
			cJSON_AddStringToObject(o, t->cols[c], v);
	}
	return o;
}

static void run_list(struct worker *w, struct job *j)
{
	static const char *const names[STORE_LIST_COUNT_] = {
		[STORE_LIST_USERS] = "users",	[STORE_LIST_GROUPS] = "groups",
		[STORE_LIST_POOLS] = "pools",	[STORE_LIST_DESKTOPS] = "desktops",
		[STORE_LIST_AGENTS] = "agents", [STORE_LIST_SESSIONS] = "sessions",
	};
	struct store_table t;
	cJSON *r, *a;
	int what = -1, rc;

	for (int i = 0; i < STORE_LIST_COUNT_; i++)
		if (strcmp(j->path.arg[0], names[i]) == 0)
			what = i;
	if (what < 0) {
		job_error(j, 404, "no such listing", NULL);
		return;
	}
	rc = w->store->impl->list(w->store, (enum store_list)what, &t);
	if (rc < 0) {
		job_store_error(j, rc, "cannot list");
		return;
	}
	r = cJSON_CreateObject();
	a = cJSON_AddArrayToObject(r, names[what]);
	for (size_t row = 0; row < t.nrows; row++)
		cJSON_AddItemToArray(a, row_object(&t, row));
	store_table_free(&t);
	job_ok(j, 200, r);
}

/* ---- admin requests: a path's {names} and a body's members by their route's names ---- */

struct admin_req {
	struct job *j;
	struct api_fields f;
	const char *names[ROUTE_STRINGS], *nums[ROUTE_NUMBERS];
	char none[1]; /* what a name the row does not have reads as */
};

/* The path's {name}. */
static const char *arg(const struct job *j, const char *name)
{
	int i = route_arg_index(j->path.def, name);
	assert(i >= 0 && i < ROUTE_ARGS_MAX); /* the row names it */
	return i >= 0 && i < ROUTE_ARGS_MAX ? j->path.arg[i] : "";
}

/* The body's string member name ("" when absent). */
static char *str(struct admin_req *a, const char *name)
{
	for (int i = 0; i < ROUTE_STRINGS; i++)
		if (a->names[i] && strcmp(a->names[i], name) == 0)
			return a->f.s[i];
	assert(!"a string member its route's row does not have");
	a->none[0] = '\0';
	return a->none;
}

/* The body's number or boolean member name; false when absent. */
static bool num(const struct admin_req *a, const char *name, int64_t *v)
{
	for (int i = 0; i < ROUTE_NUMBERS; i++)
		if (a->nums[i] && strcmp(a->nums[i], name) == 0) {
			*v = a->f.num[i];
			return a->f.has_num[i];
		}
	assert(!"a number member its route's row does not have");
	return false;
}

/* The body as the route's row names it; false when it answered 400. */
static bool admin_parse(struct job *j, struct admin_req *a, const char *hint)
{
	const char *why;
	memset(a, 0, sizeof(*a));
	a->j = j;
	if (route_fields(j->path.def, a->names, a->nums) == 0)
		return true; /* no body to read */
	if (api_parse_fields(j->body, j->len, a->names, a->nums, &a->f, &why) < 0) {
		job_error(j, 400, why, hint);
		return false;
	}
	return true;
}

static void run_desktop(struct worker *w, struct job *j)
{
	struct store_desktop_info info;
	cJSON *r;
	int rc = w->store->impl->desktop_get(w->store, arg(j, "agent"), arg(j, "desktop"), &info);
	if (rc < 0) {
		job_store_error(j, rc, "desktop");
		return;
	}
	r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "agent", info.agent);
	cJSON_AddStringToObject(r, "name", info.name);
	cJSON_AddStringToObject(r, "pool", info.pool);
	cJSON_AddStringToObject(r, "state", store_desktop_state_name(info.state));
	if (info.offline_reason[0])
		cJSON_AddStringToObject(r, "offline_reason", info.offline_reason);
	job_ok(j, 200, r);
}

/* One pool as its listing's row shows it. */
static void run_pool(struct worker *w, struct job *j)
{
	const char *name = arg(j, "pool");
	struct store_table t;
	cJSON *r = NULL;
	int rc = w->store->impl->list(w->store, STORE_LIST_POOLS, &t);
	if (rc < 0) {
		job_store_error(j, rc, "cannot list");
		return;
	}
	for (size_t row = 0; row < t.nrows && !r; row++)
		if (strcmp(t.cells[row * t.ncols], name) == 0)
			r = row_object(&t, row);
	store_table_free(&t);
	if (!r)
		job_error(j, 404, "refused: not found", NULL);
	else
		job_ok(j, 200, r);
}

static const char *const pool_kinds[] = {"floating", "dedicated", NULL};
static const char *const pool_logoffs[] = {"never", "immediate", "after_idle", NULL};

static void run_pool_set(struct worker *w, struct job *j)
{
	struct store_pool_change c;
	struct admin_req a;
	int64_t n;
	int rc;

	if (!admin_parse(j, &a, "see docs/broker-api.md, POST /api/v1/admin/pools/{pool}"))
		return;
	c.kind = parse_enum(str(&a, "kind"), pool_kinds, -2);
	c.logoff = parse_enum(str(&a, "logoff"), pool_logoffs, -2);
	if (c.kind == -1 || c.logoff == -1) {
		job_error(j, 400,
			  "\"kind\" is floating or dedicated, \"logoff\" never, immediate or "
			  "after_idle",
			  NULL);
		return;
	}
	c.kind = c.kind < 0 ? -1 : c.kind;
	c.logoff = c.logoff < 0 ? -1 : c.logoff;
	c.idle_timeout_s = num(&a, "idle_timeout_s", &n) ? n : -1;
	c.max_sessions = num(&a, "max_sessions", &n) ? n : -1;
	if (c.kind < 0 && c.logoff < 0 && c.idle_timeout_s < 0 && c.max_sessions < 0) {
		job_error(j, 400, "nothing to change",
			  "send one or more of \"kind\", \"logoff\", \"idle_timeout_s\", "
			  "\"max_sessions\"");
		return;
	}
	rc = w->store->impl->pool_set(w->store, arg(j, "pool"), &c);
	if (rc == -EBUSY) {
		job_error(j, 409, "a pool's kind cannot change once it has desktops",
			  "remove its desktops first (highrisectl desktop remove), or make a new "
			  "pool of the other kind");
		return;
	}
	if (rc < 0) {
		job_store_error(j, rc, "refused");
		return;
	}
	log_info("admin %s changed pool %s", j->cn, arg(j, "pool"));
	job_ok(j, 200, cJSON_CreateObject());
}

/*
 * The admin changes: each returns 0 or a store error (answered "refused: ..."),
 * or answers the request itself with job_error. On success the answer is
 * {} with its row's status.
 */

static int user_add(struct store *s, struct admin_req *a)
{
	char hash[PASSWORD_HASH_MAX], *pw = str(a, "password");
	const char *name = str(a, "name");
	int rc;
	if (!hr_name_ok(name) || !pw[0]) {
		job_error(a->j, 400, "a user needs a \"name\" and a \"password\"",
			  "names are 1..128 of A-Z a-z 0-9 . _ @ -");
		return 0;
	}
	rc = password_hash(pw, NULL, hash, sizeof(hash));
	OPENSSL_cleanse(pw, API_URI_FIELD_MAX);
	return rc == 0 ? s->impl->user_add(s, name, hash) : rc;
}

static int user_password(struct store *s, struct admin_req *a)
{
	char hash[PASSWORD_HASH_MAX], *pw = str(a, "password");
	int rc;
	if (!pw[0]) {
		job_error(a->j, 400, "the body needs a \"password\"", NULL);
		return 0;
	}
	rc = password_hash(pw, NULL, hash, sizeof(hash));
	OPENSSL_cleanse(pw, API_URI_FIELD_MAX);
	return rc == 0 ? s->impl->user_set_password(s, arg(a->j, "user"), hash) : rc;
}

static int user_delete(struct store *s, struct admin_req *a)
{
	return s->impl->user_delete(s, arg(a->j, "user"));
}

static int group_add(struct store *s, struct admin_req *a)
{
	return hr_name_ok(str(a, "name")) ? s->impl->group_add(s, str(a, "name")) : -EINVAL;
}

static int group_member_add(struct store *s, struct admin_req *a)
{
	const char *user = str(a, "user");
	return hr_name_ok(user) ? s->impl->group_member_add(s, arg(a->j, "group"), user) : -EINVAL;
}

static int group_member_remove(struct store *s, struct admin_req *a)
{
	return s->impl->group_member_remove(s, arg(a->j, "group"), arg(a->j, "user"));
}

static int group_delete(struct store *s, struct admin_req *a)
{
	return s->impl->group_delete(s, arg(a->j, "group"));
}

static int pool_add(struct store *s, struct admin_req *a)
{
	struct store_pool p = {0};
	const char *name = str(a, "name");
	int kind = parse_enum(str(a, "kind"), pool_kinds, 0);
	int logoff = parse_enum(str(a, "logoff"), pool_logoffs, 0);
	int64_t n;
	if (!hr_name_ok(name) || kind < 0 || logoff < 0) {
		job_error(a->j, 400,
			  "a pool needs a \"name\"; \"kind\" is floating or dedicated, "
			  "\"logoff\" never, immediate or after_idle",
			  NULL);
		return 0;
	}
	memcpy(p.name, name, strlen(name) + 1); /* api_name_ok: fits */
	p.kind = (enum store_pool_kind)kind;
	p.logoff = (enum store_logoff)logoff;
	p.idle_timeout_s = num(a, "idle_timeout_s", &n) ? n : 0;
	p.max_sessions = num(a, "max_sessions", &n) ? n : 1;
	return s->impl->pool_add(s, &p);
}

static int pool_delete(struct store *s, struct admin_req *a)
{
	return s->impl->pool_delete(s, arg(a->j, "pool"));
}

static int desktop_add(struct store *s, struct admin_req *a)
{
	const char *agent = str(a, "agent"), *name = str(a, "name");
	return hr_name_ok(agent) && hr_name_ok(name)
		       ? s->impl->desktop_add(s, arg(a->j, "pool"), agent, name,
					      str(a, "console_uri"))
		       : -EINVAL;
}

static int desktop_delete(struct store *s, struct admin_req *a)
{
	return s->impl->desktop_delete(s, arg(a->j, "agent"), arg(a->j, "desktop"));
}

static int desktop_maintenance(struct store *s, struct admin_req *a)
{
	int64_t on;
	bool given = num(a, "on", &on);
	return s->impl->desktop_set_maintenance(s, arg(a->j, "agent"), arg(a->j, "desktop"),
						!given || on != 0);
}

static int entitle(struct store *s, struct admin_req *a)
{
	const char *pool = str(a, "pool"), *user = str(a, "user"), *group = str(a, "group");
	if (!hr_name_ok(pool) || (user[0] != 0) == (group[0] != 0))
		return -EINVAL;
	return s->impl->entitle(s, pool, user[0] ? user : NULL, group[0] ? group : NULL);
}

static int unentitle_user(struct store *s, struct admin_req *a)
{
	return s->impl->unentitle(s, arg(a->j, "pool"), arg(a->j, "user"), NULL);
}

static int unentitle_group(struct store *s, struct admin_req *a)
{
	return s->impl->unentitle(s, arg(a->j, "pool"), NULL, arg(a->j, "group"));
}

static int assign(struct store *s, struct admin_req *a)
{
	const char *user = str(a, "user"), *agent = str(a, "agent"), *desk = str(a, "desktop");
	return hr_name_ok(user) && hr_name_ok(agent) && hr_name_ok(desk)
		       ? s->impl->assign(s, user, agent, desk)
		       : -EINVAL;
}

static int unassign(struct store *s, struct admin_req *a)
{
	return s->impl->unassign(s, arg(a->j, "agent"), arg(a->j, "desktop"));
}

static int session_logoff(struct store *s, struct admin_req *a)
{
	return s->impl->session_end(s, arg(a->j, "session"));
}

static int session_disconnect(struct store *s, struct admin_req *a)
{
	return s->impl->session_disconnect(s, arg(a->j, "session"));
}

static void run_logout(struct worker *w, struct job *j)
{
	int rc = w->store->impl->token_delete(w->store, j->token_hash);
	if (rc < 0)
		job_store_error(j, rc, "logout failed");
	else
		job_ok(j, 200, cJSON_CreateObject());
}

/*
 * What each route of routes.h does: a function that answers the request,
 * or an admin change that the row's body and status frame.
 */
static const struct handler {
	void (*run)(struct worker *w, struct job *j);
	int (*change)(struct store *s, struct admin_req *a);
} handlers[API_ROUTE_COUNT_] = {
	[API_LOGIN] = {run_login},
	[API_LOGOUT] = {run_logout},
	[API_POOLS] = {run_pools},
	[API_CONNECT] = {run_connect},
	[API_AGENT_REGISTER] = {run_register},
	[API_AGENT_HEARTBEAT] = {run_heartbeat},
	[API_AGENT_SESSIONS] = {run_sessions},
	[API_ADMIN_LIST] = {run_list},
	[API_ADMIN_DESKTOP] = {run_desktop},
	[API_ADMIN_POOL] = {run_pool},
	[API_ADMIN_POOL_SET] = {run_pool_set},
	[API_ADMIN_USERS] = {.change = user_add},
	[API_ADMIN_PASSWORD] = {.change = user_password},
	[API_ADMIN_USER_DELETE] = {.change = user_delete},
	[API_ADMIN_GROUPS] = {.change = group_add},
	[API_ADMIN_GROUP_MEMBERS] = {.change = group_member_add},
	[API_ADMIN_MEMBER_REMOVE] = {.change = group_member_remove},
	[API_ADMIN_GROUP_DELETE] = {.change = group_delete},
	[API_ADMIN_POOLS] = {.change = pool_add},
	[API_ADMIN_POOL_DELETE] = {.change = pool_delete},
	[API_ADMIN_POOL_DESKTOPS] = {.change = desktop_add},
	[API_ADMIN_DESKTOP_DELETE] = {.change = desktop_delete},
	[API_ADMIN_MAINTENANCE] = {.change = desktop_maintenance},
	[API_ADMIN_ENTITLEMENTS] = {.change = entitle},
	[API_ADMIN_UNENTITLE_USER] = {.change = unentitle_user},
	[API_ADMIN_UNENTITLE_GROUP] = {.change = unentitle_group},
	[API_ADMIN_ASSIGN] = {.change = assign},
	[API_ADMIN_UNASSIGN] = {.change = unassign},
	[API_ADMIN_LOGOFF] = {.change = session_logoff},
	[API_ADMIN_DISCONNECT] = {.change = session_disconnect},
};

static void run_change(struct worker *w, struct job *j)
{
	struct admin_req a;
	int rc;
	if (!admin_parse(j, &a, "see docs/broker-api.md"))
		return;
	rc = handlers[j->path.route].change(w->store, &a);
	if (!j->status && rc < 0)
		job_store_error(j, rc, "refused");
	else if (!j->status)
		job_ok(j, j->path.def->status ? j->path.def->status : 200, cJSON_CreateObject());
}

static void job_run(struct worker *w, struct job *j)
{
	const struct handler *h;
	int rc;

	if (j->kind == JOB_EXPIRE) {
		int off = 0;
		rc = w->store->impl->agents_expire(w->store, j->now, w->b->cfg.heartbeat_window_s,
						   &off);
		if (rc == 0 && off > 0)
			log_warn("%d desktops went offline: their agents stopped heartbeating",
				 off);
		rc = w->store->impl->sessions_expire(w->store, j->now, w->b->cfg.pending_timeout_s,
						     &off);
		if (rc == 0 && off > 0)
			log_info("%d sessions logged off by their pools' logoff policies", off);
		return;
	}
	if (j->path.auth == API_AUTH_TOKEN) {
		rc = w->store->impl->token_user(w->store, j->token_hash, j->now, j->user,
						sizeof(j->user));
		if (rc < 0) {
			job_error(j, 401, "the login token is unknown, expired or logged out",
				  "log in again: POST /api/v1/login");
			return;
		}
	}
	h = &handlers[j->path.route];
	if (h->run)
		h->run(w, j);
	else
		run_change(w, j);
}

/* Every route has a handler: a programmer's error, caught at start. */
static bool handlers_complete(void)
{
	for (size_t i = 0; i < routes_count; i++) {
		const struct handler *h = &handlers[routes[i].id];
		if (!h->run && !h->change) {
			log_error("no handler for %s /api/v1/%s",
				  route_method_name(routes[i].method), routes[i].path);
			return false;
		}
	}
	return true;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct job *j;
	pthread_setname_np(pthread_self(), "broker-worker");
	while ((j = queue_pop_wait(w->b->jobs, -1)) != NULL) {
		job_run(w, j);
		if (!j->reply && j->kind == JOB_REQUEST)
			job_error(j, 500, "internal error", NULL);
		if (queue_push_wait(w->b->done, j, -1) < 0)
			job_free(j); /* closed: only at shutdown, after the loop stopped */
	}
	return NULL;
}

/* ---- the loop side ---- */

static void finish(struct broker *b, struct job *j)
{
	if (j->kind == JOB_REQUEST) {
		if (j->path.route == API_LOGIN && j->login_ok) {
			char key[API_NAME_MAX + 8];
			snprintf(key, sizeof(key), "u:%s", j->login.user);
			limiter_success(b->limiter, key);
			snprintf(key, sizeof(key), "a:%s", j->peer);
			limiter_success(b->limiter, key);
		}
		send_json(j->req, j->status, j->reply, 0, NULL);
	}
	job_free(j);
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
	struct broker *b = arg;
	struct job *j;
	(void)fd;
	(void)what;
	while ((j = queue_try_pop(b->done)) != NULL)
		finish(b, j);
}

static void on_expire(evutil_socket_t fd, short what, void *arg)
{
	struct broker *b = arg;
	struct job *j = calloc(1, sizeof(*j));
	(void)fd;
	(void)what;
	if (!j)
		return;
	j->kind = JOB_EXPIRE;
	j->now = time(NULL);
	if (queue_push(b->jobs, j) < 0)
		job_free(j); /* busy: the next sweep does it */
}

/* The verified client certificate's OU and CN; false when there is none. */
static bool peer_identity(struct evhttp_request *req, char *ou, size_t oulen, char *cn,
			  size_t cnlen)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	X509 *cert;
	X509_NAME *name;

	if (!ssl || !(cert = SSL_get0_peer_certificate(ssl)) ||
	    SSL_get_verify_result(ssl) != X509_V_OK)
		return false;
	name = X509_get_subject_name(cert);
	if (X509_NAME_get_text_by_NID(name, NID_organizationalUnitName, ou, (int)oulen) < 0 ||
	    X509_NAME_get_text_by_NID(name, NID_commonName, cn, (int)cnlen) < 0)
		return false;
	return true;
}

static enum api_method method_of(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET:
		return API_GET;
	case EVHTTP_REQ_POST:
		return API_POST;
	case EVHTTP_REQ_DELETE:
		return API_DELETE;
	default:
		return API_METHOD_OTHER;
	}
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct broker *b = arg;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct api_path path;
	const char *why, *addr = NULL;
	char ou[32], cn[API_NAME_MAX + 1];
	struct job *j;
	ev_uint16_t port = 0;
	int rc;

	/*
	 * evhttp sets the socket after make_bev: answers go out as two TLS
	 * records (head, body), and without TCP_NODELAY the second waits for the
	 * client's delayed ACK, 40 ms per request (bench/broker/README.md).
	 */
	if (evcon)
		tls_set_nodelay(bufferevent_getfd(evhttp_connection_get_bufferevent(evcon)));
	rc = api_parse_path(evhttp_request_get_uri(req), method_of(cmd), &path, &why);
	if (rc < 0) {
		reply_error(req, rc == -ENOENT ? 404 : 400, why, NULL);
		return;
	}
	if (path.method != method_of(cmd)) {
		char hint[64], *t;
		snprintf(hint, sizeof(hint), "this path takes %s", route_method_name(path.method));
		t = error_text("method not allowed", hint, NULL);
		send_json(req, 405, t, 0, route_method_name(path.method));
		free(t);
		return;
	}
	if (path.method == API_POST && evbuffer_get_length(in) > 0 &&
	    !api_content_type_ok(
		    evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type"))) {
		reply_error(req, 415, "the body must be JSON",
			    "send 'Content-Type: application/json'");
		return;
	}
	j = calloc(1, sizeof(*j));
	if (!j) {
		reply_error(req, 503, "out of memory", NULL);
		return;
	}
	j->kind = JOB_REQUEST;
	j->req = req;
	j->path = path;
	j->now = time(NULL);
	if (evcon)
		evhttp_connection_get_peer(evcon, (char **)&addr, &port);
	snprintf(j->peer, sizeof(j->peer), "%s", addr ? addr : "unknown");

	switch (path.auth) {
	case API_AUTH_NONE:
		break;
	case API_AUTH_TOKEN:
		if (api_parse_bearer(evhttp_find_header(evhttp_request_get_input_headers(req),
							"Authorization"),
				     j->token_hash, &why) < 0) {
			job_free(j);
			reply_error(req, 401, why, "log in: POST /api/v1/login");
			return;
		}
		break;
	case API_AUTH_AGENT:
	case API_AUTH_ADMIN: {
		const char *want = path.auth == API_AUTH_AGENT ? "agent" : "admin";
		if (!peer_identity(req, ou, sizeof(ou), cn, sizeof(cn))) {
			job_free(j);
			reply_error(req, 401, "a client certificate is required",
				    path.auth == API_AUTH_AGENT
					    ? "agents present their certificate (highrise-certs "
					      "issue agent NAME)"
					    : "admins present theirs (highrise-certs issue admin "
					      "NAME)");
			return;
		}
		if (strcmp(ou, want) != 0 || !hr_name_ok(cn)) {
			job_free(j);
			reply_error(req, 403, "this certificate may not use this path",
				    path.auth == API_AUTH_AGENT ? "it needs an agent certificate"
								: "it needs an admin certificate");
			return;
		}
		snprintf(j->cn, sizeof(j->cn), "%s", cn);
		break;
	}
	}

	j->len = evbuffer_get_length(in);
	if (j->len) {
		j->body = malloc(j->len);
		if (!j->body) {
			job_free(j);
			reply_error(req, 503, "out of memory", NULL);
			return;
		}
		evbuffer_remove(in, j->body, j->len);
	}

	if (path.route == API_LOGIN) {
		char key[API_NAME_MAX + 8];
		int64_t wait_u, wait_a, now = clock_mono_ms();
		if (api_parse_login(j->body, j->len, &j->login, &why) < 0) {
			job_free(j);
			reply_error(req, 400, why,
				    "send {\"user\": \"NAME\", \"password\": \"...\"}");
			return;
		}
		snprintf(key, sizeof(key), "a:%s", j->peer);
		wait_a = limiter_attempt(b->limiter, key, now);
		snprintf(key, sizeof(key), "u:%s", j->login.user);
		wait_u = wait_a ? 0 : limiter_attempt(b->limiter, key, now);
		if (wait_a || wait_u) {
			int64_t wait = wait_a > wait_u ? wait_a : wait_u;
			int secs = (int)((wait + 999) / 1000);
			char hint[96], *t;
			log_warn("login for '%s' from %s slowed down: too many attempts",
				 loggable(j->login.user), j->peer);
			snprintf(hint, sizeof(hint), "wait %d s before trying again", secs);
			t = error_text("too many login attempts", hint, NULL);
			send_json(req, 429, t, secs, NULL);
			free(t);
			job_free(j);
			return;
		}
	}
	if (queue_push(b->jobs, j) < 0) {
		job_free(j);
		reply_error(req, 503, "the broker is busy", "try again in a moment");
	}
}

/* ---- set-up ---- */

static struct bufferevent *make_bev(struct event_base *base, void *arg)
{
	struct broker *b = arg;
	SSL *ssl = SSL_new(tls_ctx_ssl_ctx(b->tls));
	struct bufferevent *bev;
	if (!ssl)
		return NULL;
	bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
					     BEV_OPT_CLOSE_ON_FREE);
	if (!bev)
		SSL_free(ssl);
	return bev;
}

static char *read_file(const char *path, size_t max)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;
	if (!f)
		return NULL;
	buf = malloc(max + 1);
	if (!buf) {
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, max, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static int bind_listen(struct broker *b)
{
	char host[256];
	struct evhttp_bound_socket *h;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int port;
	int rc = hostport_parse(b->cfg.listen, strlen(b->cfg.listen), host, sizeof(host), &port, -1,
				HOSTPORT_ANY_HOST | HOSTPORT_ANY_PORT);

	if (rc == -ERANGE) {
		log_error("listen = %s: the port must be 0..65535", b->cfg.listen);
		return -EINVAL;
	}
	if (rc < 0) {
		log_error("listen = %s: write HOST:PORT (0.0.0.0:8443)", b->cfg.listen);
		return -EINVAL;
	}
	h = evhttp_bind_socket_with_handle(b->http, host, (ev_uint16_t)port);
	if (!h) {
		log_error("cannot listen on %s: %s", b->cfg.listen, strerror(errno));
		return -EADDRINUSE;
	}
	if (getsockname(evhttp_bound_socket_get_fd(h), (struct sockaddr *)&ss, &sl) == 0)
		b->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							 : ((struct sockaddr_in *)&ss)->sin_port);
	return 0;
}

struct broker *broker_new(struct event_base *base, const struct broker_cfg *cfg)
{
	struct limiter_cfg lc = {.free_attempts = (int)cfg->login_free_attempts,
				 .base_ms = cfg->login_backoff_ms,
				 .max_ms = cfg->login_backoff_max_ms};
	struct broker *b;
	const char *agent_ca;

	if (!cfg->cert_file || !cfg->key_file || !cfg->ca_file) {
		log_error("the broker needs tls.cert_file, tls.key_file and tls.ca_file");
		return NULL;
	}
	if (!cfg->ticket_key) {
		log_error("the broker needs ticket.key_file (highrise-certs ticket-key)");
		return NULL;
	}
	if (!handlers_complete())
		return NULL;
	if (!cfg->store) {
		log_error("the broker needs a store (store = sqlite:/var/lib/highrise/broker.db)");
		return NULL;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->base = base;
	b->cfg = *cfg;
	/* the strings are only read during broker_new, except listen: keep none of them */
	b->cfg.listen = b->cfg.cert_file = b->cfg.key_file = b->cfg.ca_file = NULL;
	b->cfg.agent_ca_file = b->cfg.ticket_key = b->cfg.store = NULL;

	b->ticket_key = ticket_key_load_private(cfg->ticket_key);
	if (!b->ticket_key)
		goto fail;
	agent_ca = cfg->agent_ca_file ? cfg->agent_ca_file : cfg->ca_file;
	b->agent_ca_pem = read_file(agent_ca, CA_PEM_MAX);
	if (!b->agent_ca_pem) {
		log_error("cannot read %s: %s", agent_ca, strerror(errno));
		goto fail;
	}
	/* one port: admins and agents present a certificate, users log in with tokens */
	b->tls = tls_ctx_new(TLS_SERVER, &(struct tls_cfg){.cert_file = cfg->cert_file,
							   .key_file = cfg->key_file,
							   .ca_file = cfg->ca_file,
							   .request_client_cert = true});
	if (!b->tls)
		goto fail;
	b->limiter = limiter_new(&lc);
	b->jobs = queue_new(JOB_QUEUE_LEN);
	b->done = queue_new(JOB_QUEUE_LEN + WORKERS_MAX);
	if (!b->limiter || !b->jobs || !b->done)
		goto fail;
	/* the first store applies migrations before any worker runs */
	b->nworkers = (int)(cfg->workers > 0 ? cfg->workers : 1);
	for (int i = 0; i < b->nworkers; i++) {
		b->workers[i].b = b;
		b->workers[i].store = store_open(cfg->store);
		if (!b->workers[i].store)
			goto fail;
	}
	for (int i = 0; i < b->nworkers; i++) {
		if (pthread_create(&b->workers[i].thread, NULL, worker_main, &b->workers[i]) != 0) {
			log_error("cannot start a worker thread");
			goto fail;
		}
		b->workers[i].started = true;
	}
	b->done_ev = event_new(base, queue_fd(b->done), EV_READ | EV_PERSIST, on_done, b);
	b->expire_ev = event_new(base, -1, EV_PERSIST, on_expire, b);
	b->http = evhttp_new(base);
	if (!b->done_ev || !b->expire_ev || !b->http)
		goto fail;
	event_add(b->done_ev, NULL);
	{
		struct timeval tv = {
			cfg->heartbeat_window_s / 3 > 0 ? cfg->heartbeat_window_s / 3 : 1, 0};
		event_add(b->expire_ev, &tv);
	}
	evhttp_set_bevcb(b->http, make_bev, b);
	evhttp_set_gencb(b->http, on_request, b);
	evhttp_set_max_body_size(b->http, cfg->max_body);
	evhttp_set_max_headers_size(b->http, 16384);
	evhttp_set_timeout(b->http, 30);
	/* every method reaches on_request, which answers 405 in JSON */
	evhttp_set_allowed_methods(b->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
						    EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
						    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	b->cfg.listen = cfg->listen;
	if (bind_listen(b) < 0) {
		b->cfg.listen = NULL;
		goto fail;
	}
	b->cfg.listen = NULL;
	log_info("listening on %s (port %u), %d workers", cfg->listen, b->port, b->nworkers);
	return b;
fail:
	broker_free(b);
	return NULL;
}

uint16_t broker_port(const struct broker *b)
{
	return b->port;
}

void broker_free(struct broker *b)
{
	struct job *j;
	if (!b)
		return;
	if (b->jobs)
		queue_close(b->jobs);
	for (int i = 0; i < b->nworkers; i++)
		if (b->workers[i].started)
			pthread_join(b->workers[i].thread, NULL);
	/* answer what the workers finished while evhttp and its requests still exist */
	if (b->done) {
		while ((j = queue_try_pop(b->done)) != NULL)
			finish(b, j);
	}
	if (b->http)
		evhttp_free(b->http);
	if (b->done_ev)
		event_free(b->done_ev);
	if (b->expire_ev)
		event_free(b->expire_ev);
	for (int i = 0; i < b->nworkers; i++)
		store_close(b->workers[i].store);
	queue_free(b->jobs, job_free_item);
	queue_free(b->done, job_free_item);
	limiter_free(b->limiter);
	tls_ctx_free(b->tls);
	EVP_PKEY_free(b->ticket_key);
	free(b->agent_ca_pem);
	free(b);
}
