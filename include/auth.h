/*
 * Client authentication: picks the method from auth_type and the stored secret
 * (trust, any, plain, md5, scram-sha-256; SCRAM is used when md5 is configured and the
 * stored secret is SCRAM, as PgBouncer does), sends the request and verifies the answer.
 * Failures never tell whether the user exists.
 */
#ifndef PGSPLIT_AUTH_H
#define PGSPLIT_AUTH_H

#include "common.h"

typedef struct Client Client;

/* Start authentication after the startup packet. */
void auth_begin(Client *client);
/* A PasswordMessage / SASL response arrived (body without type and length). */
void auth_on_password_message(Client *client, const uint8_t *body, size_t len);

#endif
