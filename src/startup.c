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

bool startup_replication_requested(const char *value)
{
	return strcasecmp(value, "false") != 0 && strcasecmp(value, "off") != 0 &&
	       strcmp(value, "0") != 0;
}

void startup_options_init(StartupOptions *it, const char *options)
{
	snprintf(it->buf, sizeof(it->buf), "%s", options);
	it->save = NULL;
	it->started = false;
}

/* The next blank-separated word, or NULL at the end. */
static char *options_word(StartupOptions *it)
{
	char *word = strtok_r(it->started ? NULL : it->buf, " \t", &it->save);
	it->started = true;
	return word;
}

StartupOptResult startup_options_next(StartupOptions *it, const char **name, const char **value)
{
	bool expect_value = false;
	char *tok;
	*name = *value = NULL;
	while ((tok = options_word(it)) != NULL) {
		if (strcmp(tok, "-c") == 0) {
			expect_value = true;
			continue;
		}
		if (!expect_value && strncmp(tok, "--", 2) == 0)
			tok += 2;
		else if (!expect_value)
			return STARTUP_OPT_BAD;
		expect_value = false;
		char *eq = strchr(tok, '=');
		if (!eq)
			continue;
		*eq = 0;
		for (char *p = tok; *p; p++)
			if (*p == '-')
				*p = '_';
		*name = tok;
		*value = eq + 1;
		return STARTUP_OPT_SETTING;
	}
	return STARTUP_OPT_END;
}
