/*
 * WAL positions (LSNs) as text, the way PostgreSQL prints them ("16/B374D848"). The
 * parser is strict because it also reads client input (pgsplit.min_lsn).
 */
#include "lsn.h"

#include <stdio.h>

/* One to eight hex digits; *p moves past them. */
static bool parse_hex32(const char **p, uint32_t *out)
{
	uint32_t v = 0;
	int n = 0;
	for (; n < 9; n++, (*p)++) {
		char ch = **p;
		int d = ch >= '0' && ch <= '9' ? ch - '0'
			: ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
			: ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
		if (d < 0)
			break;
		v = (v << 4) | (uint32_t)d;
	}
	*out = v;
	return n >= 1 && n <= 8;
}

/* Exactly "X/Y" with 1-8 hex digits each, as PostgreSQL prints an LSN (client input too). */
bool lsn_parse(const char *text, uint64_t *lsn)
{
	uint32_t hi, lo;
	const char *p = text;
	if (!parse_hex32(&p, &hi) || *p++ != '/' || !parse_hex32(&p, &lo) || *p != 0)
		return false;
	*lsn = ((uint64_t)hi << 32) | lo;
	return true;
}

void lsn_format(uint64_t lsn, char *buf, size_t len)
{
	snprintf(buf, len, "%X/%X", (unsigned)(lsn >> 32), (unsigned)lsn);
}

#define WAL_SHORT_PAGE_HEADER 24 /* XLogPageHeaderData, MAXALIGNed */
#define WAL_LONG_PAGE_HEADER 40	 /* with the segment's identification, at its first page */

uint64_t lsn_last_record_end(uint64_t insert, uint64_t block_size, uint64_t segment_size)
{
	if (block_size == 0 || segment_size == 0)
		return insert;
	if (insert % segment_size == WAL_LONG_PAGE_HEADER)
		return insert - WAL_LONG_PAGE_HEADER;
	if (insert % block_size == WAL_SHORT_PAGE_HEADER && insert % segment_size != WAL_SHORT_PAGE_HEADER)
		return insert - WAL_SHORT_PAGE_HEADER;
	return insert;
}
