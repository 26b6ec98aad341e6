/*
 * auth_hba_file and auth_ident_file (see hba.h): a tokenizer for pg_hba.conf's record
 * syntax (whitespace-separated fields, comma lists, double quotes, '#' comments,
 * backslash continuation), rule and ident-map builders that reject what the pooler
 * cannot honour with "FILE:LINE: ..." messages, and first-match evaluation. Owns only the
 * parsed rule sets; it never touches sockets, the configuration or the log beyond
 * load-time warnings. Regular expressions (PostgreSQL's '/' names) go through POSIX
 * regcomp after translating the few class escapes (\d \w \s) people use from PostgreSQL.
 */
#include "hba.h"

#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HBA_MAX_INCLUDE_DEPTH 10

/* ---- tokens: one record is a list of fields, each field a comma list of tokens ---- */

typedef struct HbaTok {
	char *text;  /* unquoted content, owned */
	bool quoted; /* any part was in double quotes: keywords lose their meaning */
} HbaTok;

typedef struct HbaField {
	HbaTok *toks;
	int n;
} HbaField;

typedef struct HbaRecord {
	HbaField *fields;
	int n;
} HbaRecord;

/* ---- parsed rules ---- */

typedef enum {
	NAME_LITERAL,
	NAME_ALL,
	NAME_SAMEUSER,
	NAME_SAMEROLE, /* role membership: unknown to the pooler */
	NAME_REPLICATION,
	NAME_GROUP, /* +role: unknown to the pooler */
	NAME_REGEX,
} HbaNameKind;

typedef struct HbaName {
	HbaNameKind kind;
	char *text;  /* the name, the group without '+', or the pattern; owned */
	regex_t *re; /* NAME_REGEX only; owned */
} HbaName;

typedef struct HbaNames {
	HbaName *v;
	int n;
} HbaNames;

typedef enum { COL_DATABASE, COL_USER } HbaColumn;

typedef enum { RULE_LOCAL, RULE_HOST, RULE_HOSTSSL, RULE_HOSTNOSSL } HbaRuleType;

/* A client address range; address and mask in network byte order, 4 bytes for IPv4. */
typedef struct HbaAddr {
	bool any; /* the keyword all */
	int family;
	uint8_t addr[16]; /* already masked */
	uint8_t mask[16];
} HbaAddr;

struct HbaRule {
	HbaRuleType type;
	HbaNames databases;
	HbaNames users;
	HbaAddr addr; /* unused for RULE_LOCAL */
	HbaMethod method;
	char *map; /* map= option or NULL; owned */
	HbaClientCert clientcert;
	int line;
};

struct HbaRules {
	HbaRule *v;
	int n;
};

typedef struct IdentEntry {
	char *map;    /* owned */
	char *system; /* literal system user, or the pattern when re is set; owned */
	regex_t *re;
	HbaName dbuser; /* NAME_LITERAL (may hold \1), NAME_ALL, NAME_GROUP or NAME_REGEX */
	int line;
} IdentEntry;

struct IdentMap {
	IdentEntry *v;
	int n;
};

/* Where parsing is, for "FILE:LINE: ..." messages. */
typedef struct HbaParse {
	const char *file;
	int line;
	char *err;
	size_t errlen;
	int depth;  /* @file nesting */
	bool ident; /* parsing an ident map, not HBA rules (for messages) */
} HbaParse;

typedef enum { TRI_NO, TRI_YES, TRI_UNKNOWN } Tri;

static bool parse_fail(HbaParse *ps, const char *fmt, ...) PRINTF(2, 3);

static bool parse_fail(HbaParse *ps, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (ps->errlen)
		snprintf(ps->err, ps->errlen, "%s:%d: %s", ps->file, ps->line, msg);
	return false;
}

/* ---- reading records: physical lines joined where one ends in a backslash ---- */

typedef struct HbaText {
	char *s;
	size_t len, cap;
} HbaText;

static void text_append(HbaText *t, const char *p, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		t->cap = (t->len + n + 1) * 2;
		t->s = xrealloc(t->s, t->cap);
	}
	memcpy(t->s + t->len, p, n);
	t->len += n;
	t->s[t->len] = '\0';
}

/*
 * The next logical record into rec (reset first); *lineno counts physical lines and
 * *first gets the record's first line. False at end of file.
 */
static bool read_record(FILE *f, HbaText *rec, int *lineno, int *first)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	bool got = false;
	rec->len = 0;
	text_append(rec, "", 0);
	while ((n = getline(&line, &cap, f)) >= 0) {
		(*lineno)++;
		if (!got)
			*first = *lineno;
		got = true;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			n--;
		bool more = n > 0 && line[n - 1] == '\\';
		text_append(rec, line, (size_t)(more ? n - 1 : n));
		if (!more)
			break;
	}
	free(line);
	return got;
}

/* ---- tokenizer ---- */

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static const char *skip_blank(const char *p)
{
	while (is_blank(*p))
		p++;
	return p;
}

/*
 * One token at *pp. Quotes may cover all or part of it. It ends at an unquoted blank,
 * comma or '#'; *comma tells whether a comma (possibly after blanks) continues the list.
 */
static bool read_token(const char **pp, HbaTok *tok, bool *comma)
{
	const char *p = *pp;
	char *out = xmalloc(strlen(p) + 1);
	size_t n = 0;
	bool in_quote = false;
	tok->quoted = false;
	for (; *p; p++) {
		if (*p == '"') {
			in_quote = !in_quote;
			tok->quoted = true;
			continue;
		}
		if (!in_quote && (is_blank(*p) || *p == ',' || *p == '#'))
			break;
		out[n++] = *p;
	}
	out[n] = '\0';
	tok->text = xrealloc(out, n + 1);
	const char *q = skip_blank(p);
	*comma = *q == ',';
	*pp = *comma ? q + 1 : p;
	return !in_quote;
}

static void field_free(HbaField *f)
{
	for (int i = 0; i < f->n; i++)
		free(f->toks[i].text);
	free(f->toks);
	f->toks = NULL;
	f->n = 0;
}

static void record_free(HbaRecord *rec)
{
	for (int i = 0; i < rec->n; i++)
		field_free(&rec->fields[i]);
	free(rec->fields);
	rec->fields = NULL;
	rec->n = 0;
}

static bool read_field(HbaParse *ps, const char **pp, HbaField *f)
{
	bool comma;
	do {
		*pp = skip_blank(*pp);
		if (f->n > 0 && (**pp == '\0' || **pp == '#'))
			return true; /* a trailing comma, tolerated as PostgreSQL does */
		HbaTok tok;
		bool closed = read_token(pp, &tok, &comma);
		f->toks = xrealloc(f->toks, sizeof(*f->toks) * (size_t)(f->n + 1));
		f->toks[f->n++] = tok;
		if (!closed)
			return parse_fail(ps, "unterminated quoted string");
		if (!tok.quoted && tok.text[0] == '\0')
			return parse_fail(ps, "empty element in a comma-separated list");
	} while (comma);
	return true;
}

/* Split one logical record into fields. An empty or comment-only record has none. */
static bool tokenize_record(HbaParse *ps, const char *text, HbaRecord *rec)
{
	const char *p = text;
	rec->fields = NULL;
	rec->n = 0;
	for (;;) {
		p = skip_blank(p);
		if (*p == '\0' || *p == '#')
			return true;
		rec->fields = xrealloc(rec->fields, sizeof(*rec->fields) * (size_t)(rec->n + 1));
		HbaField *f = &rec->fields[rec->n++];
		f->toks = NULL;
		f->n = 0;
		if (!read_field(ps, &p, f))
			return false;
	}
}

/* ---- regular expressions ---- */

/*
 * PostgreSQL's regular expressions are Tcl AREs; POSIX EREs lack \d \w \s, which glibc
 * would silently read as literal letters. Rewrite them to bracket classes so a pattern
 * taken from a pg_hba.conf means the same here, and refuse escapes inside brackets whose
 * meaning differs between the two dialects.
 */
static const char *class_body(char c)
{
	switch (c) {
	case 'd':
	case 'D':
		return "0-9";
	case 'w':
	case 'W':
		return "[:alnum:]_";
	case 's':
	case 'S':
		return "[:space:]";
	}
	return NULL;
}

/* Copy a bracket expression starting at src[i] == '['; returns the index after it. */
static size_t copy_bracket(const char *src, size_t i, HbaText *out, bool *ok)
{
	text_append(out, &src[i++], 1);
	if (src[i] == '^')
		text_append(out, &src[i++], 1);
	if (src[i] == ']')
		text_append(out, &src[i++], 1);
	while (src[i] && src[i] != ']') {
		if (src[i] == '[' &&
		    (src[i + 1] == ':' || src[i + 1] == '.' || src[i + 1] == '=')) {
			const char end[3] = { src[i + 1], ']', '\0' };
			const char *close = strstr(src + i + 2, end);
			size_t stop = close ? (size_t)(close - src) + 2 : strlen(src);
			text_append(out, src + i, stop - i);
			i = stop;
		} else if (src[i] == '\\') {
			const char *body = class_body(src[i + 1]);
			if (!body || (src[i + 1] >= 'A' && src[i + 1] <= 'Z')) {
				*ok = false;
				return i;
			}
			text_append(out, body, strlen(body));
			i += 2;
		} else {
			text_append(out, &src[i++], 1);
		}
	}
	if (src[i] == ']')
		text_append(out, &src[i++], 1);
	return i;
}

static bool regex_translate(const char *src, HbaText *out)
{
	size_t i = 0;
	bool ok = true;
	text_append(out, "", 0);
	while (src[i] && ok) {
		if (src[i] == '[') {
			i = copy_bracket(src, i, out, &ok);
		} else if (src[i] == '\\' && class_body(src[i + 1])) {
			bool negate = src[i + 1] >= 'A' && src[i + 1] <= 'Z';
			text_append(out, negate ? "[^" : "[", negate ? 2 : 1);
			text_append(out, class_body(src[i + 1]), strlen(class_body(src[i + 1])));
			text_append(out, "]", 1);
			i += 2;
		} else if (src[i] == '\\' && src[i + 1]) {
			text_append(out, src + i, 2);
			i += 2;
		} else {
			text_append(out, &src[i++], 1);
		}
	}
	return ok;
}

static bool regex_compile(HbaParse *ps, const char *pattern, regex_t **out)
{
	HbaText t = { 0 };
	if (!regex_translate(pattern, &t)) {
		free(t.s);
		return parse_fail(
			ps,
			"regular expression '/%s': backslash escapes inside [] other than "
			"\\d \\w \\s are not supported",
			pattern);
	}
	regex_t *re = xmalloc(sizeof(*re));
	int rc = regcomp(re, t.s, REG_EXTENDED);
	free(t.s);
	if (rc != 0) {
		char why[128];
		regerror(rc, re, why, sizeof(why));
		free(re);
		return parse_fail(ps, "invalid regular expression '/%s': %s", pattern, why);
	}
	*out = re;
	return true;
}

static void regex_free(regex_t *re)
{
	if (re) {
		regfree(re);
		free(re);
	}
}

/* ---- database and user columns ---- */

static void name_free(HbaName *n)
{
	free(n->text);
	regex_free(n->re);
}

static void names_free(HbaNames *names)
{
	for (int i = 0; i < names->n; i++)
		name_free(&names->v[i]);
	free(names->v);
	names->v = NULL;
	names->n = 0;
}

static void warn_membership(HbaParse *ps, const char *what)
{
	if (ps->ident)
		log_warning("%s:%d: %s needs role membership, which the pooler does not know: "
			    "this line never grants access",
			    ps->file, ps->line, what);
	else
		log_warning(
			"%s:%d: %s needs role membership, which the pooler does not know: "
			"the rule applies only if its method is reject, otherwise it is skipped",
			ps->file, ps->line, what);
}

/* Keywords of a column: only unquoted words are keywords. */
static HbaNameKind name_kind(HbaColumn col, const HbaTok *tok)
{
	const char *t = tok->text;
	if (tok->quoted)
		return NAME_LITERAL;
	if (strcmp(t, "all") == 0)
		return NAME_ALL;
	if (t[0] == '/')
		return NAME_REGEX;
	if (col == COL_USER)
		return t[0] == '+' ? NAME_GROUP : NAME_LITERAL;
	if (strcmp(t, "sameuser") == 0)
		return NAME_SAMEUSER;
	if (strcmp(t, "samerole") == 0 || strcmp(t, "samegroup") == 0)
		return NAME_SAMEROLE;
	if (strcmp(t, "replication") == 0)
		return NAME_REPLICATION;
	return NAME_LITERAL;
}

static bool name_from_token(HbaParse *ps, HbaColumn col, const HbaTok *tok, HbaName *out)
{
	out->kind = name_kind(col, tok);
	out->re = NULL;
	out->text = NULL;
	const char *t = tok->text;
	if (out->kind == NAME_REGEX && !regex_compile(ps, t + 1, &out->re))
		return false;
	if (out->kind == NAME_GROUP) {
		if (t[1] == '\0')
			return parse_fail(ps, "'+' must be followed by a role name");
		warn_membership(ps, t);
		t++;
	}
	if (out->kind == NAME_SAMEROLE)
		warn_membership(ps, t);
	out->text = xstrdup(t);
	return true;
}

static bool names_add_token(HbaParse *ps, HbaColumn col, const HbaTok *tok, HbaNames *names);

/* "@name" relative to the directory of the file that mentions it. */
static char *include_path(const char *referrer, const char *name)
{
	const char *slash = strrchr(referrer, '/');
	if (name[0] == '/' || !slash)
		return xstrdup(name);
	size_t dirlen = (size_t)(slash - referrer) + 1;
	char *p = xmalloc(dirlen + strlen(name) + 1);
	memcpy(p, referrer, dirlen);
	strcpy(p + dirlen, name);
	return p;
}

static bool names_add_record(HbaParse *ps, HbaColumn col, const HbaRecord *rec, HbaNames *names)
{
	for (int i = 0; i < rec->n; i++)
		for (int j = 0; j < rec->fields[i].n; j++)
			if (!names_add_token(ps, col, &rec->fields[i].toks[j], names))
				return false;
	return true;
}

/* Names listed in an @file: blank or comma separated, comments allowed, may nest. */
static bool names_include(HbaParse *ps, HbaColumn col, const char *name, HbaNames *names)
{
	if (name[0] == '\0')
		return parse_fail(ps, "'@' must be followed by a file name");
	if (ps->depth >= HBA_MAX_INCLUDE_DEPTH)
		return parse_fail(ps, "@%s: @file nesting deeper than %d", name,
				  HBA_MAX_INCLUDE_DEPTH);
	char *path = include_path(ps->file, name);
	FILE *f = fopen(path, "r");
	if (!f) {
		parse_fail(ps, "cannot open @file '%s': %s", path, strerror(errno));
		free(path);
		return false;
	}
	HbaParse sub = { path, 0, ps->err, ps->errlen, ps->depth + 1, ps->ident };
	HbaText text = { 0 };
	int lineno = 0;
	bool ok = true;
	while (ok && read_record(f, &text, &lineno, &sub.line)) {
		HbaRecord rec;
		ok = tokenize_record(&sub, text.s, &rec) &&
		     names_add_record(&sub, col, &rec, names);
		record_free(&rec);
	}
	fclose(f);
	free(text.s);
	free(path);
	return ok;
}

static bool names_add_token(HbaParse *ps, HbaColumn col, const HbaTok *tok, HbaNames *names)
{
	if (!tok->quoted && tok->text[0] == '@')
		return names_include(ps, col, tok->text + 1, names);
	HbaName name;
	if (!name_from_token(ps, col, tok, &name))
		return false;
	names->v = xrealloc(names->v, sizeof(*names->v) * (size_t)(names->n + 1));
	names->v[names->n++] = name;
	return true;
}

static bool names_parse(HbaParse *ps, HbaColumn col, const HbaField *field, HbaNames *names)
{
	for (int i = 0; i < field->n; i++)
		if (!names_add_token(ps, col, &field->toks[i], names))
			return false;
	/* Only an empty @file gets here; PostgreSQL lets such a rule match nothing. */
	if (names->n == 0)
		log_warning("%s:%d: the %s list is empty: the rule never matches", ps->file,
			    ps->line, col == COL_DATABASE ? "database" : "user");
	return true;
}

/* ---- address column ---- */

static bool addr_parse_ip(const char *text, int *family, uint8_t *bytes)
{
	if (inet_pton(AF_INET, text, bytes) == 1) {
		*family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, text, bytes) == 1) {
		*family = AF_INET6;
		return true;
	}
	return false;
}

static int addr_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

static void addr_apply_mask(HbaAddr *a)
{
	for (int i = 0; i < addr_len(a->family); i++)
		a->addr[i] &= a->mask[i];
}

static bool addr_parse_cidr(HbaParse *ps, const char *text, HbaAddr *a)
{
	char host[64];
	const char *slash = strchr(text, '/');
	size_t hlen = (size_t)(slash - text);
	bool ok = hlen < sizeof(host);
	if (ok) {
		memcpy(host, text, hlen);
		host[hlen] = '\0';
		ok = addr_parse_ip(host, &a->family, a->addr);
	}
	if (!ok)
		return parse_fail(ps, "invalid IP address '%.*s' (host names are not supported)",
				  (int)hlen, text);
	int maxbits = addr_len(a->family) * 8, bits = 0;
	const char *p = slash + 1;
	if (*p == '\0')
		return parse_fail(ps, "invalid CIDR mask in '%s'", text);
	for (; *p; p++) {
		if (*p < '0' || *p > '9' || (bits = bits * 10 + (*p - '0')) > maxbits)
			return parse_fail(ps, "invalid CIDR mask in '%s' (expected 0 to %d bits)",
					  text, maxbits);
	}
	memset(a->mask, 0, sizeof(a->mask));
	for (int i = 0; i < bits; i++)
		a->mask[i / 8] |= (uint8_t)(0x80 >> (i % 8));
	addr_apply_mask(a);
	return true;
}

/* A separate netmask field: same family, and contiguous (anything else is a typo). */
static bool addr_parse_mask(HbaParse *ps, const char *text, HbaAddr *a)
{
	int family;
	if (!addr_parse_ip(text, &family, a->mask) || family != a->family)
		return parse_fail(ps,
				  "invalid netmask '%s' (an address without /bits must be followed "
				  "by a netmask of the same family)",
				  text);
	bool zero_seen = false;
	for (int i = 0; i < addr_len(family) * 8; i++) {
		bool bit = a->mask[i / 8] & (0x80 >> (i % 8));
		if (bit && zero_seen)
			return parse_fail(ps, "netmask '%s' is not contiguous", text);
		zero_seen = zero_seen || !bit;
	}
	addr_apply_mask(a);
	return true;
}

static const HbaTok *single_token(HbaParse *ps, const HbaField *f, const char *what)
{
	if (f->n != 1) {
		parse_fail(ps, "the %s field must be a single value, not a list", what);
		return NULL;
	}
	return &f->toks[0];
}

/* Parses the address at fields[*i] (and a netmask after it); advances *i. */
static bool addr_parse(HbaParse *ps, const HbaRecord *rec, int *i, HbaAddr *a)
{
	memset(a, 0, sizeof(*a));
	if (*i >= rec->n)
		return parse_fail(ps, "end of line before the client address");
	const HbaTok *tok = single_token(ps, &rec->fields[(*i)++], "address");
	if (!tok)
		return false;
	const char *t = tok->text;
	if (!tok->quoted && strcmp(t, "all") == 0)
		return a->any = true;
	if (!tok->quoted && (strcmp(t, "samehost") == 0 || strcmp(t, "samenet") == 0))
		return parse_fail(ps, "address '%s' is not supported", t);
	if (strchr(t, '/'))
		return addr_parse_cidr(ps, t, a);
	if (!addr_parse_ip(t, &a->family, a->addr))
		return parse_fail(ps, "invalid IP address '%s' (host names are not supported)", t);
	if (*i >= rec->n)
		return parse_fail(ps, "end of line before the netmask of '%s'", t);
	const HbaTok *mask = single_token(ps, &rec->fields[(*i)++], "netmask");
	return mask && addr_parse_mask(ps, mask->text, a);
}

/* ---- method and options ---- */

static const struct {
	const char *name;
	HbaMethod method;
} method_names[] = {
	{ "trust", HBA_METHOD_TRUST },	     { "reject", HBA_METHOD_REJECT },
	{ "md5", HBA_METHOD_MD5 },	     { "scram-sha-256", HBA_METHOD_SCRAM },
	{ "password", HBA_METHOD_PASSWORD }, { "cert", HBA_METHOD_CERT },
	{ "peer", HBA_METHOD_PEER },
};

const char *hba_method_name(HbaMethod method)
{
	for (size_t i = 0; i < ARRAY_SIZE(method_names); i++)
		if (method_names[i].method == method)
			return method_names[i].name;
	return "unknown";
}

static bool method_parse(HbaParse *ps, const HbaTok *tok, HbaRule *rule)
{
	for (size_t i = 0; i < ARRAY_SIZE(method_names); i++) {
		if (!tok->quoted && strcmp(tok->text, method_names[i].name) == 0) {
			rule->method = method_names[i].method;
			return true;
		}
	}
	/* PostgreSQL itself turns ident on a Unix socket into peer. */
	if (!tok->quoted && strcmp(tok->text, "ident") == 0 && rule->type == RULE_LOCAL) {
		rule->method = HBA_METHOD_PEER;
		return true;
	}
	static const char *const known[] = { "ident", "gss", "sspi",  "ldap", "radius",
					     "pam",   "bsd", "oauth", "any",  "plain" };
	for (size_t i = 0; i < ARRAY_SIZE(known); i++)
		if (strcmp(tok->text, known[i]) == 0)
			return parse_fail(ps, "authentication method '%s' is not supported here",
					  tok->text);
	return parse_fail(ps,
			  "unknown authentication method '%s' (expected trust, reject, md5, "
			  "scram-sha-256, password, cert or peer)",
			  tok->text);
}

static bool option_clientcert(HbaParse *ps, const char *value, HbaRule *rule)
{
	if (strcmp(value, "verify-ca") == 0)
		rule->clientcert = HBA_CLIENTCERT_VERIFY_CA;
	else if (strcmp(value, "verify-full") == 0)
		rule->clientcert = HBA_CLIENTCERT_VERIFY_FULL;
	else
		return parse_fail(
			ps, "invalid clientcert value '%s' (expected verify-ca or verify-full)",
			value);
	return true;
}

static bool option_parse(HbaParse *ps, const HbaField *f, HbaRule *rule)
{
	const HbaTok *tok = single_token(ps, f, "option");
	if (!tok)
		return false;
	const char *eq = strchr(tok->text, '=');
	if (!eq || eq == tok->text)
		return parse_fail(ps, "authentication option '%s' is not of the form name=value",
				  tok->text);
	size_t nlen = (size_t)(eq - tok->text);
	const char *value = eq + 1;
	if (nlen == 3 && strncmp(tok->text, "map", 3) == 0) {
		free(rule->map);
		rule->map = xstrdup(value);
		return true;
	}
	if (nlen == 10 && strncmp(tok->text, "clientcert", 10) == 0)
		return option_clientcert(ps, value, rule);
	if (nlen == 10 && strncmp(tok->text, "clientname", 10) == 0) {
		if (strcmp(value, "CN") == 0)
			return true;
		return parse_fail(ps, "clientname=%s is not supported (only CN)", value);
	}
	return parse_fail(ps, "unknown authentication option '%.*s'", (int)nlen, tok->text);
}

/* Combinations PostgreSQL refuses, refused the same way. */
static bool rule_validate(HbaParse *ps, HbaRule *r)
{
	if (r->method == HBA_METHOD_PEER && r->type != RULE_LOCAL)
		return parse_fail(ps, "peer authentication is only supported on local connections");
	if (r->method == HBA_METHOD_CERT && r->type != RULE_HOSTSSL)
		return parse_fail(ps,
				  "cert authentication is only supported on hostssl connections");
	if (r->clientcert != HBA_CLIENTCERT_NONE && r->type != RULE_HOSTSSL)
		return parse_fail(ps, "clientcert is only supported on hostssl connections");
	if (r->method == HBA_METHOD_CERT && r->clientcert == HBA_CLIENTCERT_VERIFY_CA)
		return parse_fail(ps,
				  "clientcert=verify-ca cannot be used with cert authentication");
	if (r->map && r->method != HBA_METHOD_CERT && r->method != HBA_METHOD_PEER)
		return parse_fail(ps, "option map is only valid for cert and peer authentication");
	if (r->method == HBA_METHOD_CERT)
		r->clientcert = HBA_CLIENTCERT_VERIFY_FULL;
	return true;
}

/* ---- rules ---- */

static bool rule_type_parse(HbaParse *ps, const HbaField *f, HbaRuleType *type)
{
	static const char *const names[] = { "local", "host", "hostssl", "hostnossl" };
	const HbaTok *tok = single_token(ps, f, "connection type");
	if (!tok)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (!tok->quoted && strcmp(tok->text, names[i]) == 0) {
			*type = (HbaRuleType)i;
			return true;
		}
	}
	if (strncmp(tok->text, "include", 7) == 0)
		return parse_fail(ps, "'%s' directives are not supported", tok->text);
	if (strcmp(tok->text, "hostgssenc") == 0 || strcmp(tok->text, "hostnogssenc") == 0)
		return parse_fail(ps, "connection type '%s' is not supported", tok->text);
	return parse_fail(
		ps, "invalid connection type '%s' (expected local, host, hostssl or hostnossl)",
		tok->text);
}

static void rule_free(HbaRule *r)
{
	names_free(&r->databases);
	names_free(&r->users);
	free(r->map);
}

static bool rule_parse(HbaParse *ps, const HbaRecord *rec, HbaRule *r)
{
	int i = 1;
	memset(r, 0, sizeof(*r));
	r->line = ps->line;
	if (!rule_type_parse(ps, &rec->fields[0], &r->type))
		return false;
	if (i >= rec->n)
		return parse_fail(ps, "end of line before the database list");
	if (!names_parse(ps, COL_DATABASE, &rec->fields[i++], &r->databases))
		return false;
	if (i >= rec->n)
		return parse_fail(ps, "end of line before the user list");
	if (!names_parse(ps, COL_USER, &rec->fields[i++], &r->users))
		return false;
	if (r->type != RULE_LOCAL && !addr_parse(ps, rec, &i, &r->addr))
		return false;
	if (i >= rec->n)
		return parse_fail(ps, "end of line before the authentication method");
	const HbaTok *method = single_token(ps, &rec->fields[i++], "authentication method");
	if (!method || !method_parse(ps, method, r))
		return false;
	while (i < rec->n)
		if (!option_parse(ps, &rec->fields[i++], r))
			return false;
	return rule_validate(ps, r);
}

static bool rules_add_record(HbaParse *ps, const char *text, HbaRules *rules)
{
	HbaRecord rec;
	HbaRule rule;
	bool ok = tokenize_record(ps, text, &rec);
	if (ok && rec.n > 0) {
		ok = rule_parse(ps, &rec, &rule);
		if (ok) {
			rules->v = xrealloc(rules->v, sizeof(*rules->v) * (size_t)(rules->n + 1));
			rules->v[rules->n++] = rule;
		} else {
			rule_free(&rule);
		}
	}
	record_free(&rec);
	return ok;
}

HbaRules *hba_load(const char *path, char *err, size_t errlen)
{
	HbaParse ps = { path, 0, err, errlen, 0, false };
	FILE *f = fopen(path, "r");
	if (!f) {
		if (errlen)
			snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	HbaRules *rules = xcalloc(1, sizeof(*rules));
	HbaText text = { 0 };
	int lineno = 0;
	bool ok = true;
	while (ok && read_record(f, &text, &lineno, &ps.line))
		ok = rules_add_record(&ps, text.s, rules);
	fclose(f);
	free(text.s);
	if (!ok) {
		hba_free(rules);
		return NULL;
	}
	if (rules->n == 0)
		log_warning("%s: no rules: every connection will be rejected", path);
	return rules;
}

void hba_free(HbaRules *rules)
{
	if (!rules)
		return;
	for (int i = 0; i < rules->n; i++)
		rule_free(&rules->v[i]);
	free(rules->v);
	free(rules);
}

int hba_rule_count(const HbaRules *rules)
{
	return rules ? rules->n : 0;
}

/* ---- matching ---- */

static bool regex_matches(const regex_t *re, const char *s)
{
	return regexec(re, s, 0, NULL, 0) == 0;
}

/* One database-column entry; database is NULL for a physical replication connection. */
static Tri database_name_match(const HbaName *n, const char *database, const char *user)
{
	if (!database)
		return n->kind == NAME_REPLICATION ? TRI_YES : TRI_NO;
	switch (n->kind) {
	case NAME_ALL:
		return TRI_YES;
	case NAME_SAMEUSER:
		return strcmp(database, user) == 0 ? TRI_YES : TRI_NO;
	case NAME_SAMEROLE:
		return TRI_UNKNOWN;
	case NAME_REGEX:
		return regex_matches(n->re, database) ? TRI_YES : TRI_NO;
	case NAME_LITERAL:
		return strcmp(database, n->text) == 0 ? TRI_YES : TRI_NO;
	default:
		return TRI_NO;
	}
}

static Tri user_name_match(const HbaName *n, const char *user)
{
	switch (n->kind) {
	case NAME_ALL:
		return TRI_YES;
	case NAME_GROUP:
		return TRI_UNKNOWN;
	case NAME_REGEX:
		return regex_matches(n->re, user) ? TRI_YES : TRI_NO;
	case NAME_LITERAL:
		return strcmp(user, n->text) == 0 ? TRI_YES : TRI_NO;
	default:
		return TRI_NO;
	}
}

/* A list matches if any entry does; "unknown" only if none does and one might. */
static Tri names_match(const HbaNames *names, HbaColumn col, const char *database, const char *user)
{
	Tri result = TRI_NO;
	for (int i = 0; i < names->n; i++) {
		Tri t = col == COL_DATABASE ? database_name_match(&names->v[i], database, user)
					    : user_name_match(&names->v[i], user);
		if (t == TRI_YES)
			return TRI_YES;
		if (t == TRI_UNKNOWN)
			result = TRI_UNKNOWN;
	}
	return result;
}

static bool type_matches(HbaRuleType rule, HbaConnType conn)
{
	switch (rule) {
	case RULE_LOCAL:
		return conn == HBA_CONN_LOCAL;
	case RULE_HOST:
		return conn != HBA_CONN_LOCAL;
	case RULE_HOSTSSL:
		return conn == HBA_CONN_HOST_SSL;
	case RULE_HOSTNOSSL:
		return conn == HBA_CONN_HOST_NOSSL;
	}
	return false;
}

/*
 * The client's address in the rule's family: an IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d) is compared as a.b.c.d with IPv4 rules and as itself with IPv6 rules.
 */
static bool sockaddr_bytes(const struct sockaddr *sa, int family, uint8_t *bytes)
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	if (sa->sa_family == AF_INET) {
		memcpy(bytes, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return family == AF_INET;
	}
	const uint8_t *a6 = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
	if (family == AF_INET6) {
		memcpy(bytes, a6, 16);
		return true;
	}
	memcpy(bytes, a6 + 12, 4);
	return memcmp(a6, v4mapped, 12) == 0;
}

static bool addr_matches(const HbaAddr *a, const struct sockaddr *sa)
{
	uint8_t bytes[16];
	if (!sa || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
		return false;
	if (a->any)
		return true;
	if (!sockaddr_bytes(sa, a->family, bytes))
		return false;
	for (int i = 0; i < addr_len(a->family); i++)
		if ((bytes[i] & a->mask[i]) != a->addr[i])
			return false;
	return true;
}

/*
 * First match. A rule whose database or user entry depends on role membership
 * (+group, samerole) is taken only when it is a reject rule: so the outcome is never more
 * permissive than PostgreSQL's would be, whatever the memberships are.
 */
static const HbaRule *match_rules(const HbaRules *rules, HbaConnType type,
				  const struct sockaddr *addr, const char *database,
				  const char *user)
{
	if (!rules || !user)
		return NULL;
	for (int i = 0; i < rules->n; i++) {
		const HbaRule *r = &rules->v[i];
		if (!type_matches(r->type, type))
			continue;
		if (r->type != RULE_LOCAL && !addr_matches(&r->addr, addr))
			continue;
		Tri db = names_match(&r->databases, COL_DATABASE, database, user);
		Tri us = names_match(&r->users, COL_USER, database, user);
		if (db == TRI_NO || us == TRI_NO)
			continue;
		if ((db == TRI_UNKNOWN || us == TRI_UNKNOWN) && r->method != HBA_METHOD_REJECT)
			continue;
		return r;
	}
	return NULL;
}

const HbaRule *hba_match(const HbaRules *rules, HbaConnType type, const struct sockaddr *addr,
			 const char *database, const char *user)
{
	if (!database)
		return NULL;
	return match_rules(rules, type, addr, database, user);
}

const HbaRule *hba_match_replication(const HbaRules *rules, HbaConnType type,
				     const struct sockaddr *addr, const char *user)
{
	return match_rules(rules, type, addr, NULL, user);
}

HbaMethod hba_rule_method(const HbaRule *rule)
{
	return rule->method;
}

const char *hba_rule_map(const HbaRule *rule)
{
	return rule->map;
}

HbaClientCert hba_rule_clientcert(const HbaRule *rule)
{
	return rule->clientcert;
}

int hba_rule_line(const HbaRule *rule)
{
	return rule->line;
}

/* ---- ident maps ---- */

static void ident_entry_free(IdentEntry *e)
{
	free(e->map);
	free(e->system);
	regex_free(e->re);
	name_free(&e->dbuser);
}

static bool ident_entry_system(HbaParse *ps, const HbaTok *tok, IdentEntry *e)
{
	if (!tok->quoted && tok->text[0] == '/' && !regex_compile(ps, tok->text + 1, &e->re))
		return false;
	e->system = xstrdup(e->re ? tok->text + 1 : tok->text);
	return true;
}

static bool ident_entry_parse(HbaParse *ps, const HbaRecord *rec, IdentEntry *e)
{
	const HbaTok *tok[3];
	memset(e, 0, sizeof(*e));
	e->line = ps->line;
	const HbaTok *first = &rec->fields[0].toks[0];
	if (!first->quoted && strncmp(first->text, "include", 7) == 0)
		return parse_fail(ps, "'%s' directives are not supported", first->text);
	if (rec->n != 3)
		return parse_fail(ps,
				  "expected MAPNAME SYSTEM-USERNAME DATABASE-USERNAME, found %d "
				  "field%s",
				  rec->n, rec->n == 1 ? "" : "s");
	for (int i = 0; i < 3; i++)
		if (!(tok[i] =
			      single_token(ps, &rec->fields[i], i == 0 ? "map name" : "user name")))
			return false;
	e->map = xstrdup(tok[0]->text);
	if (!ident_entry_system(ps, tok[1], e) ||
	    !name_from_token(ps, COL_USER, tok[2], &e->dbuser))
		return false;
	bool uses_group = e->dbuser.kind == NAME_LITERAL && strstr(e->dbuser.text, "\\1");
	if (uses_group && e->re && e->re->re_nsub < 1)
		return parse_fail(ps, "\\1 used but the regular expression '/%s' has no group",
				  e->system);
	return true;
}

static bool ident_add_record(HbaParse *ps, const char *text, IdentMap *map)
{
	HbaRecord rec;
	IdentEntry e;
	bool ok = tokenize_record(ps, text, &rec);
	if (ok && rec.n > 0) {
		ok = ident_entry_parse(ps, &rec, &e);
		if (ok) {
			map->v = xrealloc(map->v, sizeof(*map->v) * (size_t)(map->n + 1));
			map->v[map->n++] = e;
		} else {
			ident_entry_free(&e);
		}
	}
	record_free(&rec);
	return ok;
}

IdentMap *ident_load(const char *path, char *err, size_t errlen)
{
	HbaParse ps = { path, 0, err, errlen, 0, true };
	FILE *f = fopen(path, "r");
	if (!f) {
		if (errlen)
			snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	IdentMap *map = xcalloc(1, sizeof(*map));
	HbaText text = { 0 };
	int lineno = 0;
	bool ok = true;
	while (ok && read_record(f, &text, &lineno, &ps.line))
		ok = ident_add_record(&ps, text.s, map);
	fclose(f);
	free(text.s);
	if (!ok) {
		ident_free(map);
		return NULL;
	}
	return map;
}

void ident_free(IdentMap *map)
{
	if (!map)
		return;
	for (int i = 0; i < map->n; i++)
		ident_entry_free(&map->v[i]);
	free(map->v);
	free(map);
}

/* DATABASE-USERNAME with the first \1 replaced by the regex's first group, as PostgreSQL. */
static bool ident_substituted_equals(const char *pattern, const char *system_user,
				     const regmatch_t *group, const char *db_user)
{
	const char *at = strstr(pattern, "\\1");
	if (group->rm_so < 0)
		return false;
	size_t pre = (size_t)(at - pattern), glen = (size_t)(group->rm_eo - group->rm_so);
	size_t post = strlen(at + 2);
	if (strlen(db_user) != pre + glen + post)
		return false;
	return strncmp(db_user, pattern, pre) == 0 &&
	       strncmp(db_user + pre, system_user + group->rm_so, glen) == 0 &&
	       strcmp(db_user + pre + glen, at + 2) == 0;
}

static bool ident_entry_matches(const IdentEntry *e, const char *system_user, const char *db_user)
{
	regmatch_t m[2];
	if (!e->re) {
		if (strcmp(e->system, system_user) != 0)
			return false;
	} else if (regexec(e->re, system_user, 2, m, 0) != 0) {
		return false;
	} else if (e->dbuser.kind == NAME_LITERAL && strstr(e->dbuser.text, "\\1")) {
		return ident_substituted_equals(e->dbuser.text, system_user, &m[1], db_user);
	}
	/* +group is "unknown": a map only grants, so unknown means no. */
	return user_name_match(&e->dbuser, db_user) == TRI_YES;
}

bool ident_check(const IdentMap *idents, const char *map, const char *system_user,
		 const char *db_user)
{
	if (!idents || !map || !system_user || !db_user)
		return false;
	for (int i = 0; i < idents->n; i++) {
		const IdentEntry *e = &idents->v[i];
		if (strcmp(e->map, map) == 0 && ident_entry_matches(e, system_user, db_user))
			return true;
	}
	return false;
}

bool ident_user_allowed(const IdentMap *idents, const char *map, const char *system_user,
			const char *db_user)
{
	if (!system_user || !db_user)
		return false;
	if (!map)
		return strcmp(system_user, db_user) == 0;
	return ident_check(idents, map, system_user, db_user);
}
