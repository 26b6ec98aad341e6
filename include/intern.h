/*
 * Interned strings: intern_get() returns a shared, reference-counted copy of a text, so
 * ten thousand idle clients of one database hold one "app" and one "UTF8", and equal
 * interned texts are the same pointer. Every intern_get() or intern_ref() is matched by
 * one intern_put(). Single-threaded, like the rest of the pooler.
 */
#ifndef PGSPLIT_INTERN_H
#define PGSPLIT_INTERN_H

#include "common.h"

const char *intern_get(const char *text);
/* One more holder of an interned text. */
void intern_ref(const char *interned);
/* Drop one holder; the copy is freed with the last (NULL is ignored). */
void intern_put(const char *interned);
/* Distinct texts interned now (for tests). */
int intern_count_now(void);

#endif
