/*
 * Unit tests for the authentication primitives: md5 secrets, SCRAM-SHA-256 in both roles
 * (RFC 7677 vector, round trips with a password and with pass-through keys, hostile
 * messages) and the userlist.txt parser. Expected values were computed independently
 * with Python's hashlib/hmac. Fixtures are found under $top_srcdir (default ".").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "authfile.h"
#include "common.h"
#include "log.h"
#include "md5.h"
#include "scram.h"
#include "tap.h"

/* ---- RFC 7677 vector (password "pencil") and values derived from it in Python ---- */

#define RFC_SALT_B64 "W22ZaJ0SNY7soEsUEjb6gQ=="
#define RFC_CNONCE "rOprNGfwEbeRWgbNEkqO"
#define RFC_SNONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define RFC_SERVER_FIRST "r=" RFC_CNONCE RFC_SNONCE ",s=" RFC_SALT_B64 ",i=4096"
#define RFC_CLIENT_FIRST "n,,n=user,r=" RFC_CNONCE
#define RFC_CLIENT_FINAL                                                                           \
	"c=biws,r=" RFC_CNONCE RFC_SNONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define RFC_SERVER_FINAL "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
#define PENCIL_SECRET                                                                              \
	"SCRAM-SHA-256$4096:" RFC_SALT_B64                                                         \
	"$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2"                       \
	"KeoiWGPlZqQxSrmfPwDl2dU="
/* The same exchange with an empty SCRAM user name, as libpq and our client send it. */
#define ANON_CLIENT_FIRST "n,,n=,r=" RFC_CNONCE
#define ANON_CLIENT_FINAL                                                                          \
	"c=biws,r=" RFC_CNONCE RFC_SNONCE ",p=qvT2SWdEH5Q06albL+hjSYuUhCG7VndFyzIb7CK4n9k="
#define ANON_SERVER_FINAL "v=3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOg="
/* ... and with gs2 flag 'y' (client supports binding, server offered none). */
#define Y_CLIENT_FIRST "y,,n=,r=" RFC_CNONCE
#define Y_CLIENT_FINAL                                                                             \
	"c=eSws,r=" RFC_CNONCE RFC_SNONCE ",p=VpuC5DGQa5ro9tXE9MnKs69NH1nxnuregZZcclqIGfM="
#define Y_SERVER_FINAL "v=FOmOj9BpTGwvnzwBtWQjBaPmVxT9I8IeHBOhcIPu3us="

static const uint8_t pencil_client_key[32] = {
	0xa6, 0x0f, 0xc9, 0x23, 0xd6, 0x7e, 0x86, 0x44, 0xa9, 0x2d, 0x16,
	0xb9, 0x6e, 0xda, 0x5e, 0xf4, 0x65, 0x6b, 0x0c, 0x72, 0x5c, 0x48,
	0x43, 0x74, 0xbe, 0x25, 0x53, 0x55, 0x76, 0x99, 0x6e, 0x8b,
};
static const uint8_t pencil_server_key[32] = {
	0xc1, 0xf3, 0xcb, 0xc1, 0xc1, 0x3a, 0x9d, 0x35, 0xa1, 0x4c, 0x09,
	0x90, 0xee, 0xd9, 0x76, 0x29, 0xea, 0x22, 0x58, 0x63, 0xe5, 0x66,
	0xa4, 0x31, 0x4a, 0xb9, 0x9f, 0x3f, 0x00, 0xe5, 0xd9, 0xd5,
};

/* An exact-size heap copy with no terminating NUL, so ASan catches any over-read. */
static char *exact(const char *s, size_t len)
{
	char *p = xmalloc(len ? len : 1);
	memcpy(p, s, len);
	return p;
}

static void pencil_secret(ScramSecret *sec)
{
	if (!scram_parse_secret(PENCIL_SECRET, sec))
		memset(sec, 0, sizeof(*sec));
}

/* Server in the state after the RFC client-first (empty user name variant by default). */
static bool server_after_first(ScramServer *s, const char *client_first)
{
	ScramSecret sec;
	char *out = NULL, err[256];
	pencil_secret(&sec);
	if (!scram_server_start(s, &sec))
		return false;
	scram_server_set_nonce_for_test(s, RFC_SNONCE);
	size_t len = strlen(client_first);
	char *msg = exact(client_first, len);
	bool ok = scram_server_client_first(s, msg, len, &out, err, sizeof(err));
	free(msg);
	free(out);
	return ok;
}

static bool server_final(ScramServer *s, const char *msg, size_t len, char *err, size_t errlen)
{
	char *out = NULL;
	char *m = exact(msg, len);
	bool ok = scram_server_client_final(s, m, len, &out, err, errlen);
	free(m);
	free(out);
	return ok;
}

/* Client in the state after the RFC server-first (nonce injected). */
static bool client_after_first(ScramClient *c, const char *password, const uint8_t *ck,
			       const uint8_t *sk, char **final_out)
{
	char err[256];
	if (!scram_client_start(c, password, ck, sk))
		return false;
	scram_client_set_nonce_for_test(c, RFC_CNONCE);
	free(scram_client_first_message(c));
	char *m = exact(RFC_SERVER_FIRST, strlen(RFC_SERVER_FIRST));
	bool ok = scram_client_server_first(c, m, strlen(RFC_SERVER_FIRST), final_out, err,
					    sizeof(err));
	free(m);
	return ok;
}

/* ---- md5 ---- */

static void test_md5_vectors(void)
{
	char out[MD5_SECRET_BUFSIZE];
	const uint8_t salt[4] = {1, 2, 3, 0xfe};
	md5_password_secret("alice", "secretpass", out);
	CHECK_STR(out, "md5cb970ccc08b4d76c34e1ba04ef2b4cb2");
	md5_salted_response("md5cb970ccc08b4d76c34e1ba04ef2b4cb2", salt, out);
	CHECK_STR(out, "md581dfd45ba1748509318dae19e7078188");
	md5_salted_response("not-a-secret", salt, out);
	CHECK(out[0] == '\0');
	CHECK(md5_is_secret("md5cb970ccc08b4d76c34e1ba04ef2b4cb2"));
	CHECK(!md5_is_secret("md5CB970ccc08b4d76c34e1ba04ef2b4cb2"));
	CHECK(!md5_is_secret("md5cb970ccc08b4d76c34e1ba04ef2b4cb"));
	CHECK(!md5_is_secret("md5cb970ccc08b4d76c34e1ba04ef2b4cb22"));
	CHECK(!md5_is_secret("md5cb970ccc08b4d76c34e1ba04ef2b4cbg"));
	CHECK(!md5_is_secret("xyzcb970ccc08b4d76c34e1ba04ef2b4cb2"));
	CHECK(!md5_is_secret("md5"));
	CHECK(!md5_is_secret(""));
}

/* ---- base64 ---- */

static void test_b64(void)
{
	uint8_t raw[16], back[16];
	char enc[SCRAM_B64_ENC_SIZE(16)];
	size_t n = 0;
	bool all_ok = true;
	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t)(i * 37 + 200);
	for (size_t len = 0; len <= sizeof(raw); len++) {
		all_ok &= scram_b64_encode(raw, len, enc, sizeof(enc));
		all_ok &= scram_b64_decode(enc, strlen(enc), back, sizeof(back), &n) && n == len &&
			  memcmp(raw, back, len) == 0;
	}
	CHECK_MSG(all_ok, "base64 round trip for lengths 0..16");
	CHECK(scram_b64_encode((const uint8_t *)"n,,", 3, enc, sizeof(enc)) &&
	      strcmp(enc, "biws") == 0);
	CHECK(!scram_b64_encode(raw, 16, enc, SCRAM_B64_ENC_SIZE(16) - 1));
	CHECK(scram_b64_decode("QQ==", 4, back, 1, &n) && n == 1 && back[0] == 'A');
	CHECK(!scram_b64_decode("QR==", 4, back, sizeof(back), &n)); /* non-zero pad bits */
	CHECK(!scram_b64_decode("QQ=", 3, back, sizeof(back), &n));
	CHECK(!scram_b64_decode("Q===", 4, back, sizeof(back), &n));
	CHECK(!scram_b64_decode("QQ==QQ==", 8, back, sizeof(back), &n));
	CHECK(!scram_b64_decode("QQ!A", 4, back, sizeof(back), &n));
	CHECK(!scram_b64_decode("QUJD", 4, back, 2, &n)); /* does not fit */
	CHECK(!scram_b64_decode("QQ=A", 4, back, sizeof(back), &n));
}

/* ---- SCRAM secrets ---- */

static void test_scram_secret(void)
{
	ScramSecret sec, derived;
	uint8_t salt[16];
	size_t n = 0;
	CHECK(scram_parse_secret(PENCIL_SECRET, &sec));
	CHECK(sec.iterations == 4096 && sec.salt_len == 16);
	CHECK(memcmp(sec.server_key, pencil_server_key, 32) == 0);
	CHECK(scram_b64_decode(RFC_SALT_B64, strlen(RFC_SALT_B64), salt, sizeof(salt), &n) &&
	      n == 16);
	CHECK(scram_secret_derive("pencil", salt, 16, 4096, &derived));
	CHECK(memcmp(&derived, &sec, sizeof(sec)) == 0);
	char *text = scram_secret_format(&derived);
	CHECK_STR(text, PENCIL_SECRET);
	free(text);

	static const char *const bad[] = {
		"",
		"SCRAM-SHA-256$",
		"SCRAM-SHA-1$4096:" RFC_SALT_B64 "$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
		"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$0:" RFC_SALT_B64 "$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
		"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$-1:" RFC_SALT_B64 "$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
		"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$99999999999:" RFC_SALT_B64
		"$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
		"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$4096:$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
		"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$4096:W22Z!J0SNY7soEsUEjb6gQ==$"
		"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
		"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$4096:" RFC_SALT_B64 "$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4q=:"
		"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$4096:" RFC_SALT_B64 "$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=",
		"SCRAM-SHA-256$4096:" RFC_SALT_B64 "$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
		"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=$",
		"SCRAM-SHA-256$4096" RFC_SALT_B64 "$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
		"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
	};
	bool none = true;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (scram_parse_secret(bad[i], &sec)) {
			printf("# accepted bad secret %zu\n", i);
			none = false;
		}
	}
	CHECK_MSG(none, "malformed SCRAM secrets are rejected");

	ScramSecret a, b;
	CHECK(scram_secret_from_password("pw", 4096, &a) &&
	      scram_secret_from_password("pw", 4096, &b));
	CHECK(a.salt_len == SCRAM_DEFAULT_SALT_LEN && memcmp(a.salt, b.salt, 16) != 0);
	CHECK(!scram_secret_from_password("pw", 0, &a));
	CHECK(!scram_secret_from_password("pw", SCRAM_MAX_ITERATIONS + 1, &a));
}

/* ---- SCRAM against the RFC 7677 vector ---- */

static void test_scram_rfc7677_server(void)
{
	ScramServer s;
	ScramSecret sec;
	char *out = NULL, err[256] = "";
	pencil_secret(&sec);
	CHECK(scram_server_start(&s, &sec));
	scram_server_set_nonce_for_test(&s, RFC_SNONCE);
	char *m = exact(RFC_CLIENT_FIRST, strlen(RFC_CLIENT_FIRST));
	CHECK(scram_server_client_first(&s, m, strlen(RFC_CLIENT_FIRST), &out, err, sizeof(err)));
	free(m);
	CHECK_STR(out, RFC_SERVER_FIRST);
	free(out);
	m = exact(RFC_CLIENT_FINAL, strlen(RFC_CLIENT_FINAL));
	CHECK(scram_server_client_final(&s, m, strlen(RFC_CLIENT_FINAL), &out, err, sizeof(err)));
	free(m);
	CHECK_STR(out, RFC_SERVER_FINAL);
	CHECK(s.have_client_key && memcmp(s.client_key, pencil_client_key, 32) == 0);
	free(out);
	scram_server_free(&s);
	scram_server_free(&s); /* idempotent */
}

static void test_scram_rfc7677_client(void)
{
	ScramClient c;
	char *final = NULL, err[256] = "";
	CHECK(scram_client_start(&c, "pencil", NULL, NULL));
	scram_client_set_nonce_for_test(&c, RFC_CNONCE);
	char *first = scram_client_first_message(&c);
	CHECK_STR(first, ANON_CLIENT_FIRST);
	free(first);
	CHECK(scram_client_first_message(&c) == NULL); /* out of order */
	char *m = exact(RFC_SERVER_FIRST, strlen(RFC_SERVER_FIRST));
	CHECK(scram_client_server_first(&c, m, strlen(RFC_SERVER_FIRST), &final, err, sizeof(err)));
	free(m);
	CHECK_STR(final, ANON_CLIENT_FINAL);
	free(final);
	m = exact(ANON_SERVER_FINAL, strlen(ANON_SERVER_FINAL));
	CHECK(scram_client_server_final(&c, m, strlen(ANON_SERVER_FINAL), err, sizeof(err)));
	free(m);
	CHECK(c.state == SCRAM_CLIENT_DONE);
	scram_client_free(&c);

	/* Pass-through keys produce the same messages without the password. */
	final = NULL;
	CHECK(client_after_first(&c, NULL, pencil_client_key, pencil_server_key, &final));
	CHECK_STR(final, ANON_CLIENT_FINAL);
	free(final);
	CHECK(scram_client_server_final(&c, ANON_SERVER_FINAL, strlen(ANON_SERVER_FINAL), err,
					sizeof(err)));
	scram_client_free(&c);

	/* A wrong server signature is refused. */
	final = NULL;
	CHECK(client_after_first(&c, "pencil", NULL, NULL, &final));
	free(final);
	CHECK(!scram_client_server_final(&c, RFC_SERVER_FINAL, strlen(RFC_SERVER_FINAL), err,
					 sizeof(err)));
	CHECK(strstr(err, "signature") != NULL);
	scram_client_free(&c);

	CHECK(!scram_client_start(&c, NULL, NULL, NULL));
	CHECK(!scram_client_start(&c, NULL, pencil_client_key, NULL));
	scram_client_free(&c);
}

static void test_scram_gs2_y(void)
{
	ScramServer s;
	char *out = NULL, err[256] = "";
	CHECK(server_after_first(&s, Y_CLIENT_FIRST));
	char *m = exact(Y_CLIENT_FINAL, strlen(Y_CLIENT_FINAL));
	CHECK(scram_server_client_final(&s, m, strlen(Y_CLIENT_FINAL), &out, err, sizeof(err)));
	free(m);
	CHECK_STR(out, Y_SERVER_FINAL);
	free(out);
	scram_server_free(&s);

	/* 'y' in the header but "n,," echoed in c=: a downgrade, refused. */
	CHECK(server_after_first(&s, Y_CLIENT_FIRST));
	CHECK(!server_final(&s, ANON_CLIENT_FINAL, strlen(ANON_CLIENT_FINAL), err, sizeof(err)));
	CHECK(strstr(err, "channel binding") != NULL);
	scram_server_free(&s);

	CHECK(server_after_first(&s, ANON_CLIENT_FIRST));
	CHECK(server_final(&s, ANON_CLIENT_FINAL, strlen(ANON_CLIENT_FINAL), err, sizeof(err)));
	scram_server_free(&s);
}

/* ---- SCRAM round trips: our client against our server ---- */

/* Run one full exchange; returns true when both sides succeed. */
static bool scram_round_trip(ScramServer *s, ScramClient *c)
{
	char err[256] = "", *sfirst = NULL, *cfinal = NULL, *sfinal = NULL;
	char *cfirst = scram_client_first_message(c);
	bool ok = cfirst &&
		  scram_server_client_first(s, cfirst, strlen(cfirst), &sfirst, err, sizeof(err)) &&
		  scram_client_server_first(c, sfirst, strlen(sfirst), &cfinal, err, sizeof(err)) &&
		  scram_server_client_final(s, cfinal, strlen(cfinal), &sfinal, err, sizeof(err)) &&
		  scram_client_server_final(c, sfinal, strlen(sfinal), err, sizeof(err));
	if (!ok)
		printf("# round trip failed: %s\n", err);
	free(cfirst);
	free(sfirst);
	free(cfinal);
	free(sfinal);
	return ok;
}

static void test_scram_round_trip(void)
{
	ScramSecret sec;
	ScramServer s, s2;
	ScramClient c;
	uint8_t client_key[32];
	CHECK(scram_secret_from_password("s3cret", 4096, &sec));

	CHECK(scram_server_start(&s, &sec) && scram_client_start(&c, "s3cret", NULL, NULL));
	CHECK_MSG(scram_round_trip(&s, &c), "round trip with a password");
	CHECK(s.have_client_key && memcmp(s.client_key, c.client_key, 32) == 0);
	memcpy(client_key, s.client_key, 32);
	scram_server_free(&s);
	scram_client_free(&c);

	/* Pass-through: the key recovered from the client logs us in to a "server". */
	CHECK(scram_server_start(&s2, &sec) &&
	      scram_client_start(&c, NULL, client_key, sec.server_key));
	CHECK_MSG(scram_round_trip(&s2, &c), "round trip with pass-through keys");
	CHECK(c.password == NULL);
	scram_server_free(&s2);
	scram_client_free(&c);

	CHECK(scram_server_start(&s, &sec) && scram_client_start(&c, "wrong", NULL, NULL));
	char err[256] = "", *cfirst = scram_client_first_message(&c), *sfirst = NULL,
	     *cfinal = NULL, *sfinal = NULL;
	CHECK(scram_server_client_first(&s, cfirst, strlen(cfirst), &sfirst, err, sizeof(err)));
	CHECK(scram_client_server_first(&c, sfirst, strlen(sfirst), &cfinal, err, sizeof(err)));
	CHECK(!scram_server_client_final(&s, cfinal, strlen(cfinal), &sfinal, err, sizeof(err)));
	CHECK(sfinal == NULL && !s.have_client_key && strstr(err, "wrong") != NULL);
	/* The state machine stays failed. */
	CHECK(!scram_server_client_final(&s, cfinal, strlen(cfinal), &sfinal, err, sizeof(err)));
	free(cfirst);
	free(sfirst);
	free(cfinal);
	scram_server_free(&s);
	scram_client_free(&c);

	CHECK(!scram_server_start(&s, NULL));
	scram_server_free(&s);
}

/* ---- secrets generated by a real PostgreSQL 15 (CREATE ROLE ... PASSWORD) ---- */

#define PG_PENCIL_SECRET                                                                           \
	"SCRAM-SHA-256$4096:YZgGhg8sPKyolmmVYak1sw==$awALiQs9hUEnWHK6LxvdLqq4FpKbekRKj3AM4j3wuB4=" \
	":fKoee/JFR78oW7"                                                                          \
	"m/xjq5DKaLLg+DQuO2p9NXjC7fgPk="
/* password 'pässwörd' (NFC, UTF-8): NFKC leaves it unchanged, so raw bytes match */
#define PG_UNI_SECRET                                                                              \
	"SCRAM-SHA-256$4096:UTUVeoKEUTJD2Nvugb7f5A==$KgggDAkhaoxD6xtV+KlvJo7prDL1Gv99VgvZHuikjsY=" \
	":QrkBB3Opegqzbs"                                                                          \
	"7nnUUzXkm5VOpCtfnsO1z8f5iNj2E="

static bool pg_secret_matches(const char *secret_text, const char *password)
{
	ScramSecret sec, derived;
	if (!scram_parse_secret(secret_text, &sec) ||
	    !scram_secret_derive(password, sec.salt, sec.salt_len, sec.iterations, &derived))
		return false;
	return memcmp(&sec, &derived, sizeof(sec)) == 0;
}

static void test_scram_postgres_secret(void)
{
	CHECK(pg_secret_matches(PG_PENCIL_SECRET, "pencil"));
	CHECK(!pg_secret_matches(PG_PENCIL_SECRET, "Pencil"));
	CHECK(pg_secret_matches(PG_UNI_SECRET, "p\xc3\xa4ssw\xc3\xb6rd"));
	ScramSecret sec;
	ScramServer s;
	ScramClient c;
	CHECK(scram_parse_secret(PG_PENCIL_SECRET, &sec));
	CHECK(scram_server_start(&s, &sec) && scram_client_start(&c, "pencil", NULL, NULL));
	CHECK_MSG(scram_round_trip(&s, &c),
		  "our client and server agree on a PostgreSQL-made secret");
	scram_server_free(&s);
	scram_client_free(&c);
	char *text = scram_secret_format(&sec);
	CHECK_STR(text, PG_PENCIL_SECRET);
	free(text);
}

static void test_scram_mock(void)
{
	ScramServer s1, s2;
	ScramClient c;
	char err[256] = "", *f1 = NULL, *f2 = NULL;
	CHECK(scram_server_start_mock(&s1, "ghost") && scram_server_start_mock(&s2, "ghost"));
	CHECK(scram_server_client_first(&s1, ANON_CLIENT_FIRST, strlen(ANON_CLIENT_FIRST), &f1, err,
					sizeof(err)));
	CHECK(scram_server_client_first(&s2, ANON_CLIENT_FIRST, strlen(ANON_CLIENT_FIRST), &f2, err,
					sizeof(err)));
	const char *salt1 = f1 ? strstr(f1, ",s=") : NULL, *salt2 = f2 ? strstr(f2, ",s=") : NULL;
	CHECK_MSG(salt1 && salt2 && strcmp(salt1, salt2) == 0, "mock salt is stable for one user");
	free(f1);
	free(f2);
	scram_server_free(&s1);
	scram_server_free(&s2);

	CHECK(scram_server_start_mock(&s1, "ghost") &&
	      scram_client_start(&c, "anything", NULL, NULL));
	CHECK_MSG(!scram_round_trip(&s1, &c), "mock authentication always fails");
	CHECK(!s1.have_client_key);
	scram_server_free(&s1);
	scram_client_free(&c);
}

/* ---- hostile input, server role ---- */

static bool server_first_rejected_q(const char *msg, size_t len, bool quiet)
{
	ScramServer s;
	ScramSecret sec;
	char *out = NULL, err[256] = "";
	pencil_secret(&sec);
	if (!scram_server_start(&s, &sec))
		return false;
	char *m = exact(msg, len);
	bool ok = scram_server_client_first(&s, m, len, &out, err, sizeof(err));
	free(m);
	free(out);
	scram_server_free(&s);
	if (ok && !quiet)
		printf("# accepted client-first: %.*s\n", (int)len, msg);
	return !ok && err[0] != '\0';
}

static bool server_first_rejected(const char *msg, size_t len)
{
	return server_first_rejected_q(msg, len, false);
}

static void test_scram_hostile_client_first(void)
{
	static const char *const bad[] = {
		"",
		"n",
		"n,",
		"n,,",
		"n,,n",
		"n,,n=",
		"n,,r=abc",
		"n,,n=,r=",
		"n,,n=,r=ab c",
		"n,,n=,r=abc,",
		"n,,n=,r=abc,1=x",
		"n,,n=,x=1,r=abc",
		"p=tls-server-end-point,,n=,r=abc",
		"n,a=bob,n=,r=abc",
		"x,,n=,r=abc",
		"nn,n=,r=abc",
		"n,,m=ext,n=,r=abc",
		"\xff,,n=,r=abc",
		"n,,n=,r=abc\x01",
	};
	bool all = true;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		all &= server_first_rejected(bad[i], strlen(bad[i]));
	CHECK_MSG(all, "malformed client-first messages are rejected");
	CHECK_MSG(server_first_rejected("n,,n=,r=a\0bc", 12), "embedded NUL rejected");

	size_t big = SCRAM_MAX_MESSAGE_LEN + 10;
	char *huge = xmalloc(big);
	memcpy(huge, "n,,n=,r=", 8);
	memset(huge + 8, 'a', big - 8);
	CHECK_MSG(server_first_rejected(huge, big), "huge client-first rejected");
	CHECK_MSG(server_first_rejected(huge, 8 + 300), "over-long client nonce rejected");
	free(huge);

	/* Every prefix of a valid message: some are valid, none may crash. */
	ScramServer s;
	for (size_t len = 0; len <= strlen(RFC_CLIENT_FIRST); len++) {
		if (server_after_first(&s, "n,,n=,r=x")) {
			char *out = NULL, err[64];
			char *m = exact(RFC_CLIENT_FIRST, len);
			if (scram_server_client_first(&s, m, len, &out, err, sizeof(err)))
				all = false; /* second client-first must be out of order */
			free(m);
			free(out);
		}
		scram_server_free(&s);
		(void)server_first_rejected_q(RFC_CLIENT_FIRST, len, true);
	}
	CHECK_MSG(all, "client-first prefixes handled, repeated client-first refused");
	/* Extensions after the nonce are allowed and ignored. */
	CHECK(server_after_first(&s, "n,,n=user,r=" RFC_CNONCE ",x=ext"));
	scram_server_free(&s);
}

static bool final_rejected(const char *msg, size_t len, const char *why)
{
	ScramServer s;
	char err[256] = "";
	bool ok = server_after_first(&s, ANON_CLIENT_FIRST) &&
		  !server_final(&s, msg, len, err, sizeof(err)) && !s.have_client_key &&
		  (!why || strstr(err, why) != NULL);
	if (!ok)
		printf("# client-final not rejected as expected (%s): %.*s\n", err, (int)len, msg);
	scram_server_free(&s);
	return ok;
}

#define NONCE RFC_CNONCE RFC_SNONCE
#define GOOD_PROOF ",p=qvT2SWdEH5Q06albL+hjSYuUhCG7VndFyzIb7CK4n9k="

static void test_scram_hostile_client_final(void)
{
	bool all = true;
	all &= final_rejected("c=biws,r=" RFC_CNONCE "x" GOOD_PROOF, 0, NULL);
	all &= final_rejected("", 0, "empty");
#define REJ(msg, why) (all &= final_rejected(msg, strlen(msg), why))
	REJ("c=biws,r=" RFC_CNONCE "Xhv" GOOD_PROOF, "nonce mismatch");
	REJ("c=biws,r=" NONCE "x" GOOD_PROOF, "nonce mismatch");
	REJ("c=biws,r=" RFC_CNONCE GOOD_PROOF, "nonce mismatch");
	REJ("r=" NONCE GOOD_PROOF, "channel binding");
	REJ("c=bi!s,r=" NONCE GOOD_PROOF, "channel binding");
	REJ("c=eSws,r=" NONCE GOOD_PROOF, "channel binding");
	REJ("c=,r=" NONCE GOOD_PROOF, "channel binding");
	REJ("c=biws," NONCE GOOD_PROOF, "nonce");
	REJ("c=biws,r=" NONCE, "proof");
	REJ("c=biws,r=" NONCE ",", NULL);
	REJ("c=biws,r=" NONCE ",p=", "proof");
	REJ("c=biws,r=" NONCE GOOD_PROOF ",x=1", "last");
	REJ("c=biws,r=" NONCE ",p=qvT2SWdEH5Q06albL+hjSYuUhCG7VndFyzIb7CK4n9=", "malformed");
	REJ("c=biws,r=" NONCE ",p=qvT2SWdEH5Q06albL+hjSYuUhCG7VndFyzIb7CK4n9k", "malformed");
	REJ("c=biws,r=" NONCE ",p=qvT2SWdEH5Q06albL+hjSYuUhCG7VndFyzIb7CK4n9kAAAA", "malformed");
	REJ("c=biws,r=" NONCE ",p=rvT2SWdEH5Q06albL+hjSYuUhCG7VndFyzIb7CK4n9k=", "wrong");
	/* Extensions before the proof change AuthMessage, so the old proof no longer fits. */
	REJ("c=biws,r=" NONCE ",x=1" GOOD_PROOF, "wrong");
#undef REJ
	CHECK_MSG(all, "malformed client-final messages are rejected for the right reason");
	CHECK_MSG(final_rejected("c=biws,r=" NONCE "\0" GOOD_PROOF, strlen(ANON_CLIENT_FINAL) + 1,
				 "NUL"),
		  "embedded NUL in client-final rejected");

	bool prefixes = true;
	for (size_t len = 0; len < strlen(ANON_CLIENT_FINAL); len++)
		prefixes &= final_rejected(ANON_CLIENT_FINAL, len, NULL);
	CHECK_MSG(prefixes, "every truncation of a valid client-final is rejected");

	ScramServer s;
	ScramSecret sec;
	char *out = NULL, err[256] = "";
	pencil_secret(&sec);
	CHECK(scram_server_start(&s, &sec));
	CHECK(!scram_server_client_final(&s, ANON_CLIENT_FINAL, strlen(ANON_CLIENT_FINAL), &out,
					 err, sizeof(err)));
	CHECK(strstr(err, "out of order") != NULL);
	scram_server_free(&s);
}

/* ---- hostile input, client role ---- */

static bool client_first_rejected_q(const char *msg, size_t len, const char *why, bool quiet)
{
	ScramClient c;
	char *final = NULL, err[256] = "";
	if (!scram_client_start(&c, "pencil", NULL, NULL))
		return false;
	scram_client_set_nonce_for_test(&c, RFC_CNONCE);
	free(scram_client_first_message(&c));
	char *m = exact(msg, len);
	bool ok = scram_client_server_first(&c, m, len, &final, err, sizeof(err));
	free(m);
	free(final);
	scram_client_free(&c);
	bool good = !ok && (!why || strstr(err, why) != NULL);
	if (!good && !quiet)
		printf("# server-first not rejected as expected (%s): %.*s\n", err, (int)len, msg);
	return good;
}

static bool client_first_rejected(const char *msg, size_t len, const char *why)
{
	return client_first_rejected_q(msg, len, why, false);
}

#define SALT_ITER ",s=" RFC_SALT_B64 ",i=4096"

static void test_scram_hostile_server_first(void)
{
	bool all = true;
#define REJ(msg, why) (all &= client_first_rejected(msg, strlen(msg), why))
	REJ("", "empty");
	REJ("r=", "nonce");
	REJ("r=" RFC_CNONCE SALT_ITER, "nonce");
	REJ("r=XYZ" RFC_SNONCE SALT_ITER, "nonce");
	REJ("r=rOprNGfwEbeRWgbNEkq" SALT_ITER, "nonce");
	REJ("r=" NONCE " x" SALT_ITER, "nonce");
	REJ("s=" RFC_SALT_B64 ",r=" NONCE ",i=4096", "nonce");
	REJ("m=ext,r=" NONCE SALT_ITER, "mandatory");
	REJ("r=" NONCE ",i=4096", "salt");
	REJ("r=" NONCE ",s=,i=4096", "salt");
	REJ("r=" NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ=,i=4096", "salt");
	REJ("r=" NONCE ",s=" RFC_SALT_B64, "iteration");
	REJ("r=" NONCE ",s=" RFC_SALT_B64 ",i=", "iteration");
	REJ("r=" NONCE ",s=" RFC_SALT_B64 ",i=0", "iteration");
	REJ("r=" NONCE ",s=" RFC_SALT_B64 ",i=-1", "iteration");
	REJ("r=" NONCE ",s=" RFC_SALT_B64 ",i=+4096", "iteration");
	REJ("r=" NONCE ",s=" RFC_SALT_B64 ",i=4096x", "iteration");
	REJ("r=" NONCE ",s=" RFC_SALT_B64 ",i=999999999", "iteration");
	REJ("r=" NONCE ",s=" RFC_SALT_B64 ",i=1000001", "iteration");
	REJ("r=" NONCE ",s=" RFC_SALT_B64 ",i=99999999999999999999", "iteration");
	REJ("r=" NONCE SALT_ITER ",", NULL);
	REJ("r=" NONCE SALT_ITER ",garbage", "malformed");
#undef REJ
	CHECK_MSG(all, "malformed server-first messages are rejected for the right reason");
	CHECK(client_first_rejected("r=" NONCE "\0" SALT_ITER, strlen(RFC_SERVER_FIRST) + 1,
				    "NUL"));
	size_t big = SCRAM_MAX_MESSAGE_LEN + 1;
	char *huge = xmalloc(big);
	memcpy(huge, RFC_SERVER_FIRST, strlen(RFC_SERVER_FIRST));
	memset(huge + strlen(RFC_SERVER_FIRST), 'x', big - strlen(RFC_SERVER_FIRST));
	CHECK(client_first_rejected(huge, big, "too long"));
	free(huge);

	/* Prefixes: "...,i=4" etc. are valid (fewer iterations); none may crash. */
	for (size_t len = 0; len < strlen(RFC_SERVER_FIRST); len++)
		(void)client_first_rejected_q(RFC_SERVER_FIRST, len, NULL, true);
	CHECK_MSG(true, "server-first prefixes handled");

	/* An extension after the iteration count is ignored. */
	ScramClient c;
	char *final = NULL, err[256] = "";
	CHECK(scram_client_start(&c, "pencil", NULL, NULL));
	scram_client_set_nonce_for_test(&c, RFC_CNONCE);
	free(scram_client_first_message(&c));
	CHECK(scram_client_server_first(&c, RFC_SERVER_FIRST ",x=y", strlen(RFC_SERVER_FIRST) + 4,
					&final, err, sizeof(err)));
	free(final);
	scram_client_free(&c);
}

static bool server_final_rejected(const char *msg, size_t len, const char *why)
{
	ScramClient c;
	char *final = NULL, err[256] = "";
	bool ok = client_after_first(&c, "pencil", NULL, NULL, &final);
	free(final);
	char *m = exact(msg, len);
	ok = ok && !scram_client_server_final(&c, m, len, err, sizeof(err)) &&
	     (!why || strstr(err, why));
	free(m);
	if (!ok)
		printf("# server-final not rejected as expected (%s): %.*s\n", err, (int)len, msg);
	scram_client_free(&c);
	return ok;
}

static void test_scram_hostile_server_final(void)
{
	bool all = true;
#define REJ(msg, why) (all &= server_final_rejected(msg, strlen(msg), why))
	REJ("", "empty");
	REJ("e=invalid-proof", "invalid-proof");
	REJ("v=", "malformed");
	REJ("v=3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOg", "malformed");
	REJ("v=3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOg=,", "malformed");
	REJ("x=3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOg=", "malformed");
	REJ("v=4HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOg=", "signature");
#undef REJ
	for (size_t len = 0; len < strlen(ANON_SERVER_FINAL); len++)
		all &= server_final_rejected(ANON_SERVER_FINAL, len, NULL);
	CHECK_MSG(all, "malformed or wrong server-final messages are rejected");

	ScramClient c;
	char err[256] = "";
	CHECK(scram_client_start(&c, "pencil", NULL, NULL));
	CHECK(!scram_client_server_final(&c, ANON_SERVER_FINAL, strlen(ANON_SERVER_FINAL), err,
					 sizeof(err)));
	scram_client_free(&c);
	char *final = NULL;
	CHECK(client_after_first(&c, "pencil", NULL, NULL, &final));
	free(final);
	CHECK(scram_client_server_final(&c, ANON_SERVER_FINAL ",x=1", strlen(ANON_SERVER_FINAL) + 4,
					err, sizeof(err)));
	scram_client_free(&c);
}

/* ---- userlist.txt ---- */

static char *fixture_path(const char *name)
{
	const char *top = getenv("top_srcdir");
	size_t n = strlen(top ? top : ".") + strlen(name) + 32;
	char *p = xmalloc(n);
	snprintf(p, n, "%s/test/data/auth/%s", top ? top : ".", name);
	return p;
}

static void test_authfile_parse(void)
{
	char err[256] = "";
	char *path = fixture_path("userlist.txt");
	AuthFile *af = authfile_load(path, err, sizeof(err));
	free(path);
	CHECK(af != NULL);
	if (!af)
		return;
	CHECK(authfile_count(af) == 10);
	CHECK_STR(authfile_lookup(af, "alice"), "secretpass");
	CHECK_STR(authfile_lookup(af, "bob"), "md5cb970ccc08b4d76c34e1ba04ef2b4cb2");
	CHECK_STR(authfile_lookup(af, "carol"), PENCIL_SECRET);
	CHECK_STR(authfile_lookup(af, "quote\"d"), "pa\"ss");
	CHECK_STR(authfile_lookup(af, "empty-pass"), "");
	CHECK_STR(authfile_lookup(af, "space user"), "pass with spaces");
	CHECK_STR(authfile_lookup(af, "dave"), "second");
	CHECK_STR(authfile_lookup(af, "frank"), "ok");
	CHECK_STR(authfile_lookup(af, "crlf"), "pw");
	CHECK_STR(authfile_lookup(af, "last"), "no-newline");
	CHECK(authfile_lookup(af, "eve") == NULL);
	CHECK(authfile_lookup(af, "nopass") == NULL);
	CHECK(authfile_lookup(af, "unterminated ") == NULL);
	CHECK(authfile_lookup(af, "") == NULL);
	CHECK(authfile_lookup(af, "Alice") == NULL);
	CHECK(authfile_lookup(af, NULL) == NULL);
	CHECK(auth_secret_kind(authfile_lookup(af, "alice")) == SECRET_PLAIN);
	CHECK(auth_secret_kind(authfile_lookup(af, "bob")) == SECRET_MD5);
	CHECK(auth_secret_kind(authfile_lookup(af, "carol")) == SECRET_SCRAM);
	CHECK(auth_secret_kind("SCRAM-SHA-256$garbage") == SECRET_PLAIN);
	CHECK(auth_secret_kind("") == SECRET_PLAIN);
	authfile_free(af);
	authfile_free(NULL);
	CHECK(authfile_count(NULL) == 0);

	err[0] = '\0';
	path = fixture_path("does-not-exist.txt");
	CHECK(authfile_load(path, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "does-not-exist.txt") != NULL);
	free(path);
}

static void test_authfile_10k(void)
{
	char path[] = "/tmp/test_auth_userlist_XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	CHECK(f != NULL);
	if (!f)
		return;
	for (int i = 0; i < 10000; i++)
		fprintf(f, "\"user%d\" \"pw%d\"\n", i, i * 7);
	fclose(f);
	char err[256] = "";
	AuthFile *af = authfile_load(path, err, sizeof(err));
	unlink(path);
	CHECK(af != NULL && authfile_count(af) == 10000);
	if (!af)
		return;
	clock_t t0 = clock();
	bool all = true;
	char user[32], pw[32];
	for (int round = 0; round < 10; round++) {
		for (int i = 0; i < 10000; i++) {
			snprintf(user, sizeof(user), "user%d", i);
			snprintf(pw, sizeof(pw), "pw%d", i * 7);
			const char *got = authfile_lookup(af, user);
			all &= got != NULL && strcmp(got, pw) == 0;
		}
		all &= authfile_lookup(af, "user10000") == NULL &&
		       authfile_lookup(af, "nobody") == NULL;
	}
	double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
	CHECK_MSG(all, "all 10k users found with the right secret");
	printf("# 100k lookups in %.3f s\n", secs);
	CHECK_MSG(secs < 1.0, "100k lookups well under a second");
	authfile_free(af);
}

TAP_MAIN({"md5_vectors", test_md5_vectors}, {"b64", test_b64}, {"scram_secret", test_scram_secret},
	 {"scram_rfc7677_server", test_scram_rfc7677_server},
	 {"scram_rfc7677_client", test_scram_rfc7677_client}, {"scram_gs2_y", test_scram_gs2_y},
	 {"scram_round_trip", test_scram_round_trip},
	 {"scram_postgres_secret", test_scram_postgres_secret}, {"scram_mock", test_scram_mock},
	 {"scram_hostile_client_first", test_scram_hostile_client_first},
	 {"scram_hostile_client_final", test_scram_hostile_client_final},
	 {"scram_hostile_server_first", test_scram_hostile_server_first},
	 {"scram_hostile_server_final", test_scram_hostile_server_final},
	 {"authfile_parse", test_authfile_parse}, {"authfile_10k", test_authfile_10k})
