/*
 * Configuration snapshots: the INI reader (sections, comments, %include with a depth
 * limit and cycle check), the settings table for [pgbouncer] (one row per option: type,
 * offset into Config, default as SHOW CONFIG prints it, reloadable, implemented), and
 * the admin SET / SHOW CONFIG helpers. Value syntax lives in connstr.c. A snapshot is
 * only handed out when the whole file parsed; reload reconciliation belongs to the caller.
 */
#include "config.h"

#include "connstr.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <strings.h>
#include <unistd.h>

#define INCLUDE_DEPTH_MAX 8

/* ---- enumerated values ---------------------------------------------------------- */

static const ConnstrName auth_type_names[] = {
	{ "trust", AUTH_TYPE_TRUST },
	{ "any", AUTH_TYPE_ANY },
	{ "plain", AUTH_TYPE_PLAIN },
	{ "md5", AUTH_TYPE_MD5 },
	{ "scram-sha-256", AUTH_TYPE_SCRAM },
	{ "cert", AUTH_TYPE_CERT },
	{ "hba", AUTH_TYPE_HBA },
	{ "peer", AUTH_TYPE_PEER },
	{ NULL, 0 },
};

static const ConnstrName tls_mode_names[] = {
	{ "disable", TLS_MODE_DISABLE },
	{ "allow", TLS_MODE_ALLOW },
	{ "prefer", TLS_MODE_PREFER },
	{ "require", TLS_MODE_REQUIRE },
	{ "verify-ca", TLS_MODE_VERIFY_CA },
	{ "verify-full", TLS_MODE_VERIFY_FULL },
	{ NULL, 0 },
};

/* clang-format off */
/* String options limited to a fixed set of words (stored as the canonical word). */
static const ConnstrName syslog_facility_names[] = {
	{ "auth", 0 }, { "authpriv", 1 }, { "daemon", 2 }, { "user", 3 },
	{ "local0", 4 }, { "local1", 5 }, { "local2", 6 }, { "local3", 7 },
	{ "local4", 8 }, { "local5", 9 }, { "local6", 10 }, { "local7", 11 },
	{ NULL, 0 },
};
static const ConnstrName replica_lb_names[] = {
	{ "round_robin", 0 }, { "random", 1 }, { "least_connections", 2 }, { "least_lag", 3 },
	{ NULL, 0 },
};
static const ConnstrName replica_fallback_names[] = {
	{ "primary", 0 }, { "error", 1 }, { NULL, 0 },
};
static const ConnstrName read_your_writes_names[] = {
	{ "lsn", 0 }, { "window", 1 }, { "off", 2 }, { NULL, 0 },
};
static const ConnstrName ryw_scope_names[] = {
	{ "client", 0 }, { "user", 1 }, { NULL, 0 },
};
static const ConnstrName http_auth_type_names[] = {
	{ "none", HTTP_AUTH_NONE }, { "auth_file", HTTP_AUTH_FILE }, { "token", HTTP_AUTH_TOKEN }, { NULL, 0 },
};
/* clang-format on */

/* ---- the settings table ---------------------------------------------------------- */

typedef enum {
	CF_INT,     /* int in [min, max] */
	CF_BOOL,    /* int 0/1 */
	CF_TIME,    /* usec_t, given in seconds */
	CF_STR,     /* char *, never NULL */
	CF_ENUM,    /* int (an enum type) from names */
	CF_STRENUM, /* char * limited to names */
	CF_MODE,    /* int file mode, octal */
} SettingType;

enum {
	SF_RELOAD = 1, /* may change on RELOAD / SET */
	SF_IMPL = 2,   /* has an effect in pgsplit today */
	SF_ALIAS = 4,  /* second name for a field another row owns (not freed twice) */
	SF_ADDR = 8,   /* a string that must be a numeric IPv4/IPv6 address or "*" */
};

struct ConfigSetting {
	const char *name;
	SettingType type;
	size_t offset;
	const char *def; /* default, written as config_setting_format prints it */
	const ConnstrName *names;
	long long min, max;
	unsigned flags;
};

/* clang-format off */
#define RI (SF_RELOAD | SF_IMPL)
#define RO SF_IMPL
#define RN SF_RELOAD             /* reloadable, not implemented yet */
#define NN 0                     /* fixed at start, not implemented yet */
#define F(n) offsetof(Config, n)
#define S_INT(n, d, lo, hi, fl) { #n, CF_INT, F(n), d, NULL, lo, hi, fl }
#define S_BOOL(n, d, fl) { #n, CF_BOOL, F(n), d, NULL, 0, 1, fl }
#define S_TIME(n, d, fl) { #n, CF_TIME, F(n), d, NULL, 0, 0, fl }
#define S_STR(n, d, fl) { #n, CF_STR, F(n), d, NULL, 0, 0, fl }
#define S_ENUM(n, d, names, fl) { #n, CF_ENUM, F(n), d, names, 0, 0, fl }
#define S_WORD(n, d, names, fl) { #n, CF_STRENUM, F(n), d, names, 0, 0, fl }

#define INT_MAXLL 2147483647LL
#ifdef __linux__
#define TCP_DEFER_ACCEPT_DEFAULT "1"
#else
#define TCP_DEFER_ACCEPT_DEFAULT "0"
#endif
#define AUTH_QUERY_DEFAULT                                                                   \
	"SELECT rolname, CASE WHEN rolvaliduntil < pg_catalog.now() THEN NULL ELSE rolpassword END " \
	"FROM pg_catalog.pg_authid WHERE rolname=$1 AND rolcanlogin"

/* Order follows PgBouncer's config.md, then pgsplit's own options; doc/config.md matches. */
static const ConfigSetting settings[] = {
	/* generic */
	S_STR(logfile, "", RI),
	S_STR(pidfile, "", RO),
	S_STR(listen_addr, "", RO),
	S_INT(listen_port, "6432", 1, 65535, RO),
	S_STR(unix_socket_dir, "/tmp", RO),
	{ "unix_socket_mode", CF_MODE, F(unix_socket_mode), "0777", NULL, 0, 07777, RO },
	S_STR(unix_socket_group, "", RO),
	S_STR(user, "", RO),
	S_ENUM(pool_mode, "session", connstr_pool_mode_names, RI),
	S_INT(max_client_conn, "100", 1, INT_MAXLL, RI),
	S_INT(default_pool_size, "20", 0, INT_MAXLL, RI),
	S_INT(min_pool_size, "0", 0, INT_MAXLL, RI),
	S_INT(reserve_pool_size, "0", 0, INT_MAXLL, RI),
	S_TIME(reserve_pool_timeout, "5", RI),
	S_INT(max_db_connections, "0", 0, INT_MAXLL, RI),
	S_INT(max_db_client_connections, "0", 0, INT_MAXLL, RI),
	S_INT(max_user_connections, "0", 0, INT_MAXLL, RI),
	S_INT(max_user_client_connections, "0", 0, INT_MAXLL, RI),
	S_BOOL(server_round_robin, "0", RI),
	S_STR(track_extra_parameters, "IntervalStyle", RO),
	S_STR(ignore_startup_parameters, "", RI),
	S_INT(peer_id, "0", 0, 16383, RO),
	S_BOOL(disable_pqexec, "0", RO),
	S_BOOL(application_name_add_host, "0", RI),
	{ "conffile", CF_STR, F(config_file), "", NULL, 0, 0, RI },
	S_STR(service_name, "pgbouncer", NN),
	{ "job_name", CF_STR, F(service_name), "pgbouncer", NULL, 0, 0, NN | SF_ALIAS },
	S_TIME(stats_period, "60", RI),
	S_INT(max_prepared_statements, "200", 0, INT_MAXLL, RI),
	S_INT(scram_iterations, "4096", 1, 1000000, RI),
	/* authentication */
	S_ENUM(auth_type, "md5", auth_type_names, RI),
	S_STR(auth_hba_file, "", RI),
	S_STR(auth_ident_file, "", RI),
	S_STR(auth_file, "", RI),
	S_STR(auth_user, "", RI),
	S_STR(auth_query, AUTH_QUERY_DEFAULT, RI),
	S_STR(auth_dbname, "", RI),
	S_STR(auth_ldap_options, "", RN),
	/* logging */
	S_BOOL(syslog, "0", RI),
	S_STR(syslog_ident, "pgbouncer", RI),
	S_WORD(syslog_facility, "daemon", syslog_facility_names, RI),
	S_BOOL(log_connections, "1", RI),
	S_BOOL(log_disconnections, "1", RI),
	S_BOOL(log_pooler_errors, "1", RI),
	S_BOOL(log_stats, "1", RI),
	S_INT(verbose, "0", 0, 10, RI),
	/* console access */
	S_STR(admin_users, "", RI),
	S_STR(stats_users, "", RI),
	/* connection sanity checks, timeouts */
	S_STR(server_reset_query, "DISCARD ALL", RI),
	S_BOOL(server_reset_query_always, "0", RI),
	S_TIME(server_check_delay, "30", RI),
	S_STR(server_check_query, "<empty>", RI),
	S_BOOL(server_fast_close, "0", RI),
	S_TIME(server_lifetime, "3600", RI),
	S_TIME(server_idle_timeout, "600", RI),
	S_TIME(server_connect_timeout, "15", RI),
	S_TIME(server_login_retry, "15", RI),
	S_TIME(client_login_timeout, "60", RI),
	S_TIME(autodb_idle_timeout, "3600", RI),
	S_TIME(pool_idle_timeout, "60", RI),
	S_TIME(dns_max_ttl, "15", RI),
	S_TIME(dns_nxdomain_ttl, "15", RI),
	S_TIME(dns_zone_check_period, "0", RI),
	S_STR(resolv_conf, "", RO),
	S_TIME(query_wait_notify, "5", RI),
	S_STR(login_notify_message, "", RI),
	/* TLS */
	S_ENUM(client_tls_sslmode, "disable", tls_mode_names, RI),
	S_STR(client_tls_key_file, "", RI),
	S_STR(client_tls_cert_file, "", RI),
	S_STR(client_tls_ca_file, "", RI),
	S_STR(client_tls_protocols, "secure", RI),
	S_STR(client_tls_ciphers, "default", RI),
	S_STR(client_tls13_ciphers, "", RI),
	S_STR(client_tls_ecdhcurve, "auto", RI),
	S_STR(client_tls_dheparams, "auto", RI),
	S_ENUM(server_tls_sslmode, "prefer", tls_mode_names, RI),
	S_STR(server_tls_ca_file, "", RI),
	S_STR(server_tls_key_file, "", RI),
	S_STR(server_tls_cert_file, "", RI),
	S_STR(server_tls_protocols, "secure", RI),
	S_STR(server_tls_ciphers, "default", RI),
	S_STR(server_tls13_ciphers, "", RI),
	/* dangerous timeouts */
	S_TIME(query_timeout, "0", RI),
	S_TIME(query_wait_timeout, "120", RI),
	S_TIME(cancel_wait_timeout, "10", RI),
	S_TIME(client_idle_timeout, "0", RI),
	S_TIME(idle_transaction_timeout, "0", RI),
	S_TIME(transaction_timeout, "0", RI),
	S_TIME(suspend_timeout, "10", RI),
	/* low-level network settings */
	S_INT(pkt_buf, "4096", 256, 1048576, RO),
	S_INT(max_packet_size, "2147483647", 1, INT_MAXLL, RI),
	S_INT(listen_backlog, "128", 1, INT_MAXLL, RO),
	S_INT(sbuf_loopcnt, "5", 0, INT_MAXLL, RI),
	S_BOOL(so_reuseport, "0", RO),
	S_INT(tcp_defer_accept, TCP_DEFER_ACCEPT_DEFAULT, 0, INT_MAXLL, RO),
	S_INT(tcp_socket_buffer, "0", 0, INT_MAXLL, RI),
	S_BOOL(tcp_keepalive, "1", RI),
	S_INT(tcp_keepcnt, "0", 0, INT_MAXLL, RI),
	S_INT(tcp_keepidle, "0", 0, INT_MAXLL, RI),
	S_INT(tcp_keepintvl, "0", 0, INT_MAXLL, RI),
	S_INT(tcp_user_timeout, "0", 0, INT_MAXLL, RI),
	/* pgsplit: routing and read-your-writes */
	S_WORD(replica_lb, "least_connections", replica_lb_names, RI),
	S_INT(primary_read_weight, "0", 0, 1000, RI),
	S_WORD(replica_fallback, "primary", replica_fallback_names, RI),
	S_TIME(replica_check_period, "0.1", RI),
	S_TIME(replica_max_lag, "10", RI),
	S_STR(replica_monitor_user, "", RI),
	S_BOOL(primary_discovery, "1", RI),
	S_STR(write_functions, "", RI),
	S_WORD(read_your_writes, "lsn", read_your_writes_names, RI),
	S_WORD(read_your_writes_scope, "client", ryw_scope_names, RI),
	S_TIME(write_window, "2", RI),
	S_TIME(causal_wait, "0", RI),
	S_TIME(replica_catchup_wait, "0.01", RI),
	/* pgsplit: HTTP endpoint for metrics and health */
	S_STR(http_listen_addr, "127.0.0.1", RI | SF_ADDR),
	S_INT(http_listen_port, "0", 0, 65535, RI),
	S_BOOL(http_tls, "0", RI),
	S_ENUM(http_auth_type, "none", http_auth_type_names, RI),
	S_STR(http_auth_token, "", RI),
};

/* clang-format on */

#define N_SETTINGS ((int)ARRAY_SIZE(settings))

/* ---- small helpers ------------------------------------------------------------------ */

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

static void *field_ptr(const Config *cfg, const ConfigSetting *s)
{
	return (char *)cfg + s->offset;
}

static char *trim(char *s)
{
	char *end;
	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r'))
		*--end = '\0';
	return s;
}

/* ---- parsing and printing one setting ------------------------------------------------ */

static bool parse_int_setting(Config *cfg, const ConfigSetting *s, const char *value, char *err,
			      size_t errlen)
{
	long long v;
	if (!connstr_parse_int(value, s->min, s->max, &v)) {
		set_err(err, errlen, "expected an integer from %lld to %lld", s->min, s->max);
		return false;
	}
	*(int *)field_ptr(cfg, s) = (int)v;
	return true;
}

static bool parse_mode_setting(Config *cfg, const ConfigSetting *s, const char *value, char *err,
			       size_t errlen)
{
	char *end;
	long v;
	const char *p = value;

	while (*p == ' ' || *p == '\t')
		p++;
	errno = 0;
	v = strtol(p, &end, 8);
	if (*p < '0' || *p > '7' || errno != 0 || *trim(end) != '\0' || v < s->min || v > s->max) {
		set_err(err, errlen, "expected an octal file mode such as 0777");
		return false;
	}
	*(int *)field_ptr(cfg, s) = (int)v;
	return true;
}

static bool parse_named_setting(Config *cfg, const ConfigSetting *s, const char *value, char *err,
				size_t errlen)
{
	int v;
	char names[200];

	if (!connstr_lookup_name(s->names, value, &v)) {
		connstr_format_names(s->names, names, sizeof(names));
		set_err(err, errlen, "expected one of %s", names);
		return false;
	}
	if (s->type == CF_ENUM) {
		*(int *)field_ptr(cfg, s) = v;
	} else {
		char **dst = field_ptr(cfg, s);
		free(*dst);
		*dst = xstrdup(connstr_name_of(s->names, v));
	}
	return true;
}

/* A value bind() takes without a name lookup: "*" (every address) or an IP literal. */
static bool numeric_address(const char *value)
{
	struct in6_addr a6;
	struct in_addr a4;
	return strcmp(value, "*") == 0 || inet_pton(AF_INET, value, &a4) == 1 ||
	       inet_pton(AF_INET6, value, &a6) == 1;
}

/* Parse value into the field of s; on failure the field is unchanged and err says why. */
static bool setting_parse(Config *cfg, const ConfigSetting *s, const char *value, char *err,
			  size_t errlen)
{
	char **str;

	switch (s->type) {
	case CF_INT:
		return parse_int_setting(cfg, s, value, err, errlen);
	case CF_BOOL:
		if (!connstr_parse_bool(value, (int *)field_ptr(cfg, s))) {
			set_err(err, errlen,
				"expected a boolean (0/1, on/off, true/false, yes/no)");
			return false;
		}
		return true;
	case CF_TIME:
		if (!connstr_parse_seconds(value, (usec_t *)field_ptr(cfg, s))) {
			set_err(err, errlen, "expected a duration in seconds such as 5 or 0.5");
			return false;
		}
		return true;
	case CF_STR:
		if ((s->flags & SF_ADDR) && !numeric_address(value)) {
			set_err(err, errlen, "expected a numeric IPv4 or IPv6 address, or *");
			return false;
		}
		str = field_ptr(cfg, s);
		free(*str);
		*str = xstrdup(value);
		return true;
	case CF_ENUM:
	case CF_STRENUM:
		return parse_named_setting(cfg, s, value, err, errlen);
	case CF_MODE:
		return parse_mode_setting(cfg, s, value, err, errlen);
	}
	return false;
}

/* Seconds the way SHOW CONFIG shows them: "30", "0.5", "0.000001". */
static void format_seconds(usec_t v, char *buf, size_t len)
{
	long long sec = (long long)(v / USEC_PER_SEC);
	long long frac = (long long)(v % USEC_PER_SEC);
	size_t n;

	if (frac == 0) {
		snprintf(buf, len, "%lld", sec);
		return;
	}
	snprintf(buf, len, "%lld.%06lld", sec, frac);
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '0')
		buf[--n] = '\0';
}

void config_setting_format(const Config *cfg, const ConfigSetting *s, char *buf, size_t len)
{
	const void *p = field_ptr(cfg, s);
	const char *name;

	if (len == 0)
		return;
	switch (s->type) {
	case CF_INT:
	case CF_BOOL:
		snprintf(buf, len, "%d", *(const int *)p);
		break;
	case CF_MODE:
		snprintf(buf, len, "0%o", (unsigned)*(const int *)p);
		break;
	case CF_TIME:
		format_seconds(*(const usec_t *)p, buf, len);
		break;
	case CF_STR:
	case CF_STRENUM:
		snprintf(buf, len, "%s", *(char *const *)p ? *(char *const *)p : "");
		break;
	case CF_ENUM:
		name = connstr_name_of(s->names, *(const int *)p);
		snprintf(buf, len, "%s", name ? name : "?");
		break;
	}
}

static bool setting_is_default(const Config *cfg, const ConfigSetting *s)
{
	char buf[512];
	config_setting_format(cfg, s, buf, sizeof(buf));
	return strcmp(buf, s->def) == 0;
}

static void warn_not_implemented(const ConfigSetting *s)
{
	log_warning("option \"%s\" is accepted but not implemented yet; it has no effect", s->name);
}

/* ---- snapshot life cycle ------------------------------------------------------------ */

/* The numbers behind the word-valued settings (see Config); the words were validated. */
static void config_resolve_words(Config *cfg)
{
	int v = 0;
	cfg->replica_lb_mode = connstr_lookup_name(replica_lb_names, cfg->replica_lb, &v) ? v : 0;
	cfg->replica_fallback_error = strcasecmp(cfg->replica_fallback, "error") == 0;
	cfg->read_your_writes_mode = connstr_lookup_name(read_your_writes_names, cfg->read_your_writes, &v) ? v : 0;
	cfg->read_your_writes_scope_mode =
		connstr_lookup_name(ryw_scope_names, cfg->read_your_writes_scope, &v) ? v : 0;
	cfg->server_reset_forgets_statements = strcasestr(cfg->server_reset_query, "DISCARD ALL") ||
					       strcasestr(cfg->server_reset_query, "DEALLOCATE ALL");
	cfg->server_check_sends_empty = strcmp(cfg->server_check_query, "<empty>") == 0;
}

Config *config_new_default(void)
{
	Config *cfg = xcalloc(1, sizeof(*cfg));
	char err[256];

	for (int i = 0; i < N_SETTINGS; i++) {
		if (settings[i].flags & SF_ALIAS)
			continue;
		/* the defaults are constants checked by the unit tests, so this cannot fail */
		if (!setting_parse(cfg, &settings[i], settings[i].def, err, sizeof(err)))
			abort();
	}
	config_resolve_words(cfg);
	return cfg;
}

void config_free(Config *cfg)
{
	if (!cfg)
		return;
	for (int i = 0; i < N_SETTINGS; i++) {
		const ConfigSetting *s = &settings[i];
		if ((s->type == CF_STR || s->type == CF_STRENUM) && !(s->flags & SF_ALIAS))
			free(*(char **)field_ptr(cfg, s));
	}
	while (cfg->databases) {
		DatabaseDef *next = cfg->databases->next;
		connstr_free_database(cfg->databases);
		cfg->databases = next;
	}
	while (cfg->users) {
		UserDef *next = cfg->users->next;
		connstr_free_user(cfg->users);
		cfg->users = next;
	}
	hashindex_free(&cfg->databases_by_name);
	hashindex_free(&cfg->users_by_name);
	while (cfg->peers) {
		PeerDef *next = cfg->peers->next;
		connstr_free_peer(cfg->peers);
		cfg->peers = next;
	}
	free(cfg);
}

/* ---- the INI reader ------------------------------------------------------------------ */

typedef enum { SECT_NONE, SECT_DATABASES, SECT_USERS, SECT_PEERS, SECT_PGBOUNCER } Section;

typedef struct IniReader {
	Config *cfg;
	char *err;
	size_t errlen;
	Section section;
	char *stack[INCLUDE_DEPTH_MAX]; /* real paths of the files being read, outermost first */
	int depth;
	bool given[ARRAY_SIZE(settings)]; /* option appeared in the files (for warnings) */
} IniReader;

/* Where the current line comes from, for messages. */
typedef struct IniPos {
	const char *file;
	int line;
} IniPos;

/* from: the %include line (NULL for the main file); shown: the name as written there */
static bool ini_read_file(IniReader *r, const char *path, const IniPos *from, const char *shown);

static const char *section_names[] = { NULL, "databases", "users", "peers", "pgbouncer" };

static bool ini_section(IniReader *r, const IniPos *pos, char *line)
{
	size_t n = strlen(line);
	char *name;

	if (line[n - 1] != ']') {
		set_err(r->err, r->errlen, "%s:%d: section header without closing ']'", pos->file,
			pos->line);
		return false;
	}
	line[n - 1] = '\0';
	name = trim(line + 1);
	for (int i = 1; i < (int)ARRAY_SIZE(section_names); i++) {
		if (strcasecmp(name, section_names[i]) == 0) {
			r->section = (Section)i;
			if (r->section == SECT_PGBOUNCER)
				r->cfg->has_pgbouncer_section = true;
			return true;
		}
	}
	set_err(r->err, r->errlen,
		"%s:%d: unknown section [%s] (expected databases, users, peers or pgbouncer)",
		pos->file, pos->line, name);
	return false;
}

/* Resolve an %include target: relative to the including file's directory, else the cwd. */
static char *include_path(const char *including, const char *target)
{
	char *dir_copy, *joined;
	const char *dir;
	size_t len;

	if (target[0] == '/')
		return xstrdup(target);
	dir_copy = xstrdup(including);
	dir = dirname(dir_copy);
	len = strlen(dir) + strlen(target) + 2;
	joined = xmalloc(len);
	snprintf(joined, len, "%s/%s", dir, target);
	free(dir_copy);
	/* PgBouncer resolves against the working directory; keep that working */
	if (access(joined, F_OK) != 0 && access(target, F_OK) == 0) {
		free(joined);
		return xstrdup(target);
	}
	return joined;
}

static bool ini_include(IniReader *r, const IniPos *pos, char *arg)
{
	char *target = trim(arg);
	char *path;
	Section saved = r->section;
	bool ok;

	if (*target == '\0') {
		set_err(r->err, r->errlen, "%s:%d: %%include needs a file name", pos->file,
			pos->line);
		return false;
	}
	path = include_path(pos->file, target);
	ok = ini_read_file(r, path, pos, target);
	free(path);
	r->section = saved;
	return ok;
}

/*
 * Split "key = value". The key may be double-quoted ("" for a quote), as PgBouncer allows
 * for database names with unusual characters. Returns false on a syntax error.
 */
static bool ini_split(char *line, char **key, char **value)
{
	char *eq;

	if (line[0] == '"') {
		char *w = line, *p = line + 1;
		for (;; p++) {
			if (*p == '\0')
				return false;
			if (*p == '"' && p[1] == '"')
				p++;
			else if (*p == '"')
				break;
			*w++ = *p;
		}
		*w = '\0';
		eq = p + 1;
		while (*eq == ' ' || *eq == '\t')
			eq++;
		if (*eq != '=')
			return false;
		*key = line;
	} else {
		eq = strchr(line, '=');
		if (!eq)
			return false;
		*eq = '\0';
		*key = trim(line);
		if (**key == '\0')
			return false;
	}
	*value = trim(eq + 1);
	return true;
}

static bool ini_pgbouncer_key(IniReader *r, const IniPos *pos, const char *key, const char *value)
{
	const ConfigSetting *s = config_setting_find(key);
	char why[256];

	if (!s) {
		set_err(r->err, r->errlen, "%s:%d: key '%s': unknown option", pos->file, pos->line,
			key);
		return false;
	}
	if (!setting_parse(r->cfg, s, value, why, sizeof(why))) {
		set_err(r->err, r->errlen, "%s:%d: key '%s': %s, got '%s'", pos->file, pos->line,
			key, why, value);
		return false;
	}
	r->given[s - settings] = true;
	return true;
}

static DatabaseDef *database_def_lookup(const Config *cfg, const char *name)
{
	uint64_t h = hashindex_hash_str(name);
	for (HashLink *l = hashindex_first(&cfg->databases_by_name, h); l; l = hashindex_next(l)) {
		DatabaseDef *db = container_of(l, DatabaseDef, by_name);
		if (strcmp(db->name, name) == 0)
			return db;
	}
	return NULL;
}

static UserDef *user_def_lookup(const Config *cfg, const char *name)
{
	uint64_t h = hashindex_hash_str(name);
	for (HashLink *l = hashindex_first(&cfg->users_by_name, h); l; l = hashindex_next(l)) {
		UserDef *u = container_of(l, UserDef, by_name);
		if (strcmp(u->name, name) == 0)
			return u;
	}
	return NULL;
}

/* Put db into the list; a later entry with the same name replaces the earlier one in place. */
static void databases_put(Config *cfg, DatabaseDef *db)
{
	DatabaseDef *old = database_def_lookup(cfg, db->name);
	hashindex_add(&cfg->databases_by_name, &db->by_name, hashindex_hash_str(db->name));
	if (strcmp(db->name, "*") == 0)
		cfg->fallback_db = db;
	if (!old) {
		if (cfg->databases_last)
			cfg->databases_last->next = db;
		else
			cfg->databases = db;
		cfg->databases_last = db;
		return;
	}
	DatabaseDef **pp = &cfg->databases; /* a repeated name: rare, so a walk is fine */
	while (*pp != old)
		pp = &(*pp)->next;
	db->next = old->next;
	*pp = db;
	if (cfg->databases_last == old)
		cfg->databases_last = db;
	hashindex_remove(&cfg->databases_by_name, &old->by_name);
	connstr_free_database(old);
}

static void users_put(Config *cfg, UserDef *u)
{
	UserDef *old = user_def_lookup(cfg, u->name);
	hashindex_add(&cfg->users_by_name, &u->by_name, hashindex_hash_str(u->name));
	if (!old) {
		if (cfg->users_last)
			cfg->users_last->next = u;
		else
			cfg->users = u;
		cfg->users_last = u;
		return;
	}
	UserDef **pp = &cfg->users;
	while (*pp != old)
		pp = &(*pp)->next;
	u->next = old->next;
	*pp = u;
	if (cfg->users_last == old)
		cfg->users_last = u;
	hashindex_remove(&cfg->users_by_name, &old->by_name);
	connstr_free_user(old);
}

static void peers_put(Config *cfg, PeerDef *p)
{
	PeerDef **pp = &cfg->peers;

	for (; *pp; pp = &(*pp)->next) {
		if ((*pp)->peer_id == p->peer_id) {
			p->next = (*pp)->next;
			connstr_free_peer(*pp);
			*pp = p;
			return;
		}
	}
	*pp = p;
}

static bool ini_database_key(IniReader *r, const IniPos *pos, const char *key, const char *value)
{
	DatabaseDef *db;
	char why[256];

	if (strcmp(key, "pgbouncer") == 0 || strcmp(key, "pgsplit") == 0) {
		set_err(r->err, r->errlen,
			"%s:%d: database '%s': the name is reserved for the admin console",
			pos->file, pos->line, key);
		return false;
	}
	if (!connstr_parse_database(key, value, &db, why, sizeof(why))) {
		set_err(r->err, r->errlen, "%s:%d: database '%s': %s", pos->file, pos->line, key,
			why);
		return false;
	}
	db->line = pos->line;
	databases_put(r->cfg, db);
	return true;
}

static bool ini_user_key(IniReader *r, const IniPos *pos, const char *key, const char *value)
{
	UserDef *u;
	char why[256];

	if (!connstr_parse_user(key, value, &u, why, sizeof(why))) {
		set_err(r->err, r->errlen, "%s:%d: user '%s': %s", pos->file, pos->line, key, why);
		return false;
	}
	users_put(r->cfg, u);
	return true;
}

static bool ini_peer_key(IniReader *r, const IniPos *pos, const char *key, const char *value)
{
	PeerDef *p;
	char why[256];

	if (!connstr_parse_peer(key, value, &p, why, sizeof(why))) {
		set_err(r->err, r->errlen, "%s:%d: peer '%s': %s", pos->file, pos->line, key, why);
		return false;
	}
	peers_put(r->cfg, p);
	return true;
}

static bool ini_key_value(IniReader *r, const IniPos *pos, char *line)
{
	char *key, *value;

	if (!ini_split(line, &key, &value)) {
		set_err(r->err, r->errlen,
			"%s:%d: expected 'key = value', a [section] or %%include", pos->file,
			pos->line);
		return false;
	}
	switch (r->section) {
	case SECT_PGBOUNCER:
		return ini_pgbouncer_key(r, pos, key, value);
	case SECT_DATABASES:
		return ini_database_key(r, pos, key, value);
	case SECT_USERS:
		return ini_user_key(r, pos, key, value);
	case SECT_PEERS:
		return ini_peer_key(r, pos, key, value);
	case SECT_NONE:
		break;
	}
	set_err(r->err, r->errlen, "%s:%d: key '%s' is outside of any [section]", pos->file,
		pos->line, key);
	return false;
}

static bool ini_line(IniReader *r, const IniPos *pos, char *raw)
{
	char *line = trim(raw);

	/* comment characters count only at the start of a line, as in PgBouncer */
	if (*line == '\0' || *line == ';' || *line == '#')
		return true;
	if (strncmp(line, "%include", 8) == 0 &&
	    (line[8] == ' ' || line[8] == '\t' || line[8] == '\0'))
		return ini_include(r, pos, line + 8);
	if (*line == '[')
		return ini_section(r, pos, line);
	return ini_key_value(r, pos, line);
}

/* Push path on the include stack unless it is already being read or the stack is full. */
static bool ini_push(IniReader *r, const char *path, const IniPos *from, const char *shown)
{
	char real[PATH_MAX];

	if (!realpath(path, real)) {
		if (from)
			set_err(r->err, r->errlen, "%s:%d: %%include: could not open '%s': %s",
				from->file, from->line, shown, strerror(errno));
		else
			set_err(r->err, r->errlen, "%s: could not open config file: %s", path,
				strerror(errno));
		return false;
	}
	for (int i = 0; i < r->depth; i++) {
		if (strcmp(r->stack[i], real) == 0) {
			set_err(r->err, r->errlen,
				"%s:%d: %%include '%s': include cycle (the file is already being "
				"read)",
				from->file, from->line, shown);
			return false;
		}
	}
	if (r->depth == INCLUDE_DEPTH_MAX) {
		set_err(r->err, r->errlen,
			"%s:%d: %%include '%s': includes nested too deeply (limit %d)", from->file,
			from->line, shown, INCLUDE_DEPTH_MAX);
		return false;
	}
	r->stack[r->depth++] = xstrdup(real);
	return true;
}

static bool ini_read_file(IniReader *r, const char *path, const IniPos *from, const char *shown)
{
	FILE *f;
	char *buf = NULL;
	size_t cap = 0;
	IniPos pos = { path, 0 };
	bool ok = true;

	if (!ini_push(r, path, from, shown))
		return false;
	f = fopen(path, "r");
	if (!f) {
		set_err(r->err, r->errlen, "%s: could not open config file: %s", path,
			strerror(errno));
		ok = false;
	}
	while (ok && getline(&buf, &cap, f) >= 0) {
		pos.line++;
		ok = ini_line(r, &pos, buf);
	}
	if (ok && ferror(f)) {
		set_err(r->err, r->errlen, "%s: read error: %s", path, strerror(errno));
		ok = false;
	}
	if (f)
		fclose(f);
	free(buf);
	free(r->stack[--r->depth]);
	return ok;
}

Config *config_load(const char *path, char *err, size_t errlen)
{
	IniReader *r = xcalloc(1, sizeof(*r));
	Config *cfg = config_new_default();

	r->cfg = cfg;
	r->err = err;
	r->errlen = errlen;
	if (!ini_read_file(r, path, NULL, path)) {
		config_free(cfg);
		free(r);
		return NULL;
	}
	/* conffile names the file actually loaded unless the file itself says otherwise */
	if (!r->given[config_setting_find("conffile") - settings]) {
		free(cfg->config_file);
		cfg->config_file = xstrdup(path);
	}
	for (int i = 0; i < N_SETTINGS; i++) {
		if (r->given[i] && !(settings[i].flags & SF_IMPL) &&
		    !setting_is_default(cfg, &settings[i]))
			warn_not_implemented(&settings[i]);
	}
	free(r);
	config_resolve_words(cfg);
	return cfg;
}

bool config_check_reload(const Config *cfg, char *err, size_t errlen)
{
	if (cfg->has_pgbouncer_section)
		return true;
	if (!cfg->databases && !cfg->users && !cfg->peers)
		set_err(err, errlen, "%s: no [pgbouncer] section and no entries: the file is empty or truncated",
			cfg->config_file);
	else
		set_err(err, errlen, "%s: no [pgbouncer] section: the file is truncated or incomplete",
			cfg->config_file);
	return false;
}

/* ---- lookups ---------------------------------------------------------------------- */

const DatabaseDef *config_find_database(const Config *cfg, const char *name)
{
	const DatabaseDef *db = database_def_lookup(cfg, name);
	return db ? db : cfg->fallback_db;
}

const UserDef *config_find_user(const Config *cfg, const char *name)
{
	return user_def_lookup(cfg, name);
}

bool config_list_contains(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *p = list;

	if (!list || n == 0)
		return false;
	while (*p) {
		size_t len;
		p += strspn(p, ", \t");
		len = strcspn(p, ", \t");
		if (len == n && strncmp(p, name, n) == 0)
			return true;
		p += len;
	}
	return false;
}

const char *config_pool_mode_name(PoolMode mode)
{
	const char *name = connstr_name_of(connstr_pool_mode_names, (int)mode);
	return name ? name : "unset";
}

const char *config_auth_type_name(AuthType type)
{
	const char *name = connstr_name_of(auth_type_names, (int)type);
	return name ? name : "?";
}

/* ---- settings API ---------------------------------------------------------------- */

int config_setting_count(void)
{
	return N_SETTINGS;
}

const ConfigSetting *config_setting_at(int i)
{
	return (i >= 0 && i < N_SETTINGS) ? &settings[i] : NULL;
}

const char *config_setting_name(const ConfigSetting *s)
{
	return s->name;
}

const char *config_setting_default(const ConfigSetting *s)
{
	return s->def;
}

bool config_setting_reloadable(const ConfigSetting *s)
{
	return (s->flags & SF_RELOAD) != 0;
}

bool config_setting_implemented(const ConfigSetting *s)
{
	return (s->flags & SF_IMPL) != 0;
}

const ConfigSetting *config_setting_find(const char *name)
{
	for (int i = 0; i < N_SETTINGS; i++) {
		if (strcasecmp(settings[i].name, name) == 0)
			return &settings[i];
	}
	return NULL;
}

bool config_setting_differs(const Config *a, const Config *b, const ConfigSetting *s)
{
	char va[512], vb[512];

	config_setting_format(a, s, va, sizeof(va));
	config_setting_format(b, s, vb, sizeof(vb));
	return strcmp(va, vb) != 0;
}

bool config_set(Config *cfg, const char *key, const char *value, char *err, size_t errlen)
{
	const ConfigSetting *s = config_setting_find(key);
	char why[256];

	if (!s) {
		set_err(err, errlen, "unknown setting %s", key);
		return false;
	}
	if (!(s->flags & SF_RELOAD)) {
		set_err(err, errlen, "setting %s cannot be changed online", s->name);
		return false;
	}
	if (!setting_parse(cfg, s, value, why, sizeof(why))) {
		set_err(err, errlen, "setting %s: %s, got '%s'", s->name, why, value);
		return false;
	}
	if (!(s->flags & SF_IMPL) && !setting_is_default(cfg, s))
		warn_not_implemented(s);
	config_resolve_words(cfg);
	return true;
}

char *config_setting_dup_value(const Config *cfg, const ConfigSetting *s)
{
	char buf[64];

	if (s->type == CF_STR || s->type == CF_STRENUM)
		return xstrdup(*(char *const *)field_ptr(cfg, s));
	config_setting_format(cfg, s, buf, sizeof(buf));
	return xstrdup(buf);
}

void config_keep_fixed(Config *cfg, const Config *old)
{
	char why[256];

	for (int i = 0; i < N_SETTINGS; i++) {
		const ConfigSetting *s = &settings[i];
		if ((s->flags & (SF_RELOAD | SF_ALIAS)) || !config_setting_differs(cfg, old, s))
			continue;
		char *value = config_setting_dup_value(old, s);
		/* old's value passed the same parser, so this cannot fail */
		if (!setting_parse(cfg, s, value, why, sizeof(why)))
			abort();
		log_warning("setting %s changed in the file: it takes effect only at the next start",
			    s->name);
		free(value);
	}
}
