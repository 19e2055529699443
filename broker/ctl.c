/* SPDX-License-Identifier: MIT */
/*
 * highrisectl: the admin CLI. It talks to the broker's admin API
 * (docs/broker-api.md) over TLS 1.3 with an admin client certificate
 * (highrise-certs issue admin NAME) — never to the database.
 *
 * One request per command, blocking: a CLI has nothing else to do. Exit
 * codes: 0 done, 1 the broker refused (its error is printed), 2 usage,
 * 3 the broker could not be reached (TLS or network; the reason is printed).
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROG	     "highrisectl"
#define RESPONSE_MAX (16 * 1024 * 1024)

enum exit_code {
	EXIT_OK = 0,
	EXIT_REFUSED = 1,
	EXIT_USAGE = 2,
	EXIT_UNREACHABLE = 3,
};

struct opts {
	const char *broker, *cert, *key, *ca;
	bool json;
};

static void usage(FILE *out)
{
	fputs("Usage: " PROG " [OPTIONS] COMMAND ...\n"
	      "\n"
	      "Manages a Highrise broker's pools, desktops, users, groups, entitlements and\n"
	      "sessions over its admin API (mutual TLS with an admin certificate).\n"
	      "\n"
	      "Options (or the environment variable in brackets):\n"
	      "  --broker URL       https://HOST:PORT of the broker [HIGHRISE_BROKER]\n"
	      "  --cert FILE        admin certificate (highrise-certs issue admin NAME) "
	      "[HIGHRISE_CERT]\n"
	      "  --key FILE         its key [HIGHRISE_KEY]\n"
	      "  --ca FILE          the CA that signed the broker's certificate [HIGHRISE_CA]\n"
	      "  --json             print the broker's JSON answer instead of a table\n"
	      "  --help             this text (COMMAND --help: the same)\n"
	      "\n"
	      "Commands:\n"
	      "  pool create NAME [--kind floating|dedicated] [--logoff "
	      "never|immediate|after_idle]\n"
	      "                   [--idle-timeout SECONDS] [--max-sessions N]\n"
	      "  pool list | pool delete NAME\n"
	      "  desktop add POOL AGENT NAME [CONSOLE_URI]\n"
	      "  desktop list | desktop show AGENT NAME | desktop remove AGENT NAME\n"
	      "  desktop maintenance AGENT NAME on|off\n"
	      "  user add NAME [--password-file FILE]   (else the first line of stdin)\n"
	      "  user passwd NAME [--password-file FILE]\n"
	      "  user list | user delete NAME\n"
	      "  assign USER AGENT DESKTOP | unassign AGENT DESKTOP   (dedicated desktops)\n"
	      "  group add NAME | group add-member GROUP USER | group list\n"
	      "  entitle POOL --user USER | --group GROUP\n"
	      "  session list | session logoff SESSION\n"
	      "  agent list\n"
	      "\n"
	      "Exit codes: 0 done, 1 refused by the broker, 2 usage, 3 broker unreachable.\n"
	      "\n"
	      "Example:\n"
	      "  " PROG " --broker https://broker.example.com:8443 --cert admin-alice.pem \\\n"
	      "      --key admin-alice.key --ca ca.pem pool create office --kind floating\n",
	      out);
}

/* ---- one HTTPS request ---- */

static void tls_reason(char *buf, size_t len, SSL *ssl)
{
	unsigned long e = ERR_peek_last_error();
	long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
	if (v != X509_V_OK)
		snprintf(buf, len, "the broker's certificate: %s",
			 X509_verify_cert_error_string(v));
	else if (errno)
		snprintf(buf, len, "%s", strerror(errno)); /* "Connection refused" says more */
	else if (e)
		ERR_error_string_n(e, buf, len);
	else
		snprintf(buf, len, "%s", errno ? strerror(errno) : "connection failed");
	ERR_clear_error();
}

/*
 * method path [body] -> status and the answer's body (malloc'd). Returns
 * 0, or -1 with a sentence in err when the broker could not be reached.
 */
static int https(const struct opts *o, const char *method, const char *path, const char *body,
		 int *status, char **out, char *err, size_t errlen)
{
	char host[256], hostport[300], *req = NULL, *buf = NULL;
	const char *h = o->broker, *end;
	size_t hlen, n = 0, cap = 65536;
	SSL_CTX *ctx = NULL;
	BIO *bio = NULL;
	SSL *ssl = NULL;
	const char *port = "8443";
	unsigned char ip[16];
	int rc = -1, len;

	if (strncmp(h, "https://", 8) != 0) {
		snprintf(err, errlen, "--broker must be https://HOST[:PORT]");
		return -1;
	}
	h += 8;
	hlen = strcspn(h, "/");
	if (h[0] == '[') { /* [IPv6]:port */
		end = memchr(h, ']', hlen);
		if (!end) {
			snprintf(err, errlen, "--broker: no ']' after an IPv6 address");
			return -1;
		}
		snprintf(host, sizeof(host), "%.*s", (int)(end - h - 1), h + 1);
		if (end[1] == ':')
			port = end + 2;
	} else {
		end = memchr(h, ':', hlen);
		snprintf(host, sizeof(host), "%.*s", (int)(end ? (size_t)(end - h) : hlen), h);
		if (end)
			port = end + 1;
	}
	snprintf(hostport, sizeof(hostport), strchr(host, ':') ? "[%s]:%.*s" : "%s:%.*s", host,
		 (int)strcspn(port, "/"), port);

	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx || SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1)
		goto tls_fail;
	if (o->ca ? SSL_CTX_load_verify_locations(ctx, o->ca, NULL) != 1
		  : SSL_CTX_set_default_verify_paths(ctx) != 1) {
		snprintf(err, errlen, "cannot load the CA file %s", o->ca ? o->ca : "(system)");
		goto out;
	}
	if (o->cert && o->cert[0] &&
	    (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1 ||
	     SSL_CTX_use_PrivateKey_file(ctx, o->key ? o->key : o->cert, SSL_FILETYPE_PEM) != 1)) {
		snprintf(err, errlen, "cannot load the admin certificate %s or its key", o->cert);
		goto out;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	bio = BIO_new_ssl_connect(ctx);
	if (!bio)
		goto tls_fail;
	BIO_get_ssl(bio, &ssl);
	if (inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1) {
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
	} else {
		SSL_set_tlsext_host_name(ssl, host);
		SSL_set1_host(ssl, host);
	}
	BIO_set_conn_hostname(bio, hostport);
	errno = 0;
	if (BIO_do_connect(bio) <= 0 || BIO_do_handshake(bio) <= 0)
		goto tls_fail;

	len = asprintf(&req,
		       "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
		       "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
		       method, path, host, body ? strlen(body) : 0, body ? body : "");
	if (len < 0 || BIO_write(bio, req, len) != len)
		goto tls_fail;
	buf = malloc(cap + 1);
	if (!buf)
		goto out;
	for (;;) {
		int r;
		if (n == cap) {
			char *nb;
			if (cap >= RESPONSE_MAX) {
				snprintf(err, errlen, "the broker's answer is too long");
				goto out;
			}
			nb = realloc(buf, cap * 2 + 1);
			if (!nb)
				goto out;
			buf = nb;
			cap *= 2;
		}
		r = BIO_read(bio, buf + n, (int)(cap - n));
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	if (sscanf(buf, "HTTP/1.%*d %d", status) != 1 || !strstr(buf, "\r\n\r\n")) {
		snprintf(err, errlen, "the broker's answer is not HTTP");
		goto out;
	}
	{
		char *b = strstr(buf, "\r\n\r\n") + 4;
		memmove(buf, b, strlen(b) + 1);
	}
	*out = buf;
	buf = NULL;
	rc = 0;
	goto out;
tls_fail : {
	char why[256];
	tls_reason(why, sizeof(why), ssl);
	if (snprintf(err, errlen, "cannot reach the broker at %s: %s", hostport, why) >=
	    (int)errlen)
		err[errlen - 1] = '\0'; /* cut short is fine: the start says what happened */
}
out:
	free(req);
	free(buf);
	BIO_free_all(bio);
	SSL_CTX_free(ctx);
	return rc;
}

/* ---- output ---- */

static bool time_column(const char *name)
{
	return strcmp(name, "last_heartbeat") == 0 || strcmp(name, "started") == 0 ||
	       strcmp(name, "last_seen") == 0;
}

static char *cell_text(const cJSON *v, const char *col)
{
	char buf[64];
	if (cJSON_IsString(v))
		return strdup(v->valuestring);
	if (cJSON_IsNumber(v)) {
		if (time_column(col) && v->valuedouble > 0) {
			time_t t = (time_t)v->valuedouble;
			struct tm tm;
			gmtime_r(&t, &tm);
			strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%SZ", &tm);
		} else if (time_column(col)) {
			snprintf(buf, sizeof(buf), "never");
		} else {
			snprintf(buf, sizeof(buf), "%.0f", v->valuedouble);
		}
		return strdup(buf);
	}
	if (cJSON_IsBool(v))
		return strdup(cJSON_IsTrue(v) ? "yes" : "no");
	return strdup("");
}

/* An array of objects as a table with a header; columns from the first row. */
static void print_table(const cJSON *rows)
{
	const cJSON *first = cJSON_GetArrayItem(rows, 0), *c, *row;
	size_t ncols = 0, w[32] = {0}, k;

	if (!first) {
		printf("(none)\n");
		return;
	}
	cJSON_ArrayForEach(c, first) if (ncols < 32) w[ncols++] = strlen(c->string);
	cJSON_ArrayForEach(row, rows)
	{
		k = 0;
		cJSON_ArrayForEach(c, row)
		{
			char *t;
			if (k >= ncols)
				break;
			t = cell_text(c, c->string);
			if (t && strlen(t) > w[k])
				w[k] = strlen(t);
			free(t);
			k++;
		}
	}
	k = 0;
	cJSON_ArrayForEach(c, first)
	{
		if (k >= ncols)
			break;
		for (const char *p = c->string; *p; p++)
			putchar(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
		if (k + 1 < ncols)
			printf("%*s", (int)(w[k] - strlen(c->string) + 2), "");
		k++;
	}
	putchar('\n');
	cJSON_ArrayForEach(row, rows)
	{
		k = 0;
		cJSON_ArrayForEach(c, row)
		{
			char *t;
			if (k >= ncols)
				break;
			t = cell_text(c, c->string);
			if (k + 1 < ncols)
				printf("%s%*s", t ? t : "", (int)(w[k] - (t ? strlen(t) : 0) + 2),
				       "");
			else
				printf("%s", t ? t : ""); /* no blanks at the end of a line */
			free(t);
			k++;
		}
		putchar('\n');
	}
}

/* Sends the request and prints the answer; returns the exit code. */
static int call(const struct opts *o, const char *method, const char *path, cJSON *body,
		const char *done_msg)
{
	char err[512], *text = body ? cJSON_PrintUnformatted(body) : NULL, *resp = NULL;
	cJSON *j;
	int status = 0, rc;

	cJSON_Delete(body);
	rc = https(o, method, path, text, &status, &resp, err, sizeof(err));
	free(text);
	if (rc < 0) {
		fprintf(stderr, PROG ": %s\n", err);
		return EXIT_UNREACHABLE;
	}
	j = cJSON_Parse(resp);
	if (status >= 400) {
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
		const cJSON *h = cJSON_GetObjectItemCaseSensitive(j, "hint");
		if (o->json)
			printf("%s", resp);
		fprintf(stderr, PROG ": the broker refused (%d): %s%s%s\n", status,
			cJSON_IsString(e) ? e->valuestring : "(no reason given)",
			cJSON_IsString(h) ? "; " : "", cJSON_IsString(h) ? h->valuestring : "");
		cJSON_Delete(j);
		free(resp);
		return EXIT_REFUSED;
	}
	if (o->json) {
		printf("%s", resp);
	} else if (done_msg) {
		printf("%s\n", done_msg);
	} else {
		cJSON *c;
		cJSON_ArrayForEach(c, j)
		{
			if (cJSON_IsArray(c))
				print_table(c);
		}
		if (j && !cJSON_GetArrayItem(j, 0))
			printf("(none)\n");
		else if (j && !cJSON_IsArray(j->child)) {
			/* a single object: name value lines */
			cJSON_ArrayForEach(c, j)
			{
				char *t = cell_text(c, c->string);
				printf("%-10s %s\n", c->string, t ? t : "");
				free(t);
			}
		}
	}
	cJSON_Delete(j);
	free(resp);
	return EXIT_OK;
}

/* ---- commands ---- */

static int need(int argc, int want, const char *what)
{
	if (argc < want) {
		fprintf(stderr, PROG ": %s (see --help)\n", what);
		return 0;
	}
	return 1;
}

static const char *flag(int argc, char **argv, const char *name)
{
	for (int i = 0; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	return NULL;
}

static int read_password(const char *file, char *out, size_t cap)
{
	FILE *f = file ? fopen(file, "r") : stdin;
	if (!f)
		return -errno;
	if (!fgets(out, (int)cap, f))
		out[0] = '\0';
	if (file)
		fclose(f);
	out[strcspn(out, "\r\n")] = '\0';
	return out[0] ? 0 : -EINVAL;
}

static int run(const struct opts *o, int argc, char **argv)
{
	char path[512], msg[300];
	const char *noun, *verb;
	cJSON *b;

	if (!need(argc, 2, "say what to do: a noun and a verb, e.g. 'pool list'"))
		return EXIT_USAGE;
	noun = argv[0];
	verb = argv[1];
	if (strcmp(noun, "pool") == 0) {
		if (strcmp(verb, "list") == 0)
			return call(o, "GET", "/api/v1/admin/pools", NULL, NULL);
		if (strcmp(verb, "create") == 0 && need(argc, 3, "pool create NAME")) {
			const char *v;
			b = cJSON_CreateObject();
			cJSON_AddStringToObject(b, "name", argv[2]);
			if ((v = flag(argc, argv, "--kind")))
				cJSON_AddStringToObject(b, "kind", v);
			if ((v = flag(argc, argv, "--logoff")))
				cJSON_AddStringToObject(b, "logoff", v);
			if ((v = flag(argc, argv, "--idle-timeout")))
				cJSON_AddNumberToObject(b, "idle_timeout_s", atof(v));
			if ((v = flag(argc, argv, "--max-sessions")))
				cJSON_AddNumberToObject(b, "max_sessions", atof(v));
			snprintf(msg, sizeof(msg), "pool %s created", argv[2]);
			return call(o, "POST", "/api/v1/admin/pools", b, msg);
		}
		if (strcmp(verb, "delete") == 0 && need(argc, 3, "pool delete NAME")) {
			snprintf(path, sizeof(path), "/api/v1/admin/pools/%s", argv[2]);
			snprintf(msg, sizeof(msg), "pool %s deleted", argv[2]);
			return call(o, "DELETE", path, NULL, msg);
		}
	} else if (strcmp(noun, "desktop") == 0) {
		if (strcmp(verb, "list") == 0)
			return call(o, "GET", "/api/v1/admin/desktops", NULL, NULL);
		if (strcmp(verb, "add") == 0 &&
		    need(argc, 5, "desktop add POOL AGENT NAME [URI]")) {
			b = cJSON_CreateObject();
			cJSON_AddStringToObject(b, "agent", argv[3]);
			cJSON_AddStringToObject(b, "name", argv[4]);
			cJSON_AddStringToObject(b, "console_uri", argc > 5 ? argv[5] : "");
			snprintf(path, sizeof(path), "/api/v1/admin/pools/%s/desktops", argv[2]);
			snprintf(msg, sizeof(msg), "desktop %s/%s added to pool %s", argv[3],
				 argv[4], argv[2]);
			return call(o, "POST", path, b, msg);
		}
		if (strcmp(verb, "remove") == 0 && need(argc, 4, "desktop remove AGENT NAME")) {
			snprintf(path, sizeof(path), "/api/v1/admin/desktops/%s/%s", argv[2],
				 argv[3]);
			snprintf(msg, sizeof(msg), "desktop %s/%s removed", argv[2], argv[3]);
			return call(o, "DELETE", path, NULL, msg);
		}
		if (strcmp(verb, "show") == 0 && need(argc, 4, "desktop show AGENT NAME")) {
			snprintf(path, sizeof(path), "/api/v1/admin/desktops/%s/%s", argv[2],
				 argv[3]);
			return call(o, "GET", path, NULL, NULL);
		}
		if (strcmp(verb, "maintenance") == 0 &&
		    need(argc, 5, "desktop maintenance AGENT NAME on|off")) {
			bool on = strcmp(argv[4], "on") == 0;
			if (!on && strcmp(argv[4], "off") != 0) {
				fprintf(stderr, PROG ": maintenance is 'on' or 'off'\n");
				return EXIT_USAGE;
			}
			b = cJSON_CreateObject();
			cJSON_AddBoolToObject(b, "on", on);
			snprintf(path, sizeof(path), "/api/v1/admin/desktops/%s/%s/maintenance",
				 argv[2], argv[3]);
			snprintf(msg, sizeof(msg), "desktop %s/%s: maintenance %s", argv[2],
				 argv[3], argv[4]);
			return call(o, "POST", path, b, msg);
		}
	} else if (strcmp(noun, "user") == 0) {
		if (strcmp(verb, "list") == 0)
			return call(o, "GET", "/api/v1/admin/users", NULL, NULL);
		if (strcmp(verb, "add") == 0 && need(argc, 3, "user add NAME")) {
			char pw[1100];
			int rc;
			if (read_password(flag(argc, argv, "--password-file"), pw, sizeof(pw)) <
			    0) {
				fprintf(stderr,
					PROG ": no password (--password-file FILE, or a line "
					     "on stdin)\n");
				return EXIT_USAGE;
			}
			b = cJSON_CreateObject();
			cJSON_AddStringToObject(b, "name", argv[2]);
			cJSON_AddStringToObject(b, "password", pw);
			memset(pw, 0, sizeof(pw));
			snprintf(msg, sizeof(msg), "user %s added", argv[2]);
			rc = call(o, "POST", "/api/v1/admin/users", b, msg);
			return rc;
		}
		if (strcmp(verb, "passwd") == 0 && need(argc, 3, "user passwd NAME")) {
			char pw[1100];
			if (read_password(flag(argc, argv, "--password-file"), pw, sizeof(pw)) <
			    0) {
				fprintf(stderr,
					PROG ": no password (--password-file FILE, or a line "
					     "on stdin)\n");
				return EXIT_USAGE;
			}
			b = cJSON_CreateObject();
			cJSON_AddStringToObject(b, "password", pw);
			memset(pw, 0, sizeof(pw));
			snprintf(path, sizeof(path), "/api/v1/admin/users/%s/password", argv[2]);
			snprintf(msg, sizeof(msg), "password of %s changed", argv[2]);
			return call(o, "POST", path, b, msg);
		}
		if (strcmp(verb, "delete") == 0 && need(argc, 3, "user delete NAME")) {
			snprintf(path, sizeof(path), "/api/v1/admin/users/%s", argv[2]);
			snprintf(msg, sizeof(msg), "user %s deleted", argv[2]);
			return call(o, "DELETE", path, NULL, msg);
		}
	} else if (strcmp(noun, "group") == 0) {
		if (strcmp(verb, "list") == 0)
			return call(o, "GET", "/api/v1/admin/groups", NULL, NULL);
		if (strcmp(verb, "add") == 0 && need(argc, 3, "group add NAME")) {
			b = cJSON_CreateObject();
			cJSON_AddStringToObject(b, "name", argv[2]);
			snprintf(msg, sizeof(msg), "group %s added", argv[2]);
			return call(o, "POST", "/api/v1/admin/groups", b, msg);
		}
		if (strcmp(verb, "add-member") == 0 &&
		    need(argc, 4, "group add-member GROUP USER")) {
			b = cJSON_CreateObject();
			cJSON_AddStringToObject(b, "user", argv[3]);
			snprintf(path, sizeof(path), "/api/v1/admin/groups/%s/members", argv[2]);
			snprintf(msg, sizeof(msg), "%s is now in group %s", argv[3], argv[2]);
			return call(o, "POST", path, b, msg);
		}
	} else if (strcmp(noun, "entitle") == 0) {
		const char *u = flag(argc, argv, "--user"), *g = flag(argc, argv, "--group");
		if (!u == !g) {
			fprintf(stderr, PROG ": entitle POOL --user USER | --group GROUP\n");
			return EXIT_USAGE;
		}
		b = cJSON_CreateObject();
		cJSON_AddStringToObject(b, "pool", argv[1]);
		cJSON_AddStringToObject(b, u ? "user" : "group", u ? u : g);
		snprintf(msg, sizeof(msg), "%s %s may use pool %s", u ? "user" : "group", u ? u : g,
			 argv[1]);
		return call(o, "POST", "/api/v1/admin/entitlements", b, msg);
	} else if (strcmp(noun, "assign") == 0 && need(argc, 4, "assign USER AGENT DESKTOP")) {
		b = cJSON_CreateObject();
		cJSON_AddStringToObject(b, "user", argv[1]);
		cJSON_AddStringToObject(b, "agent", argv[2]);
		cJSON_AddStringToObject(b, "desktop", argv[3]);
		snprintf(msg, sizeof(msg), "desktop %s/%s is now %s's", argv[2], argv[3], argv[1]);
		return call(o, "POST", "/api/v1/admin/assignments", b, msg);
	} else if (strcmp(noun, "unassign") == 0 && need(argc, 3, "unassign AGENT DESKTOP")) {
		snprintf(path, sizeof(path), "/api/v1/admin/assignments/%s/%s", argv[1], argv[2]);
		snprintf(msg, sizeof(msg), "desktop %s/%s unassigned", argv[1], argv[2]);
		return call(o, "DELETE", path, NULL, msg);
	} else if (strcmp(noun, "session") == 0) {
		if (strcmp(verb, "list") == 0)
			return call(o, "GET", "/api/v1/admin/sessions", NULL, NULL);
		if (strcmp(verb, "logoff") == 0 && need(argc, 3, "session logoff SESSION")) {
			snprintf(path, sizeof(path), "/api/v1/admin/sessions/%s/logoff", argv[2]);
			snprintf(msg, sizeof(msg), "session %s logged off", argv[2]);
			return call(o, "POST", path, NULL, msg);
		}
	} else if (strcmp(noun, "agent") == 0) {
		if (strcmp(verb, "list") == 0)
			return call(o, "GET", "/api/v1/admin/agents", NULL, NULL);
	}
	fprintf(stderr, PROG ": unknown command '%s %s' (see --help)\n", noun, verb);
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	struct opts o = {getenv("HIGHRISE_BROKER"), getenv("HIGHRISE_CERT"), getenv("HIGHRISE_KEY"),
			 getenv("HIGHRISE_CA"), false};
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return EXIT_OK;
		}
	}
	for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--json") == 0) {
			o.json = true;
			continue;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, PROG ": %s needs a value (see --help)\n", a);
			return EXIT_USAGE;
		}
		if (strcmp(a, "--broker") == 0)
			o.broker = argv[++i];
		else if (strcmp(a, "--cert") == 0)
			o.cert = argv[++i];
		else if (strcmp(a, "--key") == 0)
			o.key = argv[++i];
		else if (strcmp(a, "--ca") == 0)
			o.ca = argv[++i];
		else {
			fprintf(stderr, PROG ": unknown option %s (see --help)\n", a);
			return EXIT_USAGE;
		}
	}
	if (!o.broker) {
		fprintf(stderr,
			PROG ": which broker? --broker https://HOST:PORT (or HIGHRISE_BROKER)\n");
		return EXIT_USAGE;
	}
	/* --json may also come after the command */
	for (int k = i; k < argc; k++)
		if (strcmp(argv[k], "--json") == 0)
			o.json = true;
	return run(&o, argc - i, argv + i);
}
