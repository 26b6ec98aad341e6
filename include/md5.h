/*
 * PostgreSQL's MD5 password scheme as pure string functions: the stored secret
 * ("md5" + hex(md5(password || user))) and the salted response a client sends for
 * AuthenticationMD5Password. Knows nothing about sockets or the auth exchange itself;
 * auth.c decides when to use it.
 */
#ifndef PGSPLIT_MD5_H
#define PGSPLIT_MD5_H

#include "common.h"

/* "md5" + 32 hex digits + NUL */
#define MD5_SECRET_LEN 35
#define MD5_SECRET_BUFSIZE 36

/* out = "md5" + hex(md5(password || user)), NUL-terminated. */
void md5_password_secret(const char *user, const char *password, char out[MD5_SECRET_BUFSIZE]);

/*
 * out = "md5" + hex(md5(hex_part(secret) || salt)): the PasswordMessage payload answering
 * AuthenticationMD5Password. secret must satisfy md5_is_secret().
 */
void md5_salted_response(const char *secret, const uint8_t salt[4], char out[MD5_SECRET_BUFSIZE]);

/* True when s is exactly "md5" followed by 32 lowercase hex digits (PostgreSQL's test). */
bool md5_is_secret(const char *s);

#endif
