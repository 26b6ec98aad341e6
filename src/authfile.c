/*
 * userlist.txt reader: parses `"user" "secret"` lines into an array of entries indexed
 * by an open-addressing hash table (FNV-1a, linear probing, load <= 1/2), so lookups
 * stay O(1) for tens of thousands of users. A bad line costs a warning, never the file.
 * The loaded object is immutable; a reload builds a new one and the caller swaps.
 */
#include "authfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "log.h"
#include "md5.h"
#include "scram.h"

typedef struct AuthEntry {
	char *user;   /* owned */
	char *secret; /* owned; wiped on free */
} AuthEntry;

struct AuthFile {
	AuthEntry *entries; /* owned; count used of cap */
	int count;
	int cap;
	int *slots;    /* owned; index into entries + 1, 0 = empty */
	size_t nslots; /* power of two, at least 2 * count */
};

static uint64_t authfile_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

/* Slot holding user, or the empty slot where it would go. */
static size_t authfile_find_slot(const AuthFile *af, const char *user)
{
	size_t mask = af->nslots - 1;
	size_t i = (size_t)authfile_hash(user) & mask;
	while (af->slots[i] != 0 && strcmp(af->entries[af->slots[i] - 1].user, user) != 0)
		i = (i + 1) & mask;
	return i;
}

static void authfile_rehash(AuthFile *af, size_t nslots)
{
	free(af->slots);
	af->nslots = nslots;
	af->slots = xcalloc(nslots, sizeof(int));
	for (int k = 0; k < af->count; k++)
		af->slots[authfile_find_slot(af, af->entries[k].user)] = k + 1;
}

/* Takes ownership of user and secret. A repeated user keeps the later secret. */
static void authfile_add(AuthFile *af, char *user, char *secret)
{
	size_t slot = authfile_find_slot(af, user);
	if (af->slots[slot] != 0) {
		AuthEntry *e = &af->entries[af->slots[slot] - 1];
		OPENSSL_cleanse(e->secret, strlen(e->secret));
		free(e->secret);
		e->secret = secret;
		free(user);
		return;
	}
	if (af->count == af->cap) {
		af->cap = af->cap ? af->cap * 2 : 64;
		af->entries = xrealloc(af->entries, (size_t)af->cap * sizeof(AuthEntry));
	}
	af->entries[af->count].user = user;
	af->entries[af->count].secret = secret;
	af->slots[slot] = ++af->count;
	if ((size_t)af->count * 2 > af->nslots)
		authfile_rehash(af, af->nslots * 2);
}

/*
 * Read one double-quoted field at *pp, where "" stands for one quote. On success *out is
 * the malloc'd unquoted value and *pp points after the closing quote.
 */
static bool authfile_field(const char **pp, char **out)
{
	const char *p = *pp;
	if (*p != '"')
		return false;
	p++;
	char *buf = xmalloc(strlen(p) + 1);
	size_t n = 0;
	for (;;) {
		if (*p == '\0') {
			free(buf);
			return false;
		}
		if (*p == '"' && p[1] != '"')
			break;
		if (*p == '"')
			p++;
		buf[n++] = *p++;
	}
	buf[n] = '\0';
	*pp = p + 1;
	*out = buf;
	return true;
}

static const char *authfile_skip_space(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	return p;
}

/* Parse one line into af; returns a reason when the line is malformed, NULL otherwise. */
static const char *authfile_parse_line(AuthFile *af, const char *line)
{
	const char *p = authfile_skip_space(line);
	char *user = NULL, *secret = NULL;
	if (*p == '\0' || *p == ';' || *p == '#')
		return NULL;
	if (!authfile_field(&p, &user))
		return "expected a double-quoted user name";
	p = authfile_skip_space(p);
	if (!authfile_field(&p, &secret)) {
		free(user);
		return "expected a double-quoted password after the user name";
	}
	if (user[0] == '\0') {
		free(user);
		free(secret);
		return "empty user name";
	}
	authfile_add(af, user, secret);
	return NULL;
}

static AuthFile *authfile_new(void)
{
	AuthFile *af = xcalloc(1, sizeof(*af));
	af->nslots = 128;
	af->slots = xcalloc(af->nslots, sizeof(int));
	return af;
}

AuthFile *authfile_load(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "could not open auth_file \"%s\": %s", path, strerror(errno));
		return NULL;
	}
	AuthFile *af = authfile_new();
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int lineno = 0;
	while ((n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		const char *why = strlen(line) != (size_t)n ? "line contains a NUL byte"
							    : authfile_parse_line(af, line);
		if (why)
			log_warning("%s:%d: %s, line skipped", path, lineno, why);
	}
	bool read_failed = ferror(f) != 0;
	if (line)
		OPENSSL_cleanse(line, cap);
	free(line);
	fclose(f);
	if (read_failed) {
		snprintf(err, errlen, "could not read auth_file \"%s\"", path);
		authfile_free(af);
		return NULL;
	}
	return af;
}

const char *authfile_lookup(const AuthFile *af, const char *user)
{
	if (!af || !user)
		return NULL;
	int idx = af->slots[authfile_find_slot(af, user)];
	return idx ? af->entries[idx - 1].secret : NULL;
}

int authfile_count(const AuthFile *af)
{
	return af ? af->count : 0;
}

void authfile_free(AuthFile *af)
{
	if (!af)
		return;
	for (int k = 0; k < af->count; k++) {
		OPENSSL_cleanse(af->entries[k].secret, strlen(af->entries[k].secret));
		free(af->entries[k].secret);
		free(af->entries[k].user);
	}
	free(af->entries);
	free(af->slots);
	free(af);
}

SecretKind auth_secret_kind(const char *secret)
{
	ScramSecret parsed;
	if (md5_is_secret(secret))
		return SECRET_MD5;
	if (scram_parse_secret(secret, &parsed)) {
		OPENSSL_cleanse(&parsed, sizeof(parsed));
		return SECRET_SCRAM;
	}
	return SECRET_PLAIN;
}

const char *authfile_user_at(const AuthFile *af, int i)
{
	return af && i >= 0 && i < af->count ? af->entries[i].user : NULL;
}
