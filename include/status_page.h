/*
 * GET /: one self-contained HTML page (inline CSS and SVG, no script, nothing fetched
 * from elsewhere) with the pooler's state, each database's servers and charts, and its
 * pools; it reloads itself every STATUS_REFRESH_SECS.
 */
#ifndef PGSPLIT_STATUS_PAGE_H
#define PGSPLIT_STATUS_PAGE_H

#include <stddef.h>

#define STATUS_REFRESH_SECS 5
#define STATUS_MAX_POOL_ROWS 200 /* a page stays readable, and cheap, with many pools */

/* The page, malloc'd; its length in *len. */
char *status_page_render(size_t *len);

#endif
