/*
 * HTTP authentication for the endpoint: Basic against the auth_file's secrets, or a
 * Bearer token. A SCRAM secret costs a PBKDF2 run per check, on the event loop; the last
 * credentials that passed are remembered (as a SHA-256 digest together with the secret
 * they matched), so a scraper sending the same ones every few seconds pays it once.
 */
#include "http_auth.h"

#include "scram.h"
#include "secret_verify.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Longer credentials than any userlist entry would hold are refused undecoded. */
#define BASIC_MAX_DECODED 1024

bool http_auth_settings_check(const Config *cfg, char *err, size_t errlen)
{
	if (cfg->http_auth_type == HTTP_AUTH_FILE && !*cfg->auth_file) {
		snprintf(err, errlen, "http_auth_type = auth_file needs auth_file to be set");
		return false;
	}
	if (cfg->http_auth_type == HTTP_AUTH_TOKEN && !*cfg->http_auth_token) {
		snprintf(err, errlen, "http_auth_type = token needs http_auth_token to be set");
		return false;
	}
	return true;
}

const char *http_auth_challenge(const Config *cfg)
{
	return cfg->http_auth_type == HTTP_AUTH_TOKEN ? "Bearer realm=\"pgsplit\""
						      : "Basic realm=\"pgsplit\", charset=\"UTF-8\"";
}

/* The credentials after "scheme " (case-insensitive scheme), or NULL for another scheme. */
static const char *credentials_of(const char *header, const char *scheme)
{
	size_t n = strlen(scheme);
	if (strncasecmp(header, scheme, n) != 0 || header[n] != ' ')
		return NULL;
	header += n;
	while (*header == ' ')
		header++;
	return header;
}

static bool same_bytes(const char *a, const char *b)
{
	size_t n = strlen(a);
	return n == strlen(b) && CRYPTO_memcmp(a, b, n) == 0;
}

static uint8_t last_passed[SCRAM_KEY_LEN];
static bool have_last_passed;

static void credentials_digest(const char *user, const char *password, const char *secret,
			       uint8_t out[SCRAM_KEY_LEN])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int len = 0;
	if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, user, strlen(user) + 1) != 1 ||
	    EVP_DigestUpdate(md, password, strlen(password) + 1) != 1 ||
	    EVP_DigestUpdate(md, secret, strlen(secret)) != 1 || EVP_DigestFinal_ex(md, out, &len) != 1)
		memset(out, 0, SCRAM_KEY_LEN);
	EVP_MD_CTX_free(md);
}

static bool password_passes(const char *user, const char *password, const char *secret)
{
	uint8_t digest[SCRAM_KEY_LEN];
	credentials_digest(user, password, secret, digest);
	if (have_last_passed && CRYPTO_memcmp(digest, last_passed, sizeof(digest)) == 0)
		return true;
	if (!secret_matches_password(secret, user, password))
		return false;
	memcpy(last_passed, digest, sizeof(digest));
	have_last_passed = true;
	return true;
}

/* base64("user:password"); the password may hold ':' itself, the user may not. */
static bool basic_allows(const char *encoded, const AuthFile *af)
{
	uint8_t decoded[BASIC_MAX_DECODED + 1];
	size_t len = 0;
	size_t enc_len = strcspn(encoded, " ");
	if (!af || !scram_b64_decode(encoded, enc_len, decoded, BASIC_MAX_DECODED, &len))
		return false;
	decoded[len] = 0;
	char *user = (char *)decoded, *colon = strchr(user, ':');
	bool ok = false;
	if (colon && memchr(decoded, 0, len) == NULL) {
		*colon = 0;
		const char *secret = authfile_lookup(af, user);
		ok = secret && password_passes(user, colon + 1, secret);
	}
	OPENSSL_cleanse(decoded, sizeof(decoded));
	return ok;
}

bool http_auth_allows(const char *authorization, const Config *cfg, const AuthFile *af)
{
	if (cfg->http_auth_type == HTTP_AUTH_NONE)
		return true;
	if (!authorization)
		return false;
	const char *cred;
	if (cfg->http_auth_type == HTTP_AUTH_TOKEN)
		return (cred = credentials_of(authorization, "Bearer")) && same_bytes(cred, cfg->http_auth_token);
	return (cred = credentials_of(authorization, "Basic")) && basic_allows(cred, af);
}
