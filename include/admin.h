/*
 * The admin console: the virtual database "pgbouncer" (alias "pgsplit"). Simple query
 * protocol only; SHOW views render from the pools' own counters.
 */
#ifndef PGSPLIT_ADMIN_H
#define PGSPLIT_ADMIN_H

#include "sbuf.h"

typedef struct Client Client;

/* Startup for the console: permission check, then authentication. False if closed. */
bool admin_client_login(Client *client);
/* After authentication: send the welcome. */
void admin_welcome(Client *client);
SbufVerdict admin_on_message(Client *client, const SbufMsg *msg);
/* Called by the maintenance timer: finish commands that wait (PAUSE, WAIT_CLOSE, ...). */
void admin_tick(void);

#endif
