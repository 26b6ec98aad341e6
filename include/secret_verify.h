/*
 * Checking a cleartext password against a stored secret of any kind the auth_file or
 * auth_query may hold (plain, md5, SCRAM-SHA-256). Used where a client hands over the
 * password itself: the PostgreSQL cleartext exchange and HTTP basic authentication.
 */
#ifndef PGSPLIT_SECRET_VERIFY_H
#define PGSPLIT_SECRET_VERIFY_H

#include "common.h"

/*
 * True when password is user's password under secret. A SCRAM secret costs one PBKDF2
 * run with its stored iteration count; comparisons take the same time whatever differs.
 */
bool secret_matches_password(const char *secret, const char *user, const char *password);

#endif
