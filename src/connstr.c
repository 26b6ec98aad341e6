/*
 * Value syntax of pgbouncer.ini: scalar parsers (integer, seconds, boolean, enumerated
 * names) and the "key=value key='quoted value'" strings of [databases], [users] and
 * [peers] lines, turned into DatabaseDef / UserDef / PeerDef. Each section has a table
 * of the keys it accepts; one generic setter fills a field by its kind and offset.
 * It knows nothing of files or line numbers: config.c prefixes errors with them.
 */
#include "connstr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PEER_ID_MAX 16383
#define PEER_DEFAULT_PORT 6432
#define DB_DEFAULT_PORT 5432
/* Longest accepted duration: 100 years, far beyond any useful timeout, far below overflow. */
#define SECONDS_MAX (100.0 * 365 * 86400)

const ConnstrName connstr_pool_mode_names[] = {
	{ "session", POOL_MODE_SESSION },
	{ "transaction", POOL_MODE_TRANSACTION },
	{ "statement", POOL_MODE_STATEMENT },
	{ NULL, 0 },
};

static const ConnstrName routing_names[] = {
	{ "auto", ROUTING_AUTO },
	{ "primary", ROUTING_PRIMARY },
	{ "replica", ROUTING_REPLICA },
	{ NULL, 0 },
};

static const ConnstrName ryw_names[] = {
	{ "lsn", RYW_LSN },
	{ "window", RYW_WINDOW },
	{ "off", RYW_OFF },
	{ NULL, 0 },
};

static const ConnstrName ryw_scope_names[] = {
	{ "client", RYW_SCOPE_CLIENT },
	{ "user", RYW_SCOPE_USER },
	{ NULL, 0 },
};

static const ConnstrName load_balance_names[] = {
	{ "round-robin", LB_HOSTS_ROUND_ROBIN },
	{ "disable", LB_HOSTS_DISABLE },
	{ NULL, 0 },
};

static const ConnstrName tsa_names[] = {
	{ "any", TSA_ANY },
	{ "read-write", TSA_READ_WRITE },
	{ "read-only", TSA_READ_ONLY },
	{ "primary", TSA_PRIMARY },
	{ "standby", TSA_STANDBY },
	{ "prefer-standby", TSA_PREFER_STANDBY },
	{ NULL, 0 },
};

static void set_err(char *err, size_t errlen, const char *fmt, ...) PRINTF(3, 4);

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- scalar values ---------------------------------------------------------------- */

static const char *skip_blanks(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

static bool only_blanks(const char *s)
{
	return *skip_blanks(s) == '\0';
}

bool connstr_parse_int(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	s = skip_blanks(s);
	if (!isdigit((unsigned char)*s) &&
	    !((*s == '-' || *s == '+') && isdigit((unsigned char)s[1])))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || !only_blanks(end) || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* Multiplier to microseconds for a unit suffix; "" means seconds. */
static bool unit_factor(const char *unit, double *factor)
{
	static const struct {
		const char *name;
		double factor;
	} units[] = {
		{ "", 1e6 },   { "s", 1e6 },    { "sec", 1e6 },  { "ms", 1e3 },
		{ "us", 1.0 }, { "min", 60e6 }, { "h", 3600e6 }, { "d", 86400e6 },
	};
	char buf[8];
	size_t n = 0;

	while (unit[n] && unit[n] != ' ' && unit[n] != '\t' && n < sizeof(buf) - 1) {
		buf[n] = unit[n];
		n++;
	}
	buf[n] = '\0';
	if (!only_blanks(unit + n))
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcasecmp(buf, units[i].name) == 0) {
			*factor = units[i].factor;
			return true;
		}
	}
	return false;
}

bool connstr_parse_seconds(const char *s, usec_t *out)
{
	char *end;
	double v, factor;

	s = skip_blanks(s);
	/* strtod alone would also take "inf", "nan", hex and a sign */
	if (!isdigit((unsigned char)*s) && !(*s == '.' && isdigit((unsigned char)s[1])))
		return false;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || !isfinite(v))
		return false;
	if (!unit_factor(skip_blanks(end), &factor))
		return false;
	if (v * factor > SECONDS_MAX * 1e6)
		return false;
	*out = (usec_t)(v * factor + 0.5); /* v >= 0: round to nearest */
	return true;
}

bool connstr_parse_bool(const char *s, int *out)
{
	static const ConnstrName words[] = {
		{ "on", 1 },  { "off", 0 }, { "true", 1 }, { "false", 0 },
		{ "yes", 1 }, { "no", 0 },  { NULL, 0 },
	};
	long long v;

	if (connstr_parse_int(s, -2147483647LL, 2147483647LL, &v)) {
		*out = v != 0;
		return true;
	}
	return connstr_lookup_name(words, s, out);
}

bool connstr_lookup_name(const ConnstrName *names, const char *s, int *out)
{
	const char *start = skip_blanks(s);
	size_t len = strlen(start);

	while (len > 0 && (start[len - 1] == ' ' || start[len - 1] == '\t'))
		len--;
	for (const ConnstrName *n = names; n->name; n++) {
		if (strlen(n->name) == len && strncasecmp(n->name, start, len) == 0) {
			*out = n->value;
			return true;
		}
	}
	return false;
}

const char *connstr_name_of(const ConnstrName *names, int value)
{
	for (const ConnstrName *n = names; n->name; n++) {
		if (n->value == value)
			return n->name;
	}
	return NULL;
}

void connstr_format_names(const ConnstrName *names, char *buf, size_t len)
{
	size_t used = 0;

	if (len == 0)
		return;
	buf[0] = '\0';
	for (const ConnstrName *n = names; n->name && used < len; n++) {
		int w = snprintf(buf + used, len - used, "%s%s", n == names ? "" : ", ", n->name);
		if (w < 0)
			break;
		used += (size_t)w;
	}
}

/* ---- hosts ---------------------------------------------------------------------- */

static bool is_ipv6(const char *s)
{
	struct in6_addr a;
	return inet_pton(AF_INET6, s, &a) == 1;
}

/* A host name, an IPv4 address, a bare IPv6 address or a unix socket directory. */
static bool host_valid(const char *h)
{
	if (*h == '/' || *h == '@')
		return h[1] != '\0' || *h == '/';
	if (*h == '\0')
		return false;
	if (strchr(h, ':'))
		return is_ipv6(h);
	for (const char *p = h; *p; p++) {
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != '_')
			return false;
	}
	return true;
}

/* host= may be a comma-separated list (PgBouncer walks it round robin). */
static bool host_list_valid(const char *list)
{
	char *copy = xstrdup(list);
	char *save = NULL;
	bool ok = true;
	size_t n = strlen(list);

	if (n == 0 || list[0] == ',' || list[n - 1] == ',' || strstr(list, ",,"))
		ok = false;
	for (char *h = strtok_r(copy, ",", &save); ok && h; h = strtok_r(NULL, ",", &save))
		ok = host_valid(h);
	free(copy);
	return ok;
}

static bool parse_port(const char *s, int *port)
{
	long long v;
	if (!connstr_parse_int(s, 1, 65535, &v))
		return false;
	*port = (int)v;
	return true;
}

/* Split one replicas element into host and port; element is modified in place. */
static bool replica_split(char *elem, HostPort *hp, char *err, size_t errlen)
{
	char *host = elem;
	char *port = NULL;

	if (*elem == '[') {
		char *close = strchr(elem, ']');
		if (!close || (close[1] != '\0' && close[1] != ':')) {
			set_err(err, errlen, "bad bracketed address '%s'", elem);
			return false;
		}
		*close = '\0';
		host = elem + 1;
		port = close[1] == ':' ? close + 2 : NULL;
		if (!is_ipv6(host)) {
			set_err(err, errlen, "'%s' is not an IPv6 address", host);
			return false;
		}
	} else {
		char *colon = strrchr(elem, ':');
		if (colon && *elem != '/' && *elem != '@' && strchr(elem, ':') != colon) {
			set_err(err, errlen,
				"IPv6 address '%s' must be written in brackets, e.g. [::1]:5432",
				elem);
			return false;
		}
		if (colon) {
			*colon = '\0';
			port = colon + 1;
		}
		if (!host_valid(host)) {
			set_err(err, errlen, "bad host '%s'", host);
			return false;
		}
	}
	hp->port = 0;
	if (port && !parse_port(port, &hp->port)) {
		set_err(err, errlen, "bad port '%s' for host '%s' (expected 1..65535)", port, host);
		return false;
	}
	hp->host = xstrdup(host);
	return true;
}

static char *trim_in_place(char *s)
{
	char *end;
	s = (char *)skip_blanks(s);
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	return s;
}

static void free_replicas(HostPort *list, int n)
{
	for (int i = 0; i < n; i++)
		free(list[i].host);
	free(list);
}

bool connstr_parse_replicas(const char *value, HostPort **out, int *n_out, char *err, size_t errlen)
{
	char *copy = xstrdup(value);
	HostPort *list = NULL;
	int n = 0;
	char *p = copy;
	bool ok = true;

	while (ok) {
		char *comma = strchr(p, ',');
		char *elem;
		if (comma)
			*comma = '\0';
		elem = trim_in_place(p);
		if (*elem == '\0') {
			set_err(err, errlen, "empty host in list '%s'", value);
			ok = false;
			break;
		}
		list = xrealloc(list, sizeof(*list) * (size_t)(n + 1));
		ok = replica_split(elem, &list[n], err, errlen);
		if (ok)
			n++;
		if (!comma)
			break;
		p = comma + 1;
	}
	free(copy);
	if (!ok) {
		free_replicas(list, n);
		return false;
	}
	*out = list;
	*n_out = n;
	return true;
}

/* ---- key=value tokenizer ------------------------------------------------------------ */

/*
 * Read one key=value pair at *pp. Values may be single-quoted; inside quotes '' and \'
 * stand for a quote and a backslash escapes any character (libpq's rules).
 * Returns 1 for a pair, 0 at end of input, -1 on a syntax error.
 */
static int kv_next(const char **pp, char **key, char **val, char *err, size_t errlen)
{
	const char *p = skip_blanks(*pp);
	const char *kstart;
	char *buf;
	size_t n = 0;

	if (*p == '\0')
		return 0;
	kstart = p;
	while (isalnum((unsigned char)*p) || *p == '_')
		p++;
	if (p == kstart || *skip_blanks(p) != '=') {
		set_err(err, errlen, "expected key=value at '%.40s'", kstart);
		return -1;
	}
	*key = xmalloc((size_t)(p - kstart) + 1);
	memcpy(*key, kstart, (size_t)(p - kstart));
	(*key)[p - kstart] = '\0';
	p = skip_blanks(skip_blanks(p) + 1);
	buf = xmalloc(strlen(p) + 1);
	if (*p == '\'') {
		for (p++;; p++) {
			if (*p == '\0') {
				set_err(err, errlen, "key '%s': unterminated quoted value", *key);
				free(buf);
				free(*key);
				return -1;
			}
			if (*p == '\'' && p[1] == '\'') {
				buf[n++] = *++p;
			} else if (*p == '\\' && p[1] != '\0') {
				buf[n++] = *++p;
			} else if (*p == '\'') {
				p++;
				break;
			} else {
				buf[n++] = *p;
			}
		}
	} else {
		while (*p && *p != ' ' && *p != '\t')
			buf[n++] = *p++;
	}
	buf[n] = '\0';
	*val = buf;
	*pp = p;
	return 1;
}

/* ---- generic field setter -------------------------------------------------------- */

typedef enum {
	FK_STR,      /* char *, "" stores NULL */
	FK_HOST,     /* char *, validated host list */
	FK_INT,      /* int >= 0 */
	FK_PORT,     /* int 1..65535 */
	FK_TIME,     /* usec_t >= 0, "-1" stores -1 (unset) */
	FK_ENUM,     /* int from names */
	FK_REPLICAS, /* DatabaseDef replicas + n_replicas */
} FieldKind;

typedef struct FieldSpec {
	const char *name;
	FieldKind kind;
	size_t offset;
	const ConnstrName *names;
} FieldSpec;

/* clang-format off */
#define DB_FIELD(n, k, names) { #n, k, offsetof(DatabaseDef, n), names }
#define USER_FIELD(n, k, names) { #n, k, offsetof(UserDef, n), names }
#define PEER_FIELD(n, k) { #n, k, offsetof(PeerDef, n), NULL }

static const FieldSpec database_fields[] = {
	DB_FIELD(dbname, FK_STR, NULL),
	DB_FIELD(host, FK_HOST, NULL),
	DB_FIELD(port, FK_PORT, NULL),
	DB_FIELD(user, FK_STR, NULL),
	DB_FIELD(password, FK_STR, NULL),
	DB_FIELD(auth_user, FK_STR, NULL),
	DB_FIELD(auth_query, FK_STR, NULL),
	DB_FIELD(auth_dbname, FK_STR, NULL),
	DB_FIELD(pool_size, FK_INT, NULL),
	DB_FIELD(min_pool_size, FK_INT, NULL),
	DB_FIELD(reserve_pool_size, FK_INT, NULL),
	{ "reserve_pool", FK_INT, offsetof(DatabaseDef, reserve_pool_size), NULL }, /* old alias */
	DB_FIELD(connect_query, FK_STR, NULL),
	DB_FIELD(pool_mode, FK_ENUM, connstr_pool_mode_names),
	DB_FIELD(query_wait_timeout, FK_TIME, NULL),
	DB_FIELD(load_balance_hosts, FK_ENUM, load_balance_names),
	DB_FIELD(target_session_attrs, FK_ENUM, tsa_names),
	DB_FIELD(max_db_connections, FK_INT, NULL),
	DB_FIELD(max_db_client_connections, FK_INT, NULL),
	DB_FIELD(server_lifetime, FK_TIME, NULL),
	DB_FIELD(client_encoding, FK_STR, NULL),
	DB_FIELD(datestyle, FK_STR, NULL),
	DB_FIELD(timezone, FK_STR, NULL),
	DB_FIELD(application_name, FK_STR, NULL),
	DB_FIELD(replicas, FK_REPLICAS, NULL),
	DB_FIELD(routing, FK_ENUM, routing_names),
	DB_FIELD(replica_pool_size, FK_INT, NULL),
	DB_FIELD(replica_weights, FK_STR, NULL),
	DB_FIELD(read_your_writes, FK_ENUM, ryw_names),
	DB_FIELD(read_your_writes_scope, FK_ENUM, ryw_scope_names),
	DB_FIELD(write_window, FK_TIME, NULL),
	DB_FIELD(causal_wait, FK_TIME, NULL),
	{ NULL, FK_STR, 0, NULL },
};

static const FieldSpec user_fields[] = {
	USER_FIELD(pool_mode, FK_ENUM, connstr_pool_mode_names),
	USER_FIELD(pool_size, FK_INT, NULL),
	USER_FIELD(reserve_pool_size, FK_INT, NULL),
	USER_FIELD(max_user_connections, FK_INT, NULL),
	USER_FIELD(max_user_client_connections, FK_INT, NULL),
	USER_FIELD(query_timeout, FK_TIME, NULL),
	USER_FIELD(query_wait_timeout, FK_TIME, NULL),
	USER_FIELD(idle_transaction_timeout, FK_TIME, NULL),
	USER_FIELD(transaction_timeout, FK_TIME, NULL),
	USER_FIELD(client_idle_timeout, FK_TIME, NULL),
	{ NULL, FK_STR, 0, NULL },
};

static const FieldSpec peer_fields[] = {
	PEER_FIELD(host, FK_HOST),
	PEER_FIELD(port, FK_PORT),
	PEER_FIELD(pool_size, FK_INT),
	{ NULL, FK_STR, 0, NULL },
};

/* clang-format on */

static const FieldSpec *field_find(const FieldSpec *fields, const char *key)
{
	for (const FieldSpec *f = fields; f->name; f++) {
		if (strcasecmp(f->name, key) == 0)
			return f;
	}
	return NULL;
}

bool connstr_database_has_key(const char *key)
{
	return field_find(database_fields, key) != NULL;
}

bool connstr_user_has_key(const char *key)
{
	return field_find(user_fields, key) != NULL;
}

static bool set_string_field(void *obj, const FieldSpec *f, const char *val, char *err,
			     size_t errlen)
{
	char **dst = (char **)((char *)obj + f->offset);

	if (f->kind == FK_HOST && *val && !host_list_valid(val)) {
		set_err(err, errlen,
			"key '%s': expected a host name, IP address or socket directory, got '%s'",
			f->name, val);
		return false;
	}
	free(*dst);
	*dst = *val ? xstrdup(val) : NULL;
	return true;
}

static bool set_number_field(void *obj, const FieldSpec *f, const char *val, char *err,
			     size_t errlen)
{
	void *dst = (char *)obj + f->offset;
	long long v;
	char names[160];

	switch (f->kind) {
	case FK_INT:
		if (!connstr_parse_int(val, 0, 2147483647LL, &v)) {
			set_err(err, errlen, "key '%s': expected a non-negative integer, got '%s'",
				f->name, val);
			return false;
		}
		*(int *)dst = (int)v;
		return true;
	case FK_PORT:
		if (!parse_port(val, (int *)dst)) {
			set_err(err, errlen,
				"key '%s': expected a port number (1..65535), got '%s'", f->name,
				val);
			return false;
		}
		return true;
	case FK_TIME:
		if (strcmp(val, "-1") == 0) {
			*(usec_t *)dst = -1;
			return true;
		}
		if (!connstr_parse_seconds(val, (usec_t *)dst)) {
			set_err(err, errlen, "key '%s': expected a duration in seconds, got '%s'",
				f->name, val);
			return false;
		}
		return true;
	case FK_ENUM:
		if (!connstr_lookup_name(f->names, val, (int *)dst)) {
			connstr_format_names(f->names, names, sizeof(names));
			set_err(err, errlen, "key '%s': expected one of %s, got '%s'", f->name,
				names, val);
			return false;
		}
		return true;
	default:
		return false;
	}
}

static bool set_field(void *obj, const FieldSpec *f, const char *val, char *err, size_t errlen)
{
	if (f->kind == FK_STR || f->kind == FK_HOST)
		return set_string_field(obj, f, val, err, errlen);
	if (f->kind == FK_REPLICAS) {
		DatabaseDef *db = obj;
		HostPort *list;
		int n;
		char why[200];
		if (!connstr_parse_replicas(val, &list, &n, why, sizeof(why))) {
			set_err(err, errlen, "key 'replicas': %s", why);
			return false;
		}
		free_replicas(db->replicas, db->n_replicas);
		db->replicas = list;
		db->n_replicas = n;
		return true;
	}
	return set_number_field(obj, f, val, err, errlen);
}

/* Apply every key=value of value to obj through fields. */
static bool apply_pairs(void *obj, const FieldSpec *fields, const char *value, char *err,
			size_t errlen)
{
	const char *p = value;
	char *key, *val;
	int r;

	while ((r = kv_next(&p, &key, &val, err, errlen)) > 0) {
		const FieldSpec *f = field_find(fields, key);
		bool ok;
		if (f) {
			ok = set_field(obj, f, val, err, errlen);
		} else {
			set_err(err, errlen, "key '%s': unknown parameter", key);
			ok = false;
		}
		free(key);
		free(val);
		if (!ok)
			return false;
	}
	return r == 0;
}

/* ---- sections -------------------------------------------------------------------- */

static DatabaseDef *database_new(const char *name)
{
	DatabaseDef *db = xcalloc(1, sizeof(*db));
	db->name = xstrdup(name);
	db->port = DB_DEFAULT_PORT;
	db->pool_size = -1;
	db->min_pool_size = -1;
	db->reserve_pool_size = -1;
	db->pool_mode = POOL_MODE_UNSET;
	db->max_db_connections = -1;
	db->max_db_client_connections = -1;
	db->server_lifetime = -1;
	db->routing = ROUTING_UNSET;
	db->replica_pool_size = -1;
	db->read_your_writes = -1;
	db->read_your_writes_scope = -1;
	db->write_window = -1;
	db->causal_wait = -1;
	db->query_wait_timeout = -1;
	db->load_balance_hosts = LB_HOSTS_UNSET;
	db->target_session_attrs = TSA_UNSET;
	return db;
}

/* replica_weights: one integer 0..1000 per replicas= entry, comma-separated. */
static bool connstr_check_weights(const char *list, int n_replicas, char *err, size_t errlen)
{
	int n = 0;
	const char *p = list;
	for (;;) {
		char *end;
		long w = strtol(p, &end, 10);
		if (end == p || w < 0 || w > 1000 || (*end != ',' && *end != '\0')) {
			set_err(err, errlen, "key 'replica_weights': expected integers 0..1000 separated by commas");
			return false;
		}
		n++;
		if (*end == '\0')
			break;
		p = end + 1;
	}
	if (n != n_replicas) {
		set_err(err, errlen, "key 'replica_weights': expected %d weights, one per replica, got %d",
			n_replicas, n);
		return false;
	}
	return true;
}

bool connstr_parse_database(const char *name, const char *value, DatabaseDef **out, char *err,
			    size_t errlen)
{
	DatabaseDef *db = database_new(name);

	if (!apply_pairs(db, database_fields, value, err, errlen))
		goto fail;
	if (db->routing == ROUTING_UNSET && db->n_replicas > 0)
		db->routing = ROUTING_AUTO;
	if (db->routing == ROUTING_REPLICA && db->n_replicas == 0) {
		set_err(err, errlen, "key 'routing': 'replica' needs a replicas= list");
		goto fail;
	}
	if (db->replica_weights && !connstr_check_weights(db->replica_weights, db->n_replicas, err, errlen))
		goto fail;
	*out = db;
	return true;
fail:
	connstr_free_database(db);
	return false;
}

bool connstr_parse_user(const char *name, const char *value, UserDef **out, char *err,
			size_t errlen)
{
	UserDef *u = xcalloc(1, sizeof(*u));

	u->name = xstrdup(name);
	u->pool_mode = POOL_MODE_UNSET;
	u->pool_size = -1;
	u->reserve_pool_size = -1;
	u->max_user_connections = -1;
	u->max_user_client_connections = -1;
	u->query_timeout = -1;
	u->query_wait_timeout = -1;
	u->idle_transaction_timeout = -1;
	u->transaction_timeout = -1;
	u->client_idle_timeout = -1;
	if (!apply_pairs(u, user_fields, value, err, errlen)) {
		connstr_free_user(u);
		return false;
	}
	*out = u;
	return true;
}

bool connstr_parse_peer(const char *key, const char *value, PeerDef **out, char *err, size_t errlen)
{
	PeerDef *peer;
	long long id;

	if (!connstr_parse_int(key, 1, PEER_ID_MAX, &id)) {
		set_err(err, errlen, "peer id '%s': expected an integer 1..%d", key, PEER_ID_MAX);
		return false;
	}
	peer = xcalloc(1, sizeof(*peer));
	peer->peer_id = (int)id;
	peer->port = PEER_DEFAULT_PORT;
	peer->pool_size = -1;
	if (!apply_pairs(peer, peer_fields, value, err, errlen)) {
		connstr_free_peer(peer);
		return false;
	}
	*out = peer;
	return true;
}

void connstr_free_database(DatabaseDef *db)
{
	if (!db)
		return;
	free(db->name);
	free(db->host);
	free(db->dbname);
	free(db->user);
	free(db->password);
	free(db->auth_user);
	free(db->auth_query);
	free(db->auth_dbname);
	free(db->connect_query);
	free(db->client_encoding);
	free(db->datestyle);
	free(db->timezone);
	free(db->application_name);
	free_replicas(db->replicas, db->n_replicas);
	free(db->replica_weights);
	free(db);
}

void connstr_free_user(UserDef *user)
{
	if (!user)
		return;
	free(user->name);
	free(user);
}

void connstr_free_peer(PeerDef *peer)
{
	if (!peer)
		return;
	free(peer->host);
	free(peer);
}
