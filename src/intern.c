/*
 * Interned strings (see intern.h): one reference-counted copy per distinct text, in a
 * small hash table. Used for values thousands of connections share: session
 * parameters, user and database names.
 */
#include "intern.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct Interned {
	struct Interned *next; /* hash chain */
	uint32_t refs;
	uint32_t hash;
	char text[]; /* what holders point at */
} Interned;

#define INTERN_BUCKETS 256 /* few distinct values in practice; chains stay short */

static Interned *intern_table[INTERN_BUCKETS];
static int intern_count;

static uint32_t intern_hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

static Interned *interned_of(const char *text)
{
	return (Interned *)(void *)(text - offsetof(Interned, text));
}

const char *intern_get(const char *value)
{
	uint32_t h = intern_hash(value);
	Interned **head = &intern_table[h % INTERN_BUCKETS];
	for (Interned *it = *head; it; it = it->next) {
		if (it->hash == h && strcmp(it->text, value) == 0) {
			it->refs++;
			return it->text;
		}
	}
	size_t len = strlen(value);
	Interned *it = xmalloc(sizeof(Interned) + len + 1);
	memcpy(it->text, value, len + 1);
	it->hash = h;
	it->refs = 1;
	it->next = *head;
	*head = it;
	intern_count++;
	return it->text;
}

void intern_put(const char *text)
{
	if (!text)
		return;
	Interned *it = interned_of(text);
	if (--it->refs > 0)
		return;
	Interned **pp = &intern_table[it->hash % INTERN_BUCKETS];
	while (*pp != it)
		pp = &(*pp)->next;
	*pp = it->next;
	intern_count--;
	free(it);
}

int intern_count_now(void)
{
	return intern_count;
}

void intern_ref(const char *text)
{
	interned_of(text)->refs++;
}

