/*
 * Tracked session parameters (see varcache.h). The values are what the server reported
 * in ParameterStatus (for servers) or what the client asked for or last saw (for clients).
 */
#include "varcache.h"
#include "intern.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Order matters: varcache.h names fixed indexes into this list. */
static const char *const builtin_names[] = {
	"client_encoding", "DateStyle", "IntervalStyle", "TimeZone",
	"standard_conforming_strings", "application_name", "default_transaction_read_only",
};

static char *tracked_names[VARCACHE_MAX];
static int tracked_count;

void varcache_configure(const char *extra)
{
	for (int i = 0; i < tracked_count; i++)
		free(tracked_names[i]);
	tracked_count = 0;
	for (size_t i = 0; i < sizeof(builtin_names) / sizeof(builtin_names[0]); i++)
		tracked_names[tracked_count++] = xstrdup(builtin_names[i]);
	if (!extra)
		return;
	const char *p = extra;
	while (*p && tracked_count < VARCACHE_MAX) {
		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		size_t n = strcspn(p, ", \t");
		if (n == 0)
			break;
		char name[128];
		snprintf(name, sizeof(name), "%.*s", (int)n, p);
		if (varcache_lookup(name) < 0)
			tracked_names[tracked_count++] = xstrdup(name);
		p += n;
	}
}

int varcache_count(void)
{
	return tracked_count;
}

const char *varcache_name(int idx)
{
	return tracked_names[idx];
}

int varcache_lookup(const char *name)
{
	for (int i = 0; i < tracked_count; i++)
		if (strcasecmp(tracked_names[i], name) == 0)
			return i;
	return -1;
}

/* ---- one cache ---- */

static void varcache_grow(VarCache *vc, int idx)
{
	int size = tracked_count > idx ? tracked_count : idx + 1;
	vc->values = xrealloc(vc->values, sizeof(*vc->values) * (size_t)size);
	for (int i = vc->size; i < size; i++)
		vc->values[i] = NULL;
	vc->size = size;
}

void varcache_set(VarCache *vc, int idx, const char *value)
{
	const char *old = varcache_get(vc, idx);
	if (old && value && strcmp(old, value) == 0)
		return;
	if (!old && !value)
		return;
	if (idx >= vc->size)
		varcache_grow(vc, idx);
	vc->values[idx] = value ? intern_get(value) : NULL;
	intern_put(old);
}

const char *varcache_get(const VarCache *vc, int idx)
{
	return idx < vc->size ? vc->values[idx] : NULL;
}

void varcache_clear(VarCache *vc)
{
	for (int i = 0; i < vc->size; i++)
		intern_put(vc->values[i]);
	free(vc->values);
	vc->values = NULL;
	vc->size = 0;
}

void varcache_fill_missing(VarCache *dst, const VarCache *src)
{
	for (int i = 0; i < src->size; i++) {
		if (!varcache_get(dst, i) && src->values[i]) {
			if (i >= dst->size)
				varcache_grow(dst, i);
			intern_ref(src->values[i]);
			dst->values[i] = src->values[i];
		}
	}
}

/* Append value as a single-quoted SQL literal. */
static bool append_literal(char *buf, size_t len, size_t *pos, const char *value)
{
	if (*pos + 1 >= len)
		return false;
	buf[(*pos)++] = '\'';
	for (const char *v = value; *v; v++) {
		if (*pos + 3 >= len)
			return false;
		if (*v == '\'' || *v == '\\')
			buf[(*pos)++] = *v;
		buf[(*pos)++] = *v;
	}
	buf[(*pos)++] = '\'';
	return true;
}

/*
 * set_config() takes the value as one string, as a startup packet's "-c name=value" and
 * ParameterStatus give it; SET would quote a list value of search_path or
 * temp_tablespaces as a single name ("a,b"). E'' keeps backslashes meaning the same
 * whatever standard_conforming_strings is.
 */
int varcache_sync_sql(const VarCache *client, const VarCache *server, char *buf, size_t len)
{
	static const char head[] = "SELECT pg_catalog.set_config(E", tail[] = ",false);";
	size_t pos = 0;
	for (int i = 0; i < tracked_count; i++) {
		const char *want = varcache_get(client, i);
		/* interned: equal values are the same pointer */
		if (!want || want == varcache_get(server, i))
			continue;
		if (pos + sizeof(head) >= len)
			return -1;
		memcpy(buf + pos, head, sizeof(head) - 1);
		pos += sizeof(head) - 1;
		if (!append_literal(buf, len, &pos, tracked_names[i]) || pos + 2 >= len)
			return -1;
		buf[pos++] = ',';
		buf[pos++] = 'E';
		if (!append_literal(buf, len, &pos, want) || pos + sizeof(tail) >= len)
			return -1;
		memcpy(buf + pos, tail, sizeof(tail) - 1);
		pos += sizeof(tail) - 1;
	}
	if (pos < len)
		buf[pos] = 0;
	return (int)pos;
}
