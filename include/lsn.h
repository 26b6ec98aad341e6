/*
 * WAL positions (LSNs) as text: parse and format "X/Y" as PostgreSQL prints them.
 */
#ifndef PGSPLIT_LSN_H
#define PGSPLIT_LSN_H

#include "common.h"

/* Exactly 1-8 hex digits, '/', 1-8 hex digits; nothing else. */
bool lsn_parse(const char *text, uint64_t *lsn) MUST_CHECK;
void lsn_format(uint64_t lsn, char *buf, size_t len);

/*
 * The end of the last WAL record before a primary's insert position. An insert position
 * at the start of a page points past that page's header (24 bytes, 40 at the start of a
 * segment) although no record is there yet: a replica that replayed everything stops at
 * the page boundary. Sizes in bytes; 0 for either leaves `insert` as it is.
 */
uint64_t lsn_last_record_end(uint64_t insert, uint64_t block_size, uint64_t segment_size);

#endif
