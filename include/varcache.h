/*
 * Tracked session parameters (client_encoding, DateStyle, IntervalStyle, TimeZone,
 * standard_conforming_strings, application_name, default_transaction_read_only, plus
 * track_extra_parameters). Each client and each server keeps one VarCache; when a client
 * is linked to a server whose values differ, a SET string brings the server in line.
 */
#ifndef PGSPLIT_VARCACHE_H
#define PGSPLIT_VARCACHE_H

#include "common.h"

#define VARCACHE_MAX 24
/* Built-in names come first, in the order listed above, whatever the extra list says. */
#define VARCACHE_DEFAULT_TRANSACTION_READ_ONLY 6

/*
 * Values are interned: every client and server holding "ISO, MDY" points at one shared,
 * reference-counted copy, so an idle client costs a few pointers, not a string each,
 * and equal values compare by pointer. The slot array is allocated on the first set.
 */
typedef struct VarCache {
	const char **values; /* `size` slots of interned strings; NULL = unknown */
	int size;
} VarCache;

/* Set the tracked names: built-ins plus a comma/space separated extra list. */
void varcache_configure(const char *extra_parameters);
int varcache_count(void);
const char *varcache_name(int idx);
/* Index of a tracked parameter (case-insensitive), or -1. */
int varcache_lookup(const char *name);

void varcache_set(VarCache *vc, int idx, const char *value);
const char *varcache_get(const VarCache *vc, int idx);
void varcache_clear(VarCache *vc);

/* Fill each unknown value of dst from src. */
void varcache_fill_missing(VarCache *dst, const VarCache *src);
/*
 * Write "SET a='x';SET b='y';" for every parameter whose client value differs from the
 * server's into buf. Returns the length (0 = in sync), or -1 if buf is too small.
 */
int varcache_sync_sql(const VarCache *client, const VarCache *server, char *buf, size_t len);

#endif
