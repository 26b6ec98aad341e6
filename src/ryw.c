/*
 * Read-your-writes bookkeeping (see ryw.h). Floors from an older primary epoch (the
 * monitor saw the primary change) are ignored: LSNs belong to a timeline, so an old
 * floor says nothing about a replica of the new primary.
 */
#include "ryw.h"
#include "config.h"
#include "monitor.h"
#include "pool.h"
#include "runtime.h"

#include <string.h>

void ryw_settings_resolve(const DatabaseDef *def, const Config *cfg, RywSettings *out)
{
	out->mode = def && def->read_your_writes >= 0 ? def->read_your_writes : cfg->read_your_writes_mode;
	out->scope = def && def->read_your_writes_scope >= 0 ? def->read_your_writes_scope
							      : cfg->read_your_writes_scope_mode;
	out->window = def && def->write_window >= 0 ? def->write_window : cfg->write_window;
	out->causal_wait = def && def->causal_wait >= 0 ? def->causal_wait : cfg->causal_wait;
}

void ryw_settings(const Database *db, RywSettings *out)
{
	*out = db->ryw_settings;
}

void ryw_note_write(RywState *st, const RywSettings *set, usec_t now)
{
	st->last_write = now;
	if (set->mode == RYW_LSN)
		st->floor_pending = true;
}

void ryw_set_floor(RywState *st, uint64_t lsn, uint32_t epoch)
{
	if (st->epoch != epoch || lsn > st->floor)
		st->floor = lsn;
	st->epoch = epoch;
	st->floor_pending = false;
}

bool ryw_current_floor(const RywState *st, const Database *db, uint64_t *floor)
{
	uint64_t lsn;
	*floor = st->floor;
	if (!st->floor_pending)
		return true;
	if (!monitor_floor_after(db, st->last_write, &lsn))
		return false;
	if (st->epoch != db->primary_epoch || lsn > st->floor)
		*floor = lsn;
	return true;
}

void ryw_resolve(RywState *st, const Database *db)
{
	uint64_t floor;
	if (st->floor_pending && ryw_current_floor(st, db, &floor))
		ryw_set_floor(st, floor, db->primary_epoch);
}

bool ryw_replica_allowed(const RywState *st, const RywSettings *set, uint32_t epoch, usec_t now,
			 uint64_t *min_lsn)
{
	*min_lsn = 0;
	switch (set->mode) {
	case RYW_OFF:
		return true;
	case RYW_WINDOW:
		return st->last_write == 0 || now - st->last_write >= set->window;
	default:
		if (st->floor_pending)
			return false;
		if (st->epoch == epoch)
			*min_lsn = st->floor;
		return true;
	}
}
