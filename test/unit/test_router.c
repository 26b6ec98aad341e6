/*
 * Unit tests of the pure routing decisions: router_decide() on requests built from real
 * SQL through the classifier, and the read-your-writes checks of ryw.c (what a scope asks
 * of a replica after a write, in each mode).
 */
#include "classify.h"
#include "config.h"
#include "router.h"
#include "ryw.h"
#include "tap.h"

#include <string.h>

/* A transaction-pooling request in routing=auto for one query string. */
static RouteRequest request(const char *sql)
{
	RouteRequest req;
	memset(&req, 0, sizeof(req));
	req.routing = ROUTING_AUTO;
	req.classified = true;
	classify_sql(NULL, sql, strlen(sql), &req.cls);
	return req;
}

static bool goes_to_replica(const RouteRequest *req, RouteReason *reason)
{
	RouteDecision d = router_decide(req);
	*reason = d.reason;
	return d.to_replica;
}

static void test_reads_and_writes(void)
{
	RouteReason why;
	RouteRequest r = request("SELECT 1");
	CHECK(goes_to_replica(&r, &why) && why == ROUTE_CLASSIFIED_READ);
	r = request("INSERT INTO t VALUES (1)");
	CHECK(!goes_to_replica(&r, &why) && why == ROUTE_WRITE);
	r = request("SELECT 1; UPDATE t SET v = 2");
	CHECK(!goes_to_replica(&r, &why) && why == ROUTE_WRITE);
	r = request("SELECT nextval('s')");
	CHECK(!goes_to_replica(&r, &why));
	r = request("/* pgsplit:primary */ SELECT 1");
	CHECK(!goes_to_replica(&r, &why) && why == ROUTE_HINT);
	r = request("/* pgsplit:replica */ SELECT 1");
	CHECK(goes_to_replica(&r, &why) && why == ROUTE_HINT);
}

static void test_transactions(void)
{
	RouteReason why;
	RouteRequest r = request("BEGIN READ ONLY");
	CHECK(goes_to_replica(&r, &why) && why == ROUTE_DECLARED_READ_ONLY);
	r = request("BEGIN");
	CHECK(!goes_to_replica(&r, &why) && why == ROUTE_EXPLICIT_TRANSACTION);
	r = request("BEGIN");
	r.default_read_only = true; /* the session's default_transaction_read_only is on */
	CHECK(goes_to_replica(&r, &why) && why == ROUTE_DECLARED_READ_ONLY);
	r = request("BEGIN READ WRITE");
	r.default_read_only = true;
	CHECK(!goes_to_replica(&r, &why) && why == ROUTE_EXPLICIT_TRANSACTION);
	r = request("SET default_transaction_read_only = on");
	CHECK(!goes_to_replica(&r, &why) && why == ROUTE_UNSURE);
}

static void test_what_overrides_the_classifier(void)
{
	RouteReason why;
	RouteRequest r = request("SELECT 1");
	r.routing = ROUTING_PRIMARY;
	CHECK(!goes_to_replica(&r, &why) && why == ROUTE_ROUTING_PRIMARY);
	r = request("INSERT INTO t VALUES (1)");
	r.routing = ROUTING_REPLICA;
	CHECK(goes_to_replica(&r, &why) && why == ROUTE_ROUTING_REPLICA);
	r = request("SELECT 1");
	r.session_mode = true;
	CHECK(!goes_to_replica(&r, &why) && why == ROUTE_SESSION_MODE);
	r = request("SELECT 1");
	r.classified = false; /* the batch could not be seen whole */
	CHECK(!goes_to_replica(&r, &why) && why == ROUTE_UNSURE);
	r = request("SELECT 1");
	r.prepare_only = true;
	CHECK(!goes_to_replica(&r, &why) && why == ROUTE_PREPARE_ONLY);
}

static void test_ryw_modes(void)
{
	RywSettings set = { .mode = RYW_LSN, .scope = RYW_SCOPE_CLIENT, .window = 2000000, .causal_wait = 0 };
	RywState st;
	uint64_t min_lsn = 1;
	memset(&st, 0, sizeof(st));
	CHECK(ryw_replica_allowed(&st, &set, 0, 100, &min_lsn) && min_lsn == 0); /* no write yet */
	ryw_note_write(&st, &set, 100);
	CHECK(!ryw_replica_allowed(&st, &set, 0, 200, &min_lsn)); /* its floor is not known yet */
	ryw_set_floor(&st, 0x5000, 0);
	CHECK(ryw_replica_allowed(&st, &set, 0, 200, &min_lsn) && min_lsn == 0x5000);
	ryw_set_floor(&st, 0x4000, 0); /* an older position never lowers the floor */
	CHECK(ryw_replica_allowed(&st, &set, 0, 200, &min_lsn) && min_lsn == 0x5000);
	CHECK(ryw_replica_allowed(&st, &set, 1, 200, &min_lsn) && min_lsn == 0); /* a new primary */
	ryw_set_floor(&st, 0x100, 1); /* the new primary's positions replace the old floor */
	CHECK(ryw_replica_allowed(&st, &set, 1, 200, &min_lsn) && min_lsn == 0x100);

	set.mode = RYW_WINDOW;
	memset(&st, 0, sizeof(st));
	ryw_note_write(&st, &set, 1000);
	CHECK(!ryw_replica_allowed(&st, &set, 0, 1000 + set.window - 1, &min_lsn));
	CHECK(ryw_replica_allowed(&st, &set, 0, 1000 + set.window, &min_lsn) && min_lsn == 0);

	set.mode = RYW_OFF;
	ryw_note_write(&st, &set, 5000);
	CHECK(ryw_replica_allowed(&st, &set, 0, 5000, &min_lsn) && min_lsn == 0);
}

/* A read re-run after losing a replica's connection never goes back to that replica. */
static void test_pick_except(void)
{
	Replica a, b;
	Replica *reps[2] = { &a, &b };
	Database db;
	Replica *out;
	memset(&db, 0, sizeof(db));
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.state = b.state = REPLICA_UP;
	a.weight = b.weight = 1;
	db.replicas = reps;
	db.n_replicas = 2;
	bool never_a = true;
	for (int lb = LB_ROUND_ROBIN; lb <= LB_LEAST_LAG; lb++)
		for (int i = 0; i < 8; i++)
			never_a = never_a && router_pick_reader_except(&db, (LoadBalance)lb, 0, 0, 0, &a, &out) &&
				  out == &b;
	CHECK(never_a);
	/* with the primary as a candidate too, it is the primary or the other replica */
	CHECK(router_pick_reader_except(&db, LB_ROUND_ROBIN, 0, 0, 1, &a, &out) && out != &a);
	b.state = REPLICA_DOWN;
	b.down_until = 1000;
	CHECK(!router_pick_reader_except(&db, LB_ROUND_ROBIN, 0, 0, 0, &a, &out)); /* none left */
	CHECK(router_pick_reader_except(&db, LB_ROUND_ROBIN, 0, 0, 0, NULL, &out) && out == &a);
}

TAP_MAIN({ "reads_and_writes", test_reads_and_writes }, { "transactions", test_transactions },
	 { "what_overrides_the_classifier", test_what_overrides_the_classifier }, { "ryw_modes", test_ryw_modes },
	 { "pick_except", test_pick_except })
