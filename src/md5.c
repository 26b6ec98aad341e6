/*
 * MD5 password secrets and salted responses, computed with OpenSSL's EVP digest API.
 * Only string building lives here; comparing a client's response with the expected one
 * (in constant time) is the caller's job.
 */
#include "md5.h"

#include <string.h>

#include <openssl/evp.h>

#define MD5_DIGEST_BYTES 16

/* Digest two byte strings back to back and write "md5" + lowercase hex into out. */
static void md5_hex_two(const void *a, size_t alen, const void *b, size_t blen,
			char out[MD5_SECRET_BUFSIZE])
{
	static const char hexdigits[] = "0123456789abcdef";
	uint8_t digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1 &&
		  EVP_DigestUpdate(ctx, a, alen) == 1 && EVP_DigestUpdate(ctx, b, blen) == 1 &&
		  EVP_DigestFinal_ex(ctx, digest, &dlen) == 1 && dlen == MD5_DIGEST_BYTES;
	EVP_MD_CTX_free(ctx);
	if (!ok) {
		/*
		 * Only possible when MD5 is disabled (FIPS mode). An empty result never equals a
		 * real response, so authentication fails closed instead of crashing.
		 */
		out[0] = '\0';
		return;
	}
	memcpy(out, "md5", 3);
	for (int i = 0; i < MD5_DIGEST_BYTES; i++) {
		out[3 + 2 * i] = hexdigits[digest[i] >> 4];
		out[4 + 2 * i] = hexdigits[digest[i] & 0x0f];
	}
	out[MD5_SECRET_LEN] = '\0';
}

void md5_password_secret(const char *user, const char *password, char out[MD5_SECRET_BUFSIZE])
{
	md5_hex_two(password, strlen(password), user, strlen(user), out);
}

void md5_salted_response(const char *secret, const uint8_t salt[4], char out[MD5_SECRET_BUFSIZE])
{
	/* A bad secret would make us read past its end; answer with nothing instead. */
	if (!md5_is_secret(secret)) {
		out[0] = '\0';
		return;
	}
	md5_hex_two(secret + 3, MD5_SECRET_LEN - 3, salt, 4, out);
}

bool md5_is_secret(const char *s)
{
	if (strncmp(s, "md5", 3) != 0)
		return false;
	for (int i = 3; i < MD5_SECRET_LEN; i++) {
		char ch = s[i];
		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
			return false;
	}
	return s[MD5_SECRET_LEN] == '\0';
}
