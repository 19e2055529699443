/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_BROKER_LOGIN_H
#define HIGHRISE_BROKER_LOGIN_H

/*
 * The broker side of every connection, GTK-free: the GTK client's login
 * (client/ui/login.c, which adds the screens) and highrise-probe's
 * --broker share it.
 *
 * broker_login_prepare runs before each connection: it logs in when there
 * is no token yet (with user + password_file: the kiosk's automatic
 * login; the password file is read again for every login and wiped), logs
 * in again once when the token expired, picks the pool when none was
 * named (the only one, or the first, said in the log), asks the broker for
 * the user's desktop and fills in where to connect and with which ticket.
 * On failure it says why in text (a sentence for people), with *retry_ms
 * when trying again later makes sense (-1: a person must act) and
 * *bye_reason when it is the desktop that is unavailable.
 *
 * Every call blocks on the network (client/broker_client.h): call it from
 * a worker or network thread. One thread at a time.
 */

#include "broker_client.h"

#include <stdbool.h>
#include <stddef.h>

struct session_cfg;

struct broker_login_cfg {
	const char *broker_url;	   /* https://HOST[:PORT]; NULL: broker_login_use gives one */
	const char *ca_file;	   /* the deployment's CA, for the broker (and agents) */
	const char *pin;	   /* the broker's key pin, for kiosks without a CA */
	const char *user;	   /* with password_file: automatic login */
	const char *password_file; /* the password's first line; read for every login */
	const char *pool;	   /* NULL: the only one (or the first) */
	const char *prog;	   /* names the program in "close PROG and log in again" */
};

struct broker_login;

/* NULL (logged) on a bad URL or out of memory. cfg's strings are copied. */
struct broker_login *broker_login_new(const struct broker_login_cfg *cfg);
void broker_login_free(struct broker_login *bl);

/* user + password_file: logging in needs no person. */
bool broker_login_automatic(const struct broker_login *bl);

/*
 * From now on use bc, logged in by a login screen for the address the user
 * typed (the login takes it over, and frees the one it had).
 */
void broker_login_use(struct broker_login *bl, struct broker_client *bc);

/* The pool to ask for from now on (a picker's choice). 0, or -ENOMEM. */
int broker_login_set_pool(struct broker_login *bl, const char *pool);

/*
 * Fills cfg (host, port, ca_pem, ticket, client_key: the key the ticket is
 * bound to; ticket_file NULL) for the next connection, all valid until the
 * next call or broker_login_free (the next call first clears the ones that
 * pointed into the last answer). 0, or a
 * negative errno with text, *retry_ms and *bye_reason (-1: none) set.
 * The signature is net.h's prepare hook.
 */
int broker_login_prepare(void *bl, struct session_cfg *cfg, char *text, size_t textlen,
			 int *retry_ms, int *bye_reason);

/* Says goodbye to the broker (the token is revoked), when logged in; logged. */
void broker_login_logout(struct broker_login *bl);

#endif
