/*
 * auth_query: for a user missing from auth_file, look the secret up on the server by
 * running auth_query as auth_user (per database or global) on a connection of the
 * (auth_dbname or the client's database, auth_user) pool, or of a lookup target outside
 * the registry when the client's database is not registered yet. The client waits in login
 * meanwhile. The secret serves this login only (Client.lookup_secret); once the login
 * succeeds it becomes the server-login secret of the (database, user) pool, replacing
 * the previous one. The next login looks the user up again.
 */
#ifndef PGSPLIT_AUTHQUERY_H
#define PGSPLIT_AUTHQUERY_H

#include "common.h"

typedef struct Client Client;
typedef struct Server Server;
typedef struct Pool Pool;
typedef struct LookupCreds LookupCreds;

/* Start a lookup when auth_user applies. False: no auth_user, authenticate as usual. */
bool authquery_start(Client *client);
/* A server of pool became idle: true if it took it for a waiting lookup. */
bool authquery_take_server(Pool *pool, Server *server);
/*
 * The client logged in with its looked-up secret: hand it to the pool of (database,
 * user) for server logins. Returns where it went (to store SCRAM keys), NULL if nowhere.
 */
LookupCreds *authquery_adopt_secret(Client *client);
/*
 * The lookup's pool could not log in: fail its waiting clients with the reason, or for
 * a lookup target (lookup_target.h) refuse them as a wrong password would.
 */
void authquery_fail_pool(Pool *pool, const char *message);
/* A client closed while waiting for or running a lookup. */
void authquery_forget_client(Client *client);

#endif
