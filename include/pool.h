/*
 * Databases, users and pools. A Pool is per (database, user, target); target is the
 * primary for now (replica pools come with routing). The pool owns its servers, kept on
 * one list per server state, and the queue of clients waiting for a server.
 */
#ifndef PGSPLIT_POOL_H
#define PGSPLIT_POOL_H

#include "common.h"
#include "config.h"
#include "hashindex.h"
#include "list.h"
#include "ryw.h"
#include "stats.h"
#include "varcache.h"

typedef struct Client Client;
typedef struct Server Server;
typedef struct Pool Pool;

#define ROUTE_REASON_SLOTS 16 /* >= ROUTE_REASON_COUNT (router.h) */

typedef enum {
	REPLICA_UP,       /* in rotation */
	REPLICA_LAGGING,  /* over replica_max_lag: out of rotation */
	REPLICA_DOWN,     /* cannot connect or query: out of rotation until retried */
	REPLICA_PROMOTED, /* no longer in recovery: out of rotation */
	REPLICA_DISABLED, /* DISABLE REPLICA: drained, out of rotation */
	REPLICA_DIVERGED, /* replayed WAL the primary does not have (another timeline) */
	REPLICA_OLD_TIMELINE, /* not shown to follow the primary's timeline (since a failover) */
} ReplicaState;

/* One hot standby of a database. */
typedef struct Replica {
	char *host;
	int port;
	ReplicaState state;
	usec_t down_until;     /* monotonic: retry after this when DOWN */
	int down_count;        /* consecutive failures, for backoff */
	uint64_t replay_lsn;   /* last observed pg_last_wal_replay_lsn() */
	usec_t replay_seen_at; /* monotonic: when replay_lsn was observed */
	uint64_t diverged_lsn; /* replay_lsn when it was found DIVERGED */
	usec_t lag;            /* usec behind the primary, as last measured */
	uint64_t lag_bytes;
	usec_t last_check;     /* wall clock of the last successful check */
	uint64_t routed;       /* transactions sent here */
	uint64_t errors;       /* connection or check failures */
	bool in_recovery;      /* last check's pg_is_in_recovery() */
	int weight;            /* replica_weights entry; 0 = out of rotation */
	int rr_credit;         /* smooth weighted round robin */
	int active_servers;    /* servers linked to clients, across pools */
	bool removed;          /* gone from the config */
	bool check_wanted;     /* a read waits for this replica to pass its floor: check it soon */
	uint64_t want_lsn;     /* highest floor parked reads wait for here; 0: none */
	usec_t want_since;     /* monotonic: when want_lsn was first set */
	uint32_t timeline;     /* a primary's, or the timeline a standby receives; 0: unknown */
	usec_t claimed_at;     /* monotonic: first check of this run of "not in recovery"; 0: none */
	bool home;             /* the database's configured host (host=), a member once it lost the primary */
	uint64_t recovery_end; /* promoted: where its recovery ended (its timeline's switch point) */
	bool unproven;         /* since a failover: not yet shown to follow the new primary */
	uint64_t suspect_lsn;  /* unproven: the position it must replay past to be shown following */
} Replica;

/* A [databases] entry (or one made from "*" for an unknown name) at run time. */
typedef struct Database {
	char *name;
	char *host;   /* NULL: unix socket in /var/run/postgresql; may be a list a,b,c */
	char **hosts; /* host split at commas when it is a list (hostlist.c); else NULL */
	int n_hosts;
	int host_index;             /* the next (round-robin) or current (disable) host */
	LoadBalanceHosts host_mode; /* load_balance_hosts */
	int port;
	char *dbname; /* server-side database name */
	char *forced_user;
	char *forced_password;
	char *connect_query;
	int pool_size;         /* resolved: entry or default_pool_size */
	int min_pool_size;
	int reserve_pool_size;
	PoolMode pool_mode;    /* POOL_MODE_UNSET: user's or global */
	int max_db_connections;
	int max_db_client_connections;
	usec_t query_wait_timeout; /* resolved: entry or global */
	usec_t server_lifetime;
	VarCache startup_vars; /* client_encoding, datestyle, timezone, application_name */
	bool autodb;           /* made from "*" */
	bool removed;          /* gone from the config; kept until its pools empty */
	bool paused;
	bool disabled;
	usec_t last_used;
	RoutingMode routing;   /* ROUTING_PRIMARY when there are no replicas */
	TargetSessionAttrs session_attrs; /* target_session_attrs: which servers its connections accept */
	bool fallback_error;   /* no replica usable: refuse (replica_fallback = error, or a standby is required) */
	RywSettings ryw_settings; /* resolved at load, reload and SET */
	Replica **replicas;    /* owned; in config order */
	int n_replicas;
	int replica_pool_size; /* resolved */
	unsigned rr_next;      /* rotation for tie-breaking */
	int primary_rr_credit; /* the primary as a reader (primary_read_weight) */
	int primary_active;    /* primary servers linked to clients */
	uint64_t routed_primary;   /* transactions routed, by destination */
	uint64_t routed_replica;
	uint64_t route_reasons[ROUTE_REASON_SLOTS]; /* by RouteReason */
	struct MonitorState *monitor; /* owned by monitor.c; NULL until monitored */
	uint32_t primary_epoch;       /* bumped when the primary changes; floors are per epoch */
	Replica *leader;              /* the member that is the primary; NULL: the configured host */
	bool primary_chosen;          /* CHOOSE PRIMARY named the current primary: it keeps the writes */
	bool writes_held;             /* no primary known (two members claim it): writes wait */
	usec_t primary_ok_at;         /* monotonic: the primary last answered as a primary */
	usec_t primary_lost_at;       /* monotonic: its check last failed or found it in recovery */
	usec_t split_logged_at;       /* monotonic: the split brain was last logged */
	uint64_t switch_lsn;          /* where the current primary's timeline forked; 0: no failover */
	bool primary_check_wanted;    /* a write waits for its floor: check the primary soon */
	List causal_waiters;          /* Client.park_node: reads waiting for a replica to catch up */
	uint64_t ryw_kept_on_primary; /* reads kept on the primary by read-your-writes */
	uint64_t ryw_waited;          /* reads that waited (causal_wait) */
	uint64_t ps_cache_hits;       /* a client's statement found prepared on its server */
	uint64_t ps_cache_evictions;  /* closed on a server past max_prepared_statements */
	int client_count;      /* clients connected to this database */
	int server_count;      /* server connections of all its pools */
	StatCounters retired;  /* totals of its pools freed when idle: SHOW STATS never goes back */
	int stats_slot;        /* SHOW STATS's index for it while summing pools in one pass */
	List node;             /* registry's database list */
	HashLink by_name;      /* registry's index by name */
} Database;

/* Credentials and limits of one user name. */
typedef struct PoolUser {
	char *name;
	char *secret;      /* from auth_file: plain, md5... or SCRAM-SHA-256$...; NULL if none */
	bool have_scram_keys;
	uint8_t scram_client_key[32]; /* learned from a client's SCRAM proof, for pass-through */
	uint8_t scram_server_key[32];
	PoolMode pool_mode;
	int pool_size;          /* -1: the database's */
	int reserve_pool_size;  /* -1: the database's */
	int max_user_connections;        /* resolved: [users] entry or global */
	int max_user_client_connections; /* resolved */
	/* resolved: a [users] value above 0 replaces the global one (0 there means unset) */
	usec_t query_timeout;
	usec_t idle_transaction_timeout;
	usec_t transaction_timeout;
	usec_t client_idle_timeout;
	usec_t query_wait_timeout; /* -1: the database's; 0 or more (even 0) replaces it */
	int client_count;
	int server_count;
	int n_pools;       /* pools logging in as this user: while any, it is kept */
	List node;
	HashLink by_name; /* registry's index by name */
} PoolUser;

/*
 * Server-login secret of a user known only through auth_query, for one (database, user):
 * replaced by each login the lookup admitted, cleared when a lookup finds no usable
 * secret. Users in auth_file log in with PoolUser.secret instead.
 */
typedef struct LookupCreds {
	char *secret; /* owned; NULL: none */
	bool have_scram_keys;
	uint8_t scram_client_key[32]; /* from the client's SCRAM proof, for pass-through */
	uint8_t scram_server_key[32];
} LookupCreds;

typedef struct WelcomeParam {
	char *name;
	char *value;
} WelcomeParam;

struct Pool {
	Database *db;
	PoolUser *user; /* server login identity (forced user or the client's) */
	Replica *replica; /* NULL: the primary; else the standby this pool connects to */
	bool is_monitor;  /* holds the replica monitor's connection, not clients' */
	bool lookup_only; /* an auth_query lookup target outside the registry (lookup_target.h) */
	/* the primary pool of (db, user) whose lookup creds this pool uses; NULL: its own */
	struct Pool *home;
	LookupCreds lookup; /* auth_query creds; only a pool without home keeps them */
	RywState ryw;     /* read-your-writes state of (database, user), scope user */
	List auth_waiters; /* Client.park_node: clients waiting for an auth_query lookup */
	List waiting_clients; /* Client.pool_node, FIFO */
	List active_clients;  /* logged-in clients not waiting */
	List login_servers;   /* connecting or logging in */
	List idle_servers;    /* ready, LIFO at the front */
	List active_servers;  /* linked to a client */
	List used_servers;    /* released, running reset/check */
	int n_waiting, n_active_clients;
	int n_checking;       /* used servers running server_check_query: soon idle */
	int n_login, n_idle, n_active, n_used;
	int n_replication;    /* replication servers among n_active: not pooled (replication_conn.c) */
	WelcomeParam *welcome; /* ParameterStatus of the first server login */
	int n_welcome;
	VarCache welcome_vars;
	PoolStats stats;
	usec_t last_connect_failure; /* monotonic; 0 = none */
	char *last_connect_error;
	int max_wait_clients;
	int n_clients;     /* logged-in clients whose home pool this is (Client.pool) */
	int n_homed;       /* pools whose home this is: while any, it is kept */
	usec_t empty_since; /* monotonic: first upkeep that found it unused; 0 = in use */
	List node; /* registry's pool list */
	HashLink by_target; /* registry's index by (db, user, replica); not for monitor pools */
};

/* Resolved settings for a pool. */
PoolMode pool_mode_of(const Pool *pool);
int pool_size_of(const Pool *pool);
int pool_reserve_size_of(const Pool *pool);
int pool_server_count(const Pool *pool);
/* Servers that pool_size, min_pool_size and PAUSE count: all but the replication ones. */
int pool_pooled_server_count(const Pool *pool);

Pool *pool_create(Database *db, PoolUser *user, Replica *replica);
/* The pool borrows home's auth_query creds; home is kept while it does. */
void pool_set_home(Pool *pool, Pool *home);
/* Nothing refers to it: no clients, servers, lookups or pools borrowing its creds. */
bool pool_unused(const Pool *pool);
/* The auth_query creds this pool's servers log in with (its home pool's). */
LookupCreds *pool_lookup_creds(Pool *pool);
/* Drop them (the user is gone, or a new secret replaces them). */
void pool_forget_lookup(Pool *pool);
/* host and port the pool's servers connect to */
const char *pool_host(const Pool *pool);
int pool_port(const Pool *pool);
const char *pool_target_name(const Pool *pool);
void pool_destroy(Pool *pool);

/*
 * Get a server for the client. Returns true when linked now; false when the client was
 * queued (a server is being launched or will be released).
 */
bool pool_acquire(Pool *pool, Client *client) MUST_CHECK;
/* A server became idle: give it to the first waiting client. */
void pool_on_server_idle(Pool *pool, Server *server);
/* Launch servers if clients wait and limits allow. */
void pool_maintain(Pool *pool);
/*
 * Open servers up to min_pool_size (upkeep only): within pool_size and the db/user caps,
 * never by closing another pool's server, so a waiting client always goes first.
 */
void pool_keep_min(Pool *pool);
/* Tell every waiting client that the server could not be reached. */
void pool_fail_waiters(Pool *pool, const char *message);
/* Within server_login_retry after a failed server login. */
bool pool_in_login_backoff(const Pool *pool);
/* Store the server's ParameterStatus list as this pool's welcome parameters. */
void pool_set_welcome(Pool *pool, const WelcomeParam *params, int n);

#endif
