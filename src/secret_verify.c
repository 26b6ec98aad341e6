/* A cleartext password against a stored plain, md5 or SCRAM-SHA-256 secret. */
#include "secret_verify.h"

#include "authfile.h"
#include "md5.h"
#include "scram.h"

#include <openssl/crypto.h>
#include <string.h>

static bool same_text(const char *a, const char *b)
{
	size_t n = strlen(a);
	return n == strlen(b) && CRYPTO_memcmp(a, b, n) == 0;
}

/* The secret keeps StoredKey = H(HMAC(PBKDF2(password, salt, i), "Client Key")): derive and compare. */
static bool scram_matches(const char *secret, const char *password)
{
	ScramSecret stored, derived;
	if (!scram_parse_secret(secret, &stored))
		return false;
	if (!scram_secret_derive(password, stored.salt, stored.salt_len, stored.iterations, &derived))
		return false;
	return CRYPTO_memcmp(stored.stored_key, derived.stored_key, SCRAM_KEY_LEN) == 0;
}

bool secret_matches_password(const char *secret, const char *user, const char *password)
{
	switch (auth_secret_kind(secret)) {
	case SECRET_PLAIN:
		return same_text(secret, password);
	case SECRET_MD5: {
		char computed[MD5_SECRET_BUFSIZE];
		md5_password_secret(user, password, computed);
		return same_text(computed, secret);
	}
	case SECRET_SCRAM:
		return scram_matches(secret, password);
	}
	return false;
}
