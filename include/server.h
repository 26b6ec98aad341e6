/*
 * Server connections: connect (DNS via c-ares), startup, login (cleartext, md5,
 * SCRAM-SHA-256 incl. pass-through), then the work phase in which the pooler counts the
 * ReadyForQuery messages it expects, swallows the replies to its own queries (parameter
 * sync, reset, check) and releases the server to its pool at the end of a transaction.
 */
#ifndef PGSPLIT_SERVER_H
#define PGSPLIT_SERVER_H

#include "pool.h"
#include "sbuf.h"
#include "pktbuf.h"
#include "scram.h"
#include "startup.h"

struct DnsRequest;

typedef enum {
	SV_CONNECTING, /* DNS and TCP connect */
	SV_LOGIN,      /* startup and authentication */
	SV_IDLE,       /* ready in the pool */
	SV_ACTIVE,     /* linked to a client */
	SV_USED,       /* released; running reset or check query */
	SV_CLOSED,
} ServerState;

/*
 * A query the pooler runs on a server for its own use (the replica monitor's check, an
 * auth_query lookup): its rows and its end go to the owner, not to a client.
 */
typedef struct InternalQueryOps {
	void (*on_row)(Server *server, const uint8_t *body, size_t len); /* each DataRow body */
	void (*on_done)(Server *server, bool failed); /* at its ReadyForQuery */
	void (*on_close)(Server *server);             /* closed before its end (NULL: nothing) */
	bool failure_is_harmless; /* an error says nothing bad about the connection */
} InternalQueryOps;

struct Server {
	Conn conn; /* first member */
	ServerState state;
	Pool *pool;
	VarCache vars;          /* parameters the server reported */
	uint32_t backend_pid;
	uint32_t backend_key;
	char tx_status;         /* last ReadyForQuery status: I, T or E */
	int pending_rfq;        /* ReadyForQuery owed for the client's Query/Sync/FunctionCall */
	int internal_rfq;       /* ReadyForQuery owed for the pooler's own queries */
	bool internal_failed;   /* one of the pooler's own queries failed */
	bool dirty;             /* must be closed rather than reused */
	bool in_copy;           /* COPY IN/OUT in progress */
	const InternalQueryOps *internal_query; /* the running query whose answer is wanted */
	void *internal_state;   /* its owner's per-server state for the answer (owned, plain free) */
	bool checking;          /* running server_check_query (counted in Pool.n_checking) */
	Client *auth_client;    /* an auth_query lookup runs for this client (NULL if gone) */
	bool auth_found;        /* the lookup returned a row with a user name */
	bool unsynced;          /* extended-protocol messages sent since the last Sync */
	ReplicationKind replication; /* a walsender paired with one client, never pooled */
	bool error_relayed;     /* replication: the server's ErrorResponse went to the client */
	struct StmtMap *stmts;  /* prepared.c: statements this server has (owned) */
	struct ReplyQueue *replies; /* prepared.c: replies owed, in order (owned) */
	char *auth_secret;      /* its answer (owned) */
	ScramClient scram;
	bool scram_started;
	struct DnsRequest *dns;
	struct sockaddr_storage target; /* the address connected to (cancels go there too) */
	socklen_t target_len;
	struct sockaddr_storage *addrs; /* resolved addresses, tried in order */
	int n_addrs;
	int addr_next;
	usec_t created;         /* monotonic */
	usec_t last_used;       /* monotonic: last release */
	usec_t last_checked;    /* monotonic */
	char *close_reason;
	char *host;             /* the host name or socket directory it connects to; NULL: default socket */
	WelcomeParam *login_params; /* ParameterStatus collected during login */
	int n_login_params;
	List pool_node;         /* pool's list for its state */
	List all_node;          /* runtime's list of all servers */
};

/* Start a new server connection for the pool (async). */
void server_launch(Pool *pool);
/*
 * A replication client's own server on the pool's current host, linked to it from the
 * start and logged in with the client's replication value (replication_conn.c).
 */
void server_launch_paired(Pool *pool, Client *client);
void server_close(Server *server, const char *reason);
/*
 * A timeout ends the linked client's work: the server is closed for reason and the client
 * gets reason as a FATAL error (08P01) and is closed too; both log lines name reason.
 */
void server_close_with_client(Server *server, const char *reason);
/*
 * The connection broke or the server ended it (EOF, a socket error, a FATAL): closed, and
 * the linked client's read re-run elsewhere when rerun.c can, else given the error.
 */
void server_lost(Server *server, const char *reason);
/* Connecting or logging in failed (also server_connect_timeout): a replica goes down. */
void server_login_failed(Server *server, const char *message);
void server_replica_down(Replica *replica, const char *why);
/* The replica's check failed or timed out: down, and reads in flight on it re-run if they can be. */
void server_replica_unreachable(Replica *replica, const char *why);
/* Link a client: sync parameters then let its messages flow. */
void server_link(Server *server, Client *client);
/* Unlink at the end of a transaction or session; goes to used/idle or closes. */
void server_unlink(Server *server, bool client_gone);
void server_set_state(Server *server, ServerState state);
const char *server_state_name(ServerState state);
/* Send a CancelRequest for this server's backend on a side connection. */
void server_send_cancel(Server *server);
/* A ParameterStatus from the server: remember it (and the linked client's copy); false if malformed. */
bool server_parameter_status(Server *server, const SbufMsg *msg);
/* A reply for the linked client (copied): counted, held back for a 25006 re-run, or queued. */
void server_deliver(Server *server, Client *client, const uint8_t *data, size_t len);
/* Run server_check_query on an idle server that has been unused for a while. */
void server_start_check(Server *server);
/*
 * An idle server about to be reused must be checked first: server_check_query is set and
 * the server has been unused for more than server_check_delay (0: always).
 */
bool server_check_due(const Server *server, usec_t now);
/* Send `pb` (messages ending with one Sync or Query) as an internal query for `ops`. */
void server_start_internal_query(Server *server, const PktBuf *pb, const InternalQueryOps *ops);
/* The same for one simple-protocol query string. */
void server_start_internal_sql(Server *server, const char *sql, const InternalQueryOps *ops);

#endif
