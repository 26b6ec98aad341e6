/*
 * Routing decision and replica choice (see router.h). Conservative: anything not
 * provably read-only goes to the primary.
 */
#include "router.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const reason_names[] = {
#define ROUTE_NAME_(name, str) str,
	ROUTE_REASONS(ROUTE_NAME_)
#undef ROUTE_NAME_
};

const char *router_reason_name(RouteReason reason)
{
	return reason < ROUTE_REASON_COUNT ? reason_names[reason] : "?";
}

const char *router_replica_state_name(ReplicaState state)
{
	static const char *const names[] = { "up", "lagging", "down", "promoted", "disabled" };
	return names[state];
}

static RouteDecision decide(bool to_replica, RouteReason reason)
{
	RouteDecision d = { to_replica, reason };
	return d;
}

/* An explicit BEGIN: READ ONLY (declared or by session default) may use a replica. */
static RouteDecision decide_begin(const RouteRequest *req)
{
	if (req->cls.begin_read_only)
		return decide(true, ROUTE_DECLARED_READ_ONLY);
	if (req->cls.begin_read_write || !req->default_read_only)
		return decide(false, ROUTE_EXPLICIT_TRANSACTION);
	if (req->cls.verdict == CLASSIFY_WRITE)
		return decide(false, ROUTE_WRITE);
	return decide(true, ROUTE_DECLARED_READ_ONLY);
}

RouteDecision router_decide(const RouteRequest *req)
{
	if (req->routing == ROUTING_PRIMARY)
		return decide(false, ROUTE_ROUTING_PRIMARY);
	if (req->routing == ROUTING_REPLICA)
		return decide(true, ROUTE_ROUTING_REPLICA);
	if (req->session_mode)
		return decide(false, ROUTE_SESSION_MODE);
	if (!req->classified)
		return decide(false, ROUTE_UNSURE);
	if (req->cls.hint == CLASSIFY_HINT_REPLICA)
		return decide(true, ROUTE_HINT);
	if (req->cls.hint == CLASSIFY_HINT_PRIMARY)
		return decide(false, ROUTE_HINT);
	if (req->cls.sets_default_read_write || req->cls.sets_default_read_only)
		return decide(false, ROUTE_UNSURE);
	if (req->cls.begins_transaction)
		return decide_begin(req);
	if (req->cls.verdict == CLASSIFY_READ)
		return decide(true, ROUTE_CLASSIFIED_READ);
	if (req->default_read_only && req->cls.verdict != CLASSIFY_WRITE && !req->cls.is_transaction_control)
		return decide(true, ROUTE_DECLARED_READ_ONLY);
	return decide(false, req->cls.verdict == CLASSIFY_WRITE ? ROUTE_WRITE : ROUTE_UNSURE);
}

LoadBalance router_lb_from_name(const char *name)
{
	if (name && strcasecmp(name, "round_robin") == 0)
		return LB_ROUND_ROBIN;
	if (name && strcasecmp(name, "random") == 0)
		return LB_RANDOM;
	if (name && strcasecmp(name, "least_lag") == 0)
		return LB_LEAST_LAG;
	return LB_LEAST_CONNECTIONS;
}

bool router_replica_usable(const Replica *r, usec_t now)
{
	if (r->removed)
		return false;
	if (r->state == REPLICA_UP)
		return true;
	return r->state == REPLICA_DOWN && now >= r->down_until;
}

static bool better(const Replica *a, const Replica *b, LoadBalance lb)
{
	if (lb == LB_LEAST_LAG && a->lag != b->lag)
		return a->lag < b->lag;
	return a->active_servers < b->active_servers;
}

Replica *router_pick_replica(Database *db, LoadBalance lb, usec_t now, uint64_t min_lsn)
{
	Replica *usable[64];
	int n = 0;
	for (int i = 0; i < db->n_replicas && n < 64; i++) {
		Replica *r = db->replicas[i];
		if (router_replica_usable(r, now) && (min_lsn == 0 || r->replay_lsn >= min_lsn))
			usable[n++] = r;
	}
	if (n == 0)
		return NULL;
	switch (lb) {
	case LB_ROUND_ROBIN:
		return usable[db->rr_next++ % (unsigned)n];
	case LB_RANDOM:
		return usable[(unsigned)random() % (unsigned)n];
	default: {
		/* start at a rotating index so ties spread over the replicas */
		Replica *best = NULL;
		unsigned start = db->rr_next++;
		for (int k = 0; k < n; k++) {
			Replica *r = usable[(start + (unsigned)k) % (unsigned)n];
			if (!best || better(r, best, lb))
				best = r;
		}
		return best;
	}
	}
}
