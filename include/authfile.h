/*
 * The auth_file (userlist.txt): one `"user" "password-or-secret"` entry per line, quotes
 * inside a field doubled, further fields ignored, ';' or '#' lines and blank lines
 * skipped. Parsing and lookup only: which auth method a secret allows is auth.c's call,
 * and reloading (swap on SIGHUP) belongs to the config module.
 */
#ifndef PGSPLIT_AUTHFILE_H
#define PGSPLIT_AUTHFILE_H

#include "common.h"

typedef struct AuthFile AuthFile;

/*
 * Load and index the file. NULL (with err filled) when it cannot be read. A malformed
 * line is logged as a warning with file:line and skipped, as PgBouncer does. When a user
 * appears twice, the later line wins.
 */
AuthFile *authfile_load(const char *path, char *err, size_t errlen) MUST_CHECK;

/* The stored password or secret for user, or NULL. Valid until authfile_free(). */
const char *authfile_lookup(const AuthFile *af, const char *user);

/* Number of distinct users loaded. */
int authfile_count(const AuthFile *af);
/* The i-th user name in file order (0 <= i < authfile_count), for SHOW USERS. */
const char *authfile_user_at(const AuthFile *af, int i);

/* Frees everything, wiping the stored secrets. NULL is fine. */
void authfile_free(AuthFile *af);

typedef enum { SECRET_PLAIN, SECRET_MD5, SECRET_SCRAM } SecretKind;

/*
 * What a stored secret is: "md5" + 32 lowercase hex is MD5; a well-formed
 * "SCRAM-SHA-256$..." verifier is SCRAM; anything else is a plain-text password.
 */
SecretKind auth_secret_kind(const char *secret);

#endif
