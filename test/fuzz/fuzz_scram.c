/*
 * libFuzzer target for the SCRAM-SHA-256 message parsers (scram.h), both roles. Input:
 * one mode byte, then '\n'-separated messages:
 *   'S' server role, RFC 7677 verifier:  client-first \n client-final
 *   'M' server role for an unknown user: user \n client-first \n client-final
 *   'C' client role with the password:   server-first \n server-final
 *   'K' client role with pass-through keys (no PBKDF2): server-first \n server-final
 *   'P' verifier text and base64, round-tripped through the formatters
 * (any other byte picks a mode by its value). Nonces are fixed through the test hooks, so
 * the RFC 7677 exchange replays to success and each run is deterministic. Each message is
 * handed over in an exactly-sized heap copy, so ASan sees any read past its end.
 */
#include "fuzz_common.h"

#include <openssl/sha.h>

#include "scram.h"

/* The RFC 7677 example: password "pencil", these nonces, salt and iteration count. */
#define FUZZ_SCRAM_VERIFIER                                                   \
	"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=" \
	":wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
#define FUZZ_SCRAM_PASSWORD "pencil"
#define FUZZ_SCRAM_CLIENT_NONCE "rOprNGfwEbeRWgbNEkqO"
#define FUZZ_SCRAM_SERVER_NONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"

/*
 * The password role runs PBKDF2 with the iteration count the input names; above this
 * count the input is run with pass-through keys instead, so one input costs at most a
 * few milliseconds (the parsing is the same either way).
 */
#define FUZZ_SCRAM_PBKDF2_MAX 4096

#define FUZZ_SCRAM_PARTS 3

static ScramSecret fuzz_scram_secret;
static uint8_t fuzz_scram_client_key[SCRAM_KEY_LEN];

typedef struct FuzzScramParts {
	char *msg[FUZZ_SCRAM_PARTS]; /* exactly-sized heap copies, not NUL-terminated */
	size_t len[FUZZ_SCRAM_PARTS];
} FuzzScramParts;

/* One full exchange between our two roles: proves the setup and yields the ClientKey. */
static void fuzz_scram_self_test(void)
{
	ScramServer s;
	ScramClient c;
	char err[256], *sfirst = NULL, *cfinal = NULL, *sfinal = NULL;

	FUZZ_CHECK(scram_server_start(&s, &fuzz_scram_secret));
	scram_server_set_nonce_for_test(&s, FUZZ_SCRAM_SERVER_NONCE);
	FUZZ_CHECK(scram_client_start(&c, FUZZ_SCRAM_PASSWORD, NULL, NULL));
	scram_client_set_nonce_for_test(&c, FUZZ_SCRAM_CLIENT_NONCE);
	char *cfirst = scram_client_first_message(&c);
	FUZZ_CHECK(cfirst != NULL);
	FUZZ_CHECK(scram_server_client_first(&s, cfirst, strlen(cfirst), &sfirst, err, sizeof(err)));
	FUZZ_CHECK(scram_client_server_first(&c, sfirst, strlen(sfirst), &cfinal, err, sizeof(err)));
	FUZZ_CHECK(scram_server_client_final(&s, cfinal, strlen(cfinal), &sfinal, err, sizeof(err)));
	FUZZ_CHECK(scram_client_server_final(&c, sfinal, strlen(sfinal), err, sizeof(err)));
	FUZZ_CHECK(s.have_client_key);
	memcpy(fuzz_scram_client_key, s.client_key, SCRAM_KEY_LEN);
	if (getenv("FUZZ_SCRAM_PRINT")) /* for writing seeds */
		printf("%s\n%s\n%s\n%s\n", cfirst, sfirst, cfinal, sfinal);
	free(cfirst);
	free(sfirst);
	free(cfinal);
	free(sfinal);
	scram_server_free(&s);
	scram_client_free(&c);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet_logging();
	FUZZ_CHECK(scram_parse_secret(FUZZ_SCRAM_VERIFIER, &fuzz_scram_secret));
	fuzz_scram_self_test();
	return 0;
}

static void fuzz_scram_parts_split(FuzzScramParts *p, const uint8_t *data, size_t size)
{
	for (int i = 0; i < FUZZ_SCRAM_PARTS; i++) {
		size_t first;
		const uint8_t *rest;
		size_t rest_len;
		fuzz_split(data, size, '\n', &first, &rest, &rest_len);
		/* the last part takes everything left, newlines included */
		if (i == FUZZ_SCRAM_PARTS - 1)
			first = size;
		p->msg[i] = (char *)fuzz_memdup(data, first);
		p->len[i] = first;
		data = i == FUZZ_SCRAM_PARTS - 1 ? data + size : rest;
		size = i == FUZZ_SCRAM_PARTS - 1 ? 0 : rest_len;
	}
}

static void fuzz_scram_parts_free(FuzzScramParts *p)
{
	for (int i = 0; i < FUZZ_SCRAM_PARTS; i++)
		free(p->msg[i]);
}

/* A verified proof must have recovered the real ClientKey: SHA256(ClientKey) = StoredKey. */
static void fuzz_scram_check_client_key(const ScramServer *s)
{
	uint8_t stored[SHA256_DIGEST_LENGTH];
	FUZZ_CHECK(s->have_client_key && !s->mock);
	SHA256(s->client_key, SCRAM_KEY_LEN, stored);
	FUZZ_CHECK(memcmp(stored, s->secret.stored_key, SCRAM_KEY_LEN) == 0);
}

/* Feed client-first and client-final to a started server; false if the proof failed. */
static bool fuzz_scram_server_feed(ScramServer *s, const char *first, size_t first_len,
				   const char *final, size_t final_len)
{
	char err[128], *sfirst = NULL, *sfinal = NULL;
	bool ok;

	scram_server_set_nonce_for_test(s, FUZZ_SCRAM_SERVER_NONCE);
	err[0] = '\0';
	ok = scram_server_client_first(s, first, first_len, &sfirst, err, sizeof(err));
	FUZZ_CHECK(ok == (sfirst != NULL));
	FUZZ_CHECK(ok ? s->state == SCRAM_SERVER_SENT_FIRST && strncmp(sfirst, "r=", 2) == 0
		      : s->state == SCRAM_SERVER_FAILED && err[0] != '\0');
	free(sfirst);
	err[0] = '\0';
	bool done = scram_server_client_final(s, final, final_len, &sfinal, err, sizeof(err));
	FUZZ_CHECK(done == (sfinal != NULL));
	FUZZ_CHECK(!done || ok);
	if (done) {
		FUZZ_CHECK(s->state == SCRAM_SERVER_DONE && strncmp(sfinal, "v=", 2) == 0);
		fuzz_scram_check_client_key(s);
	} else {
		FUZZ_CHECK(s->state == SCRAM_SERVER_FAILED && err[0] != '\0');
	}
	free(sfinal);
	/* a finished exchange accepts nothing more */
	FUZZ_CHECK(!scram_server_client_first(s, first, first_len, &sfirst, err, sizeof(err)));
	FUZZ_CHECK(sfirst == NULL);
	return done;
}

static void fuzz_scram_server(const FuzzScramParts *p)
{
	ScramServer s;
	FUZZ_CHECK(scram_server_start(&s, &fuzz_scram_secret));
	(void)fuzz_scram_server_feed(&s, p->msg[0], p->len[0], p->msg[1], p->len[1]);
	scram_server_free(&s);
}

static void fuzz_scram_mock(const FuzzScramParts *p)
{
	ScramServer s;
	char *user = fuzz_strndup((const uint8_t *)p->msg[0], p->len[0]);
	if (scram_server_start_mock(&s, user))
		FUZZ_CHECK(!fuzz_scram_server_feed(&s, p->msg[1], p->len[1], p->msg[2], p->len[2]));
	scram_server_free(&s);
	free(user);
}

/* The value of the first "i=" attribute, or 0 when there is none or it is not a number. */
static long long fuzz_scram_iterations(const char *msg, size_t len)
{
	for (size_t i = 0; i + 2 <= len; i++) {
		if ((i == 0 || msg[i - 1] == ',') && msg[i] == 'i' && msg[i + 1] == '=') {
			long long v = 0;
			for (size_t k = i + 2; k < len && k < i + 12 && msg[k] >= '0' && msg[k] <= '9'; k++)
				v = v * 10 + (msg[k] - '0');
			return v;
		}
	}
	return 0;
}

static void fuzz_scram_client(const FuzzScramParts *p, bool with_password)
{
	ScramClient c;
	char err[128], *cfinal = NULL;

	if (fuzz_scram_iterations(p->msg[0], p->len[0]) > FUZZ_SCRAM_PBKDF2_MAX)
		with_password = false;
	if (with_password)
		FUZZ_CHECK(scram_client_start(&c, FUZZ_SCRAM_PASSWORD, NULL, NULL));
	else
		FUZZ_CHECK(scram_client_start(&c, NULL, fuzz_scram_client_key,
					      fuzz_scram_secret.server_key));
	scram_client_set_nonce_for_test(&c, FUZZ_SCRAM_CLIENT_NONCE);
	char *cfirst = scram_client_first_message(&c);
	FUZZ_CHECK(cfirst != NULL && strncmp(cfirst, "n,,n=,r=", 8) == 0);
	free(cfirst);
	err[0] = '\0';
	bool ok = scram_client_server_first(&c, p->msg[0], p->len[0], &cfinal, err, sizeof(err));
	FUZZ_CHECK(ok == (cfinal != NULL));
	FUZZ_CHECK(!ok || (c.state == SCRAM_CLIENT_SENT_FINAL && strncmp(cfinal, "c=biws,r=", 9) == 0));
	free(cfinal);
	err[0] = '\0';
	bool done = scram_client_server_final(&c, p->msg[1], p->len[1], err, sizeof(err));
	FUZZ_CHECK(!done || (ok && c.state == SCRAM_CLIENT_DONE));
	FUZZ_CHECK(done || (c.state == SCRAM_CLIENT_FAILED && err[0] != '\0'));
	scram_client_free(&c);
}

/* Verifier text: parse, print, parse again; base64: decode, encode, compare. */
static void fuzz_scram_texts(const uint8_t *data, size_t size)
{
	ScramSecret a, b;
	char *text = fuzz_strndup(data, size);
	if (scram_parse_secret(text, &a)) {
		char *again = scram_secret_format(&a);
		FUZZ_CHECK(again != NULL && scram_parse_secret(again, &b));
		FUZZ_CHECK(memcmp(&a, &b, sizeof(a)) == 0);
		free(again);
	}
	free(text);

	char *src = (char *)fuzz_memdup(data, size);
	size_t cap = size / 4 * 3;
	if (cap > 0 && size % 5 == 0)
		cap--; /* one byte short: decode must refuse, not overrun */
	uint8_t *bin = xmalloc(cap);
	size_t n = 0;
	if (scram_b64_decode(src, size, bin, cap, &n)) {
		FUZZ_CHECK(n <= cap);
		char *enc = xmalloc(SCRAM_B64_ENC_SIZE(n));
		FUZZ_CHECK(scram_b64_encode(bin, n, enc, SCRAM_B64_ENC_SIZE(n)));
		FUZZ_CHECK(strlen(enc) == size && memcmp(enc, src, size) == 0);
		free(enc);
	}
	free(bin);
	free(src);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char modes[] = "SMCKP";
	FuzzScramParts parts;

	if (size < 1)
		return 0;
	char mode = strchr(modes, data[0]) && data[0] ? (char)data[0] : modes[data[0] % 5];
	if (mode == 'P') {
		fuzz_scram_texts(data + 1, size - 1);
		return 0;
	}
	fuzz_scram_parts_split(&parts, data + 1, size - 1);
	if (mode == 'S')
		fuzz_scram_server(&parts);
	else if (mode == 'M')
		fuzz_scram_mock(&parts);
	else
		fuzz_scram_client(&parts, mode == 'C');
	fuzz_scram_parts_free(&parts);
	return 0;
}
