/*
 * SCRAM-SHA-256 for both roles, written from RFC 5802, RFC 7677 and PostgreSQL's
 * "SASL Authentication" protocol chapter. Owns message parsing and building, key
 * derivation (PBKDF2/HMAC/SHA-256 from OpenSSL) and base64. Every wire input is a
 * (pointer, length) pair that is never assumed NUL-terminated; every failure leaves the
 * state machine in a FAILED state with a reason for the log. Sockets and the
 * PostgreSQL message framing around these payloads belong to auth.c and server.c.
 */
#include "scram.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#define SCRAM_SECRET_PREFIX "SCRAM-SHA-256$"

/* ---- small helpers ---- */

static bool scram_fail(char *err, size_t errlen, const char *fmt, ...) PRINTF(3, 4);

/* Record why we failed (when the caller gave a buffer) and return false. */
static bool scram_fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return false;
}

static char *scram_strndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* Free a string after overwriting it: these may hold passwords or protocol state. */
static void scram_free_str(char **p)
{
	if (*p) {
		OPENSSL_cleanse(*p, strlen(*p));
		free(*p);
		*p = NULL;
	}
}

static bool scram_hmac(const uint8_t key[SCRAM_KEY_LEN], const void *data, size_t len,
		       uint8_t out[SCRAM_KEY_LEN])
{
	unsigned int outlen = 0;
	if (!HMAC(EVP_sha256(), key, SCRAM_KEY_LEN, data, len, out, &outlen))
		return false;
	return outlen == SCRAM_KEY_LEN;
}

static bool scram_sha256(const uint8_t *data, size_t len, uint8_t out[SCRAM_KEY_LEN])
{
	unsigned int outlen = 0;
	if (EVP_Digest(data, len, out, &outlen, EVP_sha256(), NULL) != 1)
		return false;
	return outlen == SCRAM_KEY_LEN;
}

/* A printable nonce character per RFC 5802: %x21-2B / %x2D-7E (no comma, no space). */
static bool scram_nonce_valid(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch < 0x21 || ch > 0x7e || ch == ',')
			return false;
	}
	return true;
}

/* How much of a server-supplied string is safe to put in our log (printable, bounded). */
static int scram_printable_len(const char *s, size_t len)
{
	size_t n = 0;
	while (n < len && n < 200 && s[n] >= 0x20 && s[n] < 0x7f)
		n++;
	return (int)n;
}

/* Fresh random nonce: SCRAM_RAW_NONCE_LEN random bytes in base64. */
static bool scram_make_nonce(char out[SCRAM_NONCE_MAX + 1])
{
	uint8_t raw[SCRAM_RAW_NONCE_LEN];
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return false;
	return scram_b64_encode(raw, sizeof(raw), out, SCRAM_NONCE_MAX + 1);
}

/* ---- base64 ---- */

static const char scram_b64_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

bool scram_b64_encode(const uint8_t *src, size_t srclen, char *dst, size_t dstsize)
{
	if (srclen > (SIZE_MAX / 4) - 3 || dstsize < SCRAM_B64_ENC_SIZE(srclen))
		return false;
	size_t o = 0;
	for (size_t i = 0; i < srclen; i += 3) {
		uint32_t v = (uint32_t)src[i] << 16;
		size_t rem = srclen - i;
		if (rem > 1)
			v |= (uint32_t)src[i + 1] << 8;
		if (rem > 2)
			v |= src[i + 2];
		dst[o++] = scram_b64_chars[(v >> 18) & 63];
		dst[o++] = scram_b64_chars[(v >> 12) & 63];
		dst[o++] = rem > 1 ? scram_b64_chars[(v >> 6) & 63] : '=';
		dst[o++] = rem > 2 ? scram_b64_chars[v & 63] : '=';
	}
	dst[o] = '\0';
	return true;
}

static int scram_b64_value(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/* Decode one 4-character group; pad is how many '=' end it (only allowed in the last). */
static bool scram_b64_group(const char *g, bool last, uint8_t out[3], int *nout)
{
	int pad = 0;
	if (last && g[3] == '=')
		pad = g[2] == '=' ? 2 : 1;
	uint32_t v = 0;
	for (int k = 0; k < 4 - pad; k++) {
		int d = scram_b64_value(g[k]);
		if (d < 0)
			return false;
		v = (v << 6) | (uint32_t)d;
	}
	v <<= 6 * pad;
	/* Bits below the last full byte must be zero: one encoding per byte string. */
	if ((pad == 1 && (v & 0xff) != 0) || (pad == 2 && (v & 0xffff) != 0))
		return false;
	out[0] = (uint8_t)(v >> 16);
	out[1] = (uint8_t)(v >> 8);
	out[2] = (uint8_t)v;
	*nout = 3 - pad;
	return true;
}

bool scram_b64_decode(const char *src, size_t srclen, uint8_t *dst, size_t dstsize, size_t *outlen)
{
	if (srclen % 4 != 0)
		return false;
	size_t o = 0;
	for (size_t i = 0; i < srclen; i += 4) {
		uint8_t buf[3];
		int n = 0;
		if (!scram_b64_group(src + i, i + 4 == srclen, buf, &n))
			return false;
		if ((size_t)n > dstsize - o)
			return false;
		memcpy(dst + o, buf, (size_t)n);
		o += (size_t)n;
	}
	*outlen = o;
	return true;
}

/* Decode base64 that must yield exactly want bytes. */
static bool scram_b64_decode_exact(const char *src, size_t srclen, uint8_t *dst, size_t want)
{
	size_t got = 0;
	return scram_b64_decode(src, srclen, dst, want, &got) && got == want;
}

/* ---- attribute cursor over "a=value,b=value" ---- */

typedef struct ScramCursor {
	const char *p;
	size_t len;
	size_t pos; /* next unread byte */
} ScramCursor;

/*
 * Read "<name>=<value>" at the cursor, value running to the next comma or the end.
 * name '\0' accepts any letter (extensions). A comma followed by nothing is malformed.
 */
static bool scram_cursor_attr(ScramCursor *c, char name, char *got_name, const char **val,
			      size_t *vlen)
{
	if (c->len - c->pos < 2 || c->p[c->pos + 1] != '=')
		return false;
	char ch = c->p[c->pos];
	if (name ? ch != name : !((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')))
		return false;
	size_t start = c->pos + 2;
	const char *comma = memchr(c->p + start, ',', c->len - start);
	size_t end = comma ? (size_t)(comma - c->p) : c->len;
	if (comma && end + 1 == c->len)
		return false;
	if (got_name)
		*got_name = ch;
	*val = c->p + start;
	*vlen = end - start;
	c->pos = comma ? end + 1 : end;
	return true;
}

static bool scram_cursor_done(const ScramCursor *c)
{
	return c->pos == c->len;
}

/* Skip any number of optional extensions up to the end of the message. */
static bool scram_cursor_skip_extensions(ScramCursor *c)
{
	while (!scram_cursor_done(c)) {
		const char *v;
		size_t vl;
		if (!scram_cursor_attr(c, '\0', NULL, &v, &vl))
			return false;
	}
	return true;
}

/* Common gate for every wire message: bounded, no embedded NULs. */
static bool scram_check_wire(const char *msg, size_t len, char *err, size_t errlen)
{
	if (!msg || len == 0)
		return scram_fail(err, errlen, "empty SCRAM message");
	if (len > SCRAM_MAX_MESSAGE_LEN)
		return scram_fail(err, errlen, "SCRAM message too long (%zu bytes)", len);
	if (memchr(msg, '\0', len))
		return scram_fail(err, errlen, "SCRAM message contains a NUL byte");
	return true;
}

/* Positive decimal integer without sign or leading junk, at most max. */
static bool scram_parse_int(const char *s, size_t len, long long max, int *out)
{
	if (len == 0 || len > 10)
		return false;
	long long v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	if (v < 1 || v > max)
		return false;
	*out = (int)v;
	return true;
}

/* ---- key derivation and secrets ---- */

/* ClientKey and ServerKey from a password (see scram.h for the SASLprep rule). */
static bool scram_derive_keys(const char *password, const uint8_t *salt, int salt_len,
			      int iterations, uint8_t client_key[SCRAM_KEY_LEN],
			      uint8_t server_key[SCRAM_KEY_LEN])
{
	uint8_t salted[SCRAM_KEY_LEN];
	bool ok = PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, salt_len, iterations,
				    EVP_sha256(), SCRAM_KEY_LEN, salted) == 1 &&
		  scram_hmac(salted, "Client Key", 10, client_key) &&
		  scram_hmac(salted, "Server Key", 10, server_key);
	OPENSSL_cleanse(salted, sizeof(salted));
	return ok;
}

bool scram_secret_derive(const char *password, const uint8_t *salt, int salt_len, int iterations,
			 ScramSecret *out)
{
	if (!password || !salt || salt_len < 1 || salt_len > SCRAM_MAX_SALT_LEN || iterations < 1 ||
	    iterations > SCRAM_MAX_ITERATIONS)
		return false;
	uint8_t client_key[SCRAM_KEY_LEN];
	memset(out, 0, sizeof(*out));
	out->iterations = iterations;
	out->salt_len = salt_len;
	memcpy(out->salt, salt, (size_t)salt_len);
	bool ok = scram_derive_keys(password, salt, salt_len, iterations, client_key,
				    out->server_key) &&
		  scram_sha256(client_key, SCRAM_KEY_LEN, out->stored_key);
	OPENSSL_cleanse(client_key, sizeof(client_key));
	return ok;
}

bool scram_secret_from_password(const char *password, int iterations, ScramSecret *out)
{
	uint8_t salt[SCRAM_DEFAULT_SALT_LEN];
	if (RAND_bytes(salt, sizeof(salt)) != 1)
		return false;
	return scram_secret_derive(password, salt, sizeof(salt), iterations, out);
}

/* Split "<a><sep><b>" at the first sep inside [s, s+len). */
static bool scram_split(const char *s, size_t len, char sep, size_t *first_len)
{
	const char *p = memchr(s, sep, len);
	if (!p)
		return false;
	*first_len = (size_t)(p - s);
	return true;
}

bool scram_parse_secret(const char *s, ScramSecret *out)
{
	size_t plen = strlen(SCRAM_SECRET_PREFIX);
	if (!s || strncmp(s, SCRAM_SECRET_PREFIX, plen) != 0)
		return false;
	const char *p = s + plen;
	size_t len = strlen(p), iter_len, salt_len, keys_len, stored_len;
	if (!scram_split(p, len, ':', &iter_len) || !scram_split(p, len, '$', &keys_len) ||
	    keys_len < iter_len)
		return false;
	ScramSecret tmp;
	memset(&tmp, 0, sizeof(tmp));
	const char *salt_b64 = p + iter_len + 1;
	salt_len = keys_len - iter_len - 1;
	const char *keys = p + keys_len + 1;
	size_t rest = len - keys_len - 1;
	size_t decoded = 0;
	if (!scram_parse_int(p, iter_len, INT_MAX, &tmp.iterations) ||
	    !scram_b64_decode(salt_b64, salt_len, tmp.salt, sizeof(tmp.salt), &decoded) ||
	    decoded == 0 || !scram_split(keys, rest, ':', &stored_len) ||
	    !scram_b64_decode_exact(keys, stored_len, tmp.stored_key, SCRAM_KEY_LEN) ||
	    !scram_b64_decode_exact(keys + stored_len + 1, rest - stored_len - 1, tmp.server_key,
				    SCRAM_KEY_LEN))
		return false;
	tmp.salt_len = (int)decoded;
	*out = tmp;
	return true;
}

char *scram_secret_format(const ScramSecret *secret)
{
	char salt[SCRAM_B64_ENC_SIZE(SCRAM_MAX_SALT_LEN)];
	char stored[SCRAM_B64_ENC_SIZE(SCRAM_KEY_LEN)], server[SCRAM_B64_ENC_SIZE(SCRAM_KEY_LEN)];
	if (secret->salt_len < 1 || secret->salt_len > SCRAM_MAX_SALT_LEN ||
	    !scram_b64_encode(secret->salt, (size_t)secret->salt_len, salt, sizeof(salt)) ||
	    !scram_b64_encode(secret->stored_key, SCRAM_KEY_LEN, stored, sizeof(stored)) ||
	    !scram_b64_encode(secret->server_key, SCRAM_KEY_LEN, server, sizeof(server)))
		return NULL;
	size_t n = strlen(SCRAM_SECRET_PREFIX) + 12 + strlen(salt) + strlen(stored) +
		   strlen(server) + 4;
	char *out = xmalloc(n);
	snprintf(out, n, SCRAM_SECRET_PREFIX "%d:%s$%s:%s", secret->iterations, salt, stored,
		 server);
	return out;
}

/* ---- AuthMessage and proofs (shared by both roles) ---- */

/* AuthMessage = client-first-bare "," server-first "," client-final-without-proof. */
static char *scram_auth_message(const char *client_first_bare, const char *server_first,
				const char *final_wo_proof, size_t final_len, size_t *out_len)
{
	size_t a = strlen(client_first_bare), b = strlen(server_first);
	size_t n = a + 1 + b + 1 + final_len;
	char *m = xmalloc(n + 1);
	memcpy(m, client_first_bare, a);
	m[a] = ',';
	memcpy(m + a + 1, server_first, b);
	m[a + 1 + b] = ',';
	memcpy(m + a + 2 + b, final_wo_proof, final_len);
	m[n] = '\0';
	*out_len = n;
	return m;
}

/* ClientKey XOR HMAC(SHA256(ClientKey)=stored_key, AuthMessage): proof or recovered key. */
static bool scram_xor_signature(const uint8_t stored_key[SCRAM_KEY_LEN], const char *auth_msg,
				size_t am_len, const uint8_t in[SCRAM_KEY_LEN],
				uint8_t out[SCRAM_KEY_LEN])
{
	uint8_t sig[SCRAM_KEY_LEN];
	if (!scram_hmac(stored_key, auth_msg, am_len, sig))
		return false;
	for (int i = 0; i < SCRAM_KEY_LEN; i++)
		out[i] = in[i] ^ sig[i];
	OPENSSL_cleanse(sig, sizeof(sig));
	return true;
}

/* "v=" + base64(HMAC(ServerKey, AuthMessage)), malloc'd. */
static char *scram_server_final_text(const uint8_t server_key[SCRAM_KEY_LEN], const char *auth_msg,
				     size_t am_len)
{
	uint8_t sig[SCRAM_KEY_LEN];
	char b64[SCRAM_B64_ENC_SIZE(SCRAM_KEY_LEN)];
	if (!scram_hmac(server_key, auth_msg, am_len, sig) ||
	    !scram_b64_encode(sig, sizeof(sig), b64, sizeof(b64)))
		return NULL;
	size_t n = 2 + strlen(b64) + 1;
	char *out = xmalloc(n);
	snprintf(out, n, "v=%s", b64);
	return out;
}

/* ---- server role ---- */

bool scram_server_start(ScramServer *s, const ScramSecret *secret)
{
	memset(s, 0, sizeof(*s));
	if (!secret || secret->salt_len < 1 || secret->salt_len > SCRAM_MAX_SALT_LEN ||
	    secret->iterations < 1) {
		s->state = SCRAM_SERVER_FAILED;
		return false;
	}
	s->secret = *secret;
	s->state = SCRAM_SERVER_INIT;
	return true;
}

/* Per-process key for mock salts, so they are stable here but unpredictable elsewhere. */
static bool scram_mock_key(uint8_t key[SCRAM_KEY_LEN])
{
	static uint8_t mock_key[SCRAM_KEY_LEN];
	static bool have;
	if (!have) {
		if (RAND_bytes(mock_key, sizeof(mock_key)) != 1)
			return false;
		have = true;
	}
	memcpy(key, mock_key, SCRAM_KEY_LEN);
	return true;
}

bool scram_server_start_mock(ScramServer *s, const char *user)
{
	uint8_t key[SCRAM_KEY_LEN], salt[SCRAM_KEY_LEN];
	memset(s, 0, sizeof(*s));
	s->state = SCRAM_SERVER_FAILED;
	if (!user || !scram_mock_key(key) || !scram_hmac(key, user, strlen(user), salt))
		return false;
	s->mock = true;
	s->secret.iterations = SCRAM_DEFAULT_ITERATIONS;
	s->secret.salt_len = SCRAM_DEFAULT_SALT_LEN;
	memcpy(s->secret.salt, salt, SCRAM_DEFAULT_SALT_LEN);
	/* Random keys: no proof can match them, and nothing is ever derived from them. */
	if (RAND_bytes(s->secret.stored_key, SCRAM_KEY_LEN) != 1 ||
	    RAND_bytes(s->secret.server_key, SCRAM_KEY_LEN) != 1)
		return false;
	s->state = SCRAM_SERVER_INIT;
	return true;
}

void scram_server_set_nonce_for_test(ScramServer *s, const char *nonce)
{
	snprintf(s->test_nonce, sizeof(s->test_nonce), "%s", nonce ? nonce : "");
}

/* gs2-header: cbind flag, optional authzid (refused), then the bare message. */
static bool scram_server_parse_gs2(ScramServer *s, ScramCursor *c, char *err, size_t errlen)
{
	char flag = c->p[0];
	if (flag == 'p')
		return scram_fail(err, errlen,
				  "client requires channel binding, which is not offered");
	if ((flag != 'n' && flag != 'y') || c->len < 2 || c->p[1] != ',')
		return scram_fail(err, errlen, "malformed SCRAM gs2 header");
	if (c->len >= 3 && c->p[2] == 'a')
		return scram_fail(err, errlen, "SCRAM authorization identity is not supported");
	if (c->len < 3 || c->p[2] != ',')
		return scram_fail(err, errlen, "malformed SCRAM gs2 header");
	s->cbind_flag = flag;
	c->pos = 3;
	return true;
}

/* client-first-message-bare: [m=...] n=<user>,r=<nonce>[,ext...]. Returns the nonce. */
static bool scram_server_parse_bare(ScramCursor *c, const char **nonce, size_t *nonce_len,
				    char *err, size_t errlen)
{
	const char *v;
	size_t vl;
	if (c->len - c->pos >= 2 && c->p[c->pos] == 'm' && c->p[c->pos + 1] == '=')
		return scram_fail(err, errlen, "SCRAM mandatory extension is not supported");
	/* PostgreSQL ignores the SCRAM user name: the startup packet's user counts. */
	if (!scram_cursor_attr(c, 'n', NULL, &v, &vl))
		return scram_fail(err, errlen,
				  "SCRAM client-first-message lacks the user name attribute");
	if (!scram_cursor_attr(c, 'r', NULL, nonce, nonce_len))
		return scram_fail(err, errlen,
				  "SCRAM client-first-message lacks the nonce attribute");
	if (!scram_nonce_valid(*nonce, *nonce_len) || *nonce_len > SCRAM_NONCE_MAX * 4)
		return scram_fail(err, errlen, "SCRAM client nonce is invalid");
	if (!scram_cursor_skip_extensions(c))
		return scram_fail(err, errlen, "malformed SCRAM client-first-message");
	return true;
}

/* Build "r=<cnonce><snonce>,s=<salt>,i=<iter>" and remember the combined nonce. */
static bool scram_server_build_first(ScramServer *s, const char *cnonce, size_t cnonce_len)
{
	char snonce[SCRAM_NONCE_MAX + 1];
	char salt[SCRAM_B64_ENC_SIZE(SCRAM_MAX_SALT_LEN)];
	if (s->test_nonce[0])
		memcpy(snonce, s->test_nonce, sizeof(snonce));
	else if (!scram_make_nonce(snonce))
		return false;
	if (!scram_b64_encode(s->secret.salt, (size_t)s->secret.salt_len, salt, sizeof(salt)))
		return false;
	size_t sn = strlen(snonce);
	s->nonce = xmalloc(cnonce_len + sn + 1);
	memcpy(s->nonce, cnonce, cnonce_len);
	memcpy(s->nonce + cnonce_len, snonce, sn + 1);
	size_t n = strlen(s->nonce) + strlen(salt) + 32;
	s->server_first = xmalloc(n);
	snprintf(s->server_first, n, "r=%s,s=%s,i=%d", s->nonce, salt, s->secret.iterations);
	return true;
}

bool scram_server_client_first(ScramServer *s, const char *msg, size_t len, char **server_first_out,
			       char *err, size_t errlen)
{
	*server_first_out = NULL;
	if (s->state != SCRAM_SERVER_INIT)
		return scram_fail(err, errlen, "SCRAM client-first-message out of order");
	s->state = SCRAM_SERVER_FAILED;
	ScramCursor c = {msg, len, 0};
	const char *cnonce;
	size_t cnonce_len;
	if (!scram_check_wire(msg, len, err, errlen) || !scram_server_parse_gs2(s, &c, err, errlen))
		return false;
	size_t bare_start = c.pos;
	if (!scram_server_parse_bare(&c, &cnonce, &cnonce_len, err, errlen))
		return false;
	s->client_first_bare = scram_strndup(msg + bare_start, len - bare_start);
	if (!scram_server_build_first(s, cnonce, cnonce_len))
		return scram_fail(err, errlen, "could not generate SCRAM server nonce");
	*server_first_out = xstrdup(s->server_first);
	s->state = SCRAM_SERVER_SENT_FIRST;
	return true;
}

/* c=<base64 gs2 header> must echo exactly what the client sent first. */
static bool scram_server_check_cbind(const ScramServer *s, const char *v, size_t vl)
{
	uint8_t hdr[8];
	size_t got = 0;
	if (!scram_b64_decode(v, vl, hdr, sizeof(hdr), &got) || got != 3)
		return false;
	return hdr[0] == (uint8_t)s->cbind_flag && hdr[1] == ',' && hdr[2] == ',';
}

/*
 * client-final-message: c=...,r=...[,ext...],p=<proof>. Returns the proof and the length
 * of client-final-message-without-proof.
 */
static bool scram_server_parse_final(const ScramServer *s, ScramCursor *c,
				     uint8_t proof[SCRAM_KEY_LEN], size_t *wo_proof_len, char *err,
				     size_t errlen)
{
	const char *v;
	size_t vl;
	char name = 0;
	if (!scram_cursor_attr(c, 'c', NULL, &v, &vl) || !scram_server_check_cbind(s, v, vl))
		return scram_fail(err, errlen,
				  "SCRAM channel binding attribute is missing or does not match");
	if (!scram_cursor_attr(c, 'r', NULL, &v, &vl))
		return scram_fail(err, errlen,
				  "SCRAM client-final-message lacks the nonce attribute");
	if (vl != strlen(s->nonce) || memcmp(v, s->nonce, vl) != 0)
		return scram_fail(err, errlen, "SCRAM nonce mismatch");
	for (;;) {
		size_t attr_start = c->pos;
		if (scram_cursor_done(c) || !scram_cursor_attr(c, '\0', &name, &v, &vl))
			return scram_fail(err, errlen,
					  "SCRAM client-final-message lacks the proof attribute");
		if (name != 'p')
			continue;
		if (!scram_cursor_done(c))
			return scram_fail(err, errlen, "SCRAM proof is not the last attribute");
		if (!scram_b64_decode_exact(v, vl, proof, SCRAM_KEY_LEN))
			return scram_fail(err, errlen, "SCRAM proof is malformed");
		*wo_proof_len = attr_start - 1;
		return true;
	}
}

/* Recover ClientKey from the proof and check it against StoredKey. */
static bool scram_server_verify(ScramServer *s, const char *auth_msg, size_t am_len,
				const uint8_t proof[SCRAM_KEY_LEN])
{
	uint8_t key[SCRAM_KEY_LEN], stored[SCRAM_KEY_LEN];
	bool ok = scram_xor_signature(s->secret.stored_key, auth_msg, am_len, proof, key) &&
		  scram_sha256(key, SCRAM_KEY_LEN, stored) &&
		  CRYPTO_memcmp(stored, s->secret.stored_key, SCRAM_KEY_LEN) == 0 && !s->mock;
	if (ok)
		memcpy(s->client_key, key, SCRAM_KEY_LEN);
	OPENSSL_cleanse(key, sizeof(key));
	return ok;
}

bool scram_server_client_final(ScramServer *s, const char *msg, size_t len, char **server_final_out,
			       char *err, size_t errlen)
{
	*server_final_out = NULL;
	if (s->state != SCRAM_SERVER_SENT_FIRST)
		return scram_fail(err, errlen, "SCRAM client-final-message out of order");
	s->state = SCRAM_SERVER_FAILED;
	ScramCursor c = {msg, len, 0};
	uint8_t proof[SCRAM_KEY_LEN];
	size_t wo_len = 0, am_len = 0;
	if (!scram_check_wire(msg, len, err, errlen) ||
	    !scram_server_parse_final(s, &c, proof, &wo_len, err, errlen))
		return false;
	char *am = scram_auth_message(s->client_first_bare, s->server_first, msg, wo_len, &am_len);
	bool ok = scram_server_verify(s, am, am_len, proof);
	if (ok)
		*server_final_out = scram_server_final_text(s->secret.server_key, am, am_len);
	free(am);
	if (!ok && s->mock)
		return scram_fail(err, errlen, "SCRAM authentication for unknown user");
	if (!ok)
		return scram_fail(err, errlen, "SCRAM proof is wrong (password mismatch)");
	if (!*server_final_out)
		return scram_fail(err, errlen, "could not compute SCRAM server signature");
	s->have_client_key = true;
	s->state = SCRAM_SERVER_DONE;
	return true;
}

void scram_server_free(ScramServer *s)
{
	scram_free_str(&s->client_first_bare);
	scram_free_str(&s->server_first);
	scram_free_str(&s->nonce);
	OPENSSL_cleanse(s->client_key, sizeof(s->client_key));
	OPENSSL_cleanse(&s->secret, sizeof(s->secret));
	s->have_client_key = false;
}

/* ---- client role ---- */

bool scram_client_start(ScramClient *c, const char *password, const uint8_t *client_key,
			const uint8_t *server_key)
{
	memset(c, 0, sizeof(*c));
	c->state = SCRAM_CLIENT_INIT;
	if (client_key && server_key) {
		memcpy(c->client_key, client_key, SCRAM_KEY_LEN);
		memcpy(c->server_key, server_key, SCRAM_KEY_LEN);
		c->have_keys = true;
		return true;
	}
	if (password) {
		c->password = xstrdup(password);
		return true;
	}
	c->state = SCRAM_CLIENT_FAILED;
	return false;
}

void scram_client_set_nonce_for_test(ScramClient *c, const char *nonce)
{
	snprintf(c->nonce, sizeof(c->nonce), "%s", nonce ? nonce : "");
}

char *scram_client_first_message(ScramClient *c)
{
	if (c->state != SCRAM_CLIENT_INIT)
		return NULL;
	c->state = SCRAM_CLIENT_FAILED;
	if (!c->nonce[0] && !scram_make_nonce(c->nonce))
		return NULL;
	/* Empty user name, as libpq sends: the server takes it from the startup packet. */
	size_t n = strlen(c->nonce) + 6;
	c->client_first_bare = xmalloc(n);
	snprintf(c->client_first_bare, n, "n=,r=%s", c->nonce);
	size_t m = n + 3;
	char *out = xmalloc(m);
	snprintf(out, m, "n,,%s", c->client_first_bare);
	c->state = SCRAM_CLIENT_SENT_FIRST;
	return out;
}

typedef struct ScramServerFirst {
	const char *nonce;
	size_t nonce_len;
	uint8_t salt[SCRAM_MAX_SALT_LEN];
	size_t salt_len;
	int iterations;
} ScramServerFirst;

/* server-first-message: [m=...] r=<nonce>,s=<salt>,i=<iter>[,ext...]. */
static bool scram_client_parse_first(const ScramClient *c, ScramCursor *cur, ScramServerFirst *sf,
				     char *err, size_t errlen)
{
	const char *v;
	size_t vl, cn = strlen(c->nonce);
	if (!scram_cursor_attr(cur, 'r', NULL, &sf->nonce, &sf->nonce_len))
		return scram_fail(err, errlen,
				  "SCRAM server-first-message lacks the nonce attribute");
	if (sf->nonce_len <= cn || memcmp(sf->nonce, c->nonce, cn) != 0 ||
	    !scram_nonce_valid(sf->nonce, sf->nonce_len))
		return scram_fail(err, errlen, "SCRAM server nonce does not extend ours");
	if (!scram_cursor_attr(cur, 's', NULL, &v, &vl) ||
	    !scram_b64_decode(v, vl, sf->salt, sizeof(sf->salt), &sf->salt_len) ||
	    sf->salt_len == 0)
		return scram_fail(err, errlen, "SCRAM salt is missing or malformed");
	if (!scram_cursor_attr(cur, 'i', NULL, &v, &vl) ||
	    !scram_parse_int(v, vl, SCRAM_MAX_ITERATIONS, &sf->iterations))
		return scram_fail(err, errlen, "SCRAM iteration count is missing or outside 1..%d",
				  SCRAM_MAX_ITERATIONS);
	if (!scram_cursor_skip_extensions(cur))
		return scram_fail(err, errlen, "malformed SCRAM server-first-message");
	return true;
}

/* Turn the password (if that is what we have) into ClientKey and ServerKey. */
static bool scram_client_keys(ScramClient *c, const ScramServerFirst *sf)
{
	if (c->have_keys)
		return true;
	if (!scram_derive_keys(c->password, sf->salt, (int)sf->salt_len, sf->iterations,
			       c->client_key, c->server_key))
		return false;
	c->have_keys = true;
	return true;
}

/* "c=biws,r=<nonce>,p=<proof>"; also stores the server signature we expect back. */
static char *scram_client_build_final(ScramClient *c, const char *server_first,
				      const ScramServerFirst *sf)
{
	/* "biws" is base64("n,,"): no channel binding and no authzid. */
	size_t wo_len = 9 + sf->nonce_len, am_len = 0;
	char *out = xmalloc(wo_len + 3 + SCRAM_B64_ENC_SIZE(SCRAM_KEY_LEN));
	memcpy(out, "c=biws,r=", 9);
	memcpy(out + 9, sf->nonce, sf->nonce_len);
	char *am = scram_auth_message(c->client_first_bare, server_first, out, wo_len, &am_len);
	uint8_t stored[SCRAM_KEY_LEN], proof[SCRAM_KEY_LEN];
	bool ok = scram_sha256(c->client_key, SCRAM_KEY_LEN, stored) &&
		  scram_xor_signature(stored, am, am_len, c->client_key, proof) &&
		  scram_hmac(c->server_key, am, am_len, c->server_signature);
	free(am);
	memcpy(out + wo_len, ",p=", 3);
	ok = ok && scram_b64_encode(proof, sizeof(proof), out + wo_len + 3,
				    SCRAM_B64_ENC_SIZE(SCRAM_KEY_LEN));
	OPENSSL_cleanse(proof, sizeof(proof));
	OPENSSL_cleanse(stored, sizeof(stored));
	if (!ok) {
		free(out);
		return NULL;
	}
	return out;
}

bool scram_client_server_first(ScramClient *c, const char *msg, size_t len, char **client_final_out,
			       char *err, size_t errlen)
{
	*client_final_out = NULL;
	if (c->state != SCRAM_CLIENT_SENT_FIRST)
		return scram_fail(err, errlen, "SCRAM server-first-message out of order");
	c->state = SCRAM_CLIENT_FAILED;
	ScramCursor cur = {msg, len, 0};
	ScramServerFirst sf;
	memset(&sf, 0, sizeof(sf));
	if (!scram_check_wire(msg, len, err, errlen))
		return false;
	if (len >= 2 && msg[0] == 'm' && msg[1] == '=')
		return scram_fail(err, errlen, "SCRAM mandatory extension is not supported");
	if (!scram_client_parse_first(c, &cur, &sf, err, errlen))
		return false;
	if (!scram_client_keys(c, &sf))
		return scram_fail(err, errlen, "SCRAM key derivation failed");
	char *server_first = scram_strndup(msg, len);
	*client_final_out = scram_client_build_final(c, server_first, &sf);
	free(server_first);
	if (!*client_final_out)
		return scram_fail(err, errlen, "could not compute SCRAM client proof");
	c->state = SCRAM_CLIENT_SENT_FINAL;
	return true;
}

bool scram_client_server_final(ScramClient *c, const char *msg, size_t len, char *err,
			       size_t errlen)
{
	if (c->state != SCRAM_CLIENT_SENT_FINAL)
		return scram_fail(err, errlen, "SCRAM server-final-message out of order");
	c->state = SCRAM_CLIENT_FAILED;
	if (!scram_check_wire(msg, len, err, errlen))
		return false;
	ScramCursor cur = {msg, len, 0};
	const char *v;
	size_t vl;
	uint8_t sig[SCRAM_KEY_LEN];
	if (scram_cursor_attr(&cur, 'e', NULL, &v, &vl))
		return scram_fail(err, errlen, "server reported SCRAM error: %.*s",
				  scram_printable_len(v, vl), v);
	if (!scram_cursor_attr(&cur, 'v', NULL, &v, &vl) ||
	    !scram_b64_decode_exact(v, vl, sig, SCRAM_KEY_LEN) ||
	    !scram_cursor_skip_extensions(&cur))
		return scram_fail(err, errlen, "malformed SCRAM server-final-message");
	if (CRYPTO_memcmp(sig, c->server_signature, SCRAM_KEY_LEN) != 0)
		return scram_fail(err, errlen, "SCRAM server signature is wrong");
	c->state = SCRAM_CLIENT_DONE;
	return true;
}

void scram_client_free(ScramClient *c)
{
	scram_free_str(&c->password);
	scram_free_str(&c->client_first_bare);
	OPENSSL_cleanse(c->client_key, sizeof(c->client_key));
	OPENSSL_cleanse(c->server_key, sizeof(c->server_key));
	OPENSSL_cleanse(c->server_signature, sizeof(c->server_signature));
	c->have_keys = false;
}
