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
#include "scram.h"

struct DnsRequest;

typedef enum {
	SV_CONNECTING, /* DNS and TCP connect */
	SV_LOGIN,      /* startup and authentication */
	SV_IDLE,       /* ready in the pool */
	SV_ACTIVE,     /* linked to a client */
	SV_USED,       /* released; running reset or check query */
	SV_CLOSED,
} ServerState;

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
	bool monitor_check;     /* running the replica monitor's query */
	bool checking;          /* running server_check_query (counted in Pool.n_checking) */
	Client *auth_client;    /* an auth_query lookup runs for this client (NULL if gone) */
	bool auth_lookup;       /* running an auth_query lookup */
	bool auth_found;        /* the lookup returned a row with a user name */
	bool unsynced;          /* extended-protocol messages sent since the last Sync */
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
	WelcomeParam *login_params; /* ParameterStatus collected during login */
	int n_login_params;
	List pool_node;         /* pool's list for its state */
	List all_node;          /* runtime's list of all servers */
};

/* Start a new server connection for the pool (async). */
void server_launch(Pool *pool);
void server_close(Server *server, const char *reason);
/*
 * A timeout ends the linked client's work: the server is closed for reason and the client
 * gets reason as a FATAL error (08P01) and is closed too; both log lines name reason.
 */
void server_close_with_client(Server *server, const char *reason);
/* Connecting or logging in failed (also server_connect_timeout): a replica goes down. */
void server_login_failed(Server *server, const char *message);
void server_replica_down(Replica *replica, const char *why);
/* Link a client: sync parameters then let its messages flow. */
void server_link(Server *server, Client *client);
/* Unlink at the end of a transaction or session; goes to used/idle or closes. */
void server_unlink(Server *server, bool client_gone);
void server_set_state(Server *server, ServerState state);
const char *server_state_name(ServerState state);
/* Send a CancelRequest for this server's backend on a side connection. */
void server_send_cancel(Server *server);
/* Run server_check_query on an idle server that has been unused for a while. */
void server_start_check(Server *server);
/*
 * An idle server about to be reused must be checked first: server_check_query is set and
 * the server has been unused for more than server_check_delay (0: always).
 */
bool server_check_due(const Server *server, usec_t now);
/* Run an internal query whose rows go to the replica monitor. */
void server_start_monitor_query(Server *server, const char *sql);
/* TCP_NODELAY and the tcp_keepalive family of settings. */
void server_set_tcp_options(int fd);

#endif
