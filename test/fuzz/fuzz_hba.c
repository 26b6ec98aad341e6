/*
 * libFuzzer target for auth_hba_file and auth_ident_file (hba.h). The input is one file,
 * written to a private directory and read both as HBA rules (hba_load) and as an ident
 * map (ident_load); a loaded rule set is asked about a fixed grid of synthetic
 * connections (local, hostssl and plain host from IPv4, IPv6 and IPv4-mapped addresses,
 * a few database and user names, ordinary and replication), a loaded map about a few
 * (map, system user, database user) triples.
 *
 * @file references are kept but tamed: after an '@' the bytes up to the end of the word
 * lose their '/', so a reference names a file in the private directory (a few prepared
 * lists: names, nest, loop, back to the input, regex, bad, empty) and never the rest of
 * the file system. The target reads records exactly as the loader documents them
 * (backslash continues a line, '#' starts a comment) to know each rule's line and
 * connection type. Invariants beyond memory safety:
 *   - a loaded file has one rule per non-empty record, and a failed one says FILE:LINE;
 *   - loading is deterministic: a second load answers every connection with the same
 *     rule (line, method, map, clientcert);
 *   - a matched rule starts on a record of the file whose connection type admits the
 *     connection (local only local, hostssl only TLS, hostnossl only plain TCP), and its
 *     method and options are ones the loader allows for that type (peer only local,
 *     cert only hostssl, map only with cert or peer);
 *   - no database or no user never matches;
 *   - ident: a map grants only under a map name that starts some record, without a map
 *     only equal names pass, and a missing map file never grants.
 */
#include "fuzz_common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hba.h"

static char fuzz_hba_dir[256];
static char fuzz_hba_input[300];

/* @file targets the input can name; written once per process. */
static const struct {
	const char *name;
	const char *text;
} fuzz_hba_files[] = {
	{ "names", "alice, bob\n# a comment\n\"quoted name\"\n" },
	{ "nest", "@names postgres\n" },
	{ "loop", "@loop\n" },
	{ "back", "@input.conf\n" },
	{ "regex", "/^app_\\d+$\n" },
	{ "bad", "\"unterminated\n" },
	{ "empty", "" },
};

/* One logical record of the input: physical lines joined at a trailing backslash. */
typedef struct FuzzHbaRecord {
	int line;      /* its first physical line */
	char *text;    /* the joined text, NUL-terminated (may hold earlier NULs) */
	size_t *raw;   /* raw[i]: offset in the input of text[i] */
	size_t len;
	char type[16]; /* first word when it is a connection type keyword, else "" */
	char *first;   /* first word with quotes removed (a map name for ident) */
} FuzzHbaRecord;

typedef struct FuzzHbaFile {
	FuzzHbaRecord *v;
	int n;
	int nonempty; /* records with a field: each must become one rule */
} FuzzHbaFile;

static void fuzz_hba_cleanup(void)
{
	char path[400];
	for (size_t i = 0; i < ARRAY_SIZE(fuzz_hba_files); i++) {
		snprintf(path, sizeof(path), "%s/%s", fuzz_hba_dir, fuzz_hba_files[i].name);
		unlink(path);
	}
	unlink(fuzz_hba_input);
	rmdir(fuzz_hba_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[400];
	const char *tmp = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	fuzz_quiet_logging();
	snprintf(fuzz_hba_dir, sizeof(fuzz_hba_dir), "%s/fuzz-hba-%d", tmp && *tmp ? tmp : "/tmp",
		 (int)getpid());
	snprintf(fuzz_hba_input, sizeof(fuzz_hba_input), "%s/input.conf", fuzz_hba_dir);
	if (mkdir(fuzz_hba_dir, 0700) != 0) {
		perror(fuzz_hba_dir);
		abort();
	}
	atexit(fuzz_hba_cleanup);
	for (size_t i = 0; i < ARRAY_SIZE(fuzz_hba_files); i++) {
		const char *text = fuzz_hba_files[i].text;
		snprintf(path, sizeof(path), "%s/%s", fuzz_hba_dir, fuzz_hba_files[i].name);
		if (!fuzz_write_file(path, (const uint8_t *)text, strlen(text))) {
			perror(path);
			abort();
		}
	}
	return 0;
}

/* ---- the record model ---- */

static void fuzz_hba_append(FuzzHbaRecord *r, const uint8_t *data, size_t from, size_t n)
{
	r->text = xrealloc(r->text, r->len + n + 1);
	r->raw = xrealloc(r->raw, (r->len + n + 1) * sizeof(*r->raw));
	for (size_t i = 0; i < n; i++) {
		r->text[r->len + i] = (char)data[from + i];
		r->raw[r->len + i] = from + i;
	}
	r->len += n;
	r->text[r->len] = '\0';
}

/* Physical line [*pos, ...) appended to r; true when the next line continues it. */
static bool fuzz_hba_take_line(FuzzHbaRecord *r, const uint8_t *data, size_t size, size_t *pos)
{
	size_t start = *pos;
	const uint8_t *nl = memchr(data + start, '\n', size - start);
	size_t stop = nl ? (size_t)(nl - data) + 1 : size;
	size_t n = stop - start;
	while (n > 0 && (data[start + n - 1] == '\n' || data[start + n - 1] == '\r'))
		n--;
	bool more = n > 0 && data[start + n - 1] == '\\';
	fuzz_hba_append(r, data, start, more ? n - 1 : n);
	*pos = stop;
	return more;
}

static bool fuzz_hba_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The first word of a record as the tokenizer reads it: quotes removed, stops at ,#blank. */
static void fuzz_hba_first_word(FuzzHbaRecord *r)
{
	const char *p = r->text;
	bool quoted = false, in_quote = false;
	size_t n = 0;
	while (fuzz_hba_blank(*p))
		p++;
	r->first = xmalloc(strlen(p) + 1);
	for (; *p; p++) {
		if (*p == '"') {
			in_quote = !in_quote;
			quoted = true;
			continue;
		}
		if (!in_quote && (fuzz_hba_blank(*p) || *p == ',' || *p == '#'))
			break;
		r->first[n++] = *p;
	}
	r->first[n] = '\0';
	static const char *const types[] = { "local", "host", "hostssl", "hostnossl" };
	r->type[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(types) && !quoted; i++)
		if (strcmp(r->first, types[i]) == 0)
			snprintf(r->type, sizeof(r->type), "%s", types[i]);
}

static void fuzz_hba_model_build(FuzzHbaFile *f, const uint8_t *data, size_t size)
{
	size_t pos = 0;
	int lineno = 0;
	memset(f, 0, sizeof(*f));
	while (pos < size) {
		f->v = xrealloc(f->v, sizeof(*f->v) * (size_t)(f->n + 1));
		FuzzHbaRecord *r = &f->v[f->n++];
		memset(r, 0, sizeof(*r));
		fuzz_hba_append(r, data, 0, 0);
		r->line = lineno + 1;
		bool more;
		do {
			lineno++;
			more = fuzz_hba_take_line(r, data, size, &pos);
		} while (more && pos < size);
		const char *p = r->text;
		while (fuzz_hba_blank(*p))
			p++;
		if (*p != '\0' && *p != '#')
			f->nonempty++;
		fuzz_hba_first_word(r);
	}
}

static void fuzz_hba_model_free(FuzzHbaFile *f)
{
	for (int i = 0; i < f->n; i++) {
		free(f->v[i].text);
		free(f->v[i].raw);
		free(f->v[i].first);
	}
	free(f->v);
}

/*
 * Tame @file names in place: after every '@' of a record, a '/' up to the end of the
 * word (as the tokenizer ends an unquoted word) becomes '_'. A word with a quote is
 * never an @file, and the tokenizer stops at the record's first NUL, so this covers
 * every name the loader can open.
 */
static void fuzz_hba_tame(uint8_t *data, const FuzzHbaFile *f)
{
	for (int i = 0; i < f->n; i++) {
		const FuzzHbaRecord *r = &f->v[i];
		size_t end = strlen(r->text);
		for (size_t j = 0; j < end; j++) {
			if (r->text[j] != '@')
				continue;
			for (size_t k = j + 1; k < end; k++) {
				char c = r->text[k];
				if (fuzz_hba_blank(c) || c == ',' || c == '#' || c == '"')
					break;
				if (c == '/')
					data[r->raw[k]] = '_';
			}
		}
	}
}

/* ---- HBA checks ---- */

static const FuzzHbaRecord *fuzz_hba_record_at(const FuzzHbaFile *f, int line)
{
	for (int i = 0; i < f->n; i++)
		if (f->v[i].line == line)
			return &f->v[i];
	return NULL;
}

static bool fuzz_hba_type_admits(const char *type, HbaConnType conn)
{
	if (strcmp(type, "local") == 0)
		return conn == HBA_CONN_LOCAL;
	if (strcmp(type, "host") == 0)
		return conn != HBA_CONN_LOCAL;
	if (strcmp(type, "hostssl") == 0)
		return conn == HBA_CONN_HOST_SSL;
	if (strcmp(type, "hostnossl") == 0)
		return conn == HBA_CONN_HOST_NOSSL;
	return false;
}

static void fuzz_hba_check_rule(const FuzzHbaFile *f, const HbaRule *r, HbaConnType conn)
{
	const FuzzHbaRecord *rec = fuzz_hba_record_at(f, hba_rule_line(r));
	FUZZ_CHECK(rec != NULL);
	FUZZ_CHECK(fuzz_hba_type_admits(rec->type, conn));
	HbaMethod m = hba_rule_method(r);
	FUZZ_CHECK(strcmp(hba_method_name(m), "unknown") != 0);
	if (m == HBA_METHOD_PEER)
		FUZZ_CHECK(conn == HBA_CONN_LOCAL);
	if (m == HBA_METHOD_CERT)
		FUZZ_CHECK(conn == HBA_CONN_HOST_SSL &&
			   hba_rule_clientcert(r) == HBA_CLIENTCERT_VERIFY_FULL);
	if (hba_rule_clientcert(r) != HBA_CLIENTCERT_NONE)
		FUZZ_CHECK(conn == HBA_CONN_HOST_SSL);
	if (hba_rule_map(r))
		FUZZ_CHECK(m == HBA_METHOD_CERT || m == HBA_METHOD_PEER);
}

static bool fuzz_hba_same_rule(const HbaRule *a, const HbaRule *b)
{
	if (!a || !b)
		return a == b;
	const char *ma = hba_rule_map(a), *mb = hba_rule_map(b);
	return hba_rule_line(a) == hba_rule_line(b) && hba_rule_method(a) == hba_rule_method(b) &&
	       hba_rule_clientcert(a) == hba_rule_clientcert(b) &&
	       ((!ma && !mb) || (ma && mb && strcmp(ma, mb) == 0));
}

static const char *const fuzz_hba_addrs[] = { "127.0.0.1", "10.1.2.3", "::1", "::ffff:10.1.2.3",
					      "2001:db8::5" };
static const char *const fuzz_hba_dbs[] = { "postgres", "app", "alice" };
static const char *const fuzz_hba_users[] = { "alice", "bob", "app_12" };

static void fuzz_hba_sockaddr(const char *text, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, text, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		return;
	}
	FUZZ_CHECK(inet_pton(AF_INET6, text, &in6->sin6_addr) == 1);
	in6->sin6_family = AF_INET6;
}

/* Every name pair for one connection type and address, in both rule sets. */
static void fuzz_hba_ask(const FuzzHbaFile *f, const HbaRules *a, const HbaRules *b,
			 HbaConnType conn, const struct sockaddr *sa)
{
	for (size_t u = 0; u < ARRAY_SIZE(fuzz_hba_users); u++) {
		const char *user = fuzz_hba_users[u];
		for (size_t d = 0; d < ARRAY_SIZE(fuzz_hba_dbs); d++) {
			const HbaRule *ra = hba_match(a, conn, sa, fuzz_hba_dbs[d], user);
			const HbaRule *rb = hba_match(b, conn, sa, fuzz_hba_dbs[d], user);
			FUZZ_CHECK(fuzz_hba_same_rule(ra, rb));
			if (ra)
				fuzz_hba_check_rule(f, ra, conn);
		}
		const HbaRule *ra = hba_match_replication(a, conn, sa, user);
		FUZZ_CHECK(fuzz_hba_same_rule(ra, hba_match_replication(b, conn, sa, user)));
		if (ra)
			fuzz_hba_check_rule(f, ra, conn);
	}
	FUZZ_CHECK(hba_match(a, conn, sa, NULL, "alice") == NULL);
	FUZZ_CHECK(hba_match(a, conn, sa, "postgres", NULL) == NULL);
	FUZZ_CHECK(hba_match_replication(a, conn, sa, NULL) == NULL);
}

static void fuzz_hba_rules(const FuzzHbaFile *f)
{
	char err[512] = "", err2[512] = "";
	HbaRules *a = hba_load(fuzz_hba_input, err, sizeof(err));
	HbaRules *b = hba_load(fuzz_hba_input, err2, sizeof(err2));
	FUZZ_CHECK((a == NULL) == (b == NULL));
	if (!a) {
		FUZZ_CHECK(strcmp(err, err2) == 0);
		FUZZ_CHECK(strncmp(err, fuzz_hba_dir, strlen(fuzz_hba_dir)) == 0);
		FUZZ_CHECK(strchr(err + strlen(fuzz_hba_dir), ':') != NULL);
		return;
	}
	FUZZ_CHECK(hba_rule_count(a) == f->nonempty && hba_rule_count(b) == f->nonempty);
	fuzz_hba_ask(f, a, b, HBA_CONN_LOCAL, NULL);
	for (size_t i = 0; i < ARRAY_SIZE(fuzz_hba_addrs); i++) {
		struct sockaddr_storage ss;
		fuzz_hba_sockaddr(fuzz_hba_addrs[i], &ss);
		fuzz_hba_ask(f, a, b, HBA_CONN_HOST_SSL, (const struct sockaddr *)&ss);
		fuzz_hba_ask(f, a, b, HBA_CONN_HOST_NOSSL, (const struct sockaddr *)&ss);
	}
	hba_free(a);
	hba_free(b);
}

/* ---- ident checks ---- */

static bool fuzz_hba_map_named(const FuzzHbaFile *f, const char *map)
{
	for (int i = 0; i < f->n; i++)
		if (strcmp(f->v[i].first, map) == 0)
			return true;
	return false;
}

static void fuzz_hba_ident_ask(const FuzzHbaFile *f, const IdentMap *a, const IdentMap *b,
			       const char *map)
{
	static const char *const sys[] = { "alice", "root", "app_12", "CN=bob" };
	for (size_t s = 0; s < ARRAY_SIZE(sys); s++) {
		for (size_t u = 0; u < ARRAY_SIZE(fuzz_hba_users); u++) {
			const char *db_user = fuzz_hba_users[u];
			bool ok = ident_check(a, map, sys[s], db_user);
			FUZZ_CHECK(ok == ident_check(b, map, sys[s], db_user));
			FUZZ_CHECK(ok == ident_user_allowed(a, map, sys[s], db_user));
			if (ok)
				FUZZ_CHECK(fuzz_hba_map_named(f, map));
			FUZZ_CHECK(ident_user_allowed(a, NULL, sys[s], db_user) ==
				   (strcmp(sys[s], db_user) == 0));
			FUZZ_CHECK(!ident_user_allowed(NULL, map, sys[s], db_user));
		}
	}
}

static void fuzz_hba_idents(const FuzzHbaFile *f)
{
	char err[512] = "", err2[512] = "";
	IdentMap *a = ident_load(fuzz_hba_input, err, sizeof(err));
	IdentMap *b = ident_load(fuzz_hba_input, err2, sizeof(err2));
	FUZZ_CHECK((a == NULL) == (b == NULL));
	if (!a) {
		FUZZ_CHECK(strcmp(err, err2) == 0);
		FUZZ_CHECK(strncmp(err, fuzz_hba_dir, strlen(fuzz_hba_dir)) == 0);
		return;
	}
	fuzz_hba_ident_ask(f, a, b, "m");
	/* map names the input itself uses, so the fuzzer reaches granting entries */
	for (int i = 0, asked = 0; i < f->n && asked < 3; i++) {
		if (f->v[i].first[0] != '\0' && strcmp(f->v[i].first, "m") != 0) {
			fuzz_hba_ident_ask(f, a, b, f->v[i].first);
			asked++;
		}
	}
	FUZZ_CHECK(!ident_check(a, NULL, "alice", "alice"));
	ident_free(a);
	ident_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FuzzHbaFile model;
	uint8_t *text = fuzz_memdup(data, size);

	fuzz_hba_model_build(&model, text, size);
	fuzz_hba_tame(text, &model);
	fuzz_hba_model_free(&model);
	fuzz_hba_model_build(&model, text, size); /* the map names as the loader sees them */
	if (!fuzz_write_file(fuzz_hba_input, text, size)) {
		perror(fuzz_hba_input);
		abort();
	}
	fuzz_hba_rules(&model);
	fuzz_hba_idents(&model);
	fuzz_hba_model_free(&model);
	free(text);
	return 0;
}
