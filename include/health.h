/*
 * GET /health and /ready: whether the pooler accepts clients and every database's primary
 * that anything has tried to reach answered, with each server's role and state as JSON.
 */
#ifndef PGSPLIT_HEALTH_H
#define PGSPLIT_HEALTH_H

#include "pool.h"
#include "textbuf.h"

/* Write the JSON report into b; true when healthy (HTTP 200), false for 503. */
bool health_report(TextBuf *b);
/* "up", "down" or "unknown" (nothing has tried to reach it yet), as /health says. */
const char *health_primary_state_name(const Database *db);

#endif
