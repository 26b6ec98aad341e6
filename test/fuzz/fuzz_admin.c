/*
 * libFuzzer target for the admin console's statement syntax (admin_parse.h). The input
 * is a console query string, NUL-terminated as admin.c hands it over. It is cut into
 * statements exactly as the console runs them, every statement is parsed, and the whole
 * input is also parsed as one statement (reaching verbs and words that hold ';').
 * Invariants beyond memory safety:
 *   - the splitter always advances, never past the terminator, and returns NULL only when
 *     at least a buffer's worth of text remains; a statement is the input's text between
 *     two cuts without surrounding white space, ends at an unquoted ';' or the end, and
 *     holds no unquoted ';' itself;
 *   - a statement that parses names a known command (its verb, in any case), carries an
 *     argument only if the command takes one, and SET carries a setting and a value;
 *   - parsing is deterministic, and a parsed statement printed back in canonical form
 *     (quoted argument and value, doubled quotes) parses to the same command, argument
 *     and value, and survives the splitter unchanged.
 */
#include "fuzz_common.h"

#include <ctype.h>
#include <strings.h>

#include "admin_parse.h"

#define FUZZ_ADMIN_CANON_MAX (ADMIN_VERB_MAX + 4 * ADMIN_TOKEN_MAX + 16)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet_logging();
	return 0;
}

static bool fuzz_admin_terminated(const char *buf, size_t cap)
{
	return memchr(buf, '\0', cap) != NULL;
}

/* Append s in quote q with q doubled, as the lexer reads it back. */
static size_t fuzz_admin_quote(char *out, size_t n, const char *s, char q)
{
	out[n++] = ' ';
	out[n++] = q;
	for (; *s; s++) {
		if (*s == q)
			out[n++] = q;
		out[n++] = *s;
	}
	out[n++] = q;
	return n;
}

/* The statement in canonical form: VERB "arg" [= 'value'] or VERB "REPLICA" address. */
static void fuzz_admin_canonical(const AdminStmt *st, char *out)
{
	size_t n = (size_t)sprintf(out, "%s", st->verb);
	if (st->has_arg)
		n = fuzz_admin_quote(out, n, st->arg, '"');
	if (st->cmd == ADMIN_CMD_SET) {
		n += (size_t)sprintf(out + n, " =");
		n = fuzz_admin_quote(out, n, st->value, '\'');
	} else if (st->value[0]) {
		n += (size_t)sprintf(out + n, " %s", st->value);
	}
	out[n] = '\0';
}

static void fuzz_admin_check_parsed(const AdminStmt *st)
{
	FUZZ_CHECK((unsigned)st->cmd < ADMIN_CMD_COUNT);
	FUZZ_CHECK(strcasecmp(st->verb, admin_parse_command_verb(st->cmd)) == 0);
	FUZZ_CHECK(admin_parse_command_takes_arg(st->cmd) || !st->has_arg);
	FUZZ_CHECK(fuzz_admin_terminated(st->arg, sizeof(st->arg)));
	FUZZ_CHECK(fuzz_admin_terminated(st->value, sizeof(st->value)));
	if (st->cmd == ADMIN_CMD_SET)
		FUZZ_CHECK(st->has_arg);
	if (!st->has_arg)
		FUZZ_CHECK(st->arg[0] == '\0' && st->value[0] == '\0');
	if (st->value[0] && st->cmd != ADMIN_CMD_SET)
		FUZZ_CHECK((st->cmd == ADMIN_CMD_DISABLE || st->cmd == ADMIN_CMD_ENABLE) &&
			   strcasecmp(st->arg, "REPLICA") == 0);
}

static void fuzz_admin_check_roundtrip(const AdminStmt *st, bool from_splitter)
{
	char canon[FUZZ_ADMIN_CANON_MAX], cut[ADMIN_STMT_MAX];
	AdminStmt again;
	fuzz_admin_canonical(st, canon);
	FUZZ_CHECK(admin_parse_statement(canon, &again));
	FUZZ_CHECK(again.cmd == st->cmd && strcmp(again.verb, st->verb) == 0);
	FUZZ_CHECK(again.has_arg == st->has_arg && strcmp(again.arg, st->arg) == 0);
	FUZZ_CHECK(strcmp(again.value, st->value) == 0);
	if (!from_splitter || strlen(canon) >= sizeof(cut))
		return;
	const char *next = admin_parse_next_statement(canon, cut, sizeof(cut));
	FUZZ_CHECK(next == canon + strlen(canon) && strcmp(cut, canon) == 0);
}

static void fuzz_admin_parse(const char *text, bool from_splitter)
{
	AdminStmt st, st2;
	bool ok = admin_parse_statement(text, &st);
	FUZZ_CHECK(st.text == text);
	FUZZ_CHECK(fuzz_admin_terminated(st.verb, sizeof(st.verb)));
	FUZZ_CHECK(ok == admin_parse_statement(text, &st2));
	if (!ok)
		return;
	FUZZ_CHECK(st.cmd == st2.cmd && st.has_arg == st2.has_arg);
	FUZZ_CHECK(strcmp(st.verb, st2.verb) == 0 && strcmp(st.arg, st2.arg) == 0 &&
		   strcmp(st.value, st2.value) == 0);
	fuzz_admin_check_parsed(&st);
	fuzz_admin_check_roundtrip(&st, from_splitter);
}

/* Quote state after s, as the splitter tracks it; *semi: an unquoted ';' was seen. */
static char fuzz_admin_quote_state(const char *s, size_t n, bool *semi)
{
	char quote = 0;
	*semi = false;
	for (size_t i = 0; i < n; i++) {
		if (quote && s[i] == quote)
			quote = 0;
		else if (!quote && (s[i] == '\'' || s[i] == '"'))
			quote = s[i];
		else if (!quote && s[i] == ';')
			*semi = true;
	}
	return quote;
}

/* [from, to) without white space at either end, compared with text. */
static bool fuzz_admin_trimmed_equals(const char *from, const char *to, const char *text)
{
	while (from < to && isspace((unsigned char)*from))
		from++;
	while (to > from && isspace((unsigned char)to[-1]))
		to--;
	return strlen(text) == (size_t)(to - from) && memcmp(from, text, (size_t)(to - from)) == 0;
}

/* One cut: the statement at p, which ends at next. */
static void fuzz_admin_check_cut(const char *p, const char *next, const char *end, const char *text)
{
	bool semi;
	size_t len = strlen(text);
	FUZZ_CHECK(next > p && next <= end);
	FUZZ_CHECK(len < ADMIN_STMT_MAX);
	FUZZ_CHECK(len == 0 || (!isspace((unsigned char)text[0]) &&
				!isspace((unsigned char)text[len - 1])));
	char quote = fuzz_admin_quote_state(text, len, &semi);
	FUZZ_CHECK(!semi);
	bool at_semicolon = next[-1] == ';' && !quote;
	if (next < end || (at_semicolon && fuzz_admin_trimmed_equals(p, next - 1, text))) {
		/* cut at an unquoted ';' */
		FUZZ_CHECK(next[-1] == ';' && !quote);
		FUZZ_CHECK(fuzz_admin_trimmed_equals(p, next - 1, text));
	} else {
		FUZZ_CHECK(fuzz_admin_trimmed_equals(p, next, text));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *script = fuzz_strndup(data, size);
	char *text = xmalloc(ADMIN_STMT_MAX);
	const char *p = script, *end = script + strlen(script);

	while (*p) {
		const char *next = admin_parse_next_statement(p, text, ADMIN_STMT_MAX);
		if (!next) {
			FUZZ_CHECK(strlen(p) >= ADMIN_STMT_MAX - 1);
			break;
		}
		fuzz_admin_check_cut(p, next, end, text);
		p = next;
		if (text[0])
			fuzz_admin_parse(text, true);
	}
	fuzz_admin_parse(script, false);
	free(text);
	free(script);
	return 0;
}
