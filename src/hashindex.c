/*
 * Intrusive chained hash index (see hashindex.h). FNV-1a for strings; pointers are mixed
 * with a multiply-xorshift so that neighbouring allocations spread over the buckets.
 */
#include "hashindex.h"
#include "common.h"

#include <stdlib.h>

#define FIRST_BUCKETS 64

uint64_t hashindex_hash_str(const char *s)
{
	uint64_t h = 14695981039346656037ull;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
	h *= 0xff51afd7ed558ccdull;
	return h ^ (h >> 33);
}

uint64_t hashindex_hash_ptrs(const void *a, const void *b, const void *c)
{
	uint64_t h = mix(0, (uint64_t)(uintptr_t)a);
	h = mix(h, (uint64_t)(uintptr_t)b);
	return mix(h, (uint64_t)(uintptr_t)c);
}

static HashLink **bucket_of(const HashIndex *index, uint64_t hash)
{
	return &index->buckets[hash & (index->n_buckets - 1)];
}

static void grow(HashIndex *index)
{
	size_t n = index->n_buckets ? index->n_buckets * 2 : FIRST_BUCKETS;
	HashLink **old = index->buckets;
	size_t old_n = index->n_buckets;
	index->buckets = xcalloc(n, sizeof(*index->buckets));
	index->n_buckets = n;
	for (size_t i = 0; i < old_n; i++) {
		HashLink *l = old[i];
		while (l) {
			HashLink *next = l->next;
			HashLink **b = bucket_of(index, l->hash);
			l->next = *b;
			*b = l;
			l = next;
		}
	}
	free(old);
}

void hashindex_add(HashIndex *index, HashLink *link, uint64_t hash)
{
	if (index->count >= index->n_buckets)
		grow(index);
	HashLink **b = bucket_of(index, hash);
	link->hash = hash;
	link->next = *b;
	*b = link;
	index->count++;
}

void hashindex_remove(HashIndex *index, HashLink *link)
{
	if (!index->buckets)
		return;
	for (HashLink **p = bucket_of(index, link->hash); *p; p = &(*p)->next) {
		if (*p == link) {
			*p = link->next;
			link->next = NULL;
			index->count--;
			return;
		}
	}
}

static HashLink *same_hash(HashLink *l, uint64_t hash)
{
	while (l && l->hash != hash)
		l = l->next;
	return l;
}

HashLink *hashindex_first(const HashIndex *index, uint64_t hash)
{
	return index->buckets ? same_hash(*bucket_of(index, hash), hash) : NULL;
}

HashLink *hashindex_next(const HashLink *link)
{
	return same_hash(link->next, link->hash);
}

void hashindex_free(HashIndex *index)
{
	free(index->buckets);
	index->buckets = NULL;
	index->n_buckets = index->count = 0;
}
