/*
 * Unit tests for the HTTP endpoint's Authorization check: Bearer tokens, Basic
 * credentials against plain, md5 and SCRAM auth_file entries, malformed headers, and the
 * settings that contradict each other.
 */
#include "http_auth.h"
#include "md5.h"
#include "scram.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static Config *config_with(int type, const char *token)
{
	Config *cfg = config_new_default();
	char err[256];
	cfg->http_auth_type = type;
	if (token && !config_set(cfg, "http_auth_token", token, err, sizeof(err)))
		abort();
	return cfg;
}

/* "Basic " + base64(text) */
static char *basic(const char *text)
{
	char *out = malloc(SCRAM_B64_ENC_SIZE(strlen(text)) + 6);
	strcpy(out, "Basic ");
	if (!scram_b64_encode((const uint8_t *)text, strlen(text), out + 6, SCRAM_B64_ENC_SIZE(strlen(text))))
		abort();
	return out;
}

static bool basic_allows(const char *text, const Config *cfg, const AuthFile *af)
{
	char *h = basic(text);
	bool ok = http_auth_allows(h, cfg, af);
	free(h);
	return ok;
}

static AuthFile *userlist(void)
{
	char path[] = "/tmp/pgsplit-http-auth-XXXXXX", md5[MD5_SECRET_BUFSIZE], err[256];
	ScramSecret scram;
	if (!scram_secret_from_password("scram pw", 4096, &scram))
		abort();
	char *scram_text = scram_secret_format(&scram);
	md5_password_secret("md5u", "md5 pw", md5);
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	fprintf(f, "\"plainu\" \"plain:pw\"\n\"md5u\" \"%s\"\n\"scramu\" \"%s\"\n", md5, scram_text);
	fclose(f);
	free(scram_text);
	AuthFile *af = authfile_load(path, err, sizeof(err));
	unlink(path);
	return af;
}

static void test_none_lets_anyone_in(void)
{
	Config *cfg = config_with(HTTP_AUTH_NONE, NULL);
	CHECK(http_auth_allows(NULL, cfg, NULL));
	CHECK(http_auth_allows("Basic !!", cfg, NULL));
	config_free(cfg);
}

static void test_bearer_token(void)
{
	Config *cfg = config_with(HTTP_AUTH_TOKEN, "s3cret");
	CHECK(http_auth_allows("Bearer s3cret", cfg, NULL));
	CHECK(http_auth_allows("bEARER   s3cret", cfg, NULL));
	CHECK(!http_auth_allows(NULL, cfg, NULL));
	CHECK(!http_auth_allows("Bearer s3cre", cfg, NULL));
	CHECK(!http_auth_allows("Bearer s3cretX", cfg, NULL));
	CHECK(!http_auth_allows("Bearers3cret", cfg, NULL));
	CHECK(!http_auth_allows("Bearer", cfg, NULL));
	CHECK(!basic_allows("x:s3cret", cfg, NULL));
	CHECK_STR(http_auth_challenge(cfg), "Bearer realm=\"pgsplit\"");
	config_free(cfg);
}

static void test_basic_against_each_kind_of_secret(void)
{
	Config *cfg = config_with(HTTP_AUTH_FILE, NULL);
	AuthFile *af = userlist();
	CHECK(af != NULL);
	CHECK(basic_allows("plainu:plain:pw", cfg, af)); /* the password keeps its colon */
	CHECK(basic_allows("md5u:md5 pw", cfg, af));
	CHECK(basic_allows("scramu:scram pw", cfg, af));
	CHECK(basic_allows("scramu:scram pw", cfg, af)); /* remembered: same answer */
	CHECK(!basic_allows("scramu:scram pwx", cfg, af));
	CHECK(!basic_allows("md5u:md5 pW", cfg, af));
	CHECK(!basic_allows("plainu:plain", cfg, af));
	CHECK(!basic_allows("nobody:x", cfg, af));
	CHECK(!basic_allows("plainu", cfg, af));
	CHECK(!http_auth_allows("Basic !!!!", cfg, af));
	CHECK(!http_auth_allows("Basic", cfg, af));
	CHECK(!http_auth_allows(NULL, cfg, af));
	CHECK(!http_auth_allows("Bearer plain:pw", cfg, af));
	CHECK(!basic_allows("md5u:md5 pw", cfg, NULL)); /* no auth_file loaded */
	char big[1500];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	memcpy(big, "plainu:", 7);
	CHECK(!basic_allows(big, cfg, af));
	CHECK_STR(http_auth_challenge(cfg), "Basic realm=\"pgsplit\", charset=\"UTF-8\"");
	authfile_free(af);
	config_free(cfg);
}

static void test_contradictions_refused(void)
{
	char err[256] = "";
	Config *cfg = config_with(HTTP_AUTH_TOKEN, NULL);
	CHECK(!http_auth_settings_check(cfg, err, sizeof(err)));
	CHECK(strstr(err, "http_auth_token") != NULL);
	config_free(cfg);
	cfg = config_with(HTTP_AUTH_FILE, NULL);
	CHECK(!http_auth_settings_check(cfg, err, sizeof(err)));
	CHECK(strstr(err, "needs auth_file") != NULL);
	CHECK(config_set(cfg, "auth_file", "/etc/pgsplit/userlist.txt", err, sizeof(err)));
	CHECK(http_auth_settings_check(cfg, err, sizeof(err)));
	config_free(cfg);
}

int main(int argc, char **argv)
{
	static const TapTest tests[] = {
		{ "none_lets_anyone_in", test_none_lets_anyone_in },
		{ "bearer_token", test_bearer_token },
		{ "basic_against_each_kind_of_secret", test_basic_against_each_kind_of_secret },
		{ "contradictions_refused", test_contradictions_refused },
	};
	return tap_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
