/*
 * libFuzzer target for the routing decision and replica choice (router.h). Input: one
 * mode byte, then
 *   'D' decide: a flags byte, then either three bytes of synthetic ClassifyResult or SQL
 *       that the classifier turns into one; router_decide() must honour the routing
 *       mode, session pooling and the hints, and never send to a replica what nobody
 *       proved or declared read-only;
 *   'P' pick: a load-balancing byte, the primary's read weight and a list of replicas
 *       (state, weight within the config's 0..1000, load, lag, replay position); every
 *       pick must be a usable replica (or the primary), and round robin must hand out
 *       each candidate exactly its weight's share over one full cycle.
 * Any other byte picks a mode by its parity. random() is reseeded per input.
 */
#include "fuzz_common.h"

#include "router.h"

#define FUZZ_ROUTER_MAX_REPLICAS 72  /* above the 63 candidates router.c keeps */
#define FUZZ_ROUTER_REPLICA_BYTES 6
#define FUZZ_ROUTER_RR_CYCLE_MAX 2000 /* longest round-robin cycle checked */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet_logging();
	return 0;
}

/* ---- router_decide ---- */

static void fuzz_router_synthetic(ClassifyResult *cls, const uint8_t *b)
{
	memset(cls, 0, sizeof(*cls));
	cls->verdict = (ClassifyVerdict)(b[0] % 3);
	cls->hint = (ClassifyHint)((b[0] >> 2) % 3);
	cls->reason = "synthetic";
	cls->is_transaction_control = b[1] & 1;
	cls->begins_transaction = b[1] & 2;
	cls->begin_read_only = b[1] & 4;
	cls->begin_read_write = b[1] & 8;
	cls->sets_default_read_only = b[1] & 16;
	cls->sets_default_read_write = b[1] & 32;
	cls->n_statements = b[2];
}

static void fuzz_router_check_decision(const RouteRequest *req, RouteDecision d)
{
	const ClassifyResult *c = &req->cls;

	FUZZ_CHECK((unsigned)d.reason < ROUTE_REASON_COUNT);
	FUZZ_CHECK(strcmp(router_reason_name(d.reason), "?") != 0);
	if (req->routing == ROUTING_PRIMARY) {
		FUZZ_CHECK(!d.to_replica);
		return;
	}
	if (req->routing == ROUTING_REPLICA) {
		FUZZ_CHECK(d.to_replica);
		return;
	}
	if (req->session_mode || !req->classified) {
		FUZZ_CHECK(!d.to_replica);
		return;
	}
	if (c->hint != CLASSIFY_HINT_NONE) {
		FUZZ_CHECK(d.to_replica == (c->hint == CLASSIFY_HINT_REPLICA));
		return;
	}
	/* to a replica only what is proved read-only or declared so */
	if (d.to_replica)
		FUZZ_CHECK(c->verdict == CLASSIFY_READ || c->begin_read_only || req->default_read_only);
	if (c->verdict == CLASSIFY_WRITE && !c->begin_read_only)
		FUZZ_CHECK(!d.to_replica);
	if (c->sets_default_read_only || c->sets_default_read_write)
		FUZZ_CHECK(!d.to_replica);
}

static void fuzz_router_decide(const uint8_t *data, size_t size)
{
	RouteRequest req;
	if (size < 4)
		return;
	memset(&req, 0, sizeof(req));
	req.routing = (RoutingMode)((data[0] & 3) - 1); /* ROUTING_UNSET .. ROUTING_REPLICA */
	req.session_mode = data[0] & 4;
	req.default_read_only = data[0] & 8;
	req.classified = !(data[0] & 16);
	if (data[0] & 32) {
		fuzz_router_synthetic(&req.cls, data + 1);
	} else {
		char *sql = (char *)fuzz_memdup(data + 1, size - 1);
		classify_sql(NULL, sql, size - 1, &req.cls);
		free(sql);
	}
	RouteDecision d = router_decide(&req);
	RouteDecision again = router_decide(&req);
	FUZZ_CHECK(d.to_replica == again.to_replica && d.reason == again.reason);
	fuzz_router_check_decision(&req, d);
}

/* ---- router_pick_reader / router_pick_replica ---- */

typedef struct FuzzRouterDb {
	Database db;
	Replica rep[FUZZ_ROUTER_MAX_REPLICAS];
	Replica *ptr[FUZZ_ROUTER_MAX_REPLICAS];
} FuzzRouterDb;

static void fuzz_router_replica(Replica *r, const uint8_t *b)
{
	memset(r, 0, sizeof(*r));
	r->host = "replica";
	r->port = 5432;
	r->state = (ReplicaState)(b[0] % 5);
	r->removed = (b[0] & 0x80) != 0;
	r->down_until = (usec_t)(b[0] >> 3 & 7) * 100;
	r->weight = b[1] == 255 ? 1000 : b[1] % 11;
	r->active_servers = b[2];
	r->lag = (usec_t)b[3] * 1000;
	r->replay_lsn = (uint64_t)b[4] << 8 | b[5];
}

/* Whether r may be picked now at min_lsn, by the header's definition. */
static bool fuzz_router_qualifies(const Replica *r, usec_t now, uint64_t min_lsn)
{
	return r->weight > 0 && router_replica_usable(r, now) && (!min_lsn || r->replay_lsn >= min_lsn);
}

/*
 * Smooth weighted round robin, from zero credits: over one cycle of total-weight picks
 * every candidate is chosen exactly weight times.
 */
static void fuzz_router_check_cycle(FuzzRouterDb *f, usec_t now, uint64_t min_lsn, int pw)
{
	int total = pw, want_primary = pw, got_primary = 0;
	int got[FUZZ_ROUTER_MAX_REPLICAS] = { 0 };
	int kept = 0;

	for (int i = 0; i < f->db.n_replicas; i++) {
		f->rep[i].rr_credit = 0;
		if (fuzz_router_qualifies(&f->rep[i], now, min_lsn) && kept < 63) {
			total += f->rep[i].weight;
			kept++;
		}
	}
	f->db.primary_rr_credit = 0;
	if (total == 0 || total > FUZZ_ROUTER_RR_CYCLE_MAX)
		return;
	for (int k = 0; k < total; k++) {
		Replica *out;
		FUZZ_CHECK(router_pick_reader(&f->db, LB_ROUND_ROBIN, now, min_lsn, pw, &out));
		if (out)
			got[out - f->rep]++;
		else
			got_primary++;
	}
	FUZZ_CHECK(got_primary == want_primary);
	kept = 0;
	for (int i = 0; i < f->db.n_replicas; i++) {
		bool in = fuzz_router_qualifies(&f->rep[i], now, min_lsn) && kept < 63;
		kept += in;
		FUZZ_CHECK(got[i] == (in ? f->rep[i].weight : 0));
	}
}

static void fuzz_router_pick(const uint8_t *data, size_t size)
{
	static FuzzRouterDb f;
	if (size < 5)
		return;
	LoadBalance lb = (LoadBalance)(data[0] % 4);
	int pw = data[1] == 255 ? 1000 : data[1] % 8; /* primary_read_weight: 0..1000 */
	uint64_t min_lsn = data[2] % 4 == 0 ? 0 : (uint64_t)data[2] << 8;
	usec_t now = (usec_t)(data[3] % 8) * 100;
	int n = data[4] % FUZZ_ROUTER_MAX_REPLICAS;
	int primary_active = data[3] >> 3;
	data += 5;
	size -= 5;
	if ((size_t)n * FUZZ_ROUTER_REPLICA_BYTES > size)
		n = (int)(size / FUZZ_ROUTER_REPLICA_BYTES);

	memset(&f.db, 0, sizeof(f.db));
	f.db.name = "db";
	f.db.primary_active = primary_active;
	for (int i = 0; i < n; i++) {
		fuzz_router_replica(&f.rep[i], data + (size_t)i * FUZZ_ROUTER_REPLICA_BYTES);
		f.ptr[i] = &f.rep[i];
	}
	f.db.replicas = f.ptr;
	f.db.n_replicas = n;

	for (int k = 0; k < 8; k++) {
		Replica *out = NULL;
		bool any = router_pick_reader(&f.db, lb, now, min_lsn, pw, &out);
		FUZZ_CHECK(any || out == NULL);
		FUZZ_CHECK(!out || fuzz_router_qualifies(out, now, min_lsn));
		FUZZ_CHECK(!any || out || pw > 0);
		Replica *r = router_pick_replica(&f.db, lb, now, min_lsn);
		FUZZ_CHECK(!r || fuzz_router_qualifies(r, now, min_lsn));
	}
	fuzz_router_check_cycle(&f, now, min_lsn, pw);
	for (int i = 0; i < n; i++)
		(void)router_replica_state_name(f.rep[i].state);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	srandom(1);
	bool decide = data[0] == 'D' || (data[0] != 'P' && data[0] % 2 == 0);
	if (decide)
		fuzz_router_decide(data + 1, size - 1);
	else
		fuzz_router_pick(data + 1, size - 1);
	return 0;
}
