/*
 * Read-your-writes bookkeeping. A scope (one client, or one database/user
 * pair) remembers when its last write ended and the primary's WAL position after it (the
 * floor). A read in the scope may use a replica only when the window has passed (window
 * mode) or the replica has replayed past the floor (lsn mode). Pure functions over the
 * state; the monitor's primary checks supply the positions and the router asks these
 * functions.
 */
#ifndef PGSPLIT_RYW_H
#define PGSPLIT_RYW_H

#include "common.h"

typedef struct Database Database;
struct DatabaseDef;
struct Config;

typedef struct RywState {
	usec_t last_write;  /* monotonic end of the last write; 0 = none */
	uint64_t floor;     /* WAL position a replica must have replayed; 0 = none */
	bool floor_pending; /* a write ended; its floor comes with the next primary check */
	uint32_t epoch;     /* the database's primary epoch the floor belongs to */
} RywState;

typedef struct RywSettings {
	int mode;  /* RYW_LSN, RYW_WINDOW, RYW_OFF (config.h) */
	int scope; /* RYW_SCOPE_CLIENT, RYW_SCOPE_USER */
	usec_t window;
	usec_t causal_wait;
} RywSettings;

/* Per-database overrides, else the [pgbouncer] settings (at load, reload and SET). */
void ryw_settings_resolve(const struct DatabaseDef *def, const struct Config *cfg, RywSettings *out);
/* The database's settings as last resolved. */
void ryw_settings(const Database *db, RywSettings *out);
void ryw_note_write(RywState *st, const RywSettings *set, usec_t now);
void ryw_set_floor(RywState *st, uint64_t lsn, uint32_t epoch);
/*
 * The scope's floor as the router will see it at its next read: false while the write's
 * floor is still pending (no primary check sent after the write has answered yet).
 */
bool ryw_current_floor(const RywState *st, const Database *db, uint64_t *floor);
/* A pending floor becomes known once a primary check sent after the write has answered. */
void ryw_resolve(RywState *st, const Database *db);
/*
 * What the scope requires of a replica for a read now: false = keep the read on the
 * primary (window still open, or the write's floor not known yet); true with
 * *min_lsn (0 = any replica) otherwise.
 */
bool ryw_replica_allowed(const RywState *st, const RywSettings *set, uint32_t epoch, usec_t now,
			 uint64_t *min_lsn);

#endif
