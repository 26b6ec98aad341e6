/*
 * Startup-family packets (see startup.h): the code word that tells a StartupMessage from
 * the SSL, GSSAPI and cancel requests, the NUL-terminated parameter pairs, and the words
 * of the options parameter. Every read goes through the bounded PktReader or stays
 * inside a fixed copy; nothing here allocates, logs or closes a connection.
 */
#include "startup.h"
#include "pg_wire.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

StartupKind startup_classify(PktReader *r, uint32_t *code)
{
	uint32_t len;
	*code = 0;
	if (!proto_get_u32(r, &len) || !proto_get_u32(r, code))
		return STARTUP_KIND_TRUNCATED;
	switch (*code) {
	case PG_SSL_REQUEST_CODE:
		return STARTUP_KIND_SSL;
	case PG_GSSENC_REQUEST_CODE:
		return STARTUP_KIND_GSSENC;
	case PG_CANCEL_REQUEST_CODE:
		return STARTUP_KIND_CANCEL;
	}
	return PG_PROTO_MAJOR(*code) == 3 ? STARTUP_KIND_MESSAGE : STARTUP_KIND_BAD_PROTOCOL;
}

StartupParamResult startup_next_param(PktReader *r, const char **name, const char **value)
{
	*name = *value = NULL;
	if (!proto_get_cstring(r, name))
		return STARTUP_PARAM_BAD;
	if (!**name)
		return STARTUP_PARAM_END;
	if (!proto_get_cstring(r, value))
		return STARTUP_PARAM_BAD;
	return STARTUP_PARAM_OK;
}

/* value is a prefix of word at least min_len long (case-insensitive). */
static bool bool_word_prefix(const char *value, const char *word, size_t min_len)
{
	size_t len = strlen(value);
	return len >= min_len && len <= strlen(word) && strncasecmp(value, word, len) == 0;
}

/* PostgreSQL's boolean reading of a setting: unique prefixes of the words, or 1 and 0. */
static bool parse_pg_bool(const char *value, bool *out)
{
	if (bool_word_prefix(value, "true", 1) || bool_word_prefix(value, "yes", 1) ||
	    bool_word_prefix(value, "on", 2) || strcmp(value, "1") == 0) {
		*out = true;
		return true;
	}
	if (bool_word_prefix(value, "false", 1) || bool_word_prefix(value, "no", 1) ||
	    bool_word_prefix(value, "off", 2) || strcmp(value, "0") == 0) {
		*out = false;
		return true;
	}
	return false;
}

bool startup_replication_parse(const char *value, ReplicationKind *kind)
{
	bool on;
	if (strcmp(value, "database") == 0) {
		*kind = REPLICATION_LOGICAL;
		return true;
	}
	if (!parse_pg_bool(value, &on))
		return false;
	*kind = on ? REPLICATION_PHYSICAL : REPLICATION_NONE;
	return true;
}

void startup_options_init(StartupOptions *it, const char *options)
{
	snprintf(it->buf, sizeof(it->buf), "%s", options);
	it->pos = 0;
}

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

/*
 * The next word, unescaped in place (the unescaped text is never longer than what it is
 * read from, so writing behind the reader is safe), or NULL at the end.
 */
static char *options_word(StartupOptions *it)
{
	char *rd = it->buf + it->pos;
	while (is_blank(*rd))
		rd++;
	if (!*rd)
		return NULL;
	char *word = rd, *wr = rd;
	while (*rd && !is_blank(*rd)) {
		if (*rd == '\\' && !*++rd)
			break;
		*wr++ = *rd++;
	}
	it->pos = (size_t)(rd - it->buf) + (*rd ? 1 : 0);
	*wr = 0;
	return word;
}

/* The setting a word names, after "-c", "-c" glued on, or "--". */
static char *options_setting_text(StartupOptions *it, char *word)
{
	if (strcmp(word, "-c") == 0)
		return options_word(it);
	if (strncmp(word, "-c", 2) == 0 || strncmp(word, "--", 2) == 0)
		return word + 2;
	return NULL;
}

StartupOptResult startup_options_next(StartupOptions *it, const char **name, const char **value)
{
	*name = *value = NULL;
	char *word = options_word(it);
	if (!word)
		return STARTUP_OPT_END;
	char *setting = options_setting_text(it, word);
	char *eq = setting ? strchr(setting, '=') : NULL;
	if (!eq || eq == setting)
		return STARTUP_OPT_BAD;
	*eq = 0;
	for (char *p = setting; *p; p++)
		if (*p == '-')
			*p = '_';
	*name = setting;
	*value = eq + 1;
	return STARTUP_OPT_SETTING;
}
