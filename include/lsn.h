/*
 * WAL positions (LSNs) as text: parse and format "X/Y" as PostgreSQL prints them.
 */
#ifndef PGSPLIT_LSN_H
#define PGSPLIT_LSN_H

#include "common.h"

/* Exactly 1-8 hex digits, '/', 1-8 hex digits; nothing else. */
bool lsn_parse(const char *text, uint64_t *lsn) MUST_CHECK;
void lsn_format(uint64_t lsn, char *buf, size_t len);

#endif
