/*
 * Periodic upkeep: client and server timeouts, server lifetime and idle limits, pool
 * minimums, stats periods, and the shutdown conditions.
 */
#ifndef PGSPLIT_MAINT_H
#define PGSPLIT_MAINT_H

void maint_start(void);
void maint_stop(void);
/* Run one pass now (e.g. after RESUME). */
void maint_run(void);

#endif
