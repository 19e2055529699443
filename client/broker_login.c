/* SPDX-License-Identifier: MIT */
#include "broker_login.h"

#include "log.h"
#include "msg.h"
#include "session.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PASSWORD_MAX	 1024
#define RETRY_BUSY_MS	 5000 /* no desktop free, or the broker busy */
#define RETRY_NETWORK_MS 3000 /* the broker unreachable */

struct broker_login {
	char *url, *ca_file, *pin, *user, *password_file, *pool, *prog;
	struct broker_client *bc;
	struct broker_desktop desk; /* the last connect answer; prepare's cfg points into it */
};

static int dup_or_null(const char *s, char **out)
{
	*out = NULL;
	if (!s || !*s)
		return 0;
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

struct broker_login *broker_login_new(const struct broker_login_cfg *cfg)
{
	struct broker_login *bl = calloc(1, sizeof(*bl));

	if (!bl || dup_or_null(cfg->broker_url, &bl->url) < 0 ||
	    dup_or_null(cfg->ca_file, &bl->ca_file) < 0 || dup_or_null(cfg->pin, &bl->pin) < 0 ||
	    dup_or_null(cfg->user, &bl->user) < 0 ||
	    dup_or_null(cfg->password_file, &bl->password_file) < 0 ||
	    dup_or_null(cfg->pool, &bl->pool) < 0 ||
	    dup_or_null(cfg->prog ? cfg->prog : "the client", &bl->prog) < 0) {
		log_error("broker login: out of memory");
		broker_login_free(bl);
		return NULL;
	}
	if (bl->url) {
		struct broker_client_cfg bcfg = {
			.url = bl->url, .ca_file = bl->ca_file, .pin = bl->pin};
		bl->bc = broker_client_new(&bcfg);
		if (!bl->bc) {
			broker_login_free(bl);
			return NULL;
		}
	}
	return bl;
}

void broker_login_free(struct broker_login *bl)
{
	if (!bl)
		return;
	broker_client_free(bl->bc);
	broker_desktop_deinit(&bl->desk);
	free(bl->url);
	free(bl->ca_file);
	free(bl->pin);
	free(bl->user);
	free(bl->password_file);
	free(bl->pool);
	free(bl->prog);
	free(bl);
}

bool broker_login_automatic(const struct broker_login *bl)
{
	return bl->user && bl->password_file;
}

void broker_login_use(struct broker_login *bl, struct broker_client *bc)
{
	if (bc == bl->bc)
		return;
	broker_client_free(bl->bc);
	bl->bc = bc;
}

int broker_login_set_pool(struct broker_login *bl, const char *pool)
{
	char *p;
	if (dup_or_null(pool, &p) < 0)
		return -ENOMEM;
	free(bl->pool);
	bl->pool = p;
	return 0;
}

void broker_login_logout(struct broker_login *bl)
{
	char err[256];
	if (!bl || !bl->bc || !broker_client_logged_in(bl->bc))
		return;
	if (broker_client_logout(bl->bc, err, sizeof(err)) < 0)
		log_info("logging out of the broker: %s", err);
	else
		log_info("logged out of the broker");
}

/* The first line of the password file; 0 or -errno (logged). */
static int read_password(const char *path, char *out, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f) {
		int e = errno;
		log_error("cannot read the password file %s: %s", path, strerror(e));
		return -e;
	}
	if (!fgets(out, (int)cap, f))
		out[0] = '\0';
	fclose(f);
	n = strcspn(out, "\r\n");
	out[n] = '\0';
	return 0;
}

static int retry_for(int rc, int retry_after_s)
{
	if (retry_after_s > 0)
		return retry_after_s * 1000;
	switch (rc) {
	case -ENOSPC:
	case -EAGAIN:
		return RETRY_BUSY_MS;
	case -EHOSTUNREACH:
		return RETRY_NETWORK_MS;
	default:
		return -1; /* a person must act: wrong password, not entitled, untrusted */
	}
}

static int auto_login(struct broker_login *bl, char *text, size_t textlen, int *retry_ms)
{
	char pw[PASSWORD_MAX + 2], err[512];
	int rc, after = -1;

	if (!broker_login_automatic(bl)) {
		snprintf(text, textlen, "your login has expired: close %s and log in again",
			 bl->prog);
		*retry_ms = -1;
		return -EKEYEXPIRED;
	}
	if (read_password(bl->password_file, pw, sizeof(pw)) < 0) {
		snprintf(text, textlen, "cannot read the password file %s", bl->password_file);
		*retry_ms = -1;
		return -EIO;
	}
	rc = broker_client_login(bl->bc, bl->user, pw, &after, err, sizeof(err));
	OPENSSL_cleanse(pw, sizeof(pw));
	if (rc < 0) {
		snprintf(text, textlen, "logging in to the broker as %s: %s", bl->user, err);
		*retry_ms = retry_for(rc, after);
		return rc;
	}
	log_info("logged in to the broker as %s", bl->user);
	return 0;
}

int broker_login_prepare(void *ud, struct session_cfg *cfg, char *text, size_t textlen,
			 int *retry_ms, int *bye_reason)
{
	struct broker_login *bl = ud;
	char err[1024];
	int rc, after = -1;

	*bye_reason = -1;
	*retry_ms = -1;
	if (!bl->bc) {
		snprintf(text, textlen, "no broker to ask: give its address (--broker URL)");
		return -EINVAL;
	}
	if (!broker_client_logged_in(bl->bc) && (rc = auto_login(bl, text, textlen, retry_ms)) < 0)
		return rc;
	if (!bl->pool) {
		/* no pool named: the only (or first) one this user may use */
		struct broker_pool *pools;
		size_t n;
		rc = broker_client_pools(bl->bc, &pools, &n, err, sizeof(err));
		if (rc == 0 && n == 0)
			snprintf(err, sizeof(err),
				 "you may not use any desktop pool: ask your "
				 "administrator to entitle you to one");
		if (rc < 0 || n == 0) {
			snprintf(text, textlen, "asking the broker for your pools: %s", err);
			*retry_ms = retry_for(rc, -1);
			free(pools);
			return rc < 0 ? rc : -ENOENT;
		}
		if (n > 1)
			log_warn("you may use %zu pools; using %s (choose with --pool)", n,
				 pools[0].name);
		rc = broker_login_set_pool(bl, pools[0].name);
		free(pools);
		if (rc < 0) {
			snprintf(text, textlen, "out of memory");
			return rc;
		}
	}
	/* what cfg took from the last answer goes with it: leave no pointer to freed memory */
	if (cfg->client_key == bl->desk.client_key)
		cfg->client_key = NULL;
	if (cfg->ca_pem == bl->desk.ca_pem)
		cfg->ca_pem = NULL;
	if (cfg->ticket == bl->desk.ticket) {
		cfg->ticket = NULL;
		cfg->ticket_len = 0;
	}
	broker_desktop_deinit(&bl->desk);
	rc = broker_client_connect(bl->bc, bl->pool, &bl->desk, &after, err, sizeof(err));
	if (rc == -EKEYEXPIRED && bl->password_file) { /* the token expired: log in again */
		if ((rc = auto_login(bl, text, textlen, retry_ms)) < 0)
			return rc;
		rc = broker_client_connect(bl->bc, bl->pool, &bl->desk, &after, err, sizeof(err));
	}
	if (rc < 0) {
		snprintf(text, textlen, "%s", err);
		*retry_ms = retry_for(rc, after);
		if (rc == -ENOSPC)
			*bye_reason = MSG_BYE_DESKTOP_UNAVAILABLE;
		if (rc == -EKEYEXPIRED && !bl->password_file)
			snprintf(text, textlen, "%s: close %s and log in again", err, bl->prog);
		return rc;
	}
	log_info("the broker gave desktop %s on %s (%s:%u), session %.8s%s", bl->desk.desktop,
		 bl->desk.agent, bl->desk.address, bl->desk.port, bl->desk.session,
		 bl->desk.resumed ? ", resumed" : "");
	cfg->host = bl->desk.address;
	cfg->port = bl->desk.port;
	cfg->ca_pem = bl->desk.ca_pem; /* NULL: cfg->ca_file (--ca) verifies the agent */
	cfg->ticket = bl->desk.ticket;
	cfg->ticket_len = bl->desk.ticket_len;
	cfg->ticket_file = NULL;
	/* the ticket's key, made for this connect: signs the HELLO's proof */
	cfg->client_key = bl->desk.client_key;
	return 0;
}
