/*
 * Unit tests for the SQL read-only classifier: the table-driven corpus in
 * test/data/classify_corpus.txt (found through $top_srcdir, default "."), the per-string
 * flags, hints, configured write functions, an over-read test that classifies every
 * prefix of every corpus query from an exactly-sized heap buffer (run it under ASan), a
 * random-fragment property test and large inputs that would expose super-linear time.
 */
#include "classify.h"

#include "common.h"
#include "tap.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct CorpusCase {
	int line;
	ClassifyVerdict expected;
	char *sql; /* owned; may hold '\n' */
	size_t len;
} CorpusCase;

static CorpusCase *corpus;
static size_t corpus_n;

/* \n, \t and \\ are escapes; any other backslash is kept. */
static size_t corpus_unescape(const char *in, char *out)
{
	size_t n = 0;
	for (size_t i = 0; in[i] && in[i] != '\n'; i++) {
		if (in[i] == '\\' && (in[i + 1] == 'n' || in[i + 1] == 't' || in[i + 1] == '\\')) {
			out[n++] = in[i + 1] == 'n' ? '\n' : in[i + 1] == 't' ? '\t' : '\\';
			i++;
		} else {
			out[n++] = in[i];
		}
	}
	out[n] = '\0';
	return n;
}

static bool corpus_verdict(const char *s, size_t n, ClassifyVerdict *v)
{
	static const struct {
		const char *name;
		ClassifyVerdict v;
	} names[] = {
	        {"READ", CLASSIFY_READ}, {"WRITE", CLASSIFY_WRITE}, {"UNSURE", CLASSIFY_UNSURE}};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (strlen(names[i].name) == n && memcmp(names[i].name, s, n) == 0) {
			*v = names[i].v;
			return true;
		}
	}
	return false;
}

/* Loads the corpus once; returns false (after one failed check) if it cannot be read. */
static bool corpus_load(void)
{
	if (corpus)
		return true;
	const char *top = getenv("top_srcdir");
	char path[4096];
	snprintf(path, sizeof(path), "%s/test/data/classify_corpus.txt", top ? top : ".");
	FILE *f = fopen(path, "r");
	CHECK_MSG(f != NULL, "corpus file opens");
	if (!f)
		return false;
	char line[8192];
	int lineno = 0;
	corpus = xcalloc(1, sizeof(*corpus));
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (line[0] == '#' || line[0] == '\n' || line[0] == '\0')
			continue;
		const char *bar = strchr(line, '|');
		ClassifyVerdict v;
		if (!bar || !corpus_verdict(line, (size_t)(bar - line), &v)) {
			printf("# corpus line %d is malformed\n", lineno);
			CHECK_MSG(false, "corpus line well formed");
			continue;
		}
		corpus = xrealloc(corpus, (corpus_n + 1) * sizeof(*corpus));
		CorpusCase *c = &corpus[corpus_n++];
		c->line = lineno;
		c->expected = v;
		c->sql = xmalloc(strlen(bar + 1) + 1);
		c->len = corpus_unescape(bar + 1, c->sql);
	}
	fclose(f);
	return true;
}

static void test_corpus(void)
{
	if (!corpus_load())
		return;
	printf("# corpus: %zu statements\n", corpus_n);
	CHECK(corpus_n >= 300);
	for (size_t i = 0; i < corpus_n; i++) {
		const CorpusCase *c = &corpus[i];
		ClassifyResult r;
		classify_sql(NULL, c->sql, c->len, &r);
		char msg[256];
		snprintf(msg, sizeof(msg), "corpus line %d: %s (%s)", c->line,
		         classify_verdict_name(r.verdict), r.reason);
		CHECK_MSG(r.verdict == c->expected, msg);
		if (r.verdict != c->expected)
			printf("#   expected %s for: %s\n", classify_verdict_name(c->expected),
			       c->sql);
	}
}

static bool result_sane(const ClassifyResult *r)
{
	return r->reason != NULL && !(r->sets_default_read_only && r->sets_default_read_write) &&
	       !(r->begin_read_only && r->begin_read_write) &&
	       (r->begins_transaction || !r->begin_read_only) && r->n_statements >= 0;
}

/* Every prefix of every query, copied into a buffer of exactly that size: ASan reports
 * any read past the given length. */
static void test_bounds(void)
{
	if (!corpus_load())
		return;
	size_t runs = 0, insane = 0;
	for (size_t i = 0; i < corpus_n; i++) {
		const CorpusCase *c = &corpus[i];
		for (size_t k = 0; k <= c->len; k++) {
			char *buf = xmalloc(k);
			memcpy(buf, c->sql, k);
			ClassifyResult r;
			classify_sql(NULL, buf, k, &r);
			insane += !result_sane(&r);
			/* and every suffix, which starts mid-token */
			memcpy(buf, c->sql + c->len - k, k);
			classify_sql(NULL, buf, k, &r);
			insane += !result_sane(&r);
			free(buf);
			runs += 2;
		}
	}
	printf("# bounds: %zu classifications\n", runs);
	CHECK(runs > 0);
	CHECK(insane == 0);
}

static ClassifyResult classify_str(const ClassifyConfig *cfg, const char *sql)
{
	ClassifyResult r;
	size_t n = strlen(sql);
	char *buf = xmalloc(n);
	memcpy(buf, sql, n);
	classify_sql(cfg, buf, n, &r);
	free(buf);
	return r;
}

static bool begin_flags(const char *sql, bool begins, bool ro, bool rw)
{
	ClassifyResult r = classify_str(NULL, sql);
	bool ok = r.begins_transaction == begins && r.begin_read_only == ro &&
	          r.begin_read_write == rw;
	if (!ok)
		printf("#   %s: begins=%d ro=%d rw=%d\n", sql, r.begins_transaction,
		       r.begin_read_only, r.begin_read_write);
	return ok;
}

static void test_begin_flags(void)
{
	CHECK(begin_flags("BEGIN READ ONLY", true, true, false));
	CHECK(begin_flags("begin transaction read only", true, true, false));
	CHECK(begin_flags("START TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY", true, true,
	                  false));
	CHECK(begin_flags("START TRANSACTION READ WRITE", true, false, true));
	CHECK(begin_flags("BEGIN", true, false, false));
	CHECK(begin_flags("BEGIN READ ONLY, READ WRITE", true, false, true));
	CHECK(begin_flags("BEGIN READ WRITE, READ ONLY", true, true, false));
	CHECK(begin_flags("BEGIN; SET TRANSACTION READ ONLY", true, true, false));
	CHECK(begin_flags("BEGIN READ ONLY; SET TRANSACTION READ WRITE", true, false, true));
	CHECK(begin_flags("BEGIN; SELECT 1; SET TRANSACTION READ ONLY", true, false, false));
	CHECK(begin_flags("BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY DEFERRABLE", true, false,
	                  false));
	CHECK(begin_flags("BEGIN READ ONLY; SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", true,
	                  false, false));
	CHECK(begin_flags("SELECT 1; BEGIN READ ONLY", false, false, false));
	CHECK(begin_flags("COMMIT", false, false, false));
	CHECK(begin_flags("BEGIN READ ONLY; SELECT 'x", false, false, false));

	ClassifyResult r = classify_str(NULL, "BEGIN READ ONLY");
	CHECK(r.verdict == CLASSIFY_READ && r.is_transaction_control);
	r = classify_str(NULL, "BEGIN");
	CHECK(r.verdict == CLASSIFY_UNSURE && r.is_transaction_control);
	r = classify_str(NULL, "COMMIT; BEGIN READ ONLY; SAVEPOINT a; RELEASE a");
	CHECK(r.is_transaction_control && r.n_statements == 4);
	r = classify_str(NULL, "BEGIN; SELECT 1");
	CHECK(!r.is_transaction_control);
	r = classify_str(NULL, "");
	CHECK(!r.is_transaction_control && r.n_statements == 0 && r.verdict == CLASSIFY_READ);
}

/* Session statements change no data; function calls are reported for the 25006 re-run. */
static void test_session_only_and_calls(void)
{
	static const char *const session[] = {
		"SET application_name = 'x'", "SET extra_float_digits = 3", "RESET ALL", "DISCARD ALL",
		"DEALLOCATE s1", "SET search_path TO a, b; RESET timezone", "SET LOCAL work_mem = '1MB'",
	};
	static const char *const not_session[] = {
		"SELECT 1", "SET x = 1; INSERT INTO t VALUES (1)", "BEGIN", "SHOW work_mem", "",
	};
	for (size_t i = 0; i < ARRAY_SIZE(session); i++)
		CHECK(classify_str(NULL, session[i]).session_only);
	for (size_t i = 0; i < ARRAY_SIZE(not_session); i++)
		CHECK(!classify_str(NULL, not_session[i]).session_only);
	CHECK(classify_str(NULL, "SELECT count(*) FROM t").calls_functions);
	CHECK(classify_str(NULL, "EXPLAIN SELECT f(1)").calls_functions);
	CHECK(!classify_str(NULL, "SELECT a, b FROM t WHERE id = $1").calls_functions);
}

/* 1 = sets read only, 0 = sets read write, -1 = neither */
static int default_flag(const char *sql)
{
	ClassifyResult r = classify_str(NULL, sql);
	if (r.sets_default_read_only && r.sets_default_read_write)
		return 99;
	return r.sets_default_read_only ? 1 : r.sets_default_read_write ? 0 : -1;
}

static void test_default_read_only(void)
{
	CHECK(default_flag("SET default_transaction_read_only = on") == 1);
	CHECK(default_flag("set default_transaction_read_only to true") == 1);
	CHECK(default_flag("SET default_transaction_read_only = 'on'") == 1);
	CHECK(default_flag("SET default_transaction_read_only = 1") == 1);
	CHECK(default_flag("SET default_transaction_read_only = yes") == 1);
	CHECK(default_flag("SET default_transaction_read_only = 't'") == 1);
	CHECK(default_flag("SET Default_Transaction_Read_Only = ON") == 1);
	CHECK(default_flag("SET \"default_transaction_read_only\" = on") == 1);
	CHECK(default_flag("SET SESSION default_transaction_read_only = on") == 1);
	CHECK(default_flag("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY") == 1);
	CHECK(default_flag("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ "
	                   "COMMITTED, READ ONLY") == 1);
	CHECK(default_flag("SET default_transaction_read_only = off") == 0);
	CHECK(default_flag("SET default_transaction_read_only = false") == 0);
	CHECK(default_flag("SET default_transaction_read_only = 0") == 0);
	CHECK(default_flag("SET default_transaction_read_only TO 'off'") == 0);
	CHECK(default_flag("SET default_transaction_read_only TO DEFAULT") == 0);
	CHECK(default_flag("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE") == 0);
	CHECK(default_flag("RESET default_transaction_read_only") == 0);
	CHECK(default_flag("RESET ALL") == 0);
	CHECK(default_flag("DISCARD ALL") == 0);
	CHECK(default_flag("SET default_transaction_read_only = on; SET "
	                   "default_transaction_read_only = off") == 0);
	CHECK(default_flag("SET default_transaction_read_only = off; SELECT 1; SET "
	                   "default_transaction_read_only = on") == 1);
	CHECK(default_flag("SET LOCAL default_transaction_read_only = on") == -1);
	CHECK(default_flag("SET default_transaction_read_only = maybe") == -1);
	CHECK(default_flag("SET default_transaction_read_only = on, off") == -1);
	CHECK(default_flag("SET default_transaction_read_only = o") == -1);
	CHECK(default_flag("SET default_transaction_read_only = $$on$$") == -1);
	CHECK(default_flag("SET default_transaction_read_only") == -1);
	CHECK(default_flag("SET transaction_read_only = on") == -1);
	CHECK(default_flag("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ "
	                   "COMMITTED") == -1);
	CHECK(default_flag("RESET search_path") == -1);
	CHECK(default_flag("DISCARD PLANS") == -1);
	CHECK(default_flag("SELECT 'SET default_transaction_read_only = on'") == -1);
	CHECK(default_flag("SET default_transaction_read_only = on; SELECT 'x") == -1);

	ClassifyResult r = classify_str(NULL, "SET default_transaction_read_only = on");
	CHECK(r.verdict == CLASSIFY_UNSURE && !r.is_transaction_control);
}

static bool reason_is(const char *sql, ClassifyVerdict v, const char *reason)
{
	ClassifyResult r = classify_str(NULL, sql);
	bool ok = r.verdict == v && r.reason && strcmp(r.reason, reason) == 0;
	if (!ok)
		printf("#   %s: %s (%s)\n", sql, classify_verdict_name(r.verdict),
		       r.reason ? r.reason : "(null)");
	return ok;
}

static void test_reasons(void)
{
	CHECK(reason_is("SELECT 1", CLASSIFY_READ, "read-only"));
	CHECK(reason_is("SELECT * FROM t FOR UPDATE", CLASSIFY_WRITE, "FOR UPDATE"));
	CHECK(reason_is("SELECT * FROM t FOR NO KEY UPDATE", CLASSIFY_WRITE, "FOR NO KEY UPDATE"));
	CHECK(reason_is("SELECT * FROM t FOR KEY SHARE", CLASSIFY_WRITE, "FOR KEY SHARE"));
	CHECK(reason_is("SELECT * FROM t FOR SHARE", CLASSIFY_WRITE, "FOR SHARE"));
	CHECK(reason_is("SELECT pg_catalog.nextval('s')", CLASSIFY_WRITE,
	                "write function nextval"));
	CHECK(reason_is("SELECT pg_advisory_lock(1)", CLASSIFY_WRITE,
	                "write function pg_advisory_lock*"));
	CHECK(reason_is("WITH x AS (DELETE FROM t RETURNING 1) SELECT 1", CLASSIFY_WRITE,
	                "writable CTE"));
	CHECK(reason_is("SELECT 1 INTO t", CLASSIFY_WRITE, "SELECT INTO"));
	CHECK(reason_is("INSERT INTO t VALUES (1)", CLASSIFY_WRITE, "statement INSERT"));
	CHECK(reason_is("SELECT 1; TRUNCATE t", CLASSIFY_WRITE, "statement TRUNCATE"));
	CHECK(reason_is("SET x = 1; DELETE FROM t", CLASSIFY_WRITE, "statement DELETE"));
	CHECK(reason_is("EXPLAIN ANALYZE DELETE FROM t", CLASSIFY_WRITE,
	                "EXPLAIN ANALYZE of a write"));
	CHECK(reason_is("COPY t FROM STDIN", CLASSIFY_WRITE, "COPY FROM"));
	CHECK(reason_is("SELECT 'abc", CLASSIFY_UNSURE, "unterminated string"));
	CHECK(reason_is("INSERT INTO t VALUES ('abc", CLASSIFY_UNSURE, "unterminated string"));
	CHECK(reason_is("SELECT \"abc", CLASSIFY_UNSURE, "unterminated quoted identifier"));
	CHECK(reason_is("SELECT $x$ abc", CLASSIFY_UNSURE, "unterminated dollar-quoted string"));
	CHECK(reason_is("SELECT 1 /* abc", CLASSIFY_UNSURE, "unterminated comment"));
	CHECK(reason_is("BEGIN", CLASSIFY_UNSURE, "explicit transaction without READ ONLY"));
	CHECK(reason_is("FROBNICATE", CLASSIFY_UNSURE, "unrecognised statement"));
	CHECK(reason_is("SET search_path = x", CLASSIFY_UNSURE, "SET changes session state"));
	CHECK(reason_is("SELECT '\\''; DELETE FROM t; --'", CLASSIFY_UNSURE,
	                "backslash in a string literal makes the query ambiguous"));

	ClassifyResult r;
	classify_sql(NULL, "SELECT 1\0; DELETE FROM t", 24, &r);
	CHECK(r.verdict == CLASSIFY_UNSURE && strcmp(r.reason, "NUL byte in query") == 0);
	classify_sql(NULL, "", 0, &r);
	CHECK(r.verdict == CLASSIFY_READ && r.n_statements == 0);
	r = classify_str(NULL, "SELECT 1; ; SELECT 2;");
	CHECK(r.n_statements == 2);

	CHECK_STR(classify_verdict_name(CLASSIFY_READ), "read");
	CHECK_STR(classify_verdict_name(CLASSIFY_WRITE), "write");
	CHECK_STR(classify_verdict_name(CLASSIFY_UNSURE), "unsure");
}

static ClassifyHint hint_of(const char *sql)
{
	return classify_str(NULL, sql).hint;
}

static void test_hints(void)
{
	CHECK(hint_of("SELECT 1") == CLASSIFY_HINT_NONE);
	CHECK(hint_of("/* pgsplit:replica */ SELECT 1") == CLASSIFY_HINT_REPLICA);
	CHECK(hint_of("/*pgsplit:primary*/SELECT 1") == CLASSIFY_HINT_PRIMARY);
	CHECK(hint_of("  \n /*  PGSPLIT:Replica \n */ INSERT INTO t VALUES (1)") ==
	      CLASSIFY_HINT_REPLICA);
	CHECK(hint_of("-- pgsplit:replica\nSELECT 1") == CLASSIFY_HINT_REPLICA);
	CHECK(hint_of("--pgsplit:primary\r\nSELECT 1") == CLASSIFY_HINT_PRIMARY);
	CHECK(hint_of("-- pgsplit:primary") == CLASSIFY_HINT_PRIMARY);
	CHECK(hint_of("/* app=web */ -- pgsplit:replica\nSELECT 1") == CLASSIFY_HINT_REPLICA);
	CHECK(hint_of("/* pgsplit:primary */ /* pgsplit:replica */ SELECT 1") ==
	      CLASSIFY_HINT_PRIMARY);
	CHECK(hint_of("SELECT 1 /* pgsplit:replica */") == CLASSIFY_HINT_NONE);
	CHECK(hint_of("SELECT /* pgsplit:replica */ 1") == CLASSIFY_HINT_NONE);
	CHECK(hint_of("'x' /* pgsplit:replica */") == CLASSIFY_HINT_NONE);
	CHECK(hint_of("/* pgsplit:replica please */ SELECT 1") == CLASSIFY_HINT_NONE);
	CHECK(hint_of("/* pgsplit: replica */ SELECT 1") == CLASSIFY_HINT_NONE);
	CHECK(hint_of("/* pgsplit:standby */ SELECT 1") == CLASSIFY_HINT_NONE);
	CHECK(hint_of("/* /* pgsplit:replica */ */ SELECT 1") == CLASSIFY_HINT_NONE);
	CHECK(hint_of("/* pgsplit:replica") == CLASSIFY_HINT_NONE);
	CHECK(hint_of("/* pgsplit:replica */") == CLASSIFY_HINT_REPLICA);

	ClassifyResult r = classify_str(NULL, "/* pgsplit:replica */ DELETE FROM t");
	CHECK(r.hint == CLASSIFY_HINT_REPLICA && r.verdict == CLASSIFY_WRITE);
}

static bool config_verdict(const ClassifyConfig *cfg, const char *sql, ClassifyVerdict v)
{
	ClassifyResult r = classify_str(cfg, sql);
	if (r.verdict != v)
		printf("#   %s: %s (%s)\n", sql, classify_verdict_name(r.verdict), r.reason);
	return r.verdict == v;
}

static void test_config(void)
{
	ClassifyConfig *cfg =
	        classify_config_new("my_write_fn, audit.log_*  \"Touch\",,\tapp.\"bump\"");
	CHECK(cfg != NULL);
	if (!cfg)
		return;
	CHECK(config_verdict(cfg, "SELECT my_write_fn()", CLASSIFY_WRITE));
	CHECK(config_verdict(cfg, "SELECT MY_WRITE_FN(1)", CLASSIFY_WRITE));
	CHECK(config_verdict(cfg, "SELECT app.my_write_fn(1)", CLASSIFY_WRITE));
	CHECK(config_verdict(cfg, "SELECT audit.log_event('x')", CLASSIFY_WRITE));
	CHECK(config_verdict(cfg, "SELECT log_(1)", CLASSIFY_WRITE));
	CHECK(config_verdict(cfg, "SELECT touch(1)", CLASSIFY_WRITE));
	CHECK(config_verdict(cfg, "SELECT bump(1)", CLASSIFY_WRITE));
	CHECK(config_verdict(cfg, "SELECT * FROM t WHERE x = (SELECT \"my_write_fn\"())",
	                     CLASSIFY_WRITE));
	CHECK(config_verdict(cfg, "SELECT my_write_fn FROM t", CLASSIFY_READ));
	CHECK(config_verdict(cfg, "SELECT my_write_fn2()", CLASSIFY_READ));
	CHECK(config_verdict(cfg, "SELECT log(1)", CLASSIFY_READ));
	CHECK(config_verdict(cfg, "SELECT 'my_write_fn()'", CLASSIFY_READ));
	CHECK(config_verdict(cfg, "SELECT nextval('s')", CLASSIFY_WRITE));
	CHECK(config_verdict(NULL, "SELECT my_write_fn()", CLASSIFY_READ));
	ClassifyResult r = classify_str(cfg, "SELECT audit.log_event('x')");
	CHECK_STR(r.reason, "write function log_*");
	r = classify_str(cfg, "SELECT my_write_fn()");
	CHECK_STR(r.reason, "write function my_write_fn");
	classify_config_free(cfg);

	cfg = classify_config_new(NULL);
	CHECK(cfg != NULL && config_verdict(cfg, "SELECT setval('s', 1)", CLASSIFY_WRITE));
	classify_config_free(cfg);
	cfg = classify_config_new(" , ");
	CHECK(cfg != NULL && config_verdict(cfg, "SELECT 1", CLASSIFY_READ));
	classify_config_free(cfg);
	CHECK(classify_config_new("a-b") == NULL);
	CHECK(classify_config_new("ok, bad(") == NULL);
	CHECK(classify_config_new("*") == NULL);
	CHECK(classify_config_new("schema.") == NULL);
	CHECK(classify_config_new("\"\"") == NULL);
	classify_config_free(NULL);
}

/* ---------------------------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t rng_next(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

/*
 * Random queries from SQL fragments. Property: if a string is READ, appending a newline
 * and "; DELETE FROM t" (no quote, comment or dollar character) must not be READ: the
 * lexer ended outside every literal, so the DELETE is a real statement.
 */
static void test_fuzz_fragments(void)
{
	static const char *frag[] = {
	        "SELECT ", "1",          " ",       "'",        "''",       "\"",      "$$",
	        "$a$",     "$",          "/*",      "*/",       "--",       "\n",      "E'",
	        "e'",      "U&'",        "U&\"",    "B'",       "X'",       "N'",      "\\",
	        "\\'",     ";",          "(",       ")",        ",",        ".",       "x",
	        "FOR ",    "UPDATE ",    "SHARE ",  "INTO ",    "nextval",  "INSERT ", "WITH ",
	        "BEGIN ",  "READ ONLY ", "COMMIT ", "EXPLAIN ", "ANALYZE ", "COPY ",   "TO ",
	        "STDOUT ", "FROM ",      "\r",      "*",        "/",        "-",       "1e",
	        "0x",      "\xc3\xa9",   "SET ",    "=",        "on",       "VALUES ", "TABLE ",
	        "t",       ":",
	};
	size_t checked = 0, broken = 0;
	char buf[512];
	for (int iter = 0; iter < 20000; iter++) {
		size_t n = 0;
		int parts = 1 + (int)(rng_next() % 24);
		for (int i = 0; i < parts; i++) {
			const char *f = frag[rng_next() % ARRAY_SIZE(frag)];
			size_t fl = strlen(f);
			memcpy(buf + n, f, fl);
			n += fl;
		}
		char *q = xmalloc(n);
		memcpy(q, buf, n);
		ClassifyResult r;
		classify_sql(NULL, q, n, &r);
		free(q);
		broken += !result_sane(&r);
		if (r.verdict != CLASSIFY_READ)
			continue;
		static const char tail[] = "\n; DELETE FROM t";
		memcpy(buf + n, tail, sizeof(tail) - 1);
		classify_sql(NULL, buf, n + sizeof(tail) - 1, &r);
		checked++;
		if (r.verdict == CLASSIFY_READ) {
			broken++;
			printf("#   READ after appending DELETE: %.*s\n",
			       (int)(n + sizeof(tail) - 1), buf);
		}
	}
	printf("# fuzz: %zu READ strings extended\n", checked);
	CHECK(checked > 100);
	CHECK(broken == 0);
}

/* Builds head + unit*count + tail in an exactly-sized buffer and times its classification. */
static ClassifyVerdict big_classify(const char *head, const char *unit, size_t count,
                                    const char *tail, double *secs)
{
	size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
	size_t n = hl + ul * count + tl;
	char *buf = xmalloc(n);
	memcpy(buf, head, hl);
	for (size_t i = 0; i < count; i++)
		memcpy(buf + hl + i * ul, unit, ul);
	memcpy(buf + hl + ul * count, tail, tl);
	ClassifyResult r;
	usec_t t0 = time_now_mono();
	classify_sql(NULL, buf, n, &r);
	*secs = (double)(time_now_mono() - t0) / 1e6;
	free(buf);
	return r.verdict;
}

/* Inputs of about a megabyte shaped to hurt a quadratic lexer or a recursive parser. */
static void test_large_inputs(void)
{
	static const struct {
		const char *head, *unit, *tail;
		ClassifyVerdict expected;
	} cases[] = {
	        {"SELECT ", "(", "1", CLASSIFY_READ},
	        {"SELECT $abcdefgh$", "$abcdefg", "$abcdefgh$", CLASSIFY_READ},
	        {"SELECT $abcdefgh$", "$abcdefg", "", CLASSIFY_UNSURE},
	        {"", "/*", "", CLASSIFY_UNSURE},
	        {"/*", "/**/", "*/ SELECT 1", CLASSIFY_READ},
	        {"SELECT '", "''", "'", CLASSIFY_READ},
	        {"SELECT E'", "\\'", "'", CLASSIFY_READ},
	        {"SELECT '", "\\\\", "'", CLASSIFY_READ},
	        {"SELECT 'a'", "\n'b'", "", CLASSIFY_READ},
	        {"SELECT 1", " -- c\n", "", CLASSIFY_READ},
	        {"", "EXPLAIN ", "SELECT 1", CLASSIFY_UNSURE},
	        {"", "COPY (", "SELECT 1", CLASSIFY_UNSURE},
	        {"BEGIN ", "READ ONLY, ", "READ ONLY", CLASSIFY_READ},
	        {"SELECT ", "x, ", "1", CLASSIFY_READ},
	        {"", ";", "", CLASSIFY_READ},
	        {"", "SELECT 1;", "", CLASSIFY_READ},
	        {"", "SELECT 1;", "DELETE FROM t", CLASSIFY_WRITE},
	        {"SELECT ", "\"a\"\"b\" ", "", CLASSIFY_READ},
	        {"SELECT ", "nextvalue(", "", CLASSIFY_READ},
	        {"SELECT ", "U&'\\'' ", "", CLASSIFY_READ},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		size_t count = (1u << 20) / strlen(cases[i].unit);
		double secs;
		ClassifyVerdict v =
		        big_classify(cases[i].head, cases[i].unit, count, cases[i].tail, &secs);
		printf("# large input %zu: %s in %.3f s\n", i, classify_verdict_name(v), secs);
		CHECK(v == cases[i].expected);
		CHECK(secs < 5.0);
	}
}

TAP_MAIN({"corpus", test_corpus}, {"bounds", test_bounds}, {"begin_flags", test_begin_flags},
         {"default_read_only", test_default_read_only}, {"reasons", test_reasons},
         {"hints", test_hints}, {"config", test_config}, {"fuzz_fragments", test_fuzz_fragments},
         {"large_inputs", test_large_inputs}, {"session_only_and_calls", test_session_only_and_calls})
