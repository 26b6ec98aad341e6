/*
 * Unit tests for hba.c, driven by the files in test/data/hba/: rules.conf with
 * rules.eval (connection -> expected method@line), idents.conf with ident.eval, and one
 * bad_*.conf per syntax error whose first line says "# expect: <message substring>".
 * Fixtures are found under $top_srcdir (default ".").
 */
#include <arpa/inet.h>
#include <glob.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "common.h"
#include "hba.h"
#include "log.h"
#include "tap.h"

#define MAX_WORDS 8

static const char *data_path(const char *name)
{
	static char buf[4096];
	const char *top = getenv("top_srcdir");
	snprintf(buf, sizeof(buf), "%s/test/data/hba/%s", top ? top : ".", name);
	return buf;
}

/* Split a line into words; "..." quotes a word, '#' outside quotes starts a comment. */
static int split_words(char *line, char **words)
{
	int n = 0;
	char *p = line;
	while (n < MAX_WORDS) {
		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
		if (*p == '\0' || *p == '#')
			break;
		if (*p == '"') {
			words[n++] = ++p;
			p = strchr(p, '"');
			if (!p)
				return -1;
		} else {
			words[n++] = p;
			p += strcspn(p, " \t\n");
		}
		if (*p)
			*p++ = '\0';
	}
	return n;
}

static bool make_addr(const char *text, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, text, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		return true;
	}
	return false;
}

static bool conn_type(const char *word, HbaConnType *type)
{
	if (strcmp(word, "local") == 0)
		*type = HBA_CONN_LOCAL;
	else if (strcmp(word, "ssl") == 0)
		*type = HBA_CONN_HOST_SSL;
	else if (strcmp(word, "nossl") == 0)
		*type = HBA_CONN_HOST_NOSSL;
	else
		return false;
	return true;
}

/* "method@line" or "nomatch" for what the rules chose. */
static void describe(const HbaRule *rule, char *buf, size_t len)
{
	if (!rule)
		snprintf(buf, len, "nomatch");
	else
		snprintf(buf, len, "%s@%d", hba_method_name(hba_rule_method(rule)),
			 hba_rule_line(rule));
}

static void eval_line(const HbaRules *rules, char **w, int lineno)
{
	HbaConnType type;
	struct sockaddr_storage ss;
	const struct sockaddr *addr = NULL;
	char got[64], msg[256];
	if (!conn_type(w[0], &type) || (strcmp(w[1], "-") != 0 && !make_addr(w[1], &ss))) {
		snprintf(msg, sizeof(msg), "rules.eval:%d: unreadable test line", lineno);
		CHECK_MSG(false, msg);
		return;
	}
	if (strcmp(w[1], "-") != 0)
		addr = (const struct sockaddr *)&ss;
	const HbaRule *rule = strcmp(w[2], "-") == 0
				      ? hba_match_replication(rules, type, addr, w[3])
				      : hba_match(rules, type, addr, w[2], w[3]);
	describe(rule, got, sizeof(got));
	snprintf(msg, sizeof(msg), "rules.eval:%d: %s %s db=%s user=%s -> %s (got %s)", lineno,
		 w[0], w[1], w[2], w[3], w[4], got);
	CHECK_MSG(strcmp(got, w[4]) == 0, msg);
}

static void test_rules_eval(void)
{
	char err[512] = "";
	char rules_path[4096];
	snprintf(rules_path, sizeof(rules_path), "%s", data_path("rules.conf"));
	HbaRules *rules = hba_load(rules_path, err, sizeof(err));
	CHECK_MSG(rules != NULL, err);
	if (!rules)
		return;
	CHECK(hba_rule_count(rules) == 33);
	FILE *f = fopen(data_path("rules.eval"), "r");
	CHECK(f != NULL);
	char line[512], *w[MAX_WORDS];
	int lineno = 0, cases = 0;
	while (f && fgets(line, sizeof(line), f)) {
		lineno++;
		int n = split_words(line, w);
		if (n == 0)
			continue;
		CHECK_MSG(n == 5, "rules.eval line has five words");
		if (n == 5) {
			eval_line(rules, w, lineno);
			cases++;
		}
	}
	CHECK(cases >= 70);
	if (f)
		fclose(f);
	hba_free(rules);
}

/* Options and accessors on rules reached through hba_match. */
static void test_rule_options(void)
{
	char err[512] = "";
	HbaRules *rules = hba_load(data_path("rules.conf"), err, sizeof(err));
	CHECK(rules != NULL);
	if (!rules)
		return;
	struct sockaddr_storage ss;
	const struct sockaddr *sa = (const struct sockaddr *)&ss;
	const HbaRule *r = hba_match(rules, HBA_CONN_LOCAL, NULL, "db", "postgres");
	CHECK(r && hba_rule_method(r) == HBA_METHOD_PEER);
	CHECK(r && hba_rule_map(r) && strcmp(hba_rule_map(r), "localmap") == 0);
	CHECK(r && hba_rule_clientcert(r) == HBA_CLIENTCERT_NONE);
	CHECK(make_addr("1.2.3.4", &ss));
	r = hba_match(rules, HBA_CONN_HOST_SSL, sa, "db", "certuser");
	CHECK(r && hba_rule_method(r) == HBA_METHOD_CERT);
	CHECK(r && hba_rule_map(r) && strcmp(hba_rule_map(r), "certmap") == 0);
	CHECK(r && hba_rule_clientcert(r) == HBA_CLIENTCERT_VERIFY_FULL);
	CHECK(make_addr("2001:db8::1", &ss));
	r = hba_match(rules, HBA_CONN_HOST_SSL, sa, "db", "certuser");
	CHECK(r && hba_rule_method(r) == HBA_METHOD_CERT && hba_rule_map(r) == NULL);
	CHECK(make_addr("10.9.9.9", &ss));
	r = hba_match(rules, HBA_CONN_HOST_SSL, sa, "db", "someone");
	CHECK(r && hba_rule_line(r) == 40 && hba_rule_clientcert(r) == HBA_CLIENTCERT_VERIFY_CA);
	hba_free(rules);
}

/* Inputs a careless caller might pass never match. */
static void test_match_defensive(void)
{
	char err[512] = "";
	HbaRules *rules = hba_load(data_path("rules.conf"), err, sizeof(err));
	CHECK(rules != NULL);
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	struct sockaddr_storage ss;
	CHECK(make_addr("10.1.2.3", &ss));
	CHECK(hba_match(rules, HBA_CONN_HOST_NOSSL, NULL, "db1", "alice") == NULL);
	CHECK(hba_match(rules, HBA_CONN_HOST_NOSSL, (struct sockaddr *)&un, "db1", "alice") ==
	      NULL);
	CHECK(hba_match(rules, HBA_CONN_HOST_NOSSL, (struct sockaddr *)&ss, NULL, "alice") == NULL);
	CHECK(hba_match(rules, HBA_CONN_HOST_NOSSL, (struct sockaddr *)&ss, "db1", NULL) == NULL);
	CHECK(hba_match(NULL, HBA_CONN_LOCAL, NULL, "db1", "alice") == NULL);
	/* local rules ignore the address entirely */
	CHECK(hba_match(rules, HBA_CONN_LOCAL, (struct sockaddr *)&ss, "x", "postgres") != NULL);
	hba_free(rules);
}

/* An empty @file list, ident on a Unix socket (PostgreSQL's alias of peer), clientname=CN. */
static void test_misc_forms(void)
{
	char err[512] = "";
	HbaRules *rules = hba_load(data_path("misc.conf"), err, sizeof(err));
	CHECK_MSG(rules != NULL, err);
	if (!rules)
		return;
	struct sockaddr_storage ss;
	CHECK(make_addr("10.0.0.1", &ss));
	const HbaRule *r = hba_match(rules, HBA_CONN_LOCAL, NULL, "db", "u");
	CHECK(r && hba_rule_line(r) == 3 && hba_rule_method(r) == HBA_METHOD_PEER);
	CHECK(r && hba_rule_map(r) && strcmp(hba_rule_map(r), "m") == 0);
	r = hba_match(rules, HBA_CONN_HOST_SSL, (struct sockaddr *)&ss, "db", "u");
	CHECK(r && hba_rule_method(r) == HBA_METHOD_CERT);
	CHECK(hba_match(rules, HBA_CONN_HOST_NOSSL, (struct sockaddr *)&ss, "db", "u") == NULL);
	/* an IPv4-mapped client matches IPv6 rules as itself, IPv4 rules as IPv4 */
	CHECK(make_addr("::ffff:10.1.1.1", &ss));
	r = hba_match(rules, HBA_CONN_HOST_NOSSL, (struct sockaddr *)&ss, "v6", "u");
	CHECK(r && hba_rule_method(r) == HBA_METHOD_PASSWORD && hba_rule_line(r) == 5);
	CHECK(make_addr("10.1.1.1", &ss));
	r = hba_match(rules, HBA_CONN_HOST_NOSSL, (struct sockaddr *)&ss, "v6", "u");
	CHECK(r && hba_rule_method(r) == HBA_METHOD_MD5 && hba_rule_line(r) == 6);
	CHECK(make_addr("::ffff:11.1.1.1", &ss));
	CHECK(hba_match(rules, HBA_CONN_HOST_NOSSL, (struct sockaddr *)&ss, "v6", "u") == NULL);
	hba_free(rules);
}

static void check_bad_file(const char *path, bool ident)
{
	char first[512] = "", err[512] = "", msg[1200];
	FILE *f = fopen(path, "r");
	if (f) {
		if (!fgets(first, sizeof(first), f))
			first[0] = '\0';
		fclose(f);
	}
	first[strcspn(first, "\n")] = '\0';
	const char *expect = strncmp(first, "# expect: ", 10) == 0 ? first + 10 : NULL;
	bool loaded;
	if (ident) {
		IdentMap *m = ident_load(path, err, sizeof(err));
		loaded = m != NULL;
		ident_free(m);
	} else {
		HbaRules *r = hba_load(path, err, sizeof(err));
		loaded = r != NULL;
		hba_free(r);
	}
	snprintf(msg, sizeof(msg), "%s is refused with \"%s\" (got \"%s\")", path,
		 expect ? expect : "?", err);
	CHECK_MSG(!loaded && expect && strstr(err, expect), msg);
}

static void test_bad_files(void)
{
	glob_t g;
	int n = 0;
	if (glob(data_path("bad_*.conf"), 0, NULL, &g) == 0) {
		for (size_t i = 0; i < g.gl_pathc; i++, n++)
			check_bad_file(g.gl_pathv[i], strstr(g.gl_pathv[i], "/bad_ident_") != NULL);
		globfree(&g);
	}
	CHECK(n >= 40);
}

static void test_missing_and_empty(void)
{
	char err[512] = "";
	CHECK(hba_load("/nonexistent/pg_hba.conf", err, sizeof(err)) == NULL);
	CHECK(strstr(err, "/nonexistent/pg_hba.conf: cannot open: No such file") != NULL);
	CHECK(ident_load("/nonexistent/pg_ident.conf", err, sizeof(err)) == NULL);
	CHECK(strstr(err, "/nonexistent/pg_ident.conf: cannot open") != NULL);
	char path[] = "/tmp/test_hba_emptyXXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(write(fd, "# only a comment\n\n   \t\n", 23) == 23);
	close(fd);
	HbaRules *rules = hba_load(path, err, sizeof(err));
	CHECK(rules != NULL && hba_rule_count(rules) == 0);
	CHECK(hba_match(rules, HBA_CONN_LOCAL, NULL, "db", "user") == NULL);
	hba_free(rules);
	IdentMap *idents = ident_load(path, err, sizeof(err));
	CHECK(idents != NULL && !ident_check(idents, "m", "a", "a"));
	ident_free(idents);
	/* no error buffer at all must not crash */
	CHECK(hba_load("/nonexistent/pg_hba.conf", NULL, 0) == NULL);
	unlink(path);
}

static void test_ident_eval(void)
{
	char err[512] = "", msg[512];
	char idents_path[4096];
	snprintf(idents_path, sizeof(idents_path), "%s", data_path("idents.conf"));
	IdentMap *idents = ident_load(idents_path, err, sizeof(err));
	CHECK_MSG(idents != NULL, err);
	FILE *f = fopen(data_path("ident.eval"), "r");
	CHECK(f != NULL);
	char line[512], *w[MAX_WORDS];
	int lineno = 0, cases = 0;
	while (idents && f && fgets(line, sizeof(line), f)) {
		lineno++;
		int n = split_words(line, w);
		if (n == 0)
			continue;
		bool want = n == 4 && strcmp(w[3], "yes") == 0;
		bool got = n == 4 && ident_check(idents, w[0], w[1], w[2]);
		snprintf(msg, sizeof(msg), "ident.eval:%d: map %s: %s as %s -> %s", lineno, w[0],
			 w[1], n > 2 ? w[2] : "?", n > 3 ? w[3] : "?");
		CHECK_MSG(n == 4 && got == want, msg);
		cases++;
	}
	CHECK(cases >= 20);
	if (f)
		fclose(f);
	ident_free(idents);
}

static void test_ident_user_allowed(void)
{
	char err[512] = "";
	IdentMap *idents = ident_load(data_path("idents.conf"), err, sizeof(err));
	CHECK(idents != NULL);
	CHECK(ident_user_allowed(idents, NULL, "alice", "alice"));
	CHECK(!ident_user_allowed(idents, NULL, "alice", "bob"));
	CHECK(!ident_user_allowed(idents, NULL, NULL, "bob"));
	CHECK(ident_user_allowed(idents, "localmap", "root", "postgres"));
	CHECK(!ident_user_allowed(idents, "localmap", "alice", "alice"));
	CHECK(!ident_user_allowed(NULL, "localmap", "root", "postgres"));
	CHECK(!ident_check(idents, NULL, "root", "postgres"));
	ident_free(idents);
}

static void test_method_names(void)
{
	CHECK_STR(hba_method_name(HBA_METHOD_TRUST), "trust");
	CHECK_STR(hba_method_name(HBA_METHOD_REJECT), "reject");
	CHECK_STR(hba_method_name(HBA_METHOD_MD5), "md5");
	CHECK_STR(hba_method_name(HBA_METHOD_SCRAM), "scram-sha-256");
	CHECK_STR(hba_method_name(HBA_METHOD_PASSWORD), "password");
	CHECK_STR(hba_method_name(HBA_METHOD_CERT), "cert");
	CHECK_STR(hba_method_name(HBA_METHOD_PEER), "peer");
	CHECK_STR(hba_method_name((HbaMethod)99), "unknown");
}

TAP_MAIN({ "rules_eval", test_rules_eval }, { "rule_options", test_rule_options },
	 { "match_defensive", test_match_defensive }, { "misc_forms", test_misc_forms },
	 { "bad_files", test_bad_files }, { "missing_and_empty", test_missing_and_empty },
	 { "ident_eval", test_ident_eval }, { "ident_user_allowed", test_ident_user_allowed },
	 { "method_names", test_method_names })
