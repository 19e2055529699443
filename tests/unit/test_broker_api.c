/* SPDX-License-Identifier: MIT */
/*
 * The broker API's parsing of untrusted bytes (broker/api_parse.h) and the
 * login limiter (broker/limiter.h), without sockets: paths, tokens, content
 * types, JSON bodies that are malformed, nested, oversized or of the wrong
 * types, and the backoff schedule on a fake clock.
 */
#include "api_parse.h"
#include "check.h"
#include "limiter.h"

#include <errno.h>

static void test_paths(void)
{
	struct api_path p;
	const char *why;

	CHECK_INT_EQ(api_parse_path("/api/v1/login", API_POST, &p, &why), 0);
	CHECK_INT_EQ(p.route, API_LOGIN);
	CHECK_INT_EQ(p.method, API_POST);
	CHECK_INT_EQ(p.auth, API_AUTH_NONE);
	CHECK_INT_EQ(api_parse_path("/api/v1/pools?x=1", API_GET, &p, &why), 0);
	CHECK_INT_EQ(p.route, API_POOLS);
	CHECK_INT_EQ(p.auth, API_AUTH_TOKEN);
	CHECK_INT_EQ(api_parse_path("/api/v1/pools/", API_POST, &p, &why), 0);
	CHECK_INT_EQ(api_parse_path("/api/v1/pools/office/connect", API_POST, &p, &why), 0);
	CHECK_INT_EQ(p.route, API_CONNECT);
	CHECK_STR_EQ(p.arg[0], "office");
	CHECK_INT_EQ(api_parse_path("/api/v1/admin/desktops/a1/d1/maintenance", API_POST, &p, &why),
		     0);
	CHECK_INT_EQ(p.route, API_ADMIN_MAINTENANCE);
	CHECK_STR_EQ(p.arg[0], "a1");
	CHECK_STR_EQ(p.arg[1], "d1");
	CHECK_INT_EQ(p.auth, API_AUTH_ADMIN);
	CHECK_INT_EQ(api_parse_path("/api/v1/admin/desktops/a1/d1", API_POST, &p, &why), 0);
	CHECK_INT_EQ(p.method, API_GET);
	CHECK_INT_EQ(api_parse_path("/api/v1/agent/heartbeat", API_POST, &p, &why), 0);
	CHECK_INT_EQ(p.auth, API_AUTH_AGENT);

	CHECK_INT_EQ(api_parse_path("/api/v2/login", API_POST, &p, &why), -ENOENT);
	CHECK_INT_EQ(api_parse_path("/api/v1/", API_POST, &p, &why), -ENOENT);
	CHECK_INT_EQ(api_parse_path("/api/v1//login", API_POST, &p, &why), -ENOENT);
	CHECK_INT_EQ(api_parse_path("/api/v1/pools//connect", API_POST, &p, &why), -ENOENT);
	CHECK_INT_EQ(api_parse_path("/api/v1/a/b/c/d/e/f/g/h/i/j", API_POST, &p, &why), -ENOENT);
	CHECK_INT_EQ(api_parse_path("/api/v1/pools/of'fice/connect", API_POST, &p, &why), -EINVAL);
	CHECK_INT_EQ(api_parse_path("/api/v1/pools/a%20b/connect", API_POST, &p, &why), -EINVAL);
	CHECK_INT_EQ(api_parse_path("/api/v1/pools/../connect", API_POST, &p, &why),
		     0); /* a name, not a dir */
	CHECK_INT_EQ(api_parse_path(NULL, API_POST, &p, &why), -ENOENT);
	/* one path, two methods */
	CHECK_INT_EQ(api_parse_path("/api/v1/admin/pools", API_GET, &p, &why), 0);
	CHECK_INT_EQ(p.route, API_ADMIN_LIST);
	CHECK_STR_EQ(p.arg[0], "pools");
	CHECK_INT_EQ(api_parse_path("/api/v1/admin/pools", API_POST, &p, &why), 0);
	CHECK_INT_EQ(p.route, API_ADMIN_POOLS);
	CHECK_INT_EQ(api_parse_path("/api/v1/admin/pools", API_DELETE, &p, &why), 0);
	CHECK_INT_EQ(p.route, API_ADMIN_POOLS); /* the first: the caller answers 405 */
	CHECK_INT_EQ(api_parse_path("/api/v1/admin/pools/p1", API_DELETE, &p, &why), 0);
	CHECK_INT_EQ(p.route, API_ADMIN_POOL_DELETE);
	CHECK_STR_EQ(p.arg[0], "p1");
	CHECK_STR_EQ(p.def->path, "admin/pools/{pool}"); /* its row of routes.h */
	CHECK_INT_EQ(route_arg_index(p.def, "pool"), 0);
	CHECK_INT_EQ(api_parse_path("/api/v1/admin/desktops/a1/d1", API_DELETE, &p, &why), 0);
	CHECK_INT_EQ(p.route, API_ADMIN_DESKTOP_DELETE);
	CHECK_INT_EQ(api_parse_path("/api/v1/admin/desktops/a1/d1", API_GET, &p, &why), 0);
	CHECK_INT_EQ(p.route, API_ADMIN_DESKTOP);
	CHECK_INT_EQ(api_parse_path("/api/v1/admin/assignments/a1/d1", API_DELETE, &p, &why), 0);
	CHECK_INT_EQ(p.route, API_ADMIN_UNASSIGN);
	CHECK_INT_EQ(api_parse_path("/api/v1/admin/users/bob/password", API_POST, &p, &why), 0);
	CHECK_INT_EQ(p.route, API_ADMIN_PASSWORD);
	CHECK_STR_EQ(p.arg[0], "bob");
	CHECK_INT_EQ(api_parse_path("/api/v1/login", API_GET, &p, &why), 0);
	CHECK_INT_EQ(p.method, API_POST);
	{
		char longp[700];
		memset(longp, 'a', sizeof(longp) - 1);
		longp[sizeof(longp) - 1] = '\0';
		memcpy(longp, "/api/v1/pools/", 14);
		CHECK_INT_EQ(api_parse_path(longp, API_POST, &p, &why), -ENOENT);
	}
}

static void test_tokens(void)
{
	uint8_t tok[API_TOKEN_LEN], h1[32], h2[32];
	char text[API_TOKEN_TEXT], hdr[80];
	const char *why;

	for (int i = 0; i < API_TOKEN_LEN; i++)
		tok[i] = (uint8_t)(i * 37 + 1);
	api_token_text(tok, text);
	CHECK_INT_EQ(strlen(text), 43);
	api_token_hash(tok, h1);
	snprintf(hdr, sizeof(hdr), "Bearer %s", text);
	CHECK_INT_EQ(api_parse_bearer(hdr, h2, &why), 0);
	CHECK_MEM_EQ(h1, h2, 32);
	snprintf(hdr, sizeof(hdr), "bearer   %s", text);
	CHECK_INT_EQ(api_parse_bearer(hdr, h2, &why), 0);
	CHECK_INT_EQ(api_parse_bearer(NULL, h2, &why), -EINVAL);
	CHECK_INT_EQ(api_parse_bearer("Basic YWxpY2U6eA==", h2, &why), -EINVAL);
	CHECK_INT_EQ(api_parse_bearer("Bearer ", h2, &why), -EINVAL);
	CHECK_INT_EQ(api_parse_bearer("Bearer AAAA", h2, &why), -EINVAL);
	snprintf(hdr, sizeof(hdr), "Bearer %s", text);
	hdr[10] = '+'; /* standard base64, not base64url */
	CHECK_INT_EQ(api_parse_bearer(hdr, h2, &why), -EINVAL);

	CHECK(api_content_type_ok("application/json"));
	CHECK(api_content_type_ok("Application/JSON; charset=utf-8"));
	CHECK(!api_content_type_ok("application/jsonx"));
	CHECK(!api_content_type_ok("text/plain"));
	CHECK(!api_content_type_ok(NULL));
	CHECK(hr_name_ok("alice@example.com"));
	CHECK(!hr_name_ok(""));
	CHECK(!hr_name_ok("a b"));
	CHECK(!hr_name_ok("x'--"));
}

#define PARSE_LOGIN(s) api_parse_login((s), strlen(s), &l, &why)

/* RFC 8032 §7.1 TEST 1's public key, and its base64 */
static const uint8_t rfc8032_pub[32] = {
	0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe,
	0xd3, 0xc9, 0x64, 0x07, 0x3a, 0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6,
	0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a,
};
#define RFC8032_PUB_B64 "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="

#define PARSE_CONNECT(s) api_parse_connect((s), strlen(s), &c, &why)

/* POST /api/v1/pools/{pool}/connect: the client's key the ticket is bound to */
static void test_connect_body(void)
{
	static const char sentence[] =
		"\"client_key\" must be the client's Ed25519 public key: 32 bytes in base64";
	struct api_connect c;
	const char *why;

	CHECK_INT_EQ(PARSE_CONNECT("{\"client_key\": \"" RFC8032_PUB_B64 "\"}"), 0);
	CHECK_MEM_EQ(c.client_key, rfc8032_pub, 32);
	/* other members are ignored */
	CHECK_INT_EQ(
		PARSE_CONNECT("{\"x\": [1], \"client_key\": \"" RFC8032_PUB_B64 "\", \"y\": null}"),
		0);
	CHECK_MEM_EQ(c.client_key, rfc8032_pub, 32);
	CHECK_INT_EQ(
		PARSE_CONNECT("{\"client_key\": \"+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/s=\"}"),
		0);
	CHECK_INT_EQ(c.client_key[0], 0xfb);
	CHECK_INT_EQ(c.client_key[31], 0xfb);

	/* what is refused, each with the one sentence */
	static const char *const bad[] = {
		"{}",
		"{\"client_key\": null}",
		"{\"client_key\": 42}",
		"{\"client_key\": [\"" RFC8032_PUB_B64 "\"]}",
		"{\"client_key\": \"\"}",
		"{\"Client_Key\": \"" RFC8032_PUB_B64 "\"}",
		/* base64url, unpadded, padding doubled, blanks, line breaks */
		"{\"client_key\": \"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"}",
		"{\"client_key\": \"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}",
		"{\"client_key\": \"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo==\"}",
		"{\"client_key\": \" 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"}",
		"{\"client_key\": \"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo= \"}",
		"{\"client_key\": \"11qYAYKxCrfVS/7TyWQHOg7h\\ncvPapiMlrwIaaPcHURo=\"}",
		/* the same bytes spelled with stray bits in the last character */
		"{\"client_key\": \"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURp=\"}",
		/* 31 and 33 bytes */
		"{\"client_key\": \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==\"}",
		"{\"client_key\": \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g\"}",
		/* not base64, and a key of all zeros (ticket_init refuses it) */
		"{\"client_key\": \"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHUR*=\"}",
		"{\"client_key\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}",
		/* a PEM public key is not the raw key */
		"{\"client_key\": "
		"\"MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		memset(&c, 0x55, sizeof(c));
		CHECK_INT_EQ(PARSE_CONNECT(bad[i]), -EINVAL);
		CHECK(why && strcmp(why, sentence) == 0);
		CHECK(c.client_key[0] == 0 && c.client_key[31] == 0);
		if (!why || strcmp(why, sentence) != 0)
			fprintf(stderr, "  body %zu: %s -> %s\n", i, bad[i], why ? why : "(none)");
	}
	/* no body at all (a client from before tickets were bound): the same sentence */
	why = NULL;
	CHECK_INT_EQ(api_parse_connect(NULL, 0, &c, &why), -EINVAL);
	CHECK(why && strcmp(why, sentence) == 0);
	why = NULL;
	CHECK_INT_EQ(api_parse_connect("", 0, &c, &why), -EINVAL);
	CHECK(why && strcmp(why, sentence) == 0);
	/* a body that is not a JSON object says so */
	why = NULL;
	CHECK_INT_EQ(PARSE_CONNECT("{\"client_key\": "), -EINVAL);
	CHECK(why && strcmp(why, sentence) != 0);
	CHECK_INT_EQ(PARSE_CONNECT("[\"" RFC8032_PUB_B64 "\"]"), -EINVAL);
	CHECK_INT_EQ(PARSE_CONNECT("\"" RFC8032_PUB_B64 "\""), -EINVAL);
}

static void test_bodies(void)
{
	struct api_login l;
	struct api_register r;
	struct api_fields f;
	const char *why;
	const char *const names[4] = {"name", "kind", NULL, NULL};
	const char *const nums[3] = {"max_sessions", "on", NULL};
	char *deep;

	CHECK_INT_EQ(PARSE_LOGIN("{\"user\":\"alice\",\"password\":\"pw\",\"x\":[1]}"), 0);
	CHECK_STR_EQ(l.user, "alice");
	CHECK_STR_EQ(l.password, "pw");
	CHECK_INT_EQ(PARSE_LOGIN("{\"user\":\"alice\""), -EINVAL);
	CHECK_INT_EQ(PARSE_LOGIN("[\"alice\",\"pw\"]"), -EINVAL);
	CHECK_INT_EQ(PARSE_LOGIN("{\"user\":1,\"password\":\"pw\"}"), -EINVAL);
	CHECK_INT_EQ(PARSE_LOGIN("{\"user\":\"\",\"password\":\"pw\"}"), -EINVAL);
	CHECK_INT_EQ(PARSE_LOGIN("{\"password\":\"pw\"}"), -EINVAL);
	CHECK_INT_EQ(PARSE_LOGIN(""), -EINVAL);
	CHECK_INT_EQ(api_parse_login(NULL, 0, &l, &why), -EINVAL);
	{
		char big[400];
		snprintf(big, sizeof(big), "{\"user\":\"%0300d\",\"password\":\"x\"}", 0);
		CHECK_INT_EQ(PARSE_LOGIN(big), -EMSGSIZE);
	}
	/* no NUL at the end: the length is what counts */
	CHECK_INT_EQ(api_parse_login("{\"user\":\"a\",\"password\":\"b\"}XYZ", 27, &l, &why), 0);
	deep = malloc(40001);
	memset(deep, '[', 20000);
	memset(deep + 20000, ']', 20000);
	deep[40000] = '\0';
	CHECK_INT_EQ(api_parse_login(deep, 40000, &l, &why), -EINVAL);
	free(deep);

	CHECK_INT_EQ(api_parse_register(
			     "{\"port\":7443,\"desktops\":[\"d1\",{\"name\":\"d2\"}]}",
			     strlen("{\"port\":7443,\"desktops\":[\"d1\",{\"name\":\"d2\"}]}"), &r,
			     &why),
		     0);
	CHECK_INT_EQ(r.count, 2);
	if (r.count == 2) {
		CHECK_STR_EQ(r.desktops[0], "d1");
		CHECK_STR_EQ(r.desktops[1], "d2");
	}
	CHECK_INT_EQ(r.port, 7443);
	CHECK_STR_EQ(r.address, "");
	api_register_free(&r);
#define REG(s) api_parse_register((s), strlen(s), &r, &why)
	CHECK_INT_EQ(REG("{\"port\":0,\"desktops\":[]}"), -EINVAL);
	CHECK_INT_EQ(REG("{\"port\":1.5,\"desktops\":[]}"), -EINVAL);
	CHECK_INT_EQ(REG("{\"port\":\"7443\",\"desktops\":[]}"), -EINVAL);
	CHECK_INT_EQ(REG("{\"port\":7443,\"desktops\":[\"a b\"]}"), -EINVAL);
	CHECK_INT_EQ(REG("{\"port\":7443,\"desktops\":[1]}"), -EINVAL);
	CHECK_INT_EQ(REG("{\"port\":7443,\"desktops\":\"d1\"}"), -EINVAL);
	CHECK_INT_EQ(REG("{\"port\":7443,\"address\":5,\"desktops\":[]}"), -EINVAL);
	CHECK_INT_EQ(REG("{\"port\":7443,\"address\":\"h\",\"desktops\":[]}"), 0);
	CHECK_STR_EQ(r.address, "h");
	api_register_free(&r);

#define FIELDS(s) api_parse_fields((s), strlen(s), names, nums, &f, &why)
	CHECK_INT_EQ(
		FIELDS("{\"name\":\"p\",\"kind\":\"dedicated\",\"max_sessions\":2,\"on\":true}"),
		0);
	CHECK_STR_EQ(f.s[0], "p");
	CHECK_STR_EQ(f.s[1], "dedicated");
	CHECK_INT_EQ(f.num[0], 2);
	CHECK(f.has_num[0]);
	CHECK_INT_EQ(f.num[1], 1);
	CHECK_INT_EQ(FIELDS("{\"name\":\"p\"}"), 0);
	CHECK(!f.has_num[0]);
	CHECK_STR_EQ(f.s[1], "");
	CHECK_INT_EQ(FIELDS("{\"name\":3}"), -EINVAL);
	CHECK_INT_EQ(FIELDS("{\"max_sessions\":-1}"), -EINVAL);
	CHECK_INT_EQ(FIELDS("{\"max_sessions\":1e300}"), -EINVAL);
	CHECK_INT_EQ(FIELDS("{\"max_sessions\":0.5}"), -EINVAL);

	/* issue 13: a NUL cuts nothing, it refuses the whole body (api_json.h) */
	CHECK_INT_EQ(PARSE_LOGIN("{\"user\":\"u000\\u0000x\",\"password\":\"pw\"}"), -EINVAL);
	CHECK(strstr(why, "\\u0000") != NULL);
	CHECK_INT_EQ(PARSE_LOGIN("{\"user\":\"alice\",\"password\":\"pw\\u0000more\"}"), -EINVAL);
	CHECK_INT_EQ(PARSE_LOGIN("{\"us\\u0000er\":\"alice\",\"password\":\"pw\"}"), -EINVAL);
	CHECK_INT_EQ(PARSE_LOGIN("{\"user\":\"alice\",\"password\":\"\\\\\\u0000\"}"), -EINVAL);
	CHECK_INT_EQ(FIELDS("{\"name\":\"evil\\u0000root\"}"), -EINVAL);
	{
		static const char raw[] = "{\"user\":\"a\0b\",\"password\":\"pw\"}";
		CHECK_INT_EQ(api_parse_login(raw, sizeof(raw) - 1, &l, &why), -EINVAL);
		CHECK(strstr(why, "NUL byte") != NULL);
	}
	CHECK_INT_EQ(PARSE_LOGIN("{\"user\":\"alice\",\"password\":\"pw\"} x"), -EINVAL);
	CHECK(strstr(why, "after its JSON value") != NULL);
	CHECK_INT_EQ(PARSE_LOGIN("{\"user\":\"a\",\"password\":\"b\"}{\"user\":\"c\"}"), -EINVAL);
	/* what is allowed stays allowed: whitespace after it, a backslash before "u0000" text */
	CHECK_INT_EQ(PARSE_LOGIN("{\"user\":\"alice\",\"password\":\"pw\"} \r\n\t"), 0);
	CHECK_INT_EQ(PARSE_LOGIN("{\"user\":\"alice\",\"password\":\"p\\\\u0000\"}"), 0);
	CHECK_STR_EQ(l.password, "p\\u0000");
	CHECK_INT_EQ(PARSE_LOGIN("{\"user\":\"alice\",\"password\":\"\\u0041\\\"\\u0000\"}"),
		     -EINVAL);
}

/* Issue #5: agents report desktop states and session events; part 2's admin paths. */
static void test_agent_reports(void)
{
	struct api_register r;
	struct api_events e;
	struct api_path p;
	const char *why;
	char big[32768];
	size_t o;

	/* routes */
	CHECK_INT_EQ(api_parse_path("/api/v1/agent/sessions", API_POST, &p, &why), 0);
	CHECK_INT_EQ(p.route, API_AGENT_SESSIONS);
	CHECK_INT_EQ(p.auth, API_AUTH_AGENT);
	CHECK_INT_EQ(api_parse_path("/api/v1/admin/pools/office", API_GET, &p, &why), 0);
	CHECK_INT_EQ(p.route, API_ADMIN_POOL);
	CHECK_STR_EQ(p.arg[0], "office");
	CHECK_INT_EQ(api_parse_path("/api/v1/admin/pools/office", API_POST, &p, &why), 0);
	CHECK_INT_EQ(p.route, API_ADMIN_POOL_SET);
	CHECK_INT_EQ(api_parse_path("/api/v1/admin/pools/office", API_DELETE, &p, &why), 0);
	CHECK_INT_EQ(p.route, API_ADMIN_POOL_DELETE);
	CHECK_INT_EQ(
		api_parse_path("/api/v1/admin/entitlements/office/users/bob", API_DELETE, &p, &why),
		0);
	CHECK_INT_EQ(p.route, API_ADMIN_UNENTITLE_USER);
	CHECK_STR_EQ(p.arg[0], "office");
	CHECK_STR_EQ(p.arg[1], "bob");
	CHECK_INT_EQ(api_parse_path("/api/v1/admin/entitlements/office/groups/staff", API_DELETE,
				    &p, &why),
		     0);
	CHECK_INT_EQ(p.route, API_ADMIN_UNENTITLE_GROUP);
	CHECK_INT_EQ(
		api_parse_path("/api/v1/admin/entitlements/office/teams/x", API_DELETE, &p, &why),
		-ENOENT);
	CHECK_INT_EQ(api_parse_path("/api/v1/admin/groups/staff", API_DELETE, &p, &why), 0);
	CHECK_INT_EQ(p.route, API_ADMIN_GROUP_DELETE);
	CHECK_INT_EQ(api_parse_path("/api/v1/admin/groups/staff", API_GET, &p, &why), 0);
	CHECK_INT_EQ(p.method, API_DELETE); /* 405 naming DELETE */
	CHECK_INT_EQ(
		api_parse_path("/api/v1/admin/groups/staff/members/alice", API_DELETE, &p, &why),
		0);
	CHECK_INT_EQ(p.route, API_ADMIN_MEMBER_REMOVE);
	CHECK_STR_EQ(p.arg[1], "alice");
	CHECK_INT_EQ(api_parse_path("/api/v1/admin/sessions/0123456789abcdef0123456789abcdef/"
				    "disconnect",
				    API_POST, &p, &why),
		     0);
	CHECK_INT_EQ(p.route, API_ADMIN_DISCONNECT);
	CHECK_INT_EQ(p.auth, API_AUTH_ADMIN);

	/* registration and heartbeat: "up" per desktop */
#define REG(s) api_parse_register((s), strlen(s), &r, &why)
	CHECK_INT_EQ(REG("{\"port\":1,\"desktops\":[\"a\",{\"name\":\"b\",\"up\":false},"
			 "{\"name\":\"c\",\"up\":true}]}"),
		     0);
	CHECK_INT_EQ(r.count, 3);
	if (r.count == 3) {
		CHECK(r.up[0]);
		CHECK(!r.up[1]);
		CHECK(r.up[2]);
		CHECK_STR_EQ(r.desktops[1], "b");
	}
	api_register_free(&r);
	CHECK_INT_EQ(REG("{\"port\":1,\"desktops\":[{\"name\":\"b\",\"up\":1}]}"), -EINVAL);
	CHECK(strstr(why, "\"up\"") != NULL);
#undef REG
#define HB(s) api_parse_heartbeat((s), strlen(s), &r, &why)
	CHECK_INT_EQ(api_parse_heartbeat(NULL, 0, &r, &why), 0); /* no body */
	CHECK_INT_EQ(r.count, 0);
	CHECK_INT_EQ(HB("{}"), 0);
	CHECK_INT_EQ(r.count, 0);
	CHECK_INT_EQ(HB("{\"desktops\":[{\"name\":\"vm1\",\"up\":false},\"vm2\"]}"), 0);
	CHECK_INT_EQ(r.count, 2);
	if (r.count == 2) {
		CHECK_STR_EQ(r.desktops[0], "vm1");
		CHECK(!r.up[0]);
		CHECK(r.up[1]);
	}
	api_register_free(&r);
	CHECK_INT_EQ(HB("{\"desktops\":\"vm1\"}"), -EINVAL);
	CHECK_INT_EQ(HB("{\"desktops\":[{\"name\":\"a b\"}]}"), -EINVAL);
	CHECK_INT_EQ(HB("[1]"), -EINVAL);
	CHECK_INT_EQ(HB("{\"desktops\":[{\"name\":\"vm1\",\"up\":null}]}"), -EINVAL);

	/* "reason": why a desktop is down, kept only then */
	CHECK_INT_EQ(HB("{\"desktops\":[{\"name\":\"vm1\",\"up\":false,\"reason\":\"the console "
			"refused the agent's credentials; fix the desktop's password file\"},"
			"{\"name\":\"vm2\",\"up\":false},{\"name\":\"vm3\",\"up\":true,"
			"\"reason\":\"stale\"},{\"name\":\"vm4\",\"up\":false,\"reason\":"
			"\"caf\u00e9 \xe2\x80\x94 gone\"}]}"),
		     0);
	CHECK_INT_EQ(r.count, 4);
	if (r.count == 4) {
		CHECK_STR_EQ(r.reasons[0], "the console refused the agent's credentials; fix the "
					   "desktop's password file");
		CHECK_STR_EQ(r.reasons[1], "");
		CHECK_STR_EQ(r.reasons[2], ""); /* up: nothing to explain */
		CHECK(r.up[2]);
		CHECK_STR_EQ(r.reasons[3], "caf\xc3\xa9 \xe2\x80\x94 gone");
	}
	api_register_free(&r);
	CHECK_INT_EQ(HB("{\"desktops\":[\"vm1\"]}"), 0); /* a bare name: up, no reason */
	if (r.count == 1)
		CHECK_STR_EQ(r.reasons[0], "");
	api_register_free(&r);
	CHECK_INT_EQ(HB("{\"desktops\":[{\"name\":\"vm1\",\"up\":false,\"reason\":7}]}"), -EINVAL);
	CHECK(strstr(why, "\"reason\"") != NULL);
	CHECK_INT_EQ(HB("{\"desktops\":[{\"name\":\"vm1\",\"up\":false,\"reason\":null}]}"),
		     -EINVAL);
	CHECK_INT_EQ(HB("{\"desktops\":[{\"name\":\"vm1\",\"up\":false,\"reason\":[\"x\"]}]}"),
		     -EINVAL);
	CHECK_INT_EQ(HB("{\"desktops\":[{\"name\":\"vm1\",\"up\":false,\"reason\":\"\xff\xfe\"}]}"),
		     -EINVAL);
	CHECK(strstr(why, "UTF-8") != NULL);
	CHECK_INT_EQ(HB("{\"desktops\":[{\"name\":\"vm1\",\"up\":false,\"reason\":"
			"\"\xed\xa0\x80\"}]}"),
		     -EINVAL); /* a surrogate */
	{
		char body[512];
		int n = snprintf(body, sizeof(body),
				 "{\"desktops\":[{\"name\":\"vm1\",\"up\":false,\"reason\":\"");
		memset(body + n, 'x', API_REASON_MAX);
		snprintf(body + n + API_REASON_MAX, sizeof(body) - (size_t)n - API_REASON_MAX,
			 "\"}]}");
		CHECK_INT_EQ(HB(body), 0); /* 200 bytes: the most there may be */
		if (r.count == 1)
			CHECK_INT_EQ(strlen(r.reasons[0]), API_REASON_MAX);
		api_register_free(&r);
		memset(body + n, 'x', API_REASON_MAX + 1);
		snprintf(body + n + API_REASON_MAX + 1,
			 sizeof(body) - (size_t)n - API_REASON_MAX - 1, "\"}]}");
		CHECK_INT_EQ(HB(body), -EINVAL);
		CHECK(strstr(why, "200 bytes") != NULL);
	}
	/* a registration takes it too */
	CHECK_INT_EQ(api_parse_register("{\"port\":1,\"desktops\":[{\"name\":\"b\",\"up\":false,"
					"\"reason\":\"down\"}]}",
					strlen("{\"port\":1,\"desktops\":[{\"name\":\"b\",\"up\":"
					       "false,\"reason\":\"down\"}]}"),
					&r, &why),
		     0);
	if (r.count == 1)
		CHECK_STR_EQ(r.reasons[0], "down");
	api_register_free(&r);
#undef HB

	/* session events */
#define EV(s) api_parse_events((s), strlen(s), &e, &why)
	CHECK_INT_EQ(EV("{\"events\":[]}"), 0);
	CHECK_INT_EQ(e.count, 0);
	api_events_free(&e);
	CHECK_INT_EQ(EV("{\"events\":[{\"session\":\"0123456789ABCDEF0123456789abcdef\","
			"\"desktop\":\"vm1\",\"event\":\"connected\",\"client\":\"10.0.0.5\"},"
			"{\"session\":\"0123456789abcdef0123456789abcdef\",\"desktop\":\"vm1\","
			"\"event\":\"idle\",\"extra\":1}]}"),
		     0);
	CHECK_INT_EQ(e.count, 2);
	if (e.count == 2) {
		CHECK_STR_EQ(e.ev[0].session, "0123456789abcdef0123456789abcdef"); /* lower case */
		CHECK_STR_EQ(e.ev[0].desktop, "vm1");
		CHECK_INT_EQ(e.ev[0].event, API_EVENT_CONNECTED);
		CHECK_STR_EQ(e.ev[0].client, "10.0.0.5");
		CHECK_INT_EQ(e.ev[1].event, API_EVENT_IDLE);
		CHECK_STR_EQ(e.ev[1].client, "");
	}
	api_events_free(&e);
	CHECK_INT_EQ(
		EV("{\"events\":[{\"session\":\"0123456789abcdef0123456789abcdef\","
		   "\"desktop\":\"vm1\",\"event\":\"disconnected\",\"client\":\"fe80::1%eth0\"},"
		   "{\"session\":\"0123456789abcdef0123456789abcdef\",\"desktop\":\"vm1\","
		   "\"event\":\"active\"}]}"),
		0);
	CHECK_INT_EQ(e.ev[0].event, API_EVENT_DISCONNECTED);
	CHECK_INT_EQ(e.ev[1].event, API_EVENT_ACTIVE);
	api_events_free(&e);
	CHECK_INT_EQ(EV("{}"), -EINVAL);
	CHECK_STR_EQ(why, "\"events\" must be an array of session events");
	CHECK_INT_EQ(EV("{\"events\":[1]}"), -EINVAL);
	CHECK_INT_EQ(EV("{\"events\":[{\"session\":\"0123\",\"desktop\":\"vm1\","
			"\"event\":\"idle\"}]}"),
		     -EINVAL);
	CHECK(strstr(why, "32 hex") != NULL);
	CHECK_INT_EQ(EV("{\"events\":[{\"session\":\"0123456789abcdef0123456789abcdeg\","
			"\"desktop\":\"vm1\",\"event\":\"idle\"}]}"),
		     -EINVAL);
	CHECK_INT_EQ(EV("{\"events\":[{\"session\":\"0123456789abcdef0123456789abcdef0\","
			"\"desktop\":\"vm1\",\"event\":\"idle\"}]}"),
		     -EINVAL);
	CHECK_INT_EQ(EV("{\"events\":[{\"session\":\"0123456789abcdef0123456789abcdef\","
			"\"desktop\":\"vm'1\",\"event\":\"idle\"}]}"),
		     -EINVAL);
	CHECK_INT_EQ(EV("{\"events\":[{\"session\":\"0123456789abcdef0123456789abcdef\","
			"\"desktop\":\"vm1\",\"event\":\"napping\"}]}"),
		     -EINVAL);
	CHECK(strstr(why, "connected, disconnected, idle or active") != NULL);
	CHECK_INT_EQ(EV("{\"events\":[{\"session\":\"0123456789abcdef0123456789abcdef\","
			"\"desktop\":\"vm1\",\"event\":\"idle\",\"client\":\"1.2.3.4; DROP\"}]}"),
		     -EINVAL);
	CHECK_INT_EQ(EV("{\"events\":[{\"session\":\"0123456789abcdef0123456789abcdef\","
			"\"desktop\":\"vm1\",\"event\":\"idle\",\"client\":7}]}"),
		     -EINVAL);
	/* 256 events are fine, 257 are not */
	for (int n = 256; n <= 257; n++) {
		o = (size_t)snprintf(big, sizeof(big), "{\"events\":[");
		for (int k = 0; k < n; k++)
			o += (size_t)snprintf(big + o, sizeof(big) - o,
					      "%s{\"session\":\"%032x\",\"desktop\":\"d\","
					      "\"event\":\"active\"}",
					      k ? "," : "", k);
		snprintf(big + o, sizeof(big) - o, "]}");
		CHECK(o < sizeof(big) - 4);
		CHECK_INT_EQ(EV(big), n == 256 ? 0 : -EINVAL);
		CHECK_INT_EQ(e.count, n == 256 ? 256 : 0);
		api_events_free(&e);
	}
#undef EV
}

static void test_limiter(void)
{
	struct limiter_cfg c = {.free_attempts = 3,
				.base_ms = 1000,
				.max_ms = 8000,
				.forget_ms = 60000,
				.capacity = 4};
	struct limiter *l = limiter_new(&c);
	int64_t t = 1000000;

	CHECK(l != NULL);
	if (!l)
		return;
	CHECK_INT_EQ(limiter_attempt(l, "u:a", t), 0);
	CHECK_INT_EQ(limiter_attempt(l, "u:a", t), 0);
	CHECK_INT_EQ(limiter_attempt(l, "u:a", t), 0);
	CHECK_INT_EQ(limiter_attempt(l, "u:a", t), 1000); /* the 4th waits 1 s */
	CHECK_INT_EQ(limiter_attempt(l, "u:a", t + 400), 600);
	CHECK_INT_EQ(limiter_attempt(l, "u:a", t + 1000), 0);
	CHECK_INT_EQ(limiter_attempt(l, "u:a", t + 1000), 2000); /* then 2 s */
	CHECK_INT_EQ(limiter_attempt(l, "u:a", t + 3000), 0);
	CHECK_INT_EQ(limiter_attempt(l, "u:a", t + 3000), 4000);
	CHECK_INT_EQ(limiter_attempt(l, "u:a", t + 7000), 0);
	CHECK_INT_EQ(limiter_attempt(l, "u:a", t + 7000), 8000); /* capped */
	CHECK_INT_EQ(limiter_attempt(l, "u:a", t + 15000), 0);
	CHECK_INT_EQ(limiter_attempt(l, "u:a", t + 15000), 8000);
	/* other keys are independent */
	CHECK_INT_EQ(limiter_attempt(l, "u:b", t), 0);
	/* success clears */
	limiter_success(l, "u:a");
	CHECK_INT_EQ(limiter_attempt(l, "u:a", t + 15000), 0);
	/* forgotten after forget_ms */
	for (int i = 0; i < 3; i++)
		limiter_attempt(l, "a:x", t);
	CHECK(limiter_attempt(l, "a:x", t) > 0);
	CHECK_INT_EQ(limiter_attempt(l, "a:x", t + 60000), 0);
	/* a full table forgets the key idle longest, never grows */
	CHECK_INT_EQ(limiter_attempt(l, "k1", t + 70000), 0);
	CHECK_INT_EQ(limiter_attempt(l, "k2", t + 70001), 0);
	CHECK_INT_EQ(limiter_attempt(l, "k3", t + 70002), 0);
	limiter_free(l);
	limiter_free(NULL);
}

int main(void)
{
	test_paths();
	test_tokens();
	test_bodies();
	test_connect_body();
	test_agent_reports();
	test_limiter();
	return check_done("test_broker_api");
}
