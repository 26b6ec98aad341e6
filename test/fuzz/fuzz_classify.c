/*
 * libFuzzer target for the SQL classifier (classify.h). The input is a query string,
 * classified without a config, with a fixed config of extra write functions, and with a
 * config parsed from the input itself. Besides memory safety it checks the invariants
 * the router relies on: the result fields are consistent, the verdict is deterministic,
 * extra write functions never turn a verdict into READ, and a READ string followed by a
 * DELETE is no longer READ.
 */
#include "fuzz_common.h"

#include "classify.h"

/* Longest input for which the "append a write" check runs (it copies the input). */
#define FUZZ_CLASSIFY_APPEND_MAX 4096

static ClassifyConfig *fuzz_classify_cfg;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet_logging();
	fuzz_classify_cfg = classify_config_new("audit.log_write, \"Bump\"  app_*,nextval2");
	if (!fuzz_classify_cfg) {
		fprintf(stderr, "fuzz_classify: the fixed write-function list was refused\n");
		abort();
	}
	return 0;
}

/* Field consistency that holds for any result. */
static void fuzz_classify_check_result(const ClassifyResult *r, size_t len)
{
	FUZZ_CHECK(r->verdict == CLASSIFY_READ || r->verdict == CLASSIFY_WRITE ||
		   r->verdict == CLASSIFY_UNSURE);
	FUZZ_CHECK(r->reason != NULL && r->reason[0] != '\0');
	FUZZ_CHECK(r->verdict != CLASSIFY_READ || strcmp(r->reason, "read-only") == 0);
	FUZZ_CHECK(classify_verdict_name(r->verdict) != NULL);
	FUZZ_CHECK(r->hint == CLASSIFY_HINT_NONE || r->hint == CLASSIFY_HINT_PRIMARY ||
		   r->hint == CLASSIFY_HINT_REPLICA);
	FUZZ_CHECK(r->n_statements >= 0 && (size_t)r->n_statements <= len);
	FUZZ_CHECK(!(r->sets_default_read_only && r->sets_default_read_write));
	FUZZ_CHECK(!(r->begin_read_only && r->begin_read_write));
	FUZZ_CHECK(!r->begin_read_only || r->begins_transaction);
	FUZZ_CHECK(!r->begin_read_write || r->begins_transaction);
}

static ClassifyVerdict fuzz_classify_run(const ClassifyConfig *cfg, const char *sql, size_t len)
{
	ClassifyResult r;
	memset(&r, 0xa5, sizeof(r)); /* classify_sql must fill every field */
	classify_sql(cfg, sql, len, &r);
	fuzz_classify_check_result(&r, len);
	return r.verdict;
}

/* sql + "\n;DELETE FROM t": the newline ends a trailing line comment. */
static void fuzz_classify_check_append(const char *sql, size_t len)
{
	static const char tail[] = "\n;DELETE FROM t";
	size_t n = len + sizeof(tail) - 1;
	char *buf = xmalloc(n);
	memcpy(buf, sql, len);
	memcpy(buf + len, tail, sizeof(tail) - 1);
	FUZZ_CHECK(fuzz_classify_run(NULL, buf, n) != CLASSIFY_READ);
	free(buf);
}

/* The input as a write_functions list; when accepted, it may only add writes. */
static void fuzz_classify_input_config(const uint8_t *data, size_t size, const char *sql,
				       ClassifyVerdict plain)
{
	char *list = fuzz_strndup(data, size);
	ClassifyConfig *cfg = classify_config_new(list);
	free(list);
	if (!cfg)
		return;
	ClassifyVerdict v = fuzz_classify_run(cfg, sql, size);
	FUZZ_CHECK(v != CLASSIFY_READ || plain == CLASSIFY_READ);
	classify_config_free(cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *sql = (char *)fuzz_memdup(data, size);

	ClassifyVerdict plain = fuzz_classify_run(NULL, sql, size);
	FUZZ_CHECK(fuzz_classify_run(NULL, sql, size) == plain);

	ClassifyVerdict extra = fuzz_classify_run(fuzz_classify_cfg, sql, size);
	FUZZ_CHECK(extra != CLASSIFY_READ || plain == CLASSIFY_READ);

	if (plain == CLASSIFY_READ && size <= FUZZ_CLASSIFY_APPEND_MAX)
		fuzz_classify_check_append(sql, size);

	fuzz_classify_input_config(data, size, sql, plain);
	free(sql);
	return 0;
}
