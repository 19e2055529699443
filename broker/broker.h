/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_BROKER_H
#define HIGHRISE_BROKER_H

/*
 * highrise-broker: the HTTPS JSON API (docs/broker-api.md) on libevent's
 * evhttp over OpenSSL (TLS 1.3 only), the login flow, connect tickets, the
 * agents' registration and heartbeats, and the admin API.
 *
 * Threads (STYLE.md "Loops and threads"): the event-loop thread owns evhttp,
 * the connections and the login limiter. Everything that blocks — SQLite and
 * password hashing — runs on `workers` threads, each with its own store
 * connection; requests go to them through a bounded queue and come back
 * through another whose eventfd wakes the loop, which drains it and answers.
 *
 * One listener serves everyone. Client certificates are asked for but not
 * required: user endpoints authenticate with a login token, agent endpoints
 * need a certificate from the deployment's CA with OU=agent (its CN is the
 * agent's name), admin endpoints one with OU=admin (highrise-certs issue
 * agent|admin NAME).
 */

#include "config.h"

#include <event2/event.h>
#include <stdint.h>

struct broker_cfg {
	char *listen;	     /* HOST:PORT; port 0 picks a free one (tests) */
	char *cert_file;     /* the broker's certificate (highrise-certs issue broker NAME) */
	char *key_file;	     /* and its key */
	char *ca_file;	     /* the CA that verifies agent and admin client certificates */
	char *agent_ca_file; /* the CA clients get to verify agents; NULL: ca_file */
	char *ticket_key;    /* Ed25519 private key (highrise-certs ticket-key: ticket.key) */
	char *store;	     /* sqlite:PATH */
	int64_t ticket_lifetime_s;
	int64_t token_lifetime_s;
	int64_t heartbeat_window_s;
	int64_t pending_timeout_s; /* a session whose ticket was never used: disconnected */
	int64_t workers;
	int64_t max_body;
	int64_t login_free_attempts;
	int64_t login_backoff_ms;
	int64_t login_backoff_max_ms;
	int log_level;
};

/* The table behind the config file, --KEY VALUE flags, --help and --print-config. */
extern const struct config_key broker_config_table[];

struct broker;

/* NULL (and log lines saying what is wrong) when the configuration cannot work. */
struct broker *broker_new(struct event_base *base, const struct broker_cfg *cfg);
/* Stops listening, finishes the requests in flight, frees. NULL does nothing. */
void broker_free(struct broker *b);

/* The port actually listened on. */
uint16_t broker_port(const struct broker *b);

#endif
