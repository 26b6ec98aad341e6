/*
 * libFuzzer target for the auth_file reader (authfile.h). The input is written to a
 * per-process file and loaded; then every user is looked up. A small independent reading
 * of the documented format (`"user" "secret"` per line, "" for a quote, comment and
 * blank lines skipped, a line with a NUL byte or a bad field skipped, the later of two
 * lines for one user wins) tells which users and secrets must be found, so the target
 * checks the hash index as well as memory safety. Each secret is also classified.
 */
#include "fuzz_common.h"

#include <unistd.h>

#include "authfile.h"
#include "scram.h"

typedef struct FuzzAuthEntry {
	char *user;
	char *secret;
} FuzzAuthEntry;

typedef struct FuzzAuthModel {
	FuzzAuthEntry *entries;
	size_t n;
} FuzzAuthModel;

static char fuzz_authfile_path[300];

static void fuzz_authfile_cleanup(void)
{
	unlink(fuzz_authfile_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	(void)argc;
	(void)argv;
	fuzz_quiet_logging();
	snprintf(fuzz_authfile_path, sizeof(fuzz_authfile_path), "%s/fuzz-authfile-%d.txt",
		 tmp && *tmp ? tmp : "/tmp", (int)getpid());
	atexit(fuzz_authfile_cleanup);
	return 0;
}

/* One quoted field at *pp into a new string; false when it does not start or end. */
static bool fuzz_authfile_field(const char **pp, char **out)
{
	const char *p = *pp;
	if (*p++ != '"')
		return false;
	char *buf = xmalloc(strlen(p) + 1), *w = buf;
	while (*p != '\0' && !(p[0] == '"' && p[1] != '"')) {
		if (p[0] == '"')
			p++; /* "" is one quote */
		*w++ = *p++;
	}
	if (*p != '"') {
		free(buf);
		return false;
	}
	*w = '\0';
	*pp = p + 1;
	*out = buf;
	return true;
}

static const char *fuzz_authfile_blanks(const char *p)
{
	return p + strspn(p, " \t\r\n");
}

static void fuzz_authfile_model_put(FuzzAuthModel *m, char *user, char *secret)
{
	for (size_t i = 0; i < m->n; i++) {
		if (strcmp(m->entries[i].user, user) == 0) {
			free(m->entries[i].secret);
			m->entries[i].secret = secret;
			free(user);
			return;
		}
	}
	m->entries = xrealloc(m->entries, (m->n + 1) * sizeof(*m->entries));
	m->entries[m->n].user = user;
	m->entries[m->n].secret = secret;
	m->n++;
}

/* line is one line of the file, newline included, NUL-terminated. */
static void fuzz_authfile_model_line(FuzzAuthModel *m, const char *line)
{
	const char *p = fuzz_authfile_blanks(line);
	char *user, *secret;
	if (*p == '\0' || *p == ';' || *p == '#' || !fuzz_authfile_field(&p, &user))
		return;
	p = fuzz_authfile_blanks(p);
	if (!fuzz_authfile_field(&p, &secret)) {
		free(user);
		return;
	}
	if (user[0] == '\0') {
		free(user);
		free(secret);
		return;
	}
	fuzz_authfile_model_put(m, user, secret);
}

static void fuzz_authfile_model_build(FuzzAuthModel *m, const uint8_t *data, size_t size)
{
	const uint8_t *line = data, *stop = data + size;
	while (line < stop) {
		const uint8_t *nl = memchr(line, '\n', (size_t)(stop - line));
		size_t len = nl ? (size_t)(nl - line) + 1 : (size_t)(stop - line);
		if (!memchr(line, '\0', len)) {
			char *copy = fuzz_strndup(line, len);
			fuzz_authfile_model_line(m, copy);
			free(copy);
		}
		line += len;
	}
}

static void fuzz_authfile_model_free(FuzzAuthModel *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->entries[i].user);
		free(m->entries[i].secret);
	}
	free(m->entries);
}

static void fuzz_authfile_check_secret(const char *secret)
{
	ScramSecret parsed;
	SecretKind kind = auth_secret_kind(secret);
	FUZZ_CHECK(kind == SECRET_PLAIN || kind == SECRET_MD5 || kind == SECRET_SCRAM);
	if (kind == SECRET_SCRAM)
		FUZZ_CHECK(scram_parse_secret(secret, &parsed));
	if (kind == SECRET_MD5)
		FUZZ_CHECK(strlen(secret) == 35 && strncmp(secret, "md5", 3) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	FuzzAuthModel model = { NULL, 0 };

	if (!fuzz_write_file(fuzz_authfile_path, data, size)) {
		perror(fuzz_authfile_path);
		abort();
	}
	AuthFile *af = authfile_load(fuzz_authfile_path, err, sizeof(err));
	FUZZ_CHECK(af != NULL);
	fuzz_authfile_model_build(&model, data, size);
	FUZZ_CHECK((size_t)authfile_count(af) == model.n);
	for (size_t i = 0; i < model.n; i++) {
		const char *got = authfile_lookup(af, model.entries[i].user);
		FUZZ_CHECK(got != NULL && strcmp(got, model.entries[i].secret) == 0);
		fuzz_authfile_check_secret(got);
	}
	FUZZ_CHECK(authfile_lookup(af, "") == NULL);
	FUZZ_CHECK(authfile_lookup(af, NULL) == NULL);
	authfile_free(af);
	fuzz_authfile_model_free(&model);
	return 0;
}
