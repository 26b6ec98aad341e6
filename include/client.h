/*
 * Client connections: the state machine from the startup packet through authentication
 * to the work phase, where each message either needs a server (acquired from the pool)
 * or is streamed to the linked one. State equals list membership and changes only in
 * client_set_state().
 */
#ifndef PGSPLIT_CLIENT_H
#define PGSPLIT_CLIENT_H

#include "pktbuf.h"
#include "pool.h"
#include "sbuf.h"
#include "scram.h"
#include "startup.h"

typedef enum {
	CL_LOGIN,   /* startup and authentication; on the login list */
	CL_WELCOME, /* authenticated, waiting for the pool's first server parameters */
	CL_ACTIVE,  /* logged in; linked or not */
	CL_WAITING, /* waiting for a server */
	CL_CLOSED,  /* closed, waiting for the sweep */
} ClientState;

/* Why a login is refused once authentication succeeds (never before: no hints). */
typedef enum {
	LOGIN_REFUSE_NONE,
	LOGIN_REFUSE_NO_DATABASE, /* db_name is not in [databases] */
	LOGIN_REFUSE_CONSOLE,     /* console user in neither admin_users nor stats_users */
} LoginRefusal;

typedef enum {
	AUTH_PHASE_NONE,
	AUTH_PHASE_CLEARTEXT,
	AUTH_PHASE_MD5,
	AUTH_PHASE_SCRAM_FIRST,
	AUTH_PHASE_SCRAM_FINAL,
	AUTH_PHASE_DONE,
} AuthPhase;

/*
 * Where a client's transactions go, and what read-your-writes asks of them: the state
 * client_route.c (routing), rerun.c (re-runs of reads) and causal.c (floors, the causal
 * token) keep per client, in one place.
 */
typedef struct ClientRouting {
	bool refuse_pending;   /* answer the pending batch with "no replica" (replica_fallback) */
	bool xact_is_write;    /* the current transaction went to the primary as a write */
	bool causal_waiting;   /* paused until a replica catches up or causal_wait passes */
	bool rerun_on_primary; /* the batch put back by a 25006 re-run goes to the primary */
	bool partial_due;      /* a batch without its Sync waited long enough: route it now */
	bool await_linked_rfq; /* paused until the linked server answered the earlier batches */
	RywState ryw;          /* read-your-writes state, scope client */
	uint64_t token_floor;  /* pgsplit.min_lsn handed in by the client */
	uint32_t token_epoch;  /* primary epoch of token_floor */
	usec_t token_write_at; /* its last write's end, until pgsplit.last_write_lsn is sent */
	usec_t causal_deadline;
	struct RetryState *retry;    /* re-run state, owned; NULL when none is possible */
	struct event *partial_timer; /* how long a batch waits for its Sync; made on first use, owned */
	struct event *causal_timer;  /* ends a parked read's wait at causal_deadline; made on first use, owned */
} ClientRouting;

struct Client {
	Conn conn; /* first member: a Conn * is a Client * when conn.kind == CONN_CLIENT */
	Database *db;
	PoolUser *user;     /* credentials of the client's user name */
	Pool *pool;         /* home pool: the primary pool of (database, user) */
	Pool *wait_pool;    /* the pool whose queue it waits in (primary or a replica's) */
	const char *user_name; /* from the startup packet (interned) */
	const char *db_name;   /* interned */
	VarCache vars;      /* what the client believes its session parameters are */
	bool is_admin;      /* connected to the admin console */
	bool admin_may_change; /* admin_users (not only stats_users) */
	uint32_t cancel_pid; /* pooler-issued BackendKeyData */
	uint32_t cancel_key;
	AuthPhase auth_phase;
	LoginRefusal refusal; /* said after authentication succeeds */
	uint8_t md5_salt[4];
	ClientState state;   /* here, not first: fills what would be padding */
	ScramServer *scram; /* owned, only while a SCRAM exchange runs */
	usec_t login_start; /* monotonic */
	usec_t wait_start;  /* monotonic, while waiting for a server */
	usec_t xact_start;  /* monotonic, start of the current transaction */
	usec_t query_start; /* monotonic, start of the current query */
	usec_t idle_since;  /* monotonic, last time it went unlinked */
	bool in_transaction; /* last ReadyForQuery status was T or E */
	bool queue_notified; /* got the query_wait_notify notice (once per connection) */
	bool skip_to_sync;   /* dropping an extended batch that got an error from the pooler */
	bool auth_waiting;   /* on park_node in Pool.auth_waiters */
	bool auth_looked_up; /* auth_query already ran for this login */
	bool lookup_found;   /* ... and returned a row naming the user */
	bool drop_to_sync;   /* prepared.c answered an error: skip the batch up to its Sync */
	bool tracking;       /* prepared.c sees this link's messages (fixed when linked) */
	bool direct_tls;     /* TLS started without an SSLRequest (sslnegotiation=direct) */
	bool shape_wait;     /* paused until a statement copy's columns are known (prepared.c) */
	bool queue_wait;     /* paused while its server owes too many replies (prepared.c) */
	bool cancel_on_send; /* a CancelRequest came while its batch waited: cancel where it goes */
	ReplicationKind replication; /* a walsender client: paired with its own server (replication_conn.c) */
	/*
	 * Pool.auth_waiters while its auth_query lookup waits (login), or
	 * Database.causal_waiters while a read waits for a replica (after login): never both.
	 */
	List park_node;
	ClientRouting route;
	struct Server *auth_server; /* running this client's lookup */
	char *lookup_secret; /* owned: what auth_query returned for this login; NULL if none */
	struct StmtMap *stmts; /* prepared.c: this client's statement names (owned) */
	List pool_node;     /* pool's waiting or active list */
	List all_node;      /* runtime's list of all clients */
	struct Client *cancel_next; /* cancel-key hash chain */
};

void client_accept(int fd, const struct sockaddr *addr, socklen_t addr_len, bool unix_socket);
/* Close with a FATAL error sent first (message NULL: close silently). */
void client_close_error(Client *client, const char *sqlstate, const char *message);
void client_close(Client *client, const char *reason);
/* Pool handed a server to a waiting client. */
void client_on_server_linked(Client *client);
/* The pool's first server logged in: finish the welcome. */
void client_finish_welcome(Client *client);
/* login_notify_message as a NOTICE, when set; the welcome puts it before ReadyForQuery. */
void client_put_login_notice(PktBuf *pb);
/* A server-side problem while the client waits: report and close. */
void client_fail_wait(Client *client, const char *message);
void client_set_state(Client *client, ClientState state);
/* Queue a message built for the client (closes it if building failed). */
void client_send_pkt(Client *client, PktBuf *pb);
/* Authentication succeeded (auth.c, or the console's own login): go on to the welcome. */
void client_auth_ok(Client *client);
/*
 * The client just authenticated: give it its user, database (made from "*" if need be)
 * and pool, after the refusals kept for this moment and the per-database and per-user
 * limits. False when the client was closed instead. Safe to call again.
 */
bool client_login_bind(Client *client) MUST_CHECK;
const char *client_state_name(ClientState state);
/* How log lines name a client: "db/user@addr:port", written into buf. */
const char *client_log_name(const Client *client, char *buf, size_t len);

#endif
