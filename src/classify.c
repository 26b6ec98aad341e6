/*
 * The SQL read-only classifier. A lexer that follows PostgreSQL's own scanner rules
 * (nested comments, "identifiers", '..', E'..', N'..', B'..', X'..', U&'..' literals with
 * quote continuation, $tag$ dollar quotes, $n parameters) feeds a per-statement
 * classifier; the per-string verdict combines the statements and tracks transaction
 * control. It owns the write-function list. It does not know sessions or replicas: the
 * router turns a verdict and flags into a target. Everything here is bounded by the given
 * length and linear in it: tokens are re-lexed on demand instead of stored, nesting
 * (EXPLAIN, COPY (query)) is capped, and dollar-quote search is linear (see lex_dollar).
 */
#include "classify.h"

#include "common.h"

#include <stdlib.h>
#include <string.h>

#define LEX_FAIL ((size_t)-1)
#define CLASSIFY_MAX_DEPTH 4 /* EXPLAIN / COPY (query) nesting before giving up */

/* ---------------------------------------------------------------------------------- */
/* write functions                                                                     */

typedef struct WriteFn {
	const char *name; /* lower case, no schema */
	size_t len;
	bool prefix;	    /* name is a prefix: "lo_" matches lo_create, lo_unlink... */
	const char *reason; /* "write function <name>" */
} WriteFn;

#define WF(n) { n, sizeof(n) - 1, false, "write function " n }
#define WFP(n) { n, sizeof(n) - 1, true, "write function " n "*" }

/* Functions that write, take locks, assign an xid, change session state, signal other
 * backends or fail on a standby. Prefix entries are deliberately broad. */
/* clang-format off */
static const WriteFn write_fn_defaults[] = {
	WF("nextval"), WF("setval"), WF("currval"), WF("lastval"), WF("setseed"),
	WFP("pg_sequence"),
	WFP("pg_advisory_lock"), WFP("pg_advisory_xact_lock"), WFP("pg_try_advisory_"),
	WFP("pg_advisory_unlock"),
	WF("txid_current"), WF("pg_current_xact_id"), WF("pg_export_snapshot"),
	WFP("lo_"), WF("lowrite"),
	WF("pg_notify"), WF("set_config"),
	WF("pg_terminate_backend"), WF("pg_cancel_backend"), WF("pg_reload_conf"),
	WFP("pg_rotate_logfile"), WF("pg_promote"),
	WF("pg_switch_wal"), WF("pg_switch_xlog"), WFP("pg_current_wal_"), WFP("pg_current_xlog_"),
	WFP("pg_wal_replay_"), WFP("pg_xlog_replay_"),
	WF("pg_logical_emit_message"), WFP("pg_create_"), WFP("pg_drop_"), WFP("pg_copy_"),
	WFP("pg_replication_slot_"), WFP("pg_logical_slot_"), WFP("pg_replication_origin_"),
	WF("pg_sync_replication_slots"), WF("pg_log_standby_snapshot"),
	WF("pg_start_backup"), WF("pg_stop_backup"), WF("pg_backup_start"), WF("pg_backup_stop"),
	WFP("pg_stat_reset"), WF("pg_stat_statements_reset"),
	WF("pg_import_system_collations"), WF("pg_extension_config_dump"),
	WF("pg_file_write"), WF("pg_file_rename"), WF("pg_file_unlink"), WF("pg_file_sync"),
	WFP("dblink"), WFP("query_to_xml"), WFP("cursor_to_xml"),
};
/* clang-format on */

typedef struct ExtraFn {
	char *name; /* owned, lower case */
	size_t len;
	bool prefix;
	char *reason; /* owned */
} ExtraFn;

struct ClassifyConfig {
	ExtraFn *extra; /* owned array of n_extra */
	size_t n_extra;
};

/* ---------------------------------------------------------------------------------- */
/* characters                                                                          */

static bool ch_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool ch_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool ch_ident_start(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

/* Characters after the first in an unquoted identifier; PostgreSQL allows '$' there. */
static bool ch_ident_cont(unsigned char c)
{
	return ch_ident_start(c) || ch_digit(c) || c == '$';
}

static bool ch_xdigit(unsigned char c)
{
	return ch_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static unsigned char ch_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

/* ASCII case-insensitive comparison of n bytes. */
static bool ci_equal(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (ch_lower((unsigned char)a[i]) != ch_lower((unsigned char)b[i]))
			return false;
	}
	return true;
}

/* ---------------------------------------------------------------------------------- */
/* lexer                                                                               */

typedef enum TokKind {
	TK_EOF,
	TK_ERROR,
	TK_WORD,    /* unquoted identifier or keyword */
	TK_QIDENT,  /* "identifier" */
	TK_UQIDENT, /* U&"identifier" */
	TK_STRING,  /* any string literal, dollar quotes included */
	TK_NUMBER,
	TK_PARAM, /* $1 */
	TK_LPAREN,
	TK_RPAREN,
	TK_COMMA,
	TK_DOT,
	TK_SEMI,
	TK_OP, /* any other single character */
} TokKind;

typedef struct Tok {
	TokKind kind;
	size_t pos; /* first byte of the token (for TK_EOF: where the input or range ends) */
	size_t len; /* bytes, quotes and prefixes included */
} Tok;

/* One classification pass over one input: the input, the lexing mode and what was found.
 * Lexing is a pure function of (mode, position), so any token can be re-lexed later. */
typedef struct Scan {
	const char *s;
	size_t len;
	const ClassifyConfig *cfg;
	bool backslash_quotes; /* lex '..' as if standard_conforming_strings were off */
	bool saw_backslash;    /* some '..' held a backslash, so the other mode may differ */
	const char *error;     /* first lexical error, NULL if none */
} Scan;

typedef enum QuoteStyle {
	QS_STANDARD, /* '..' and N'..': '' escapes; backslash only when backslash_quotes */
	QS_ESCAPE,   /* E'..': '' and backslash escapes */
	QS_PLAIN,    /* B'..', X'..', U&'..': '' only */
} QuoteStyle;

static size_t lex_line_comment_end(const char *s, size_t n, size_t p)
{
	p += 2;
	while (p < n && s[p] != '\n' && s[p] != '\r')
		p++;
	return p;
}

/* p is at a comment opener; comments nest. Returns the position after its end or LEX_FAIL. */
static size_t lex_block_comment_end(const char *s, size_t n, size_t p)
{
	size_t depth = 0;
	while (p + 1 < n) {
		if (s[p] == '/' && s[p + 1] == '*') {
			depth++;
			p += 2;
		} else if (s[p] == '*' && s[p + 1] == '/') {
			p += 2;
			if (--depth == 0)
				return p;
		} else {
			p++;
		}
	}
	return LEX_FAIL;
}

/* Skips whitespace and comments; returns the next token start or LEX_FAIL. */
static size_t lex_skip_blank(Scan *sc, size_t p)
{
	const char *s = sc->s;
	size_t n = sc->len;
	while (p < n) {
		if (ch_space((unsigned char)s[p])) {
			p++;
		} else if (s[p] == '-' && p + 1 < n && s[p + 1] == '-') {
			p = lex_line_comment_end(s, n, p);
		} else if (s[p] == '/' && p + 1 < n && s[p + 1] == '*') {
			p = lex_block_comment_end(s, n, p);
			if (p == LEX_FAIL) {
				sc->error = "unterminated comment";
				return LEX_FAIL;
			}
		} else {
			break;
		}
	}
	return p;
}

/*
 * Quote continuation: PostgreSQL joins 'a' <newline> 'b' into one literal of the same
 * kind (so E'..' escapes apply to the continuation too). p is after a closing quote;
 * returns the position after the continuing opening quote, or 0 if there is none.
 */
static size_t lex_quote_continue(const Scan *sc, size_t p)
{
	const char *s = sc->s;
	size_t n = sc->len;
	while (p < n && (s[p] == ' ' || s[p] == '\t' || s[p] == '\f'))
		p++;
	if (p >= n || (s[p] != '\n' && s[p] != '\r'))
		return 0;
	p++;
	while (p < n) {
		if (ch_space((unsigned char)s[p])) {
			p++;
		} else if (s[p] == '-' && p + 1 < n && s[p + 1] == '-') {
			p = lex_line_comment_end(s, n, p);
			if (p >= n)
				return 0; /* a comment counts only when a newline ends it */
			p++;
		} else {
			break;
		}
	}
	return (p < n && s[p] == '\'') ? p + 1 : 0;
}

/* p is after the opening quote. Returns the position after the literal or LEX_FAIL. */
static size_t lex_quoted(Scan *sc, size_t p, QuoteStyle style)
{
	const char *s = sc->s;
	size_t n = sc->len;
	bool backslash = style == QS_ESCAPE || (style == QS_STANDARD && sc->backslash_quotes);
	while (p < n) {
		if (s[p] == '\'') {
			if (p + 1 < n && s[p + 1] == '\'') {
				p += 2;
				continue;
			}
			size_t q = lex_quote_continue(sc, p + 1);
			if (q == 0)
				return p + 1;
			p = q;
		} else if (s[p] == '\\' && backslash) {
			/* In client encodings such as SJIS, BIG5 or GBK the second byte of a
			 * character may be 0x5C; the server converts before lexing, so that
			 * "backslash" may not exist for it. */
			if (p > 0 && (unsigned char)s[p - 1] >= 0x80) {
				sc->error = "backslash after a non-ASCII byte";
				return LEX_FAIL;
			}
			p += 2;
		} else {
			if (s[p] == '\\' && style == QS_STANDARD)
				sc->saw_backslash = true;
			p++;
		}
	}
	sc->error = "unterminated string";
	return LEX_FAIL;
}

/* p is after the opening double quote. */
static size_t lex_qident(Scan *sc, size_t p)
{
	const char *s = sc->s;
	size_t n = sc->len;
	while (p < n) {
		if (s[p] == '"') {
			if (p + 1 < n && s[p + 1] == '"') {
				p += 2;
				continue;
			}
			return p + 1;
		}
		p++;
	}
	sc->error = "unterminated quoted identifier";
	return LEX_FAIL;
}

/*
 * A word, or a prefixed literal: like PostgreSQL's longest-match scanner, a one-letter
 * word e/n/b/x directly followed by a quote starts a literal, and u&' / u&" a Unicode one.
 */
static size_t lex_word(Scan *sc, size_t p, TokKind *kind)
{
	const char *s = sc->s;
	size_t n = sc->len;
	size_t e = p + 1;
	while (e < n && ch_ident_cont((unsigned char)s[e]))
		e++;
	*kind = TK_WORD;
	if (e - p != 1 || e >= n)
		return e;
	unsigned char c = ch_lower((unsigned char)s[p]);
	if (s[e] == '\'') {
		if (c == 'e' || c == 'n' || c == 'b' || c == 'x') {
			*kind = TK_STRING;
			QuoteStyle style = c == 'e' ? QS_ESCAPE : c == 'n' ? QS_STANDARD : QS_PLAIN;
			return lex_quoted(sc, e + 1, style);
		}
	} else if (c == 'u' && s[e] == '&' && e + 1 < n) {
		if (s[e + 1] == '\'') {
			*kind = TK_STRING;
			return lex_quoted(sc, e + 2, QS_PLAIN);
		}
		if (s[e + 1] == '"') {
			*kind = TK_UQIDENT;
			return lex_qident(sc, e + 2);
		}
	}
	return e;
}

static size_t lex_digits(const char *s, size_t n, size_t p, bool (*ok)(unsigned char))
{
	while (p < n && (ok((unsigned char)s[p]) || s[p] == '_'))
		p++;
	return p;
}

static bool ch_octal(unsigned char c)
{
	return c >= '0' && c <= '7';
}

static bool ch_binary(unsigned char c)
{
	return c == '0' || c == '1';
}

/*
 * Numbers. Letters are never swallowed (1e'x' lexes as 1 then e'x', as PostgreSQL < 15
 * does; newer versions reject it), so a prefixed literal is never misread as a number.
 */
static size_t lex_number(const Scan *sc, size_t p)
{
	const char *s = sc->s;
	size_t n = sc->len;
	if (s[p] == '0' && p + 2 < n) {
		unsigned char r = ch_lower((unsigned char)s[p + 1]);
		bool (*ok)(unsigned char) = r == 'x'   ? ch_xdigit
					    : r == 'o' ? ch_octal
					    : r == 'b' ? ch_binary
						       : NULL;
		if (ok && ok((unsigned char)s[p + 2]))
			return lex_digits(s, n, p + 2, ok);
	}
	p = lex_digits(s, n, p, ch_digit);
	if (p < n && s[p] == '.' && !(p + 1 < n && s[p + 1] == '.'))
		p = lex_digits(s, n, p + 1, ch_digit);
	if (p + 1 < n && (s[p] == 'e' || s[p] == 'E')) {
		size_t q = p + 1;
		if ((s[q] == '+' || s[q] == '-') && q + 1 < n)
			q++;
		if (ch_digit((unsigned char)s[q]))
			p = lex_digits(s, n, q, ch_digit);
	}
	return p;
}

/*
 * '$': a parameter ($1), a dollar quote ($$..$$, $tag$..$tag$; tags are case-sensitive
 * and follow identifier rules without '$') or a lone character. The body ends at the
 * first occurrence of the opening delimiter. The search is linear: a partial match
 * starting at one '$' runs over tag characters, which contain no '$', so partial matches
 * never overlap.
 */
static size_t lex_dollar(Scan *sc, size_t p, TokKind *kind)
{
	const char *s = sc->s;
	size_t n = sc->len;
	size_t q = p + 1;
	if (q < n && ch_digit((unsigned char)s[q])) {
		*kind = TK_PARAM;
		return lex_digits(s, n, q, ch_digit);
	}
	if (q < n && ch_ident_start((unsigned char)s[q])) {
		while (q < n && ch_ident_cont((unsigned char)s[q]) && s[q] != '$')
			q++;
	}
	if (q >= n || s[q] != '$') {
		*kind = TK_OP;
		return p + 1;
	}
	*kind = TK_STRING;
	size_t tag = q + 1 - p;
	for (size_t r = q + 1; r < n; r++) {
		const char *d = memchr(s + r, '$', n - r);
		if (!d)
			break;
		r = (size_t)(d - s);
		if (n - r >= tag && memcmp(s + r, s + p, tag) == 0)
			return r + tag;
	}
	sc->error = "unterminated dollar-quoted string";
	return LEX_FAIL;
}

static size_t lex_token_end(Scan *sc, size_t p, TokKind *kind)
{
	const char *s = sc->s;
	unsigned char c = (unsigned char)s[p];
	if (ch_ident_start(c))
		return lex_word(sc, p, kind);
	if (ch_digit(c) || (c == '.' && p + 1 < sc->len && ch_digit((unsigned char)s[p + 1]))) {
		*kind = TK_NUMBER;
		return lex_number(sc, p);
	}
	switch (c) {
	case '\'':
		*kind = TK_STRING;
		return lex_quoted(sc, p + 1, QS_STANDARD);
	case '"':
		*kind = TK_QIDENT;
		return lex_qident(sc, p + 1);
	case '$':
		return lex_dollar(sc, p, kind);
	case '(':
		*kind = TK_LPAREN;
		return p + 1;
	case ')':
		*kind = TK_RPAREN;
		return p + 1;
	case ',':
		*kind = TK_COMMA;
		return p + 1;
	case '.':
		*kind = TK_DOT;
		return p + 1;
	case ';':
		*kind = TK_SEMI;
		return p + 1;
	default:
		/* Operators are taken one character at a time, so "--" and "/" "*" inside an
		 * operator always start a comment, as in PostgreSQL. */
		*kind = TK_OP;
		return p + 1;
	}
}

/* The token at or after p (blanks and comments skipped). */
static Tok lex_token(Scan *sc, size_t p)
{
	Tok t = { TK_EOF, sc->len, 0 };
	p = lex_skip_blank(sc, p);
	if (p == LEX_FAIL) {
		t.kind = TK_ERROR;
		return t;
	}
	if (p >= sc->len)
		return t;
	t.pos = p;
	size_t e = lex_token_end(sc, p, &t.kind);
	if (e == LEX_FAIL) {
		t.kind = TK_ERROR;
		return t;
	}
	t.len = e - p;
	return t;
}

/* ---------------------------------------------------------------------------------- */
/* cursors: a token range [pos, end) where end is a token boundary                     */

typedef struct Cursor {
	Scan *sc;
	size_t pos;
	size_t end;
} Cursor;

static Tok cur_next(Cursor *c)
{
	Tok t = { TK_EOF, c->end, 0 };
	if (c->pos >= c->end)
		return t;
	Tok n = lex_token(c->sc, c->pos);
	if (n.kind == TK_EOF || n.kind == TK_ERROR || n.pos >= c->end) {
		c->pos = c->end;
		return t;
	}
	c->pos = n.pos + n.len;
	return n;
}

static Tok cur_peek(const Cursor *c)
{
	Cursor d = *c;
	return cur_next(&d);
}

static bool cur_at_end(const Cursor *c)
{
	return cur_peek(c).kind == TK_EOF;
}

/* After a '(' was taken: moves past the matching ')' and returns its position in *close. */
static bool cur_skip_parens(Cursor *c, size_t *close)
{
	size_t depth = 1;
	for (;;) {
		Tok t = cur_next(c);
		if (t.kind == TK_EOF)
			return false;
		if (t.kind == TK_LPAREN) {
			depth++;
		} else if (t.kind == TK_RPAREN && --depth == 0) {
			*close = t.pos;
			return true;
		}
	}
}

static bool tok_kw(const Scan *sc, Tok t, const char *kw)
{
	/* keywords are letters: the first one, case-folded, rejects most words before strlen */
	if (t.kind != TK_WORD || (sc->s[t.pos] | 0x20) != (kw[0] | 0x20))
		return false;
	size_t n = strlen(kw);
	return t.len == n && ci_equal(sc->s + t.pos, kw, n);
}

/* Takes the next token if it is the keyword kw. */
static bool cur_accept(Cursor *c, const char *kw)
{
	Cursor d = *c;
	if (!tok_kw(c->sc, cur_next(&d), kw))
		return false;
	*c = d;
	return true;
}

/* The text of a name token: a word as written, or the inside of a quoted identifier. */
static bool tok_name(const Scan *sc, Tok t, const char **name, size_t *len)
{
	switch (t.kind) {
	case TK_WORD:
		*name = sc->s + t.pos;
		*len = t.len;
		return true;
	case TK_QIDENT:
		*name = sc->s + t.pos + 1;
		*len = t.len - 2;
		return true;
	case TK_UQIDENT:
		*name = sc->s + t.pos + 3;
		*len = t.len - 4;
		return true;
	default:
		return false;
	}
}

/* ---------------------------------------------------------------------------------- */
/* statements                                                                          */

typedef enum TxnOp {
	TXN_NONE,
	TXN_BEGIN, /* BEGIN, START TRANSACTION */
	TXN_CLOSE, /* COMMIT, END, ROLLBACK, ABORT, PREPARE TRANSACTION */
	TXN_CHAIN, /* COMMIT/ROLLBACK AND CHAIN: ends one and opens an alike transaction */
	TXN_SET,   /* SET TRANSACTION */
	TXN_OTHER, /* SAVEPOINT, RELEASE, ROLLBACK TO, COMMIT/ROLLBACK PREPARED */
} TxnOp;

typedef struct TxnModes {
	bool read_only; /* the last access mode given was READ ONLY */
	bool read_write;
	bool serializable;
} TxnModes;

typedef enum DefaultRo { DEFRO_NONE, DEFRO_ON, DEFRO_OFF } DefaultRo;

typedef struct StmtInfo {
	ClassifyVerdict verdict;
	const char *reason;
	TxnOp txn;
	TxnModes modes;
	DefaultRo default_ro;
	bool calls_function; /* calls a function not known to write (see ClassifyResult) */
	bool session_only;   /* changes session state only, never data (see ClassifyResult) */
} StmtInfo;

/* What a statement handler sees: the whole statement, the tokens after its keyword. */
typedef struct StmtCtx {
	Cursor whole;
	Cursor rest;
	Tok kw;
	int depth;
	StmtInfo *out;
} StmtCtx;

typedef void (*StmtHandler)(StmtCtx *x);

static void stmt_classify(Cursor c, int depth, StmtInfo *out);

static void stmt_set_verdict(StmtInfo *out, ClassifyVerdict v, const char *reason)
{
	out->verdict = v;
	out->reason = reason;
}

static const char *write_fn_reason(const ClassifyConfig *cfg, const char *name, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(write_fn_defaults); i++) {
		const WriteFn *f = &write_fn_defaults[i];
		if ((f->prefix ? len >= f->len : len == f->len) && ci_equal(f->name, name, f->len))
			return f->reason;
	}
	for (size_t i = 0; cfg && i < cfg->n_extra; i++) {
		const ExtraFn *f = &cfg->extra[i];
		if ((f->prefix ? len >= f->len : len == f->len) && ci_equal(f->name, name, f->len))
			return f->reason;
	}
	return NULL;
}

/* A name followed by '(' is a function call (or something harmless shaped like one). */
static bool select_check_call(const Scan *sc, Tok t, StmtInfo *out)
{
	const char *name;
	size_t len;
	if (!tok_name(sc, t, &name, &len))
		return false;
	if (t.kind == TK_UQIDENT && memchr(name, '\\', len)) {
		stmt_set_verdict(out, CLASSIFY_UNSURE, "escaped function name");
		return true;
	}
	const char *why = write_fn_reason(sc->cfg, name, len);
	if (!why) {
		out->calls_function = true;
		return false;
	}
	stmt_set_verdict(out, CLASSIFY_WRITE, why);
	return true;
}

/* One token of a query with its successor; sets *out and returns true on a finding. */
static bool select_check(const Scan *sc, Tok t, Tok next, bool with, StmtInfo *out)
{
	if (next.kind == TK_LPAREN && select_check_call(sc, t, out))
		return true;
	if (t.kind != TK_WORD)
		return false;
	const char *why = NULL;
	if (tok_kw(sc, t, "INTO")) {
		why = "SELECT INTO";
	} else if (tok_kw(sc, t, "FOR")) {
		if (tok_kw(sc, next, "UPDATE"))
			why = "FOR UPDATE";
		else if (tok_kw(sc, next, "SHARE"))
			why = "FOR SHARE";
		else if (tok_kw(sc, next, "NO"))
			why = "FOR NO KEY UPDATE";
		else if (tok_kw(sc, next, "KEY"))
			why = "FOR KEY SHARE";
	} else if (tok_kw(sc, t, "INSERT") || tok_kw(sc, t, "UPDATE") || tok_kw(sc, t, "DELETE") ||
		   tok_kw(sc, t, "MERGE")) {
		why = with ? "writable CTE" : "data-modifying keyword in a query";
	}
	if (!why)
		return false;
	stmt_set_verdict(out, CLASSIFY_WRITE, why);
	return true;
}

/*
 * SELECT, VALUES, TABLE, WITH. Deliberately shallow: any INTO, locking clause, data-
 * modifying keyword or write-function call anywhere in the statement (subqueries and
 * CTEs included) makes it a write. A column named "update" costs a trip to the primary.
 */
static void stmt_select(StmtCtx *x)
{
	const Scan *sc = x->whole.sc;
	bool with = tok_kw(sc, x->kw, "WITH");
	Cursor c = x->whole;
	Tok t = cur_next(&c);
	while (t.kind != TK_EOF) {
		Tok next = cur_next(&c);
		if (select_check(sc, t, next, with, x->out))
			return;
		t = next;
	}
}

/* SHOW name, SHOW ALL, SHOW TIME ZONE...: only names and dots. */
static void stmt_show(StmtCtx *x)
{
	if (cur_at_end(&x->rest)) {
		stmt_set_verdict(x->out, CLASSIFY_UNSURE, "SHOW without a name");
		return;
	}
	for (Tok t = cur_next(&x->rest); t.kind != TK_EOF; t = cur_next(&x->rest)) {
		if (t.kind != TK_WORD && t.kind != TK_QIDENT && t.kind != TK_DOT) {
			stmt_set_verdict(x->out, CLASSIFY_UNSURE, "unusual SHOW");
			return;
		}
	}
}

/* A boolean setting value: 1 on, 0 off, -1 not understood. Accepts what PostgreSQL's
 * parse_bool does: on/off, and unique prefixes of true/false/yes/no, 1/0. */
static int value_bool(const Scan *sc, Tok t)
{
	const char *v = sc->s + t.pos;
	size_t n = t.len;
	if (t.kind == TK_STRING && v[0] == '\'') {
		v++;
		n -= 2;
	} else if (t.kind != TK_WORD && t.kind != TK_NUMBER) {
		return -1;
	}
	if (n == 0)
		return -1;
	if ((n <= 4 && ci_equal(v, "true", n)) || (n <= 3 && ci_equal(v, "yes", n)) ||
	    (n == 2 && ci_equal(v, "on", 2)) || (n == 1 && v[0] == '1'))
		return 1;
	if ((n <= 5 && ci_equal(v, "false", n)) || (n <= 2 && ci_equal(v, "no", n)) ||
	    (n >= 2 && n <= 3 && ci_equal(v, "off", n)) || (n == 1 && v[0] == '0'))
		return 0;
	return -1;
}

static bool txn_parse_level(Cursor *c, TxnModes *m)
{
	if (cur_accept(c, "SERIALIZABLE")) {
		m->serializable = true;
		return true;
	}
	if (cur_accept(c, "REPEATABLE"))
		return cur_accept(c, "READ");
	if (cur_accept(c, "READ"))
		return cur_accept(c, "COMMITTED") || cur_accept(c, "UNCOMMITTED");
	return false;
}

/* A transaction mode list up to the end of the range; the last access mode wins. */
static bool txn_parse_modes(Cursor *c, TxnModes *m)
{
	while (!cur_at_end(c)) {
		if (cur_peek(c).kind == TK_COMMA) {
			cur_next(c);
		} else if (cur_accept(c, "ISOLATION")) {
			if (!cur_accept(c, "LEVEL") || !txn_parse_level(c, m))
				return false;
		} else if (cur_accept(c, "READ")) {
			if (cur_accept(c, "ONLY")) {
				m->read_only = true;
				m->read_write = false;
			} else if (cur_accept(c, "WRITE")) {
				m->read_write = true;
				m->read_only = false;
			} else {
				return false;
			}
		} else if (cur_accept(c, "NOT")) {
			if (!cur_accept(c, "DEFERRABLE"))
				return false;
		} else if (!cur_accept(c, "DEFERRABLE")) {
			return false;
		}
	}
	return true;
}

/* Modes of BEGIN / START TRANSACTION / SET TRANSACTION, and what they mean on a standby. */
static void txn_modes_statement(Cursor *c, TxnOp op, StmtInfo *out)
{
	out->txn = op;
	if (!txn_parse_modes(c, &out->modes)) {
		memset(&out->modes, 0, sizeof(out->modes));
		stmt_set_verdict(out, CLASSIFY_UNSURE, "unrecognised transaction mode");
	}
	else if (out->modes.read_write)
		stmt_set_verdict(out, CLASSIFY_WRITE, "READ WRITE transaction");
	else if (out->modes.serializable)
		stmt_set_verdict(out, CLASSIFY_UNSURE,
				 "SERIALIZABLE is not available on a standby");
}

static void stmt_begin(StmtCtx *x)
{
	if (!cur_accept(&x->rest, "WORK"))
		(void)cur_accept(&x->rest, "TRANSACTION");
	txn_modes_statement(&x->rest, TXN_BEGIN, x->out);
}

static void stmt_start(StmtCtx *x)
{
	if (!cur_accept(&x->rest, "TRANSACTION")) {
		stmt_set_verdict(x->out, CLASSIFY_UNSURE, "unrecognised statement START");
		return;
	}
	txn_modes_statement(&x->rest, TXN_BEGIN, x->out);
}

/* The tail of COMMIT/END/ROLLBACK/ABORT after WORK/TRANSACTION: [AND [NO] CHAIN]. */
static void txn_end_tail(StmtCtx *x)
{
	Cursor *c = &x->rest;
	x->out->txn = TXN_CLOSE;
	if (cur_accept(c, "AND")) {
		bool no = cur_accept(c, "NO");
		if (!cur_accept(c, "CHAIN")) {
			stmt_set_verdict(x->out, CLASSIFY_UNSURE, "unrecognised transaction end");
			return;
		}
		if (!no)
			x->out->txn = TXN_CHAIN;
	}
	if (!cur_at_end(c))
		stmt_set_verdict(x->out, CLASSIFY_UNSURE, "unrecognised transaction end");
}

/* COMMIT and END; ROLLBACK and ABORT (which may also go TO a savepoint). */
static void stmt_commit(StmtCtx *x)
{
	if (cur_accept(&x->rest, "PREPARED")) {
		x->out->txn = TXN_OTHER;
		stmt_set_verdict(x->out, CLASSIFY_WRITE, "two-phase commit");
		return;
	}
	if (!cur_accept(&x->rest, "WORK"))
		(void)cur_accept(&x->rest, "TRANSACTION");
	if (cur_accept(&x->rest, "TO")) {
		const Scan *sc = x->rest.sc;
		bool rollback = tok_kw(sc, x->kw, "ROLLBACK") || tok_kw(sc, x->kw, "ABORT");
		x->out->txn = TXN_OTHER;
		if (!rollback)
			stmt_set_verdict(x->out, CLASSIFY_UNSURE, "unrecognised transaction end");
		return;
	}
	txn_end_tail(x);
}

static void stmt_savepoint(StmtCtx *x)
{
	x->out->txn = TXN_OTHER;
}

/* PREPARE TRANSACTION is two-phase commit; PREPARE name AS ... is per-session state. */
static void stmt_prepare(StmtCtx *x)
{
	if (cur_accept(&x->rest, "TRANSACTION")) {
		x->out->txn = TXN_CLOSE;
		stmt_set_verdict(x->out, CLASSIFY_WRITE, "two-phase commit");
		return;
	}
	stmt_set_verdict(x->out, CLASSIFY_UNSURE, "PREPARE creates session state");
}

/* SET [SESSION] default_transaction_read_only {TO|=} value, exactly. */
static void set_default_read_only(const Scan *sc, Cursor *c, StmtInfo *out)
{
	static const char guc[] = "default_transaction_read_only";
	const char *name;
	size_t len;
	if (!tok_name(sc, cur_next(c), &name, &len) || len != sizeof(guc) - 1 ||
	    !ci_equal(name, guc, len))
		return;
	Tok t = cur_next(c);
	if (!tok_kw(sc, t, "TO") && !(t.kind == TK_OP && sc->s[t.pos] == '='))
		return;
	Tok v = cur_next(c);
	if (!cur_at_end(c))
		return;
	int on = tok_kw(sc, v, "DEFAULT") ? 0 : value_bool(sc, v);
	if (on >= 0)
		out->default_ro = on ? DEFRO_ON : DEFRO_OFF;
}

/* SET SESSION CHARACTERISTICS AS TRANSACTION modes: the session default. */
static void set_session_characteristics(Cursor *c, StmtInfo *out)
{
	TxnModes m = { false, false, false };
	if (!cur_accept(c, "CHARACTERISTICS") || !cur_accept(c, "AS") ||
	    !cur_accept(c, "TRANSACTION") || !txn_parse_modes(c, &m))
		return;
	if (m.read_only && !m.serializable)
		out->default_ro = DEFRO_ON;
	else if (m.read_write)
		out->default_ro = DEFRO_OFF;
}

/* SET changes session state, so it goes to the primary, except SET TRANSACTION, which is
 * transaction control. The read-only default is reported through the flags. */
static void stmt_set(StmtCtx *x)
{
	Cursor *c = &x->rest;
	stmt_set_verdict(x->out, CLASSIFY_UNSURE, "SET changes session state");
	x->out->session_only = true;
	if (cur_accept(c, "LOCAL")) {
		if (tok_kw(c->sc, cur_peek(c), "TRANSACTION"))
			stmt_set_verdict(x->out, CLASSIFY_UNSURE, "unrecognised SET LOCAL");
		return; /* LOCAL never changes the session default */
	}
	Tok t = cur_peek(c);
	if (tok_kw(c->sc, t, "SESSION")) {
		Cursor d = *c;
		cur_next(&d);
		if (tok_kw(c->sc, cur_peek(&d), "CHARACTERISTICS")) {
			set_session_characteristics(&d, x->out);
			return;
		}
		if (!tok_kw(c->sc, cur_peek(&d), "AUTHORIZATION"))
			*c = d;
	} else if (tok_kw(c->sc, t, "TRANSACTION")) {
		cur_next(c);
		stmt_set_verdict(x->out, CLASSIFY_READ, NULL);
		if (tok_kw(c->sc, cur_peek(c), "SNAPSHOT")) {
			x->out->txn = TXN_SET;
			stmt_set_verdict(x->out, CLASSIFY_UNSURE, "SET TRANSACTION SNAPSHOT");
			return;
		}
		txn_modes_statement(c, TXN_SET, x->out);
		return;
	}
	set_default_read_only(c->sc, c, x->out);
}

/* RESET name / RESET ALL: session state; resetting the read-only default counts as off. */
static void stmt_reset(StmtCtx *x)
{
	static const char guc[] = "default_transaction_read_only";
	const Scan *sc = x->rest.sc;
	stmt_set_verdict(x->out, CLASSIFY_UNSURE, "RESET changes session state");
	x->out->session_only = true;
	Tok t = cur_next(&x->rest);
	const char *name;
	size_t len;
	if (!cur_at_end(&x->rest) || !tok_name(sc, t, &name, &len))
		return;
	if (tok_kw(sc, t, "ALL") || (len == sizeof(guc) - 1 && ci_equal(name, guc, len)))
		x->out->default_ro = DEFRO_OFF;
}

static void stmt_discard(StmtCtx *x)
{
	stmt_set_verdict(x->out, CLASSIFY_UNSURE, "DISCARD changes session state");
	x->out->session_only = true;
	if (cur_accept(&x->rest, "ALL") && cur_at_end(&x->rest))
		x->out->default_ro = DEFRO_OFF;
}

static void stmt_deallocate(StmtCtx *x)
{
	stmt_set_verdict(x->out, CLASSIFY_UNSURE, "DEALLOCATE changes session state");
	x->out->session_only = true;
}

/* EXPLAIN (option [value], ...): finds ANALYZE and whether its value turns it off. */
static bool explain_options(Cursor *c, bool *analyze)
{
	const Scan *sc = c->sc;
	bool option_start = true;
	for (;;) {
		Tok t = cur_next(c);
		if (t.kind == TK_EOF)
			return false;
		if (t.kind == TK_RPAREN)
			return true;
		if (t.kind == TK_LPAREN)
			return false; /* no option takes a parenthesised value */
		if (option_start && (tok_kw(sc, t, "ANALYZE") || tok_kw(sc, t, "ANALYSE"))) {
			Tok v = cur_peek(c);
			*analyze = v.kind == TK_COMMA || v.kind == TK_RPAREN ||
				   value_bool(sc, v) != 0;
		}
		option_start = t.kind == TK_COMMA;
	}
}

/* EXPLAIN is as safe as what it explains; its ANALYZE only changes the reason. */
static void stmt_explain(StmtCtx *x)
{
	Cursor *c = &x->rest;
	bool analyze = false;
	if (cur_peek(c).kind == TK_LPAREN) {
		cur_next(c);
		if (!explain_options(c, &analyze)) {
			stmt_set_verdict(x->out, CLASSIFY_UNSURE, "unrecognised EXPLAIN options");
			return;
		}
	} else {
		while (cur_accept(c, "ANALYZE") || cur_accept(c, "ANALYSE"))
			analyze = true;
		(void)cur_accept(c, "VERBOSE");
	}
	if (cur_at_end(c)) {
		stmt_set_verdict(x->out, CLASSIFY_UNSURE, "EXPLAIN without a statement");
		return;
	}
	StmtInfo inner;
	stmt_classify(*c, x->depth + 1, &inner);
	x->out->calls_function = inner.calls_function;
	if (inner.txn != TXN_NONE)
		stmt_set_verdict(x->out, CLASSIFY_UNSURE, "unrecognised EXPLAIN");
	else if (inner.verdict == CLASSIFY_WRITE && analyze)
		stmt_set_verdict(x->out, CLASSIFY_WRITE, "EXPLAIN ANALYZE of a write");
	else
		stmt_set_verdict(x->out, inner.verdict, inner.reason);
}

/* COPY ... TO: only STDOUT is read-only; a file or program is written on the server. */
static void copy_target(StmtCtx *x)
{
	if (!cur_accept(&x->rest, "TO")) {
		stmt_set_verdict(x->out, CLASSIFY_UNSURE, "unrecognised COPY");
		return;
	}
	if (!cur_accept(&x->rest, "STDOUT"))
		stmt_set_verdict(x->out, CLASSIFY_WRITE, "COPY TO a file or program");
}

/* COPY (query) TO ...: the query decides. */
static void copy_query(StmtCtx *x)
{
	Cursor inner = x->rest;
	size_t close;
	if (!cur_skip_parens(&x->rest, &close)) {
		stmt_set_verdict(x->out, CLASSIFY_UNSURE, "unbalanced parentheses");
		return;
	}
	inner.end = close;
	StmtInfo in;
	stmt_classify(inner, x->depth + 1, &in);
	x->out->calls_function = in.calls_function;
	if (in.txn != TXN_NONE)
		stmt_set_verdict(x->out, CLASSIFY_UNSURE, "unrecognised COPY");
	else if (in.verdict != CLASSIFY_READ)
		stmt_set_verdict(x->out, in.verdict, in.reason);
	else
		copy_target(x);
}

/* COPY [BINARY] table [(columns)] {FROM|TO} ... or COPY (query) TO ... */
static void stmt_copy(StmtCtx *x)
{
	Cursor *c = &x->rest;
	(void)cur_accept(c, "BINARY");
	Tok t = cur_next(c);
	if (t.kind == TK_LPAREN) {
		copy_query(x);
		return;
	}
	const char *name;
	size_t len;
	while (tok_name(c->sc, t, &name, &len) && cur_peek(c).kind == TK_DOT) {
		cur_next(c);
		t = cur_next(c);
	}
	if (!tok_name(c->sc, t, &name, &len)) {
		stmt_set_verdict(x->out, CLASSIFY_UNSURE, "unrecognised COPY");
		return;
	}
	size_t close;
	if (cur_peek(c).kind == TK_LPAREN) {
		cur_next(c); /* a column list */
		if (!cur_skip_parens(c, &close)) {
			stmt_set_verdict(x->out, CLASSIFY_UNSURE, "unbalanced parentheses");
			return;
		}
	}
	if (cur_accept(c, "FROM"))
		stmt_set_verdict(x->out, CLASSIFY_WRITE, "COPY FROM");
	else
		copy_target(x);
}

typedef struct StmtRule {
	const char *kw;
	StmtHandler handler; /* NULL: the fixed verdict and reason below */
	ClassifyVerdict verdict;
	const char *reason;
} StmtRule;

#define RULE_H(kw, h) { kw, h, CLASSIFY_READ, NULL }
#define RULE_W(kw) { kw, NULL, CLASSIFY_WRITE, "statement " kw }
#define RULE_U(kw, why) { kw, NULL, CLASSIFY_UNSURE, why }

/* clang-format off */
static const StmtRule stmt_rules[] = {
	RULE_H("SELECT", stmt_select), RULE_H("VALUES", stmt_select), RULE_H("TABLE", stmt_select),
	RULE_H("WITH", stmt_select), RULE_H("SHOW", stmt_show), RULE_H("EXPLAIN", stmt_explain),
	RULE_H("COPY", stmt_copy), RULE_H("SET", stmt_set), RULE_H("RESET", stmt_reset),
	RULE_H("DISCARD", stmt_discard), RULE_H("BEGIN", stmt_begin), RULE_H("START", stmt_start),
	RULE_H("COMMIT", stmt_commit), RULE_H("END", stmt_commit), RULE_H("ROLLBACK", stmt_commit),
	RULE_H("ABORT", stmt_commit), RULE_H("SAVEPOINT", stmt_savepoint),
	RULE_H("RELEASE", stmt_savepoint), RULE_H("PREPARE", stmt_prepare),
	RULE_W("INSERT"), RULE_W("UPDATE"), RULE_W("DELETE"), RULE_W("MERGE"), RULE_W("CREATE"),
	RULE_W("ALTER"), RULE_W("DROP"), RULE_W("TRUNCATE"), RULE_W("GRANT"), RULE_W("REVOKE"),
	RULE_W("LOCK"), RULE_W("VACUUM"), RULE_W("ANALYZE"), RULE_W("ANALYSE"), RULE_W("CLUSTER"),
	RULE_W("REINDEX"), RULE_W("REFRESH"), RULE_W("COMMENT"), RULE_W("SECURITY"), RULE_W("CALL"),
	RULE_W("DO"), RULE_W("NOTIFY"), RULE_W("LISTEN"), RULE_W("UNLISTEN"), RULE_W("CHECKPOINT"),
	RULE_W("IMPORT"), RULE_W("REASSIGN"),
	RULE_U("EXECUTE", "EXECUTE of a prepared statement"),
	RULE_H("DEALLOCATE", stmt_deallocate),
	RULE_U("DECLARE", "cursor"), RULE_U("FETCH", "cursor"), RULE_U("MOVE", "cursor"),
	RULE_U("CLOSE", "cursor"), RULE_U("LOAD", "LOAD changes session state"),
};
/* clang-format on */

static const StmtRule *stmt_rule_find(const Scan *sc, Tok kw)
{
	for (size_t i = 0; i < ARRAY_SIZE(stmt_rules); i++) {
		if (tok_kw(sc, kw, stmt_rules[i].kw))
			return &stmt_rules[i];
	}
	return NULL;
}

/* Classifies the statement in range c (no ';' inside, not empty). */
static void stmt_classify(Cursor c, int depth, StmtInfo *out)
{
	memset(out, 0, sizeof(*out));
	stmt_set_verdict(out, CLASSIFY_READ, NULL);
	if (depth > CLASSIFY_MAX_DEPTH) {
		stmt_set_verdict(out, CLASSIFY_UNSURE, "nesting too deep");
		return;
	}
	StmtCtx x = { c, c, { TK_EOF, 0, 0 }, depth, out };
	bool paren = false;
	do {
		x.kw = cur_next(&x.rest);
		paren = paren || x.kw.kind == TK_LPAREN;
	} while (x.kw.kind == TK_LPAREN);
	const StmtRule *rule = stmt_rule_find(c.sc, x.kw);
	if (!rule || (paren && rule->handler != stmt_select)) {
		stmt_set_verdict(out, CLASSIFY_UNSURE, "unrecognised statement");
		return;
	}
	if (rule->handler)
		rule->handler(&x);
	else
		stmt_set_verdict(out, rule->verdict, rule->reason);
}

/* ---------------------------------------------------------------------------------- */
/* the whole string                                                                    */

/* Transaction state across the statements of one string. */
typedef struct TxnTrack {
	bool all_txn;	    /* every statement so far is transaction control */
	bool open;	    /* a transaction opened here is still open */
	bool open_ro;	    /* ... and is READ ONLY (and not SERIALIZABLE) */
	bool just_begun;    /* the previous statements were its BEGIN and SET TRANSACTIONs */
	bool first_txn;	    /* ... and it is the one begun by the first statement */
	bool all_session;   /* every statement so far changes session state only */
} TxnTrack;

static void result_verdict(ClassifyResult *res, ClassifyVerdict v, const char *reason)
{
	bool worse = (v == CLASSIFY_WRITE && res->verdict != CLASSIFY_WRITE) ||
		     (v == CLASSIFY_UNSURE && res->verdict == CLASSIFY_READ);
	if (worse) {
		res->verdict = v;
		res->reason = reason;
	}
}

/* BEGIN opens, SET TRANSACTION right after it amends, COMMIT/ROLLBACK close. */
static void result_track_txn(ClassifyResult *res, TxnTrack *tr, const StmtInfo *in)
{
	bool ro = in->modes.read_only && !in->modes.serializable;
	switch (in->txn) {
	case TXN_BEGIN:
		if (tr->open)
			break; /* PostgreSQL only warns; the open transaction keeps its modes */
		tr->open = true;
		tr->open_ro = ro;
		tr->just_begun = true;
		tr->first_txn = res->n_statements == 1;
		return;
	case TXN_SET:
		if (!tr->open || !tr->just_begun)
			break;
		if (in->modes.read_only || in->modes.read_write)
			tr->open_ro = in->modes.read_only;
		if (in->modes.serializable)
			tr->open_ro = false;
		if (tr->first_txn) {
			res->begin_read_only = tr->open_ro;
			res->begin_read_write = res->begin_read_write || in->modes.read_write;
			if (in->modes.read_only)
				res->begin_read_write = false;
		}
		return;
	case TXN_CLOSE:
		tr->open = false;
		break;
	default:
		break;
	}
	tr->just_begun = false;
}

static void result_add(ClassifyResult *res, TxnTrack *tr, const StmtInfo *in)
{
	res->n_statements++;
	if (res->n_statements == 1 && in->txn == TXN_BEGIN) {
		res->begins_transaction = true;
		res->begin_read_only = in->modes.read_only && !in->modes.serializable;
		res->begin_read_write = in->modes.read_write;
	}
	tr->all_txn = tr->all_txn && in->txn != TXN_NONE;
	tr->all_session = tr->all_session && in->session_only;
	result_track_txn(res, tr, in);
	result_verdict(res, in->verdict, in->reason);
	res->calls_functions = res->calls_functions || in->calls_function;
	if (in->default_ro != DEFRO_NONE) {
		res->sets_default_read_only = in->default_ro == DEFRO_ON;
		res->sets_default_read_write = in->default_ro == DEFRO_OFF;
	}
}

static void result_lex_error(ClassifyResult *res, const char *error)
{
	res->verdict = CLASSIFY_UNSURE;
	res->reason = error;
	res->is_transaction_control = false;
	res->begins_transaction = false;
	res->begin_read_only = false;
	res->begin_read_write = false;
	res->sets_default_read_only = false;
	res->sets_default_read_write = false;
}

/* Finds the end of the statement starting at pos: its ';' or the end of the input. */
static bool stmt_find_end(Scan *sc, size_t pos, size_t *end, bool *empty)
{
	*empty = true;
	for (;;) {
		Tok t = lex_token(sc, pos);
		if (t.kind == TK_ERROR)
			return false;
		if (t.kind == TK_EOF || t.kind == TK_SEMI) {
			*end = t.pos;
			return true;
		}
		*empty = false;
		pos = t.pos + t.len;
	}
}

/* One pass over the whole string in the Scan's lexing mode. */
static void classify_pass(Scan *sc, ClassifyResult *res)
{
	TxnTrack tr = { true, false, false, false, false, true };
	size_t pos = 0;
	for (;;) {
		size_t end;
		bool empty;
		if (!stmt_find_end(sc, pos, &end, &empty)) {
			result_lex_error(res, sc->error);
			return;
		}
		if (!empty) {
			StmtInfo info;
			Cursor c = { sc, pos, end };
			stmt_classify(c, 0, &info);
			result_add(res, &tr, &info);
		}
		if (end >= sc->len)
			break;
		pos = end + 1;
	}
	if (tr.open && !tr.open_ro)
		result_verdict(res, CLASSIFY_UNSURE, "explicit transaction without READ ONLY");
	res->is_transaction_control = res->n_statements > 0 && tr.all_txn;
	res->session_only = res->n_statements > 0 && tr.all_session;
}

/* ---------------------------------------------------------------------------------- */
/* hints and the public API                                                            */

static ClassifyHint hint_match(const char *s, size_t n)
{
	while (n > 0 && ch_space((unsigned char)s[0])) {
		s++;
		n--;
	}
	while (n > 0 && ch_space((unsigned char)s[n - 1]))
		n--;
	if (n == 15 && ci_equal(s, "pgsplit:primary", 15))
		return CLASSIFY_HINT_PRIMARY;
	if (n == 15 && ci_equal(s, "pgsplit:replica", 15))
		return CLASSIFY_HINT_REPLICA;
	return CLASSIFY_HINT_NONE;
}

/* The first hint among the comments before the first token. */
static ClassifyHint hint_scan(const char *s, size_t n)
{
	size_t p = 0;
	while (p < n) {
		size_t body, e;
		if (ch_space((unsigned char)s[p])) {
			p++;
			continue;
		}
		if (s[p] == '-' && p + 1 < n && s[p + 1] == '-') {
			e = lex_line_comment_end(s, n, p);
			body = e - p - 2;
		} else if (s[p] == '/' && p + 1 < n && s[p + 1] == '*') {
			e = lex_block_comment_end(s, n, p);
			if (e == LEX_FAIL)
				return CLASSIFY_HINT_NONE;
			body = e - p - 4;
		} else {
			break;
		}
		ClassifyHint h = hint_match(s + p + 2, body);
		if (h != CLASSIFY_HINT_NONE)
			return h;
		p = e;
	}
	return CLASSIFY_HINT_NONE;
}

void classify_sql(const ClassifyConfig *cfg, const char *sql, size_t len, ClassifyResult *out)
{
	memset(out, 0, sizeof(*out));
	out->verdict = CLASSIFY_READ;
	out->hint = hint_scan(sql, len);
	if (len > 0 && memchr(sql, '\0', len)) {
		out->verdict = CLASSIFY_UNSURE;
		out->reason = "NUL byte in query";
		return;
	}
	Scan sc = { sql, len, cfg, false, false, NULL };
	classify_pass(&sc, out);
	/* The server may run with standard_conforming_strings off, where a backslash escapes
	 * a quote in '..'. If that could change where a literal ends, both readings must be
	 * read-only. */
	if (sc.saw_backslash && out->verdict == CLASSIFY_READ) {
		ClassifyResult alt;
		memset(&alt, 0, sizeof(alt));
		Scan sc2 = { sql, len, cfg, true, false, NULL };
		classify_pass(&sc2, &alt);
		if (alt.verdict != CLASSIFY_READ) {
			out->verdict = CLASSIFY_UNSURE;
			out->reason = "backslash in a string literal makes the query ambiguous";
		}
	}
	if (out->verdict == CLASSIFY_READ)
		out->reason = "read-only";
}

const char *classify_verdict_name(ClassifyVerdict verdict)
{
	switch (verdict) {
#define CLASSIFY_CASE_(name, str) \
	case name:                \
		return str;
		CLASSIFY_VERDICTS(CLASSIFY_CASE_)
#undef CLASSIFY_CASE_
	}
	return "?";
}

/* ---------------------------------------------------------------------------------- */
/* configuration                                                                       */

static bool config_is_sep(char c)
{
	return c == ',' || ch_space((unsigned char)c);
}

/* Adds one list entry: [schema.]name[*], either part optionally double-quoted. */
MUST_CHECK static bool config_add(ClassifyConfig *cfg, const char *s, size_t n)
{
	const char *dot = memrchr(s, '.', n);
	if (dot) {
		n -= (size_t)(dot + 1 - s);
		s = dot + 1;
	}
	bool prefix = n > 0 && s[n - 1] == '*';
	if (prefix)
		n--;
	if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
		s++;
		n -= 2;
	}
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!ch_ident_cont((unsigned char)s[i]))
			return false;
	}
	cfg->extra = xrealloc(cfg->extra, (cfg->n_extra + 1) * sizeof(*cfg->extra));
	ExtraFn *f = &cfg->extra[cfg->n_extra++];
	f->name = xmalloc(n + 1);
	for (size_t i = 0; i < n; i++)
		f->name[i] = (char)ch_lower((unsigned char)s[i]);
	f->name[n] = '\0';
	f->len = n;
	f->prefix = prefix;
	static const char lead[] = "write function ";
	f->reason = xmalloc(sizeof(lead) + n + 1);
	memcpy(f->reason, lead, sizeof(lead) - 1);
	memcpy(f->reason + sizeof(lead) - 1, f->name, n);
	strcpy(f->reason + sizeof(lead) - 1 + n, prefix ? "*" : "");
	return true;
}

ClassifyConfig *classify_config_new(const char *extra_write_functions)
{
	ClassifyConfig *cfg = xcalloc(1, sizeof(*cfg));
	const char *p = extra_write_functions ? extra_write_functions : "";
	for (;;) {
		while (*p && config_is_sep(*p))
			p++;
		if (!*p)
			break;
		const char *start = p;
		while (*p && !config_is_sep(*p))
			p++;
		if (!config_add(cfg, start, (size_t)(p - start))) {
			classify_config_free(cfg);
			return NULL;
		}
	}
	return cfg;
}

void classify_config_free(ClassifyConfig *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_extra; i++) {
		free(cfg->extra[i].name);
		free(cfg->extra[i].reason);
	}
	free(cfg->extra);
	free(cfg);
}
