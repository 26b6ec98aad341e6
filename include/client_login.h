/*
 * A client's login, from its first packet to its first ReadyForQuery: the startup-family
 * packets (parsed by startup.c), the password messages of authentication (judged by
 * auth.c), and the welcome. The login entry points other modules call
 * (client_auth_ok, client_login_bind, client_finish_welcome) are declared in client.h.
 */
#ifndef PGSPLIT_CLIENT_LOGIN_H
#define PGSPLIT_CLIENT_LOGIN_H

#include "client.h"

/* A packet read while the connection is still in startup mode (no type byte). */
SbufVerdict client_startup_packet(Client *client, const SbufMsg *msg);
/* A message received in CL_LOGIN: only PasswordMessage (and the SASL replies) is valid. */
SbufVerdict client_password_message(Client *client, const SbufMsg *msg);

#endif
