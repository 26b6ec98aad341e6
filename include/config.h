/*
 * Configuration: the PgBouncer-compatible INI file read into one immutable snapshot
 * (struct Config). Reload builds a new snapshot, validates it and only then swaps it in;
 * a broken file leaves the old snapshot in force. Settings are data: one table row per
 * [pgbouncer] option (config.c), with offsetof into struct Config.
 *
 * Field names listed here are used by the rest of the pooler; config.c may add fields
 * for further options but must not rename these.
 */
#ifndef PGSPLIT_CONFIG_H
#define PGSPLIT_CONFIG_H

#include "common.h"
#include "hashindex.h"
#include <stdio.h>

typedef enum { POOL_MODE_UNSET = -1, POOL_MODE_SESSION = 0, POOL_MODE_TRANSACTION, POOL_MODE_STATEMENT } PoolMode;

typedef enum {
	AUTH_TYPE_TRUST,
	AUTH_TYPE_ANY,
	AUTH_TYPE_PLAIN,
	AUTH_TYPE_MD5,
	AUTH_TYPE_SCRAM,
	AUTH_TYPE_CERT,
	AUTH_TYPE_HBA,
	AUTH_TYPE_PEER,
} AuthType;

enum { RYW_LSN = 0, RYW_WINDOW = 1, RYW_OFF = 2 };
enum { RYW_SCOPE_CLIENT = 0, RYW_SCOPE_USER = 1 };

typedef enum { ROUTING_UNSET = -1, ROUTING_PRIMARY = 0, ROUTING_AUTO, ROUTING_REPLICA } RoutingMode;

/* client_tls_sslmode / server_tls_sslmode, in PostgreSQL's order of strictness. */
typedef enum {
	TLS_MODE_DISABLE,
	TLS_MODE_ALLOW,
	TLS_MODE_PREFER,
	TLS_MODE_REQUIRE,
	TLS_MODE_VERIFY_CA,
	TLS_MODE_VERIFY_FULL,
} TlsMode;

/* http_auth_type: what a request to the HTTP endpoint must prove. */
typedef enum { HTTP_AUTH_NONE, HTTP_AUTH_FILE, HTTP_AUTH_TOKEN } HttpAuthType;

/* [databases] load_balance_hosts= (how a host list is walked). */
typedef enum { LB_HOSTS_UNSET = -1, LB_HOSTS_ROUND_ROBIN = 0, LB_HOSTS_DISABLE } LoadBalanceHosts;

/* [databases] target_session_attrs= (which servers a new connection accepts). */
typedef enum {
	TSA_UNSET = -1,
	TSA_ANY = 0,
	TSA_READ_WRITE,
	TSA_READ_ONLY,
	TSA_PRIMARY,
	TSA_STANDBY,
	TSA_PREFER_STANDBY,
} TargetSessionAttrs;

/* One host:port of a replicas= list. */
typedef struct HostPort {
	char *host; /* name, IP, or unix socket directory (starts with '/') */
	int port;   /* 0 = the entry's port */
} HostPort;

/* One [databases] entry. Integer limits are -1 when not given (use the global). */
typedef struct DatabaseDef {
	char *name;   /* key; "*" is the fallback entry */
	char *host;   /* NULL: unix socket in the default directory */
	int port;     /* default 5432 */
	char *dbname; /* NULL: same as name */
	char *user;   /* forced server user, NULL: the client's user */
	char *password;
	char *auth_user;
	char *auth_query;
	char *auth_dbname;
	int pool_size;
	int min_pool_size;
	int reserve_pool_size;
	char *connect_query;
	PoolMode pool_mode;
	int max_db_connections;
	int max_db_client_connections;
	usec_t server_lifetime; /* -1 unset */
	char *client_encoding;
	char *datestyle;
	char *timezone;
	char *application_name;
	/* routing */
	HostPort *replicas;
	int n_replicas;
	RoutingMode routing;
	int replica_pool_size; /* -1: same as pool size */
	char *replica_weights; /* "w1,w2,...": one weight per replicas= entry, NULL: all 1 */
	/* read-your-writes overrides; -1 = the global setting */
	int read_your_writes;       /* RYW_LSN, RYW_WINDOW, RYW_OFF */
	int read_your_writes_scope; /* RYW_SCOPE_CLIENT, RYW_SCOPE_USER */
	usec_t write_window;
	usec_t causal_wait;
	usec_t query_wait_timeout;           /* -1 unset */
	LoadBalanceHosts load_balance_hosts; /* LB_HOSTS_UNSET: round robin */
	TargetSessionAttrs target_session_attrs;
	int line; /* line in its file, for messages */
	struct DatabaseDef *next;
	HashLink by_name; /* Config.databases_by_name */
} DatabaseDef;

/* One [users] entry. */
typedef struct UserDef {
	char *name;
	PoolMode pool_mode;
	int pool_size;
	int max_user_connections;
	int max_user_client_connections;
	usec_t query_timeout; /* -1 unset */
	int reserve_pool_size;            /* -1 unset */
	usec_t query_wait_timeout;        /* -1 unset */
	usec_t idle_transaction_timeout;  /* -1 unset */
	usec_t transaction_timeout;       /* -1 unset */
	usec_t client_idle_timeout;       /* -1 unset */
	struct UserDef *next;
	HashLink by_name; /* Config.users_by_name */
} UserDef;

typedef struct PeerDef {
	int peer_id;
	char *host; /* NULL: unix socket in the default directory */
	int port;   /* default 6432 */
	int pool_size; /* -1: default_pool_size */
	struct PeerDef *next;
} PeerDef;

/*
 * One configuration snapshot. String fields are never NULL after config_load (an unset
 * string is ""); times are microseconds. The setting "conffile" is config_file.
 */
typedef struct Config {
	char *config_file; /* path given on the command line */
	char *service_name; /* service_name / job_name (Windows only upstream) */
	int peer_id;
	int scram_iterations;

	/* [pgbouncer]: process and logging */
	char *logfile;
	char *pidfile;
	int syslog;
	char *syslog_ident;
	char *syslog_facility;
	int verbose;
	int log_connections;
	int log_disconnections;
	int log_pooler_errors;
	int log_stats;
	usec_t stats_period;
	char *user; /* -u / user= */

	/* listener */
	char *listen_addr;
	int listen_port;
	int listen_backlog;
	char *unix_socket_dir;
	int unix_socket_mode;
	char *unix_socket_group;
	int so_reuseport;

	/* auth */
	AuthType auth_type;
	char *auth_file;
	char *auth_hba_file;
	char *auth_ident_file;
	char *auth_user;
	char *auth_query;
	char *auth_dbname;
	char *auth_ldap_options;
	char *admin_users;
	char *stats_users;

	/* pooling */
	PoolMode pool_mode;
	int max_client_conn;
	int default_pool_size;
	int min_pool_size;
	int reserve_pool_size;
	usec_t reserve_pool_timeout;
	int max_db_connections;
	int max_db_client_connections;
	int max_user_connections;
	int max_user_client_connections;
	int server_round_robin;
	char *ignore_startup_parameters;
	char *track_extra_parameters;
	int disable_pqexec;
	int application_name_add_host;
	int max_prepared_statements;

	/* server maintenance */
	char *server_reset_query;
	int server_reset_query_always;
	/* "" disables the check; "<empty>" (the default) means send an empty query */
	char *server_check_query;
	usec_t server_check_delay;
	int server_fast_close;
	usec_t server_lifetime;
	usec_t server_idle_timeout;
	usec_t server_connect_timeout;
	usec_t server_login_retry;
	usec_t client_login_timeout;
	usec_t autodb_idle_timeout;
	usec_t pool_idle_timeout;

	/* timeouts */
	usec_t query_timeout;
	usec_t query_wait_timeout;
	usec_t cancel_wait_timeout;
	usec_t client_idle_timeout;
	usec_t idle_transaction_timeout;
	usec_t transaction_timeout;
	usec_t suspend_timeout;
	usec_t dns_max_ttl;
	usec_t dns_nxdomain_ttl;
	usec_t dns_zone_check_period;
	char *resolv_conf;
	usec_t query_wait_notify;
	char *login_notify_message;

	/* low level */
	int pkt_buf;
	int max_packet_size;
	int sbuf_loopcnt;
	int tcp_defer_accept;
	int tcp_socket_buffer;
	int tcp_keepalive;
	int tcp_keepcnt;
	int tcp_keepidle;
	int tcp_keepintvl;
	int tcp_user_timeout; /* milliseconds */

	/* TLS */
	TlsMode client_tls_sslmode;
	char *client_tls_key_file;
	char *client_tls_cert_file;
	char *client_tls_ca_file;
	char *client_tls_protocols;
	char *client_tls_ciphers;
	char *client_tls13_ciphers;
	char *client_tls_ecdhcurve;
	char *client_tls_dheparams;
	TlsMode server_tls_sslmode;
	char *server_tls_ca_file;
	char *server_tls_key_file;
	char *server_tls_cert_file;
	char *server_tls_protocols;
	char *server_tls_ciphers;
	char *server_tls13_ciphers;

	/* routing and read-your-writes */
	char *replica_lb;
	int primary_read_weight;
	char *replica_fallback;
	usec_t replica_check_period;
	usec_t replica_max_lag;
	char *replica_monitor_user; /* who the monitor logs in as, after user= / auth_user */
	int primary_discovery;      /* follow a promoted member (failover.c); off: host= always */
	char *http_listen_addr;     /* metrics and health endpoint */
	int http_listen_port;       /* 0: no endpoint */
	int http_tls;               /* HTTPS with the client_tls_key_file/cert_file pair */
	int http_auth_type;         /* HttpAuthType */
	char *http_auth_token;      /* the Bearer token of http_auth_type = token */
	char *write_functions;
	char *read_your_writes;
	char *read_your_writes_scope;
	usec_t write_window;
	usec_t causal_wait;
	usec_t replica_catchup_wait;

	/*
	 * Word-valued settings resolved to numbers whenever the snapshot is loaded or SET,
	 * so that routing and releasing a server never compare strings.
	 */
	int replica_lb_mode;        /* LoadBalance (router.h), from replica_lb */
	bool replica_fallback_error; /* replica_fallback = error */
	int read_your_writes_mode;  /* RYW_LSN, RYW_WINDOW, RYW_OFF */
	int read_your_writes_scope_mode; /* RYW_SCOPE_CLIENT, RYW_SCOPE_USER */
	bool server_reset_forgets_statements; /* server_reset_query has DISCARD ALL / DEALLOCATE ALL */
	bool server_check_sends_empty;        /* server_check_query is "<empty>" */

	/* sections */
	DatabaseDef *databases; /* in file order */
	UserDef *users;
	PeerDef *peers;
	/* lookups by name, so that loading and using thousands of entries stays linear */
	HashIndex databases_by_name;
	HashIndex users_by_name;
	DatabaseDef *databases_last; /* where the next new entry goes */
	UserDef *users_last;
	const DatabaseDef *fallback_db; /* the "*" entry, or NULL */
	/* a [pgbouncer] header occurred in the files read (a reload without one is refused) */
	bool has_pgbouncer_section;
} Config;

/*
 * Read and validate a config file (following %include). On failure returns NULL and
 * writes "FILE:LINE: key 'K': expected ..." into err. Warnings (accepted options that
 * are not implemented, once each) go to the log.
 */
Config *config_load(const char *path, char *err, size_t errlen) MUST_CHECK;
void config_free(Config *cfg);

/*
 * Whether a loaded file may replace the running configuration: false, with the reason in
 * err, when it has no [pgbouncer] section (an empty, emptied or truncated file would
 * otherwise drop every database, admin_users and TLS).
 */
bool config_check_reload(const Config *cfg, char *err, size_t errlen) MUST_CHECK;

/* A snapshot holding only the defaults (no sections); config_file is "". */
Config *config_new_default(void);

/* The [databases] entry for a name, or the "*" entry, or NULL. */
const DatabaseDef *config_find_database(const Config *cfg, const char *name);
const UserDef *config_find_user(const Config *cfg, const char *name);

/* True when name occurs in a comma/space separated list such as admin_users. */
bool config_list_contains(const char *list, const char *name);

/*
 * The settings table, for SHOW CONFIG and the admin SET command.
 * config_setting_format writes the current value as PgBouncer prints it.
 */
typedef struct ConfigSetting ConfigSetting;
int config_setting_count(void);
const ConfigSetting *config_setting_at(int i);
const char *config_setting_name(const ConfigSetting *s);
const char *config_setting_default(const ConfigSetting *s);
bool config_setting_reloadable(const ConfigSetting *s);
void config_setting_format(const Config *cfg, const ConfigSetting *s, char *buf, size_t len);
/* Set one [pgbouncer] key on cfg (admin SET). False with a reason in err. */
bool config_set(Config *cfg, const char *key, const char *value, char *err, size_t errlen) MUST_CHECK;
/* The value of s on cfg as config_set accepts it back (caller frees). */
char *config_setting_dup_value(const Config *cfg, const ConfigSetting *s);
/*
 * Settings that can only change at start keep old's value in cfg (a reload); each one
 * the file changed is logged as taking effect at the next start.
 */
void config_keep_fixed(Config *cfg, const Config *old);

/* Lookup by name (case-insensitive); NULL when unknown. */
const ConfigSetting *config_setting_find(const char *name);
/* False for options that are accepted but have no effect yet. */
bool config_setting_implemented(const ConfigSetting *s);
/* True when the setting has different values in a and b (reload: refuse or apply). */
bool config_setting_differs(const Config *a, const Config *b, const ConfigSetting *s);

/* Names of enum values, for messages and SHOW output. */
const char *config_pool_mode_name(PoolMode mode);
const char *config_auth_type_name(AuthType type);

#endif
