/*
 * SCRAM-SHA-256 (RFC 5802 / RFC 7677) as PostgreSQL speaks it, for both roles: the
 * server role verifies a client of the pooler, the client role logs the pooler in to
 * a PostgreSQL server. Pure state machines over byte buffers: no sockets, no protocol
 * framing (the SASL messages arrive here already unwrapped by auth.c / server.c).
 * Channel binding is not offered: gs2 header "n,," (or "y,," from a client that could
 * have bound but saw no -PLUS mechanism); "p=" is refused.
 */
#ifndef PGSPLIT_SCRAM_H
#define PGSPLIT_SCRAM_H

#include "common.h"

#define SCRAM_KEY_LEN 32 /* SHA-256 output */
#define SCRAM_MAX_SALT_LEN 64
#define SCRAM_DEFAULT_SALT_LEN 16     /* what PostgreSQL generates */
#define SCRAM_DEFAULT_ITERATIONS 4096 /* PostgreSQL's scram_iterations default */

/*
 * Upper bound on the iteration count we accept on the wire (client role). PBKDF2 runs
 * synchronously on the event loop, and 1e6 rounds already cost ~0.3-0.5 s of CPU, so a
 * larger count from a server is treated as hostile. Stored secrets may carry any
 * positive count: the server role never runs PBKDF2 on them.
 */
#define SCRAM_MAX_ITERATIONS 1000000

/* No legitimate SCRAM message comes near this; longer input is rejected unparsed. */
#define SCRAM_MAX_MESSAGE_LEN 2048

/* Our nonces are 18 random bytes in base64 (24 chars), as PostgreSQL's. */
#define SCRAM_RAW_NONCE_LEN 18
#define SCRAM_NONCE_MAX 64 /* longest nonce a test may inject, excluding the NUL */

/* A verifier as PostgreSQL stores it in pg_authid.rolpassword. */
typedef struct ScramSecret {
	int iterations;
	uint8_t salt[SCRAM_MAX_SALT_LEN];
	int salt_len;
	uint8_t stored_key[SCRAM_KEY_LEN]; /* SHA256(ClientKey) */
	uint8_t server_key[SCRAM_KEY_LEN]; /* HMAC(SaltedPassword, "Server Key") */
} ScramSecret;

/* Parse "SCRAM-SHA-256$<iter>:<b64 salt>$<b64 StoredKey>:<b64 ServerKey>". */
bool scram_parse_secret(const char *s, ScramSecret *out) MUST_CHECK;

/*
 * Derive a verifier from a password with a random salt. SASLprep: an ASCII password is
 * used byte for byte (PostgreSQL does the same); a non-ASCII one is also used as raw
 * bytes, which matches PostgreSQL whenever its SASLprep leaves the string unchanged or
 * fails (invalid UTF-8, prohibited code points), but not for passwords that NFKC or the
 * RFC 4013 mappings would alter (e.g. non-ASCII spaces, soft hyphens, decomposed
 * accents). Iterations must be in 1..SCRAM_MAX_ITERATIONS.
 */
bool scram_secret_from_password(const char *password, int iterations, ScramSecret *out) MUST_CHECK;

/* The same with a caller-chosen salt (deterministic: tests, or re-deriving a known verifier). */
bool scram_secret_derive(const char *password, const uint8_t *salt, int salt_len, int iterations,
			 ScramSecret *out) MUST_CHECK;

/* PostgreSQL text form of a verifier; malloc'd, caller frees. */
char *scram_secret_format(const ScramSecret *secret);

/*
 * Standard base64 with padding. encode writes a NUL-terminated string and fails when
 * dst is too small (needs SCRAM_B64_ENC_SIZE(srclen)). decode is strict (no whitespace,
 * exact padding) and fails when the result would not fit in dstsize.
 */
#define SCRAM_B64_ENC_SIZE(n) ((((n) + 2) / 3) * 4 + 1)
bool scram_b64_encode(const uint8_t *src, size_t srclen, char *dst, size_t dstsize) MUST_CHECK;
bool scram_b64_decode(const char *src, size_t srclen, uint8_t *dst, size_t dstsize,
		      size_t *outlen) MUST_CHECK;

/* ---- server role: the pooler verifies a connecting client ---- */

typedef enum {
	SCRAM_SERVER_INIT,	 /* started, waiting for client-first-message */
	SCRAM_SERVER_SENT_FIRST, /* server-first sent, waiting for client-final-message */
	SCRAM_SERVER_DONE,	 /* proof verified, server-final produced */
	SCRAM_SERVER_FAILED	 /* any error: every further call fails */
} ScramServerState;

typedef struct ScramServer {
	ScramServerState state;
	ScramSecret secret;	 /* copy of the verifier we check against */
	bool mock;		 /* unknown user: run the exchange, always fail at the end */
	char cbind_flag;	 /* 'n' or 'y', from the client's gs2 header */
	char *client_first_bare; /* owned; NUL-terminated; part of AuthMessage */
	char *server_first;	 /* owned; our own copy of what we sent */
	char *nonce;		 /* owned; client nonce + server nonce */
	char test_nonce[SCRAM_NONCE_MAX + 1]; /* non-empty: server nonce to use (tests) */
	uint8_t client_key[SCRAM_KEY_LEN];    /* recovered ClientKey, valid if have_client_key */
	bool have_client_key;
} ScramServer;

/* secret is copied. Returns false only on a NULL secret. Pair with scram_server_free(). */
bool scram_server_start(ScramServer *s, const ScramSecret *secret) MUST_CHECK;

/*
 * For a user that does not exist: the exchange looks normal (salt derived from the user
 * name and a per-process random key, so it is stable across attempts and does not reveal
 * the user is unknown) and always fails at client-final.
 */
bool scram_server_start_mock(ScramServer *s, const char *user) MUST_CHECK;

/* Test hook: use this server nonce instead of a random one. Call before client_first. */
void scram_server_set_nonce_for_test(ScramServer *s, const char *nonce);

/*
 * msg/len is the SASLInitialResponse payload (not NUL-terminated). On success
 * *server_first_out is the malloc'd AuthenticationSASLContinue payload (NUL-terminated;
 * send strlen bytes). On failure err tells why, for the log.
 */
bool scram_server_client_first(ScramServer *s, const char *msg, size_t len, char **server_first_out,
			       char *err, size_t errlen) MUST_CHECK;

/*
 * msg/len is the SASLResponse payload. On success *server_final_out is the malloc'd
 * AuthenticationSASLFinal payload and s->client_key/have_client_key are set.
 */
bool scram_server_client_final(ScramServer *s, const char *msg, size_t len, char **server_final_out,
			       char *err, size_t errlen) MUST_CHECK;

/* Frees owned strings and wipes key material. Safe on a zeroed or already freed struct. */
void scram_server_free(ScramServer *s);

/* ---- client role: the pooler logs in to a PostgreSQL server ---- */

typedef enum {
	SCRAM_CLIENT_INIT,	 /* started, client-first not yet built */
	SCRAM_CLIENT_SENT_FIRST, /* waiting for server-first-message */
	SCRAM_CLIENT_SENT_FINAL, /* waiting for server-final-message */
	SCRAM_CLIENT_DONE,	 /* server signature verified */
	SCRAM_CLIENT_FAILED
} ScramClientState;

typedef struct ScramClient {
	ScramClientState state;
	char *password; /* owned copy, NULL in pass-through mode; wiped on free */
	bool have_keys; /* pass-through: client_key/server_key are given */
	uint8_t client_key[SCRAM_KEY_LEN];
	uint8_t server_key[SCRAM_KEY_LEN];
	char nonce[SCRAM_NONCE_MAX + 1];	 /* our client nonce */
	char *client_first_bare;		 /* owned; part of AuthMessage */
	uint8_t server_signature[SCRAM_KEY_LEN]; /* expected in server-final */
} ScramClient;

/*
 * Either password (plain text) or both client_key and server_key (pass-through of a
 * client's recovered ClientKey plus the ServerKey of the stored secret). When both are
 * given the keys win. Returns false when neither is usable.
 */
bool scram_client_start(ScramClient *c, const char *password, const uint8_t *client_key,
			const uint8_t *server_key) MUST_CHECK;

/* Test hook: use this client nonce instead of a random one. Call before first_message. */
void scram_client_set_nonce_for_test(ScramClient *c, const char *nonce);

/* SASLInitialResponse payload "n,,n=,r=<nonce>", malloc'd; NULL if called out of order. */
char *scram_client_first_message(ScramClient *c);

/* msg/len is the AuthenticationSASLContinue payload; *client_final_out is malloc'd. */
bool scram_client_server_first(ScramClient *c, const char *msg, size_t len, char **client_final_out,
			       char *err, size_t errlen) MUST_CHECK;

/* msg/len is the AuthenticationSASLFinal payload; true when the server proved itself. */
bool scram_client_server_final(ScramClient *c, const char *msg, size_t len, char *err,
			       size_t errlen) MUST_CHECK;

/* Frees owned strings and wipes key material. Safe on a zeroed or already freed struct. */
void scram_client_free(ScramClient *c);

#endif
