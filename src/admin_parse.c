/*
 * Admin console statement syntax (see admin_parse.h): a splitter that honours '...' and
 * "..." quoting, a lexer of words, "identifiers" and 'strings' with doubled quotes, and
 * the three statement shapes the console knows. It reads only the NUL-terminated text it
 * is given and writes only into the caller's fixed-size buffers, refusing what does not
 * fit rather than truncating it. Executing, permissions and replies stay in admin.c.
 */
#include "admin_parse.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

typedef enum { TOK_END, TOK_WORD, TOK_IDENT, TOK_STRING, TOK_EQUALS, TOK_BAD } TokKind;

static const struct {
	const char *verb;
	bool takes_arg;
} admin_command_table[] = {
#define ADMIN_CMD_TABLE_ITEM(id, verb, arg) { verb, arg },
	ADMIN_COMMAND_LIST(ADMIN_CMD_TABLE_ITEM)
#undef ADMIN_CMD_TABLE_ITEM
};

const char *admin_parse_command_verb(AdminCommandId cmd)
{
	if ((unsigned)cmd >= ADMIN_CMD_COUNT)
		return NULL;
	return admin_command_table[cmd].verb;
}

bool admin_parse_command_takes_arg(AdminCommandId cmd)
{
	return (unsigned)cmd < ADMIN_CMD_COUNT && admin_command_table[cmd].takes_arg;
}

/* Quoted text with the quote char doubled inside; *pp is on the opening quote. */
static TokKind lex_quoted(const char **pp, char *out, size_t outlen, char q, TokKind kind)
{
	const char *p = *pp + 1;
	size_t n = 0;
	for (;;) {
		if (!*p)
			return TOK_BAD;
		if (*p == q && p[1] != q)
			break;
		if (*p == q)
			p++;
		if (n + 1 >= outlen)
			return TOK_BAD;
		out[n++] = *p++;
	}
	out[n] = 0;
	*pp = p + 1;
	return kind;
}

static TokKind lex_next(const char **pp, char *out, size_t outlen)
{
	const char *p = *pp;
	while (isspace((unsigned char)*p))
		p++;
	*pp = p;
	if (!*p)
		return TOK_END;
	if (*p == '=') {
		*pp = p + 1;
		return TOK_EQUALS;
	}
	if (*p == '"' || *p == '\'')
		return lex_quoted(pp, out, outlen, *p, *p == '"' ? TOK_IDENT : TOK_STRING);
	size_t n = 0;
	while (*p && !isspace((unsigned char)*p) && *p != '=' && *p != '"' && *p != '\'') {
		if (n + 1 >= outlen)
			return TOK_BAD;
		out[n++] = *p++;
	}
	out[n] = 0;
	*pp = p;
	return TOK_WORD;
}

/* SET key = value, or SET key TO value; p is after the verb. */
static bool stmt_parse_set(const char *p, AdminStmt *st)
{
	char tmp[ADMIN_TOKEN_MAX];
	TokKind k = lex_next(&p, st->arg, sizeof(st->arg));
	if (k != TOK_WORD && k != TOK_IDENT)
		return false;
	st->has_arg = true;
	k = lex_next(&p, tmp, sizeof(tmp));
	if (k != TOK_EQUALS && !(k == TOK_WORD && strcasecmp(tmp, "to") == 0))
		return false;
	k = lex_next(&p, st->value, sizeof(st->value));
	if (k != TOK_WORD && k != TOK_IDENT && k != TOK_STRING)
		return false;
	return lex_next(&p, tmp, sizeof(tmp)) == TOK_END;
}

/* DISABLE/ENABLE REPLICA host[:port]: the address goes to st->value as typed. */
static bool stmt_parse_replica(const char *p, AdminStmt *st)
{
	size_t n = 0;
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '\'')
		p++;
	while (*p && !isspace((unsigned char)*p) && *p != '\'' && *p != ';' &&
	       n + 1 < sizeof(st->value))
		st->value[n++] = *p++;
	st->value[n] = 0;
	if (*p == '\'')
		p++;
	while (isspace((unsigned char)*p))
		p++;
	return n > 0 && *p == 0;
}

/* CHOOSE PRIMARY db host:port: the database goes to st->arg, the address to st->value. */
static bool stmt_parse_choose(const char *p, AdminStmt *st)
{
	char word[ADMIN_TOKEN_MAX];
	if (lex_next(&p, word, sizeof(word)) != TOK_WORD || strcasecmp(word, "PRIMARY") != 0)
		return false;
	TokKind k = lex_next(&p, st->arg, sizeof(st->arg));
	if (k != TOK_WORD && k != TOK_IDENT)
		return false;
	st->has_arg = true;
	return stmt_parse_replica(p, st);
}

/* The shape: VERB [arg], SET ..., DISABLE/ENABLE REPLICA ... or CHOOSE PRIMARY ... */
static bool stmt_parse_shape(const char *text, AdminStmt *st)
{
	const char *p = text;
	char tmp[ADMIN_TOKEN_MAX];
	if (lex_next(&p, st->verb, sizeof(st->verb)) != TOK_WORD)
		return false;
	if (strcasecmp(st->verb, "SET") == 0)
		return stmt_parse_set(p, st);
	if (strcasecmp(st->verb, "CHOOSE") == 0)
		return stmt_parse_choose(p, st);
	TokKind k = lex_next(&p, st->arg, sizeof(st->arg));
	if (k == TOK_END)
		return true;
	if (k != TOK_WORD && k != TOK_IDENT)
		return false;
	st->has_arg = true;
	if ((strcasecmp(st->verb, "DISABLE") == 0 || strcasecmp(st->verb, "ENABLE") == 0) &&
	    strcasecmp(st->arg, "REPLICA") == 0)
		return stmt_parse_replica(p, st);
	return lex_next(&p, tmp, sizeof(tmp)) == TOK_END;
}

bool admin_parse_statement(const char *text, AdminStmt *st)
{
	memset(st, 0, sizeof(*st));
	st->text = text;
	st->cmd = ADMIN_CMD_COUNT;
	if (!stmt_parse_shape(text, st))
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(admin_command_table); i++) {
		if (strcasecmp(admin_command_table[i].verb, st->verb) != 0)
			continue;
		if (!admin_command_table[i].takes_arg && st->has_arg)
			return false;
		st->cmd = (AdminCommandId)i;
		return true;
	}
	return false;
}

const char *admin_parse_next_statement(const char *p, char *out, size_t outlen)
{
	char quote = 0;
	size_t n = 0;
	if (outlen == 0)
		return NULL;
	while (isspace((unsigned char)*p))
		p++;
	for (; *p && (quote || *p != ';'); p++) {
		if (quote && *p == quote)
			quote = 0;
		else if (!quote && (*p == '\'' || *p == '"'))
			quote = *p;
		if (n + 1 >= outlen)
			return NULL;
		out[n++] = *p;
	}
	while (n > 0 && isspace((unsigned char)out[n - 1]))
		n--;
	out[n] = 0;
	return *p == ';' ? p + 1 : p;
}
