/*
 * Unit tests for config.c and connstr.c: the INI reader (sections, comments, quoting,
 * %include, cycles, depth), every error class with file and line, defaults, the settings
 * table against PgBouncer's option list and doc/config.md, admin SET and SHOW CONFIG
 * formatting. Fixtures live in test/data/config; $top_srcdir points at the source tree.
 */
#include "config.h"
#include "connstr.h"
#include "log.h"
#include "tap.h"

#include <stdlib.h>
#include <syslog.h>
#include <unistd.h>

static char path_buf[4096];

static const char *srcdir(void)
{
	const char *d = getenv("top_srcdir");
	return d && *d ? d : ".";
}

static const char *fixture(const char *name)
{
	snprintf(path_buf, sizeof(path_buf), "%s/test/data/config/%s", srcdir(), name);
	return path_buf;
}

static Config *load(const char *name, char *err, size_t errlen)
{
	err[0] = '\0';
	return config_load(fixture(name), err, errlen);
}

static void format_of(const Config *cfg, const char *name, char *buf, size_t len)
{
	const ConfigSetting *s = config_setting_find(name);
	buf[0] = '\0';
	if (s)
		config_setting_format(cfg, s, buf, len);
}

/* ---- the option list of PgBouncer's doc/config.md ([pgbouncer] section) ---------- */

static const char *const pgbouncer_options[] = {
	"logfile",
	"pidfile",
	"listen_addr",
	"listen_port",
	"unix_socket_dir",
	"unix_socket_mode",
	"unix_socket_group",
	"user",
	"pool_mode",
	"max_client_conn",
	"default_pool_size",
	"min_pool_size",
	"reserve_pool_size",
	"reserve_pool_timeout",
	"max_db_connections",
	"max_db_client_connections",
	"max_user_connections",
	"max_user_client_connections",
	"server_round_robin",
	"track_extra_parameters",
	"ignore_startup_parameters",
	"peer_id",
	"disable_pqexec",
	"application_name_add_host",
	"conffile",
	"service_name",
	"job_name",
	"stats_period",
	"max_prepared_statements",
	"scram_iterations",
	"auth_type",
	"auth_hba_file",
	"auth_ident_file",
	"auth_file",
	"auth_user",
	"auth_query",
	"auth_dbname",
	"auth_ldap_options",
	"syslog",
	"syslog_ident",
	"syslog_facility",
	"log_connections",
	"log_disconnections",
	"log_pooler_errors",
	"log_stats",
	"verbose",
	"admin_users",
	"stats_users",
	"server_reset_query",
	"server_reset_query_always",
	"server_check_delay",
	"server_check_query",
	"server_fast_close",
	"server_lifetime",
	"server_idle_timeout",
	"server_connect_timeout",
	"server_login_retry",
	"client_login_timeout",
	"autodb_idle_timeout",
	"pool_idle_timeout",
	"dns_max_ttl",
	"dns_nxdomain_ttl",
	"dns_zone_check_period",
	"resolv_conf",
	"query_wait_notify",
	"login_notify_message",
	"client_tls_sslmode",
	"client_tls_key_file",
	"client_tls_cert_file",
	"client_tls_ca_file",
	"client_tls_protocols",
	"client_tls_ciphers",
	"client_tls13_ciphers",
	"client_tls_ecdhcurve",
	"client_tls_dheparams",
	"server_tls_sslmode",
	"server_tls_ca_file",
	"server_tls_key_file",
	"server_tls_cert_file",
	"server_tls_protocols",
	"server_tls_ciphers",
	"server_tls13_ciphers",
	"query_timeout",
	"query_wait_timeout",
	"cancel_wait_timeout",
	"client_idle_timeout",
	"idle_transaction_timeout",
	"transaction_timeout",
	"suspend_timeout",
	"pkt_buf",
	"max_packet_size",
	"listen_backlog",
	"sbuf_loopcnt",
	"so_reuseport",
	"tcp_defer_accept",
	"tcp_socket_buffer",
	"tcp_keepalive",
	"tcp_keepcnt",
	"tcp_keepidle",
	"tcp_keepintvl",
	"tcp_user_timeout",
};

static const char *const pgsplit_options[] = {
	"replica_lb",      "primary_read_weight", "replica_fallback", "replica_check_period",
	"replica_max_lag", "replica_monitor_user", "primary_discovery", "write_functions",     "read_your_writes", "read_your_writes_scope",
	"write_window",    "causal_wait",         "replica_catchup_wait", "http_listen_addr",
	"http_listen_port", "http_tls",          "http_auth_type",       "http_auth_token",
};

static void test_table_covers_pgbouncer(void)
{
	size_t missing = 0;
	for (size_t i = 0; i < ARRAY_SIZE(pgbouncer_options); i++) {
		if (!config_setting_find(pgbouncer_options[i])) {
			printf("# missing option %s\n", pgbouncer_options[i]);
			missing++;
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(pgsplit_options); i++) {
		if (!config_setting_find(pgsplit_options[i])) {
			printf("# missing option %s\n", pgsplit_options[i]);
			missing++;
		}
	}
	CHECK(missing == 0);
	CHECK(config_setting_count() ==
	      (int)(ARRAY_SIZE(pgbouncer_options) + ARRAY_SIZE(pgsplit_options)));
	/* names are unique */
	bool dup = false;
	for (int i = 0; i < config_setting_count(); i++)
		for (int j = i + 1; j < config_setting_count(); j++)
			if (strcmp(config_setting_name(config_setting_at(i)),
				   config_setting_name(config_setting_at(j))) == 0)
				dup = true;
	CHECK(!dup);
	CHECK(config_setting_at(-1) == NULL);
	CHECK(config_setting_at(config_setting_count()) == NULL);
	CHECK(config_setting_find("LISTEN_PORT") == config_setting_find("listen_port"));
	CHECK(config_setting_find("nope") == NULL);
}

/* doc/config.md documents the [pgbouncer] options as "### name" headings in table order. */
static void test_doc_order(void)
{
	char path[4096];
	FILE *f;
	char line[512];
	int next = 0;
	bool in_order = true;

	snprintf(path, sizeof(path), "%s/doc/config.md", srcdir());
	f = fopen(path, "r");
	CHECK_MSG(f != NULL, "doc/config.md exists");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f) && next < config_setting_count()) {
		char name[256];
		if (sscanf(line, "### %255s", name) != 1)
			continue;
		if (strcmp(name, config_setting_name(config_setting_at(next))) != 0) {
			printf("# doc has %s where the table has %s\n", name,
			       config_setting_name(config_setting_at(next)));
			in_order = false;
			break;
		}
		next++;
	}
	fclose(f);
	CHECK(in_order);
	CHECK(next == config_setting_count());
}

/*
 * Each [pgbouncer] option's "Default:" line ends with its scope, and the scope agrees
 * with what the [databases] and [users] parsers accept (default_pool_size is pool_size
 * there; the global user is the Unix user, not the login user= of an entry).
 */
static bool scope_line_agrees(const char *option, const char *line)
{
	const char *scope = strstr(line, "Scope: global");
	if (!scope)
		return false;
	const char *key = strcmp(option, "default_pool_size") == 0 ? "pool_size" : option;
	bool is_unix_user = strcmp(option, "user") == 0;
	bool says_db = strstr(scope, "[databases]") != NULL && !is_unix_user;
	bool says_user = strstr(scope, "[users]") != NULL;
	bool db_key = connstr_database_has_key(key) && !is_unix_user;
	return says_db == db_key && says_user == connstr_user_has_key(key);
}

static void test_doc_scope(void)
{
	char path[4096], line[2048], option[256] = "";
	int checked = 0, wrong = 0;
	snprintf(path, sizeof(path), "%s/doc/config.md", srcdir());
	FILE *f = fopen(path, "r");
	CHECK_MSG(f != NULL, "doc/config.md exists");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char name[256];
		if (strncmp(line, "## [databases]", 14) == 0)
			break;
		if (sscanf(line, "### %255s", name) == 1) {
			snprintf(option, sizeof(option), "%s", name);
		} else if (option[0] && strncmp(line, "Default:", 8) == 0) {
			if (!scope_line_agrees(option, line)) {
				printf("# %s: scope missing or not what the parsers accept\n", option);
				wrong++;
			}
			checked++;
			option[0] = '\0';
		}
	}
	fclose(f);
	CHECK(wrong == 0);
	CHECK(checked == config_setting_count());
}

/* ---- defaults ------------------------------------------------------------------------ */

static void test_defaults(void)
{
	Config *cfg = config_new_default();
	char buf[512];
	bool all_round_trip = true;

	CHECK(cfg->listen_port == 6432);
	CHECK(cfg->default_pool_size == 20);
	CHECK(cfg->max_client_conn == 100);
	CHECK(cfg->pool_mode == POOL_MODE_SESSION);
	CHECK(cfg->auth_type == AUTH_TYPE_MD5);
	CHECK_STR(cfg->server_reset_query, "DISCARD ALL");
	CHECK_STR(cfg->server_check_query, "<empty>");
	CHECK(cfg->server_check_delay == 30 * USEC_PER_SEC);
	CHECK(cfg->server_lifetime == 3600 * USEC_PER_SEC);
	CHECK(cfg->server_idle_timeout == 600 * USEC_PER_SEC);
	CHECK(cfg->server_connect_timeout == 15 * USEC_PER_SEC);
	CHECK(cfg->server_login_retry == 15 * USEC_PER_SEC);
	CHECK(cfg->client_login_timeout == 60 * USEC_PER_SEC);
	CHECK(cfg->query_wait_timeout == 120 * USEC_PER_SEC);
	CHECK(cfg->cancel_wait_timeout == 10 * USEC_PER_SEC);
	CHECK(cfg->reserve_pool_timeout == 5 * USEC_PER_SEC);
	CHECK(cfg->autodb_idle_timeout == 3600 * USEC_PER_SEC);
	CHECK(cfg->suspend_timeout == 10 * USEC_PER_SEC);
	CHECK(cfg->stats_period == 60 * USEC_PER_SEC);
	CHECK(cfg->dns_max_ttl == 15 * USEC_PER_SEC);
	CHECK(cfg->dns_nxdomain_ttl == 15 * USEC_PER_SEC);
	CHECK(cfg->pkt_buf == 4096);
	CHECK(cfg->max_packet_size == 2147483647);
	CHECK(cfg->listen_backlog == 128);
	CHECK(cfg->sbuf_loopcnt == 5);
	CHECK(cfg->tcp_keepalive == 1);
	CHECK_STR(cfg->unix_socket_dir, "/tmp");
	CHECK(cfg->unix_socket_mode == 0777);
	CHECK(cfg->log_connections == 1 && cfg->log_disconnections == 1);
	CHECK(cfg->log_pooler_errors == 1 && cfg->log_stats == 1);
	CHECK(cfg->max_prepared_statements == 200);
	CHECK(cfg->scram_iterations == 4096);
	CHECK_STR(cfg->syslog_ident, "pgbouncer");
	CHECK_STR(cfg->syslog_facility, "daemon");
	CHECK_STR(cfg->track_extra_parameters, "IntervalStyle");
	CHECK(cfg->server_tls_sslmode == TLS_MODE_PREFER);
	CHECK(cfg->client_tls_sslmode == TLS_MODE_DISABLE);
	CHECK_STR(cfg->logfile, "");
	CHECK_STR(cfg->config_file, "");
	CHECK_STR(cfg->replica_lb, "least_connections");
	CHECK(cfg->primary_read_weight == 0);
	CHECK_STR(cfg->replica_fallback, "primary");
	CHECK(cfg->replica_check_period == USEC_PER_SEC / 10);
	CHECK(cfg->replica_max_lag == 10 * USEC_PER_SEC);
	CHECK_STR(cfg->write_functions, "");
	CHECK_STR(cfg->read_your_writes, "lsn");
	CHECK_STR(cfg->read_your_writes_scope, "client");
	CHECK(cfg->write_window == 2 * USEC_PER_SEC);
	CHECK(cfg->causal_wait == 0);
	CHECK(cfg->replica_catchup_wait == USEC_PER_SEC / 100);
	CHECK(cfg->databases == NULL && cfg->users == NULL && cfg->peers == NULL);

	/* each default prints back as the table writes it (SHOW CONFIG default column) */
	for (int i = 0; i < config_setting_count(); i++) {
		const ConfigSetting *s = config_setting_at(i);
		config_setting_format(cfg, s, buf, sizeof(buf));
		if (strcmp(buf, config_setting_default(s)) != 0) {
			printf("# %s: default '%s' prints as '%s'\n", config_setting_name(s),
			       config_setting_default(s), buf);
			all_round_trip = false;
		}
	}
	CHECK(all_round_trip);
	config_free(cfg);
}

/* ---- a full file -------------------------------------------------------------------- */

static void check_full_databases(const Config *cfg)
{
	const DatabaseDef *app = config_find_database(cfg, "app");
	const DatabaseDef *rep = config_find_database(cfg, "reports");
	const DatabaseDef *legacy = config_find_database(cfg, "legacy");
	const DatabaseDef *odd = config_find_database(cfg, "odd \"name\"");
	const DatabaseDef *empty = config_find_database(cfg, "empty");
	const DatabaseDef *other = config_find_database(cfg, "unlisted");

	CHECK(app != NULL && rep != NULL && legacy != NULL && odd != NULL && empty != NULL);
	if (!app || !rep || !legacy || !odd || !empty)
		return;
	CHECK_STR(app->host, "10.0.0.1");
	CHECK(app->port == 5433);
	CHECK_STR(app->dbname, "appdb");
	CHECK_STR(app->user, "app");
	CHECK_STR(app->password, "it's secret");
	CHECK(app->pool_size == 30);
	CHECK(app->min_pool_size == -1 && app->reserve_pool_size == -1);
	CHECK(app->pool_mode == POOL_MODE_UNSET);
	CHECK(app->routing == ROUTING_AUTO);
	CHECK(app->n_replicas == 3);
	if (app->n_replicas == 3) {
		CHECK_STR(app->replicas[0].host, "10.0.0.2");
		CHECK(app->replicas[0].port == 0);
		CHECK_STR(app->replicas[1].host, "10.0.0.3");
		CHECK(app->replicas[1].port == 5434);
		CHECK_STR(app->replicas[2].host, "::1");
		CHECK(app->replicas[2].port == 5435);
	}
	CHECK(app->line == 5);
	CHECK(app->server_lifetime == -1);
	CHECK(app->replica_pool_size == -1);

	CHECK_STR(rep->host, "/var/run/postgresql");
	CHECK(rep->port == 5432);
	CHECK(rep->routing == ROUTING_REPLICA);
	CHECK(rep->replica_pool_size == 5);

	CHECK(legacy->routing == ROUTING_PRIMARY);
	CHECK(legacy->pool_mode == POOL_MODE_TRANSACTION);
	CHECK_STR(legacy->connect_query, "SELECT 'x'");
	CHECK(legacy->server_lifetime == 120500000);
	CHECK(legacy->n_replicas == 0);

	CHECK_STR(odd->host, "::1");
	CHECK(odd->max_db_connections == 7 && odd->max_db_client_connections == 70);
	CHECK_STR(odd->application_name, "odd");

	CHECK(empty->host == NULL && empty->dbname == NULL && empty->port == 5432);
	CHECK(empty->routing == ROUTING_UNSET);

	CHECK(other != NULL && strcmp(other->name, "*") == 0);
	if (other) {
		CHECK_STR(other->auth_user, "authy");
		CHECK_STR(other->auth_query,
			  "SELECT usename, passwd FROM pg_shadow WHERE usename=$1");
		CHECK_STR(other->auth_dbname, "authdb");
	}
	/* file order, with the included database last */
	const char *order[] = {
		"app", "reports", "legacy", "odd \"name\"", "empty", "*", "fromleaf"
	};
	const DatabaseDef *db = cfg->databases;
	bool ordered = true;
	for (size_t i = 0; i < ARRAY_SIZE(order); i++, db = db ? db->next : NULL)
		if (!db || strcmp(db->name, order[i]) != 0)
			ordered = false;
	CHECK(ordered && db == NULL);
}

static void check_full_users_peers(const Config *cfg)
{
	const UserDef *alice = config_find_user(cfg, "alice");
	const UserDef *bob = config_find_user(cfg, "bob");
	const PeerDef *p1 = cfg->peers;
	const PeerDef *p2 = p1 ? p1->next : NULL;

	CHECK(alice != NULL && bob != NULL);
	CHECK(config_find_user(cfg, "carol") == NULL);
	if (alice) {
		CHECK(alice->pool_mode == POOL_MODE_STATEMENT);
		CHECK(alice->pool_size == 3);
		CHECK(alice->max_user_connections == 4);
		CHECK(alice->max_user_client_connections == 40);
		CHECK(alice->query_timeout == 2500000);
		CHECK(alice->reserve_pool_size == -1);
	}
	if (bob) {
		CHECK(bob->pool_mode == POOL_MODE_UNSET);
		CHECK(bob->reserve_pool_size == 2);
		CHECK(bob->idle_transaction_timeout == 30 * USEC_PER_SEC);
		CHECK(bob->query_timeout == -1);
	}
	CHECK(p1 != NULL && p2 != NULL);
	if (p1 && p2) {
		CHECK(p1->peer_id == 1);
		CHECK_STR(p1->host, "/tmp/pgsplit1");
		CHECK(p1->port == 6432 && p1->pool_size == -1);
		CHECK(p2->peer_id == 2);
		CHECK_STR(p2->host, "10.1.1.2");
		CHECK(p2->port == 7000 && p2->pool_size == 9);
		CHECK(p2->next == NULL);
	}
}

static void test_full_file(void)
{
	char err[512];
	Config *cfg = load("full.ini", err, sizeof(err));

	CHECK_MSG(cfg != NULL, "full.ini loads");
	if (!cfg) {
		printf("# %s\n", err);
		return;
	}
	CHECK_STR(cfg->config_file, fixture("full.ini"));
	CHECK(cfg->listen_port == 7432);
	CHECK_STR(cfg->listen_addr, "127.0.0.1, ::1");
	CHECK(cfg->pool_mode == POOL_MODE_TRANSACTION);
	CHECK(cfg->max_client_conn == 500);
	CHECK(cfg->default_pool_size == 15);
	CHECK(cfg->reserve_pool_timeout == USEC_PER_SEC / 2);
	CHECK_STR(cfg->server_reset_query, "DISCARD ALL ; not a comment");
	CHECK(cfg->auth_type == AUTH_TYPE_SCRAM);
	CHECK(cfg->unix_socket_mode == 0700);
	CHECK(cfg->log_connections == 0);
	CHECK_STR(cfg->replica_lb, "least_lag");
	CHECK(cfg->replica_check_period == 250000);
	CHECK_STR(cfg->read_your_writes, "window");
	CHECK(cfg->write_window == 1500000);
	/* from sub/extra.ini (relative to full.ini), and the section restored after it */
	CHECK(cfg->server_idle_timeout == 42 * USEC_PER_SEC);
	CHECK(cfg->verbose == 1);
	CHECK(config_find_database(cfg, "fromleaf") != NULL);
	check_full_databases(cfg);
	check_full_users_peers(cfg);
	config_free(cfg);
}

/* ---- errors -------------------------------------------------------------------------- */

typedef struct ErrorCase {
	const char *file;
	const char *expect1;
	const char *expect2;
} ErrorCase;

static const ErrorCase error_cases[] = {
	{ "bad_unknown_key.ini", "bad_unknown_key.ini:4: key 'no_such_option'", "unknown option" },
	{ "bad_int.ini", "bad_int.ini:2: key 'max_client_conn'", "expected an integer" },
	{ "bad_enum.ini", "bad_enum.ini:4: key 'pool_mode'",
	  "expected one of session, transaction, statement" },
	{ "bad_time.ini", "bad_time.ini:2: key 'query_timeout'", "expected a duration in seconds" },
	{ "bad_connstr_key.ini", "bad_connstr_key.ini:3: database 'bad'",
	  "key 'colour': unknown parameter" },
	{ "bad_replicas_ipv6.ini", "bad_replicas_ipv6.ini:2: database 'bad': key 'replicas'",
	  "in brackets" },
	{ "bad_replicas_port.ini", "bad_replicas_port.ini:2: database 'bad': key 'replicas'",
	  "bad port '70000'" },
	{ "bad_replicas_empty.ini", "bad_replicas_empty.ini:2: database 'bad': key 'replicas'",
	  "empty host" },
	{ "bad_routing.ini", "bad_routing.ini:2: database 'bad': key 'routing'", "replicas" },
	{ "bad_quote.ini", "bad_quote.ini:2: database 'bad': key 'dbname'", "unterminated" },
	{ "bad_reserved.ini", "bad_reserved.ini:2: database 'pgbouncer'", "reserved" },
	{ "bad_include_missing.ini", "bad_include_missing.ini:2: %include", "does_not_exist.ini" },
	{ "bad_section.ini", "bad_section.ini:3: unknown section [nonsense]",
	  "expected databases" },
	{ "bad_no_section.ini", "bad_no_section.ini:1: key 'listen_port'",
	  "outside of any [section]" },
	{ "bad_line.ini", "bad_line.ini:2: expected 'key = value'", "" },
	{ "bad_user.ini", "bad_user.ini:2: user 'alice': key 'pool_size'", "non-negative integer" },
	{ "bad_peer.ini", "bad_peer.ini:2: peer '0'", "1..16383" },
	{ "no_such_file.ini", "no_such_file.ini: could not open config file", "No such file" },
	{ "cycle_a.ini", "cycle_b.ini:2: %include 'cycle_a.ini'", "include cycle" },
	{ "bad_mode.ini", "bad_mode.ini:2: key 'unix_socket_mode'", "octal file mode" },
	{ "bad_bool.ini", "bad_bool.ini:2: key 'log_stats'", "expected a boolean" },
	{ "bad_header.ini", "bad_header.ini:1: section header without closing ']'", "" },
	{ "bad_include_empty.ini", "bad_include_empty.ini:2: %include needs a file name", "" },
	{ "bad_quoted_key.ini", "bad_quoted_key.ini:2: expected 'key = value'", "" },
	{ "deep0.ini", "deep7.ini:1: %include 'deep8.ini'", "nested too deeply" },
};

static void test_errors(void)
{
	char err[512];

	for (size_t i = 0; i < ARRAY_SIZE(error_cases); i++) {
		const ErrorCase *c = &error_cases[i];
		Config *cfg = load(c->file, err, sizeof(err));
		bool ok = cfg == NULL && strstr(err, c->expect1) && strstr(err, c->expect2);
		if (!ok)
			printf("# %s: got \"%s\"\n", c->file, err);
		CHECK_MSG(ok, c->file);
		config_free(cfg);
	}
}

static void test_include_depth_ok(void)
{
	char err[512];
	/* deep2 .. deep9 is a chain of exactly the allowed eight files */
	Config *cfg = load("deep2.ini", err, sizeof(err));
	CHECK(cfg != NULL);
	if (cfg)
		CHECK(cfg->listen_port == 1);
	config_free(cfg);
}

static void test_duplicates_replace(void)
{
	char err[512];
	Config *cfg = load("dupes.ini", err, sizeof(err));

	CHECK(cfg != NULL);
	if (!cfg)
		return;
	CHECK(cfg->listen_port == 2000);
	CHECK(cfg->databases && strcmp(cfg->databases->name, "a") == 0);
	if (cfg->databases) {
		CHECK_STR(cfg->databases->host, "second");
		CHECK(cfg->databases->port == 6000 && cfg->databases->line == 4);
		CHECK(cfg->databases->next && strcmp(cfg->databases->next->name, "b") == 0);
		CHECK(cfg->databases->next && cfg->databases->next->next == NULL);
	}
	CHECK(cfg->users && cfg->users->pool_size == 2 && cfg->users->next == NULL);
	CHECK(cfg->peers && strcmp(cfg->peers->host, "p1bis") == 0 && cfg->peers->next == NULL);
	config_free(cfg);
}

/* A file without [pgbouncer] loads (start keeps working) but may not replace a running one. */
static void test_check_reload(void)
{
	char err[512] = "";
	Config *cfg = load("leaf.ini", err, sizeof(err));

	CHECK(cfg != NULL);
	if (cfg) {
		CHECK(!config_check_reload(cfg, err, sizeof(err)));
		CHECK(strstr(err, "no [pgbouncer] section") != NULL);
	}
	config_free(cfg);
	cfg = load("dupes.ini", err, sizeof(err));
	CHECK(cfg != NULL);
	if (cfg)
		CHECK(config_check_reload(cfg, err, sizeof(err)));
	config_free(cfg);
}

static void test_include_from_cwd(void)
{
	char dir[4096], here[4096], err[512];
	Config *cfg;

	snprintf(dir, sizeof(dir), "%s/test/data/config", srcdir());
	CHECK(getcwd(here, sizeof(here)) != NULL);
	CHECK(chdir(dir) == 0);
	cfg = config_load("sub/uses_cwd.ini", err, sizeof(err));
	CHECK(chdir(here) == 0);
	CHECK(cfg != NULL);
	if (cfg) {
		CHECK(config_find_database(cfg, "fromleaf") != NULL);
		CHECK_STR(cfg->config_file, "sub/uses_cwd.ini");
	}
	config_free(cfg);
}

/* ---- connstr directly -------------------------------------------------------------- */

static void test_connstr_values(void)
{
	DatabaseDef *db = NULL;
	char err[256];

	CHECK(connstr_parse_database("d", "  host = h1,h2  port=6000 dbname='my db' ", &db, err,
				     sizeof(err)));
	if (db) {
		CHECK_STR(db->host, "h1,h2");
		CHECK(db->port == 6000);
		CHECK_STR(db->dbname, "my db");
		connstr_free_database(db);
		db = NULL;
	}
	CHECK(connstr_parse_database("d", "password='a\\'b''c\\\\d'", &db, err, sizeof(err)));
	if (db) {
		CHECK_STR(db->password, "a'b'c\\d");
		connstr_free_database(db);
		db = NULL;
	}
	CHECK(connstr_parse_database("d",
				     "host=2001:db8::1 load_balance_hosts=disable "
				     "target_session_attrs=standby query_wait_timeout=-1",
				     &db, err, sizeof(err)));
	if (db) {
		CHECK(db->load_balance_hosts == LB_HOSTS_DISABLE);
		CHECK(db->target_session_attrs == TSA_STANDBY);
		CHECK(db->query_wait_timeout == -1);
		connstr_free_database(db);
		db = NULL;
	}
	CHECK(connstr_parse_database("d", "replicas='a, b:1' routing=primary reserve_pool=4", &db,
				     err, sizeof(err)));
	if (db) {
		CHECK(db->n_replicas == 2 && db->routing == ROUTING_PRIMARY &&
		      db->reserve_pool_size == 4);
		connstr_free_database(db);
		db = NULL;
	}
	CHECK(!connstr_parse_database("d", "host=bad!host", &db, err, sizeof(err)) &&
	      strstr(err, "key 'host'"));
	CHECK(!connstr_parse_database("d", "port=0", &db, err, sizeof(err)) &&
	      strstr(err, "key 'port'"));
	CHECK(!connstr_parse_database("d", "pool_size=ten", &db, err, sizeof(err)) &&
	      strstr(err, "pool_size"));
	CHECK(!connstr_parse_database("d", "host", &db, err, sizeof(err)) &&
	      strstr(err, "expected key=value"));
	CHECK(!connstr_parse_database("d", "routing=sideways", &db, err, sizeof(err)) &&
	      strstr(err, "expected one of auto, primary, replica"));
	CHECK(db == NULL);
}

static void test_replicas(void)
{
	HostPort *list = NULL;
	int n = 0;
	char err[256];

	CHECK(connstr_parse_replicas("h1,h2:5433,[::1]:5434,[fe80::1],/var/run/pg,/tmp:5999", &list,
				     &n, err, sizeof(err)));
	CHECK(n == 6);
	if (n == 6) {
		CHECK_STR(list[0].host, "h1");
		CHECK(list[0].port == 0);
		CHECK(list[1].port == 5433);
		CHECK_STR(list[2].host, "::1");
		CHECK(list[2].port == 5434);
		CHECK_STR(list[3].host, "fe80::1");
		CHECK(list[3].port == 0);
		CHECK_STR(list[4].host, "/var/run/pg");
		CHECK_STR(list[5].host, "/tmp");
		CHECK(list[5].port == 5999);
	}
	for (int i = 0; i < n; i++)
		free(list[i].host);
	free(list);
	CHECK(!connstr_parse_replicas("[::1", &list, &n, err, sizeof(err)));
	CHECK(!connstr_parse_replicas("[nothex]:1", &list, &n, err, sizeof(err)));
	CHECK(!connstr_parse_replicas("h:0", &list, &n, err, sizeof(err)));
	CHECK(!connstr_parse_replicas("h:", &list, &n, err, sizeof(err)));
	CHECK(!connstr_parse_replicas("h,", &list, &n, err, sizeof(err)));
	CHECK(!connstr_parse_replicas("a b", &list, &n, err, sizeof(err)));
	CHECK(!connstr_parse_replicas("", &list, &n, err, sizeof(err)));
}

static void test_scalars(void)
{
	long long v;
	usec_t t;
	int b;

	CHECK(connstr_parse_int(" 42 ", 0, 100, &v) && v == 42);
	CHECK(!connstr_parse_int("101", 0, 100, &v));
	CHECK(!connstr_parse_int("4x", 0, 100, &v));
	CHECK(!connstr_parse_int("", 0, 100, &v));
	CHECK(!connstr_parse_int("99999999999999999999", 0, 100, &v));
	CHECK(connstr_parse_seconds("3600.0", &t) && t == 3600 * USEC_PER_SEC);
	CHECK(connstr_parse_seconds(".5", &t) && t == 500000);
	CHECK(connstr_parse_seconds("100ms", &t) && t == 100000);
	CHECK(connstr_parse_seconds("2 min", &t) && t == 120 * USEC_PER_SEC);
	CHECK(!connstr_parse_seconds("-1", &t));
	CHECK(!connstr_parse_seconds("nan", &t));
	CHECK(!connstr_parse_seconds("5 parsecs", &t));
	CHECK(!connstr_parse_seconds("1e300", &t));
	CHECK(connstr_parse_bool("On", &b) && b == 1);
	CHECK(connstr_parse_bool("0", &b) && b == 0);
	CHECK(connstr_parse_bool("2", &b) && b == 1);
	CHECK(!connstr_parse_bool("maybe", &b));
}

/* ---- lookups ------------------------------------------------------------------------- */

static void test_lists(void)
{
	CHECK(config_list_contains("admin, root", "root"));
	CHECK(config_list_contains("admin,root", "admin"));
	CHECK(config_list_contains("  stats  watcher ", "watcher"));
	CHECK(!config_list_contains("admin, root", "roo"));
	CHECK(!config_list_contains("administrator", "admin"));
	CHECK(!config_list_contains("", "admin"));
	CHECK(!config_list_contains("admin", ""));
	CHECK(!config_list_contains(NULL, "admin"));
}

static void test_find_without_fallback(void)
{
	char err[512];
	Config *cfg = load("leaf.ini", err, sizeof(err));
	CHECK(cfg != NULL);
	if (!cfg)
		return;
	CHECK(config_find_database(cfg, "fromleaf") != NULL);
	CHECK(config_find_database(cfg, "other") == NULL);
	CHECK(config_find_user(cfg, "x") == NULL);
	config_free(cfg);
}

/*
 * Thousands of entries load and are found by name in linear time (reloading 5,000
 * databases once took a second, most of it comparing names): each found, the "*"
 * fallback for the rest, a repeated name replacing its entry in place.
 */
static void test_many_databases(void)
{
	enum { N = 20000 };
	char path[] = "/tmp/pgsplit-test-many-XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	CHECK(f != NULL);
	if (!f)
		return;
	fprintf(f, "[databases]\n");
	for (int i = 0; i < N; i++) {
		fprintf(f, "db%d = host=h%d dbname=x\n", i, i);
		if (i == N / 2)
			fprintf(f, "* = host=fallback\n");
	}
	fprintf(f, "db7 = host=again\n[users]\nu1 = pool_size=3\n[pgbouncer]\nlisten_port = 7000\n");
	fclose(f);
	char err[512];
	usec_t t0 = time_now_mono();
	Config *cfg = config_load(path, err, sizeof(err));
	usec_t took = time_now_mono() - t0;
	unlink(path);
	CHECK(cfg != NULL);
	if (!cfg)
		return;
	int found = 0;
	for (int i = 0; i < N; i++) {
		char name[32];
		snprintf(name, sizeof(name), "db%d", i);
		const DatabaseDef *d = config_find_database(cfg, name);
		found += d && strcmp(d->name, name) == 0;
	}
	CHECK(found == N);
	CHECK_STR(config_find_database(cfg, "db7")->host, "again");
	CHECK(cfg->databases->next->next->next->next->next->next->next == config_find_database(cfg, "db7"));
	CHECK_STR(config_find_database(cfg, "nosuch")->name, "*");
	CHECK(config_find_user(cfg, "u1") && config_find_user(cfg, "u1")->pool_size == 3);
	CHECK(config_find_user(cfg, "u2") == NULL);
	/* quadratic name matching took seconds here; linear takes milliseconds, ASan included */
	CHECK(took < 2 * USEC_PER_SEC);
	config_free(cfg);
}

/* ---- SET and SHOW CONFIG ------------------------------------------------------------- */

static void test_set_and_format(void)
{
	Config *cfg = config_new_default();
	Config *other = config_new_default();
	char err[256], buf[256];

	CHECK(config_set(cfg, "default_pool_size", "50", err, sizeof(err)) &&
	      cfg->default_pool_size == 50);
	CHECK(config_set(cfg, "POOL_MODE", "statement", err, sizeof(err)) &&
	      cfg->pool_mode == POOL_MODE_STATEMENT);
	CHECK(config_set(cfg, "query_timeout", "0.25", err, sizeof(err)));
	format_of(cfg, "query_timeout", buf, sizeof(buf));
	CHECK_STR(buf, "0.25");
	CHECK(config_set(cfg, "server_lifetime", "7200.0", err, sizeof(err)));
	format_of(cfg, "server_lifetime", buf, sizeof(buf));
	CHECK_STR(buf, "7200");
	format_of(cfg, "replica_check_period", buf, sizeof(buf));
	CHECK_STR(buf, "0.1");
	format_of(cfg, "pool_mode", buf, sizeof(buf));
	CHECK_STR(buf, "statement");
	format_of(cfg, "auth_type", buf, sizeof(buf));
	CHECK_STR(buf, "md5");
	format_of(cfg, "unix_socket_mode", buf, sizeof(buf));
	CHECK_STR(buf, "0777");
	CHECK(config_set(cfg, "log_stats", "off", err, sizeof(err)));
	format_of(cfg, "log_stats", buf, sizeof(buf));
	CHECK_STR(buf, "0");
	CHECK(config_set(cfg, "admin_users", "a, b", err, sizeof(err)));
	CHECK_STR(cfg->admin_users, "a, b");
	CHECK(config_set(cfg, "replica_lb", "ROUND_ROBIN", err, sizeof(err)));
	CHECK_STR(cfg->replica_lb, "round_robin");

	CHECK(!config_set(cfg, "listen_port", "7000", err, sizeof(err)));
	CHECK(strstr(err, "listen_port cannot be changed online") != NULL);
	CHECK(cfg->listen_port == 6432);
	CHECK(!config_set(cfg, "max_client_conn", "many", err, sizeof(err)));
	CHECK(strstr(err, "max_client_conn") && strstr(err, "expected an integer"));
	CHECK(cfg->max_client_conn == 100);
	CHECK(!config_set(cfg, "auth_type", "ldap", err, sizeof(err)));
	CHECK(strstr(err, "expected one of trust, any, plain, md5, scram-sha-256") != NULL);
	CHECK(config_set(cfg, "server_tls_sslmode", "require", err, sizeof(err)));
	CHECK(cfg->server_tls_sslmode == TLS_MODE_REQUIRE);
	CHECK(!config_set(cfg, "no_such", "1", err, sizeof(err)));
	CHECK(strstr(err, "unknown setting no_such") != NULL);

	/* the HTTP endpoint: off by default, numeric addresses only */
	CHECK(cfg->http_listen_port == 0);
	CHECK_STR(cfg->http_listen_addr, "127.0.0.1");
	CHECK(config_set(cfg, "http_listen_addr", "::1", err, sizeof(err)));
	CHECK(config_set(cfg, "http_listen_addr", "*", err, sizeof(err)));
	CHECK(config_set(cfg, "http_listen_addr", "0.0.0.0", err, sizeof(err)));
	CHECK(!config_set(cfg, "http_listen_addr", "localhost", err, sizeof(err)));
	CHECK(strstr(err, "expected a numeric IPv4 or IPv6 address") != NULL);
	CHECK(!config_set(cfg, "http_listen_addr", "", err, sizeof(err)));
	CHECK_STR(cfg->http_listen_addr, "0.0.0.0");
	CHECK(!config_set(cfg, "http_listen_port", "65536", err, sizeof(err)));
	CHECK(config_set(cfg, "http_listen_port", "9127", err, sizeof(err)) && cfg->http_listen_port == 9127);

	CHECK(config_setting_differs(cfg, other, config_setting_find("default_pool_size")));
	CHECK(!config_setting_differs(cfg, other, config_setting_find("listen_port")));
	CHECK(!config_setting_reloadable(config_setting_find("unix_socket_dir")));
	CHECK(config_setting_reloadable(config_setting_find("default_pool_size")));
	CHECK(!config_setting_implemented(config_setting_find("auth_ldap_options")));
	CHECK(config_setting_implemented(config_setting_find("query_wait_notify")));
	CHECK(config_setting_implemented(config_setting_find("pool_mode")));
	CHECK_STR(config_pool_mode_name(POOL_MODE_TRANSACTION), "transaction");
	CHECK_STR(config_pool_mode_name(POOL_MODE_UNSET), "unset");
	CHECK_STR(config_auth_type_name(AUTH_TYPE_SCRAM), "scram-sha-256");
	config_free(cfg);
	config_free(other);
}

/* syslog_facility reaches openlog() as the LOG_* code its name stands for. */
static void test_syslog_facility_codes(void)
{
	CHECK(log_syslog_facility("auth") == LOG_AUTH);
	CHECK(log_syslog_facility("authpriv") == LOG_AUTHPRIV);
	CHECK(log_syslog_facility("daemon") == LOG_DAEMON);
	CHECK(log_syslog_facility("user") == LOG_USER);
	CHECK(log_syslog_facility("local0") == LOG_LOCAL0);
	CHECK(log_syslog_facility("local7") == LOG_LOCAL7);
	CHECK(log_syslog_facility(NULL) == LOG_DAEMON);
	/* every name the config accepts has its own code */
	const char *names[] = { "auth", "authpriv", "daemon", "user", "local0", "local1",
				"local2", "local3", "local4", "local5", "local6", "local7" };
	char err[256];
	Config *cfg = config_new_default();
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		CHECK(config_set(cfg, "syslog_facility", names[i], err, sizeof(err)));
		for (size_t j = 0; j < i; j++)
			CHECK(log_syslog_facility(names[j]) != log_syslog_facility(names[i]));
	}
	config_free(cfg);
}

/* ---- warnings for accepted-but-not-implemented options -------------------------------- */

static int count_in_file(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	int n = 0;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, needle))
			n++;
	fclose(f);
	return n;
}

static const SyslogSettings no_syslog = { 0 };

static void test_unimplemented_warnings(void)
{
	char logpath[] = "/tmp/test_config_log_XXXXXX";
	int fd = mkstemp(logpath);
	char err[512];
	Config *cfg;

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	close(fd);
	log_configure(logpath, &no_syslog, true, 0);
	cfg = load("unimplemented.ini", err, sizeof(err));
	CHECK(cfg != NULL);
	if (cfg) {
		CHECK_STR(cfg->auth_ldap_options, "ldapurl=\"ldap://127.0.0.2/dc=example\"");
		CHECK_STR(cfg->service_name, "other");
	}
	log_configure(NULL, &no_syslog, true, 0);
	CHECK(count_in_file(logpath, "option \"auth_ldap_options\" is accepted but not "
				     "implemented yet; it has no effect") == 1);
	CHECK(count_in_file(logpath, "option \"job_name\" is accepted but not implemented yet") ==
	      1);
	CHECK(count_in_file(logpath, "client_tls_sslmode") == 0);
	CHECK(count_in_file(logpath, "not implemented") == 2);
	config_free(cfg);
	unlink(logpath);
}

TAP_MAIN({ "table_covers_pgbouncer", test_table_covers_pgbouncer }, { "doc_order", test_doc_order },
	 { "doc_scope", test_doc_scope },
	 { "defaults", test_defaults }, { "full_file", test_full_file }, { "errors", test_errors },
	 { "include_depth_ok", test_include_depth_ok },
	 { "duplicates_replace", test_duplicates_replace }, { "check_reload", test_check_reload },
	 { "include_from_cwd", test_include_from_cwd }, { "connstr_values", test_connstr_values },
	 { "replicas", test_replicas }, { "scalars", test_scalars }, { "lists", test_lists },
	 { "find_without_fallback", test_find_without_fallback }, { "many_databases", test_many_databases },
	 { "set_and_format", test_set_and_format },
	 { "syslog_facility_codes", test_syslog_facility_codes },
	 { "unimplemented_warnings", test_unimplemented_warnings })
