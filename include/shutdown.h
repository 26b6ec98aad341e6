/*
 * Shutdown modes as PgBouncer 1.25 has them: SHUTDOWN WAIT_FOR_SERVERS (SIGINT), SHUTDOWN
 * WAIT_FOR_CLIENTS (SIGTERM) and immediate SHUTDOWN (SIGQUIT, or a second SIGINT or
 * SIGTERM). Once a shutdown has begun, TCP clients are refused and the Unix socket lets in
 * the admin console only.
 */
#ifndef PGSPLIT_SHUTDOWN_H
#define PGSPLIT_SHUTDOWN_H

#include "common.h"

/* Stop accepting, pause, and exit once no server is in use; queued clients are let go. */
void shutdown_wait_for_servers(void);
/* Stop accepting and exit once the last client has disconnected. */
void shutdown_wait_for_clients(void);
/* Leave the event loop now: every connection ends with the process. */
void shutdown_now(void);
/*
 * SIGINT or SIGTERM: the first starts its waiting shutdown, one arriving while any
 * shutdown is under way exits at once.
 */
void shutdown_on_signal(const char *signame, bool wait_for_clients);
/* Whether a login for db_name may go on while shutting down (the console, Unix socket). */
bool shutdown_admits_login(const char *db_name, bool unix_socket);
/* Run by the maintenance timer: drop clients that queue meanwhile, exit when done. */
void shutdown_tick(void);

#endif
