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

#endif
