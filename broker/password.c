/* SPDX-License-Identifier: MIT */
#include "password.h"
#include "log.h"

#include <argon2.h>
#include <errno.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <string.h>

#define SALT_LEN 16
#define HASH_LEN 32

int password_hash(const char *password, const struct password_cost *cost, char *out, size_t cap)
{
	static const struct password_cost def = {0, 0, 0};
	uint8_t salt[SALT_LEN];
	size_t len;
	int rc;

	if (!cost)
		cost = &def;
	if (!password || (len = strlen(password)) > PASSWORD_MAX)
		return -EINVAL;
	if (RAND_bytes(salt, sizeof(salt)) != 1)
		return -EIO;
	rc = argon2id_hash_encoded(cost->t_cost ? cost->t_cost : 2,
				   cost->m_cost ? cost->m_cost : 19456,
				   cost->parallel ? cost->parallel : 1, password, len, salt,
				   sizeof(salt), HASH_LEN, out, cap);
	if (rc != ARGON2_OK) {
		log_error("password: cannot hash: %s", argon2_error_message(rc));
		return rc == ARGON2_ENCODING_FAIL ? -EINVAL : -EIO;
	}
	return 0;
}

int password_verify(const char *password, const char *encoded)
{
	size_t len;
	int rc;
	if (!password || (len = strlen(password)) > PASSWORD_MAX)
		return -EACCES;
	rc = argon2id_verify(encoded, password, len);
	if (rc == ARGON2_OK)
		return 0;
	if (rc == ARGON2_VERIFY_MISMATCH)
		return -EACCES;
	return -EINVAL;
}

static char dummy[PASSWORD_HASH_MAX];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void dummy_init(void)
{
	if (password_hash("highrise-dummy", NULL, dummy, sizeof(dummy)) < 0)
		dummy[0] = '\0';
}

void password_dummy_verify(const char *password)
{
	pthread_once(&dummy_once, dummy_init);
	if (dummy[0])
		(void)password_verify(password ? password : "", dummy);
}
