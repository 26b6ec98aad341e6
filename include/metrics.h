/*
 * GET /metrics: the pooler's figures in the Prometheus text exposition format (0.0.4).
 * PgBouncer's SHOW views under the prometheus-community pgbouncer_exporter's names
 * (pgbouncer_pools_*, pgbouncer_stats_*, pgbouncer_databases_*, ...), pgsplit's own
 * under pgsplit_*, and the process under the usual process_* names.
 */
#ifndef PGSPLIT_METRICS_H
#define PGSPLIT_METRICS_H

#include "common.h"

#include <stddef.h>

/*
 * The whole exposition as one malloc'd text (caller frees); *len is its length.
 * last_render: how long the previous render took, reported as a gauge.
 */
char *metrics_render(size_t *len, usec_t last_render);

/* ---- shared by the metrics_*.c renderers ---- */

typedef struct TextBuf TextBuf;
/* A family's "# HELP" and "# TYPE" lines; type is "counter" or "gauge". */
void metrics_family_header(TextBuf *b, const char *name, const char *type, const char *help);
/* process_open_fds, process_resident_memory_bytes and the other process_* families. */
void metrics_render_process(TextBuf *b);

#endif
