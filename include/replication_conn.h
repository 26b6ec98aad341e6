/*
 * Replication connections (replication=true or database in the startup packet): after
 * its login such a client gets a server of its own on the database's current primary,
 * logged in with the same replication value and the client's startup parameters. The
 * pair is linked for the client's whole life and every byte is relayed both ways (the
 * CopyBoth stream of START_REPLICATION included); nothing is pooled, routed or
 * inspected, and when one side goes the other is closed.
 */
#ifndef PGSPLIT_REPLICATION_CONN_H
#define PGSPLIT_REPLICATION_CONN_H

#include "client.h"
#include "pktbuf.h"
#include "server.h"

/* SHOW CLIENTS / SERVERS / SOCKETS: "none", "physical" or "logical". */
const char *replication_kind_name(ReplicationKind kind);
/* The login log line's replication=: "no", "yes" or "database". */
const char *replication_log_value(ReplicationKind kind);
/* The replication value a server is asked for: "true" or "database". */
const char *replication_startup_value(ReplicationKind kind);

/*
 * The client logged in: open its own server, or refuse it at once (53300) when
 * max_db_connections or max_user_connections is reached. pool_size does not apply.
 */
void replication_start(Client *client);
/* A message of a linked replication client: relayed as it is (Terminate closes both). */
SbufVerdict replication_client_message(Client *client, const SbufMsg *msg);
/* Startup parameters of its server beyond user and database. */
void replication_put_startup_params(const Server *server, PktBuf *pb);
/* The server logged in: the client gets its ParameterStatus, BackendKeyData, ReadyForQuery. */
void replication_server_ready(Server *server);
/* The server refused the login: its ErrorResponse goes to the client as it is. */
void replication_relay_login_error(Server *server, const SbufMsg *msg);
/* A message of a linked replication server: relayed as it is. */
SbufVerdict replication_server_message(Server *server, const SbufMsg *msg);
/*
 * Its server is gone: the client is closed, quietly when the server's own error already
 * reached it, else with reason (08006).
 */
void replication_client_lost(Client *client, const Server *server, const char *reason);

#endif
