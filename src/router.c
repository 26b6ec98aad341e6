/*
 * Routing policy (see router.h), pure: the decision and the replica choice from their
 * arguments alone, no I/O; client_route.c is the glue that calls it. Conservative:
 * anything not provably read-only goes to the primary.
 */
#include "router.h"

#include <stdlib.h>
#include <string.h>

_Static_assert(ROUTE_REASON_COUNT <= ROUTE_REASON_SLOTS, "pool.h: ROUTE_REASON_SLOTS too small");

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
	static const char *const names[] = { "up", "lagging", "down", "promoted", "disabled", "diverged",
					       "old_timeline" };
	return names[state];
}

const char *router_replica_role_name(const Replica *replica)
{
	return replica->state == REPLICA_PROMOTED ? "primary" : "replica";
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
	if (req->prepare_only)
		return decide(false, ROUTE_PREPARE_ONLY);
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

bool router_replica_usable(const Replica *r, usec_t now)
{
	if (r->removed)
		return false;
	if (r->state == REPLICA_UP)
		return true;
	return r->state == REPLICA_DOWN && now >= r->down_until;
}

bool router_any_usable(const Database *db, usec_t now)
{
	for (int i = 0; i < db->n_replicas; i++)
		if (db->replicas[i]->weight > 0 && router_replica_usable(db->replicas[i], now))
			return true;
	return false;
}

/* A read candidate: a replica, or the primary (replica == NULL). */
typedef struct Candidate {
	Replica *replica;
	int weight;
	int active;
	usec_t lag;
	int *credit;
} Candidate;

/* a is a better choice than b (least_connections / least_lag) */
static bool better(const Candidate *a, const Candidate *b, LoadBalance lb)
{
	if (lb == LB_LEAST_LAG && a->lag != b->lag)
		return a->lag < b->lag;
	/* fewer active servers per unit of weight */
	return (int64_t)a->active * b->weight < (int64_t)b->active * a->weight;
}

/* Smooth weighted round robin: every pick adds each weight to its credit. */
static int pick_round_robin(Candidate *c, int n)
{
	int total = 0, best = 0;
	for (int i = 0; i < n; i++) {
		*c[i].credit += c[i].weight;
		total += c[i].weight;
		if (*c[i].credit > *c[best].credit)
			best = i;
	}
	*c[best].credit -= total;
	return best;
}

static int pick_random(const Candidate *c, int n)
{
	int total = 0;
	for (int i = 0; i < n; i++)
		total += c[i].weight;
	int r = (int)((unsigned)random() % (unsigned)total);
	for (int i = 0; i < n; i++) {
		if (r < c[i].weight)
			return i;
		r -= c[i].weight;
	}
	return n - 1;
}

static int pick_best(const Candidate *c, int n, LoadBalance lb, unsigned start)
{
	int best = -1;
	for (int k = 0; k < n; k++) {
		int i = (int)((start + (unsigned)k) % (unsigned)n); /* rotate so ties spread */
		if (best < 0 || better(&c[i], &c[best], lb))
			best = i;
	}
	return best;
}

static int collect(Database *db, usec_t now, uint64_t min_lsn, int primary_weight, const Replica *except,
		   Candidate *c)
{
	int n = 0;
	for (int i = 0; i < db->n_replicas && n < 63; i++) {
		Replica *r = db->replicas[i];
		if (r == except || r->weight <= 0 || !router_replica_usable(r, now) || (min_lsn && r->replay_lsn < min_lsn))
			continue;
		c[n++] = (Candidate){ r, r->weight, r->active_servers, r->lag, &r->rr_credit };
	}
	if (primary_weight > 0)
		c[n++] = (Candidate){ NULL, primary_weight, db->primary_active, 0, &db->primary_rr_credit };
	return n;
}

bool router_pick_reader(Database *db, LoadBalance lb, usec_t now, uint64_t min_lsn, int primary_weight,
			Replica **out)
{
	return router_pick_reader_except(db, lb, now, min_lsn, primary_weight, NULL, out);
}

bool router_pick_reader_except(Database *db, LoadBalance lb, usec_t now, uint64_t min_lsn, int primary_weight,
			       const Replica *except, Replica **out)
{
	Candidate c[64];
	int n = collect(db, now, min_lsn, primary_weight, except, c);
	int i;
	*out = NULL;
	if (n == 0)
		return false;
	switch (lb) {
	case LB_ROUND_ROBIN:
		i = pick_round_robin(c, n);
		break;
	case LB_RANDOM:
		i = pick_random(c, n);
		break;
	default:
		/* a random start spreads ties without a rhythm that callers could fall into */
		i = pick_best(c, n, lb, (unsigned)random());
		break;
	}
	*out = c[i].replica;
	return true;
}

Replica *router_pick_replica(Database *db, LoadBalance lb, usec_t now, uint64_t min_lsn)
{
	Replica *r;
	return router_pick_reader(db, lb, now, min_lsn, 0, &r) ? r : NULL;
}
