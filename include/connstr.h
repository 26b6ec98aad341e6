/*
 * Value syntax of the configuration file: the libpq-like "key=value ..." strings of
 * [databases], [users] and [peers] lines, turned into DatabaseDef / UserDef / PeerDef,
 * and the scalar value parsers (integers, seconds, booleans, names) that config.c uses
 * for [pgbouncer] values as well. Pure string work: no files, no sockets, no logging.
 *
 * Error strings are written without a "FILE:LINE:" prefix; config.c adds it.
 */
#ifndef PGSPLIT_CONNSTR_H
#define PGSPLIT_CONNSTR_H

#include "common.h"
#include "config.h"

/* One name of an enumerated value and the number stored for it; lists end with name NULL. */
typedef struct ConnstrName {
	const char *name;
	int value;
} ConnstrName;

extern const ConnstrName connstr_pool_mode_names[];

/* Parse a [databases] value for entry name. On success *out is a new DatabaseDef. */
bool connstr_parse_database(const char *name, const char *value, DatabaseDef **out, char *err,
			    size_t errlen) MUST_CHECK;
/* Parse a [users] value for user name. */
bool connstr_parse_user(const char *name, const char *value, UserDef **out, char *err,
			size_t errlen) MUST_CHECK;
/* Parse a [peers] line: key is the peer id (1..16383). */
bool connstr_parse_peer(const char *key, const char *value, PeerDef **out, char *err,
			size_t errlen) MUST_CHECK;
/* Parse "h1,h2:5433,[::1]:5434" into a new array (port 0 = the entry's port). */
bool connstr_parse_replicas(const char *value, HostPort **out, int *n_out, char *err,
			    size_t errlen) MUST_CHECK;

/* Whether a [databases] / [users] entry accepts this key (the scope doc/config.md gives). */
bool connstr_database_has_key(const char *key);
bool connstr_user_has_key(const char *key);

void connstr_free_database(DatabaseDef *db);
void connstr_free_user(UserDef *user);
void connstr_free_peer(PeerDef *peer);

/* Decimal integer in [min, max], nothing else around it but blanks. */
bool connstr_parse_int(const char *s, long long min, long long max, long long *out) MUST_CHECK;
/*
 * Non-negative duration: a number of seconds ("5", "0.5") or a number with a unit
 * (us, ms, s, min, h, d), stored in microseconds.
 */
bool connstr_parse_seconds(const char *s, usec_t *out) MUST_CHECK;
/* 0/1, on/off, true/false, yes/no (any non-zero integer counts as 1). */
bool connstr_parse_bool(const char *s, int *out) MUST_CHECK;
/* Case-insensitive lookup of s in names; false when absent. */
bool connstr_lookup_name(const ConnstrName *names, const char *s, int *out) MUST_CHECK;
/* The name for value, or NULL. */
const char *connstr_name_of(const ConnstrName *names, int value);
/* "a, b or c" style list of the names into buf, for error messages. */
void connstr_format_names(const ConnstrName *names, char *buf, size_t len);

#endif
