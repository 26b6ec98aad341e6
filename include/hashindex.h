/*
 * An intrusive chained hash index: entries embed a HashLink and are found by a 64-bit
 * hash the owner computes; the owner compares keys itself while walking the entries of
 * one hash. The table doubles as it fills, so lookups stay O(1) however many entries
 * there are. It owns only its bucket array, never the entries.
 */
#ifndef PGSPLIT_HASHINDEX_H
#define PGSPLIT_HASHINDEX_H

#include <stddef.h>
#include <stdint.h>

typedef struct HashLink {
	struct HashLink *next; /* bucket chain */
	uint64_t hash;
} HashLink;

typedef struct HashIndex {
	HashLink **buckets; /* owned; NULL until the first add */
	size_t n_buckets;   /* a power of two */
	size_t count;
} HashIndex;

uint64_t hashindex_hash_str(const char *s);
uint64_t hashindex_hash_ptrs(const void *a, const void *b, const void *c);
void hashindex_add(HashIndex *index, HashLink *link, uint64_t hash);
/* Unlink an entry; a link that is not in the index is left alone. */
void hashindex_remove(HashIndex *index, HashLink *link);
/* The first entry whose hash is `hash`, then the next one (NULL at the end). */
HashLink *hashindex_first(const HashIndex *index, uint64_t hash);
HashLink *hashindex_next(const HashLink *link);
void hashindex_free(HashIndex *index);

#endif
