/* SPDX-License-Identifier: MIT */
/*
 * The broker's user API for clients (broker_client.h) over brokerapi.h.
 */
#include "broker_client.h"
#include "brokerapi.h"
#include "error.h"
#include "log.h"
#include "session.h"
#include "ticket.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_MAX 128

struct broker_client {
	char *url, *ca_file, *pin;
	int timeout_ms;
	char token[TOKEN_MAX + 1]; /* "" when logged out */
	char user[129];
};

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

struct broker_client *broker_client_new(const struct broker_client_cfg *cfg)
{
	struct broker_client *bc;
	char host[256], port[8];

	if (!cfg || https_parse_url(cfg->url, host, sizeof(host), port, sizeof(port)) < 0) {
		log_error("broker: the broker's address must be https://HOST[:PORT], not %s",
			  cfg && cfg->url ? cfg->url : "(none)");
		return NULL;
	}
	bc = calloc(1, sizeof(*bc));
	if (!bc)
		goto oom;
	bc->url = strdup(cfg->url);
	bc->ca_file = dup_or_null(cfg->ca_file);
	bc->pin = dup_or_null(cfg->pin);
	bc->timeout_ms = cfg->timeout_ms;
	if (!bc->url || (cfg->ca_file && !bc->ca_file) || (cfg->pin && !bc->pin))
		goto oom;
	return bc;
oom:
	log_error("broker: out of memory");
	broker_client_free(bc);
	return NULL;
}

void broker_client_free(struct broker_client *bc)
{
	if (!bc)
		return;
	OPENSSL_cleanse(bc->token, sizeof(bc->token));
	free(bc->url);
	free(bc->ca_file);
	free(bc->pin);
	free(bc);
}

bool broker_client_logged_in(const struct broker_client *bc)
{
	return bc && bc->token[0];
}

const char *broker_client_user(const struct broker_client *bc)
{
	return bc ? bc->user : "";
}

void broker_desktop_deinit(struct broker_desktop *d)
{
	if (!d)
		return;
	free(d->ca_pem);
	EVP_PKEY_free(d->client_key);
	OPENSSL_cleanse(d->ticket, sizeof(d->ticket));
	memset(d, 0, sizeof(*d));
}

/*
 * One call. 0 with *j the parsed 2xx answer (the caller's), or a negative
 * code per the header with the sentence in err. map gives the code for
 * each 4xx/5xx status the caller expects.
 */
struct status_map {
	int status, code;
};

/* The header's code for a 4xx/5xx answer: map's, else by status; a 401 wipes the token. */
static int refusal(struct broker_client *bc, const struct bapi_answer *a, bool auth,
		   const struct status_map *map)
{
	for (; map && map->status; map++)
		if (map->status == a->status)
			return map->code;
	if (a->status == 401 && auth) {
		OPENSSL_cleanse(bc->token, sizeof(bc->token));
		return -EKEYEXPIRED;
	}
	if (a->status == 429 || (a->status == 503 && a->retry_after_s >= 0))
		return -EAGAIN;
	return -EPROTO;
}

static int call(struct broker_client *bc, const char *method, const char *path, cJSON *body,
		bool auth, const struct status_map *map, cJSON **j, int *retry_after_s, char *err,
		size_t errlen)
{
	struct https_target t = {.url = bc->url,
				 .ca_file = bc->ca_file,
				 .pin_sha256 = bc->pin,
				 .timeout_ms = bc->timeout_ms};
	struct bapi_answer a;
	int rc;

	*j = NULL;
	rc = bapi_call(&t, method, path, auth ? bc->token : NULL, body, &a, err, errlen);
	if (retry_after_s)
		*retry_after_s = a.retry_after_s;
	switch (rc) {
	case 0:
		*j = a.json; /* the caller's now */
		a.json = NULL;
		break;
	case -HR_EBROKER_REFUSED:
	case -HR_EBROKER_FAILED:
		rc = refusal(bc, &a, auth, map);
		break;
	case -ENOMEM:
		break;
	case -HTTPS_EUNTRUSTED:
		rc = -EPERM;
		break;
	case -HTTPS_EURL:
	case -HTTPS_EFILE:
		rc = -EINVAL;
		break;
	case -HTTPS_EPROTOCOL:
	case -HR_EBROKER_ANSWER:
		rc = -EPROTO;
		break;
	default:
		rc = -EHOSTUNREACH;
	}
	bapi_answer_deinit(&a);
	return rc;
}

static int copy_str(const cJSON *o, const char *name, char *out, size_t cap, bool required)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	if (!cJSON_IsString(v) || strlen(v->valuestring) >= cap) {
		out[0] = '\0';
		return required ? -1 : 0;
	}
	memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
	return 0;
}

int broker_client_login(struct broker_client *bc, const char *user, const char *password,
			int *retry_after_s, char *err, size_t errlen)
{
	static const struct status_map map[] = {{401, -EACCES}, {429, -EAGAIN}, {0, 0}};
	cJSON *body, *j;
	int rc;

	if (!user || !*user || !password || strlen(user) >= sizeof(bc->user)) {
		hr_errorf(err, errlen,
			  "a user name (at most 128 characters) and a password are "
			  "needed");
		return -EINVAL;
	}
	body = cJSON_CreateObject();
	if (!body || !cJSON_AddStringToObject(body, "user", user) ||
	    !cJSON_AddStringToObject(body, "password", password)) {
		cJSON_Delete(body);
		hr_errorf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	OPENSSL_cleanse(bc->token, sizeof(bc->token));
	rc = call(bc, "POST", "/api/v1/login", body, false, map, &j, retry_after_s, err, errlen);
	{
		/* the body held the password: wipe cJSON's copy too */
		cJSON *pw = cJSON_GetObjectItemCaseSensitive(body, "password");
		if (pw && pw->valuestring)
			OPENSSL_cleanse(pw->valuestring, strlen(pw->valuestring));
		cJSON_Delete(body);
	}
	if (rc < 0)
		return rc;
	if (copy_str(j, "token", bc->token, sizeof(bc->token), true) < 0) {
		hr_errorf(err, errlen, "the broker's login answer has no token");
		rc = -EPROTO;
	} else {
		snprintf(bc->user, sizeof(bc->user), "%s", user);
	}
	cJSON_Delete(j);
	return rc;
}

int broker_client_pools(struct broker_client *bc, struct broker_pool **pools, size_t *count,
			char *err, size_t errlen)
{
	const cJSON *arr, *p;
	struct broker_pool *out;
	size_t n = 0;
	cJSON *j;
	int rc;

	*pools = NULL;
	*count = 0;
	if (!broker_client_logged_in(bc)) {
		hr_errorf(err, errlen, "log in first");
		return -EKEYEXPIRED;
	}
	rc = call(bc, "GET", "/api/v1/pools", NULL, true, NULL, &j, NULL, err, errlen);
	if (rc < 0)
		return rc;
	arr = cJSON_GetObjectItemCaseSensitive(j, "pools");
	if (!cJSON_IsArray(arr)) {
		cJSON_Delete(j);
		hr_errorf(err, errlen, "the broker's answer has no list of pools");
		return -EPROTO;
	}
	out = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(*out));
	if (!out) {
		cJSON_Delete(j);
		return -ENOMEM;
	}
	cJSON_ArrayForEach(p, arr)
	{
		if (copy_str(p, "name", out[n].name, sizeof(out[n].name), true) < 0)
			continue; /* a pool this client cannot name is no use to the user */
		copy_str(p, "kind", out[n].kind, sizeof(out[n].kind), false);
		n++;
	}
	cJSON_Delete(j);
	*pools = out;
	*count = n;
	return 0;
}

int broker_client_connect(struct broker_client *bc, const char *pool, struct broker_desktop *d,
			  int *retry_after_s, char *err, size_t errlen)
{
	static const struct status_map map[] = {
		{403, -EACCES}, {404, -ENOENT}, {409, -EDQUOT}, {503, -ENOSPC}, {0, 0}};
	uint8_t pub[TICKET_CLIENT_KEY_LEN];
	char path[256], pub_b64[4 * ((TICKET_CLIENT_KEY_LEN + 2) / 3) + 1];
	struct ticket parsed;
	const cJSON *v;
	cJSON *body, *j;
	int rc, len;

	memset(d, 0, sizeof(*d));
	if (retry_after_s)
		*retry_after_s = -1;
	if (!broker_client_logged_in(bc)) {
		hr_errorf(err, errlen, "log in first");
		return -EKEYEXPIRED;
	}
	if (!pool || !*pool || strlen(pool) > 128 || strpbrk(pool, "/?#% ")) {
		hr_errorf(err, errlen, "not a pool name: %s", pool ? pool : "(none)");
		return -EINVAL;
	}
	snprintf(path, sizeof(path), "/api/v1/pools/%s/connect", pool);
	/* a key pair per connect: the ticket is bound to it (docs/broker-api.md) */
	d->client_key = ticket_client_key_new(pub);
	if (!d->client_key) {
		hr_errorf(err, errlen, "cannot make a client key for the ticket");
		return -ENOMEM;
	}
	EVP_EncodeBlock((unsigned char *)pub_b64, pub, TICKET_CLIENT_KEY_LEN);
	body = cJSON_CreateObject();
	if (!body || !cJSON_AddStringToObject(body, "client_key", pub_b64)) {
		cJSON_Delete(body);
		broker_desktop_deinit(d);
		hr_errorf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = call(bc, "POST", path, body, true, map, &j, retry_after_s, err, errlen);
	cJSON_Delete(body);
	if (rc < 0) {
		broker_desktop_deinit(d);
		return rc;
	}
	v = cJSON_GetObjectItemCaseSensitive(j, "port");
	rc = -EPROTO;
	if (copy_str(j, "address", d->address, sizeof(d->address), true) < 0 ||
	    copy_str(j, "agent", d->agent, sizeof(d->agent), true) < 0 ||
	    copy_str(j, "desktop", d->desktop, sizeof(d->desktop), true) < 0 ||
	    copy_str(j, "session", d->session, sizeof(d->session), false) < 0 ||
	    !cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 65535) {
		hr_errorf(err, errlen,
			  "the broker's connect answer lacks the agent's address or "
			  "port");
		goto out;
	}
	d->port = (uint16_t)v->valuedouble;
	v = cJSON_GetObjectItemCaseSensitive(j, "ticket");
	len = cJSON_IsString(v)
		      ? session_ticket_decode((const uint8_t *)v->valuestring,
					      strlen(v->valuestring), d->ticket, sizeof(d->ticket))
		      : -1;
	if (len <= 0) {
		hr_errorf(err, errlen, "the broker's connect answer has no valid ticket");
		goto out;
	}
	d->ticket_len = (size_t)len;
	/* a ticket for another key (or of another version) could never be used */
	if (ticket_parse(d->ticket, d->ticket_len, &parsed) < 0 ||
	    memcmp(parsed.client_key, pub, TICKET_CLIENT_KEY_LEN) != 0) {
		hr_errorf(err, errlen,
			  "the broker's ticket is not bound to this client's key (a broker from "
			  "before ticket binding?)");
		goto out;
	}
	v = cJSON_GetObjectItemCaseSensitive(j, "ca");
	if (cJSON_IsString(v) && v->valuestring[0]) {
		d->ca_pem = strdup(v->valuestring);
		if (!d->ca_pem) {
			rc = -ENOMEM;
			goto out;
		}
	}
	v = cJSON_GetObjectItemCaseSensitive(j, "expires");
	d->expires = cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
	d->resumed = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "resumed"));
	rc = 0;
out : {
	/* wipe the ticket's text in the parsed answer */
	cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "ticket");
	if (cJSON_IsString(t))
		OPENSSL_cleanse(t->valuestring, strlen(t->valuestring));
}
	cJSON_Delete(j);
	if (rc < 0)
		broker_desktop_deinit(d);
	return rc;
}

int broker_client_logout(struct broker_client *bc, char *err, size_t errlen)
{
	cJSON *j;
	int rc;

	if (!broker_client_logged_in(bc))
		return 0;
	rc = call(bc, "POST", "/api/v1/logout", NULL, true, NULL, &j, NULL, err, errlen);
	cJSON_Delete(j);
	OPENSSL_cleanse(bc->token, sizeof(bc->token));
	return rc == -EKEYEXPIRED ? 0 : rc;
}
