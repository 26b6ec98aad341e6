/*
 * Routing glue (see client_route.h): feeds a client's buffered batch and session state to
 * the policy in router.c (pure) and carries out its answer. Only what is buffered is
 * examined and nothing past a message's own length is read; a batch larger than
 * ROUTE_SCAN_LIMIT is not examined and goes to the primary.
 */
#include "client_route.h"
#include "classify.h"
#include "log.h"
#include "monitor.h"
#include "pktbuf.h"
#include "prepared.h"
#include "rerun.h"
#include "pg_wire.h"
#include "proto.h"
#include "registry.h"
#include "router.h"
#include "ryw.h"
#include "runtime.h"
#include "server.h"

#include <event2/event.h>

#include <stdlib.h>
#include <string.h>

#define ROUTE_SCAN_LIMIT (256 * 1024)

/* SCAN_PARTIAL: every buffered message is whole but the batch has no Sync yet */
typedef enum { SCAN_DONE, SCAN_MORE, SCAN_PARTIAL, SCAN_UNSURE } ScanStatus;

/* Fold one statement's result into the batch's: the first non-READ result wins. */
static void merge_result(ClassifyResult *acc, const ClassifyResult *one, bool *first)
{
	bool calls = !*first && acc->calls_functions;
	bool session_only = (*first || acc->session_only) && one->session_only;
	if (*first || (acc->verdict == CLASSIFY_READ && one->verdict != CLASSIFY_READ)) {
		ClassifyHint hint = *first ? one->hint : acc->hint;
		*acc = *one;
		acc->hint = hint;
	}
	acc->calls_functions = calls || one->calls_functions;
	acc->session_only = session_only;
	*first = false;
}

static void classify_text(const uint8_t *sql, size_t len, ClassifyResult *out)
{
	/* the message's text ends with a NUL inside len; the classifier gets the text only */
	const uint8_t *nul = memchr(sql, 0, len);
	classify_sql(rt.classify_cfg, (const char *)sql, nul ? (size_t)(nul - sql) : len, out);
}

static ScanStatus scan_parse(const uint8_t *body, size_t len, ClassifyResult *acc, bool *first,
			     const char **parsed, int *n_parsed)
{
	PktReader r;
	const char *name, *query;
	proto_reader_init(&r, body, len);
	if (!proto_get_cstring(&r, &name) || !proto_get_cstring(&r, &query))
		return SCAN_UNSURE;
	if (*n_parsed < 16) /* the unnamed statement too: a Bind of "" refers to it */
		parsed[(*n_parsed)++] = name;
	ClassifyResult one;
	classify_text((const uint8_t *)query, strlen(query) + 1, &one);
	merge_result(acc, &one, first);
	return SCAN_DONE;
}

/*
 * What a Bind adds to the batch's verdict. A statement parsed earlier in this batch (the
 * unnamed one included) adds nothing: its Parse was classified. A tracked prepared
 * statement adds the verdict its Parse got (a BEGIN READ ONLY that pgjdbc prepared as
 * S_2 still opens a read-only transaction). False for a statement the pooler cannot
 * classify here (an unnamed one from an earlier batch, an unknown name): the primary.
 */
static bool scan_bind(const Client *c, const uint8_t *body, size_t len, const char **parsed, int n_parsed,
		      ClassifyResult *acc, bool *first)
{
	PktReader r;
	const char *portal, *stmt;
	proto_reader_init(&r, body, len);
	if (!proto_get_cstring(&r, &portal) || !proto_get_cstring(&r, &stmt))
		return false;
	for (int i = 0; i < n_parsed; i++)
		if (strcmp(parsed[i], stmt) == 0)
			return true;
	const ClassifyResult *named = *stmt && prepared_enabled(c) ? prepared_statement_class(c, stmt) : NULL;
	if (!named)
		return false;
	merge_result(acc, named, first);
	return true;
}

/*
 * Walk the buffered extended-protocol messages up to Sync. *rerun_len is the batch's
 * length when a 25006 re-run could replay it as it is: not when it has a Close (the
 * name would be gone before the re-run refers to it).
 */
static ScanStatus scan_extended_batch(const Client *c, ClassifyResult *acc, bool *executes, size_t *rerun_len)
{
	const Conn *conn = &c->conn;
	const uint8_t *data;
	size_t len, pos = 0;
	bool first = true, saw_parse = false;
	bool replayable = true;
	const char *parsed[16];
	int n_parsed = 0;
	*rerun_len = 0;
	sbuf_peek(conn, &data, &len);
	for (;;) {
		if (pos == len)
			return len >= ROUTE_SCAN_LIMIT ? SCAN_UNSURE : SCAN_PARTIAL;
		if (pos + 5 > len)
			return len >= ROUTE_SCAN_LIMIT ? SCAN_UNSURE : SCAN_MORE;
		uint8_t type = data[pos];
		uint32_t mlen = proto_read_be32(data + pos + 1) + 1;
		if (mlen < 5 || pos + mlen > len)
			return (mlen < 5 || pos + mlen > ROUTE_SCAN_LIMIT) ? SCAN_UNSURE : SCAN_MORE;
		const uint8_t *body = data + pos + 5;
		size_t blen = mlen - 5;
		switch (type) {
		case PG_MSG_PARSE:
			saw_parse = true;
			if (scan_parse(body, blen, acc, &first, parsed, &n_parsed) != SCAN_DONE)
				return SCAN_UNSURE;
			break;
		case PG_MSG_BIND:
			if (!scan_bind(c, body, blen, parsed, n_parsed, acc, &first))
				return SCAN_UNSURE;
			saw_parse = true; /* classified: by a Parse here or by the named statement's */
			break;
		case PG_MSG_EXECUTE:
			*executes = true;
			break;
		case PG_MSG_CLOSE:
			replayable = false;
			break;
		case PG_MSG_DESCRIBE:
			break;
		case PG_MSG_SYNC:
			if (replayable)
				*rerun_len = pos + mlen;
			return saw_parse ? SCAN_DONE : SCAN_UNSURE;
		default: /* Flush before Sync, FunctionCall, COPY data...: keep it on the primary */
			return SCAN_UNSURE;
		}
		pos += mlen;
	}
}

static bool client_default_read_only(const Client *c)
{
	const char *v = varcache_get(&c->vars, VARCACHE_DEFAULT_TRANSACTION_READ_ONLY);
	return v && strcmp(v, "on") == 0;
}

/*
 * A batch whose Sync has not arrived: a pipelining client usually sends the rest within
 * microseconds, but one may also wait for what it sent so far, an error above all, which
 * a server answers at once. So the batch waits for its Sync at most PARTIAL_BATCH_WAIT
 * after its last bytes arrived, then runs as it is on the primary.
 */
#define PARTIAL_BATCH_WAIT_USEC 5000

static void partial_wait_done(evutil_socket_t fd, short what, void *arg)
{
	Client *c = arg;
	(void)fd;
	(void)what;
	c->route.partial_due = true;
	sbuf_kick(&c->conn);
}

static void partial_wait_arm(Client *c)
{
	struct timeval tv = { 0, PARTIAL_BATCH_WAIT_USEC };
	if (!c->route.partial_timer)
		c->route.partial_timer = evtimer_new(rt.base, partial_wait_done, c);
	if (!c->route.partial_timer || evtimer_add(c->route.partial_timer, &tv) != 0)
		c->route.partial_due = true; /* no timer: do not wait */
}

static void partial_wait_reset(Client *c)
{
	c->route.partial_due = false;
	if (c->route.partial_timer)
		evtimer_del(c->route.partial_timer);
}

/*
 * Fill req.cls from the pending message(s) when they are buffered whole; never waits for
 * more (a batch still arriving stays unclassified).
 */
static void classify_buffered(const Client *c, const SbufMsg *msg, RouteRequest *req)
{
	bool executes = false;
	size_t rerun_len;
	req->classified = false;
	if (msg->type == PG_MSG_QUERY) {
		if (msg->avail == msg->len) {
			classify_text(msg->data + 5, msg->len - 5, &req->cls);
			req->classified = true;
		}
		return;
	}
	if (scan_extended_batch(c, &req->cls, &executes, &rerun_len) != SCAN_DONE)
		return;
	req->classified = true;
	req->prepare_only = !executes;
}

/* Fill req.cls from the pending message(s); *rerun_len as scan_extended_batch says. */
static ClientRouteStatus classify_pending(Client *c, const SbufMsg *msg, RouteRequest *req, size_t *rerun_len)
{
	req->classified = false;
	*rerun_len = 0;
	if (msg->type == PG_MSG_QUERY) {
		if (msg->avail < msg->len)
			return msg->len <= ROUTE_SCAN_LIMIT ? CLIENT_ROUTE_WAIT_MORE : CLIENT_ROUTE_READY;
		classify_text(msg->data + 5, msg->len - 5, &req->cls);
		req->classified = true;
		*rerun_len = msg->len;
		return CLIENT_ROUTE_READY;
	}
	bool executes = false;
	ScanStatus st = scan_extended_batch(c, &req->cls, &executes, rerun_len);
	if (st == SCAN_MORE)
		return CLIENT_ROUTE_WAIT_MORE;
	if (st == SCAN_PARTIAL) {
		if (!c->route.partial_due) {
			partial_wait_arm(c);
			return CLIENT_ROUTE_WAIT_MORE;
		}
		*rerun_len = 0; /* unclassified: the primary, which can run whatever follows */
		return CLIENT_ROUTE_READY;
	}
	req->classified = st == SCAN_DONE;
	req->prepare_only = req->classified && !executes;
	return CLIENT_ROUTE_READY;
}

/* The session's side of the router's question; false when the batch's content is not asked. */
static bool route_request_session(const Client *c, RouteRequest *req)
{
	memset(req, 0, sizeof(*req));
	req->routing = c->pool->db->routing;
	req->session_mode = pool_mode_of(c->pool) == POOL_MODE_SESSION;
	req->default_read_only = client_default_read_only(c);
	return !req->session_mode && req->routing == ROUTING_AUTO;
}

/*
 * The router's question about the pending batch: the session's state and, when
 * transaction pooling routes by content, what the batch says. Ready means the batch's
 * wait for its Sync, if any, is over.
 */
static ClientRouteStatus route_request(Client *c, const SbufMsg *msg, RouteRequest *req, size_t *rerun_len)
{
	*rerun_len = 0;
	if (!route_request_session(c, req))
		return CLIENT_ROUTE_READY;
	ClientRouteStatus st = classify_pending(c, msg, req, rerun_len);
	if (st == CLIENT_ROUTE_READY && c->route.partial_timer)
		partial_wait_reset(c);
	return st;
}

static Pool *replica_pool_for(Client *c, Replica *r)
{
	return registry_get_target_pool(c->pool->db, c->pool->user, r);
}

static void count_route(Database *db, RouteReason reason, Replica *r)
{
	db->route_reasons[reason]++;
	if (r) {
		db->routed_replica++;
		r->routed++;
	} else {
		db->routed_primary++;
	}
}


/* Reasons that make a primary transaction a write for read-your-writes. */
static bool reason_is_write(RouteReason reason)
{
	return reason == ROUTE_WRITE || reason == ROUTE_UNSURE || reason == ROUTE_EXPLICIT_TRANSACTION ||
	       reason == ROUTE_HINT;
}

/* A batch bound for the primary writes, for read-your-writes; session statements do not. */
static bool primary_batch_writes(const RouteRequest *req, RouteReason reason)
{
	return reason_is_write(reason) && !(req->classified && req->cls.session_only);
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/*
 * How long a read may wait for its floor (or token) and a replica past it: causal_wait,
 * or at least replica_catchup_wait, long enough for the early checks (a couple of ms
 * apart) to see a replica that lags a few milliseconds.
 */
static usec_t causal_bound(const RywSettings *set)
{
	return set->causal_wait > rt.cfg->replica_catchup_wait ? set->causal_wait : rt.cfg->replica_catchup_wait;
}

/*
 * Usable replicas last seen below the floor may have passed it since: ask them now, when
 * the read may wait for them. replica_catchup_wait alone is worth waiting only for a
 * replica whose last measured lag is within it: one further behind (replay paused, an
 * apply delay) would make every read after a write wait in vain; it is checked again at
 * most every replica_catchup_wait meanwhile, so its lag does not stay stale for a period.
 */
static bool want_replica_checks(Database *db, const RywSettings *set, usec_t now, uint64_t min_lsn)
{
	bool any = false;
	for (int i = 0; i < db->n_replicas; i++) {
		Replica *r = db->replicas[i];
		if (r->weight <= 0 || r->replay_lsn >= min_lsn || !router_replica_usable(r, now))
			continue;
		if (set->causal_wait > 0 || r->lag < rt.cfg->replica_catchup_wait) {
			monitor_want_replica_check(db, r, min_lsn);
			any = true;
		} else if (now - r->replay_seen_at >= rt.cfg->replica_catchup_wait) {
			/* not waited for, but its lag is refreshed: one that caught up counts again */
			monitor_want_replica_check(db, r, min_lsn);
		}
	}
	return any;
}

/*
 * A read bound for a replica: the scope's read-your-writes state decides whether any
 * replica may take it now, and how far it must have replayed. Returns the replica (never
 * `avoid`), or NULL with *reason set (and *wait when causal_wait allows waiting for one).
 */
static Replica *pick_for_read(Client *c, const Replica *avoid, RouteReason *reason, bool *wait)
{
	Database *db = c->pool->db;
	usec_t now = time_now_mono();
	LoadBalance lb = (LoadBalance)rt.cfg->replica_lb_mode;
	RywSettings set;
	uint64_t min_lsn = 0;
	*wait = false;
	if (!router_any_usable(db, now)) {
		*reason = ROUTE_NO_REPLICA; /* replica_fallback decides, whatever the floor */
		return NULL;
	}
	ryw_settings(db, &set);
	RywState *st = set.scope == RYW_SCOPE_USER ? &c->pool->ryw : &c->route.ryw;
	ryw_resolve(st, db);
	if (!ryw_replica_allowed(st, &set, db->primary_epoch, now, &min_lsn)) {
		*reason = ROUTE_READ_YOUR_WRITES;
		/* a floor still coming with the early primary check is worth waiting for too */
		*wait = st->floor_pending && causal_bound(&set) > 0;
		return NULL;
	}
	if (c->route.token_floor && c->route.token_epoch == db->primary_epoch && set.mode != RYW_OFF)
		min_lsn = max_u64(min_lsn, c->route.token_floor);
	Replica *r;
	if (router_pick_reader_except(db, lb, now, min_lsn, rt.cfg->primary_read_weight, avoid, &r)) {
		if (!r)
			*reason = ROUTE_CLASSIFIED_READ; /* the primary drew this read by weight */
		return r;
	}
	if (min_lsn && router_pick_replica(db, lb, now, 0)) {
		*reason = ROUTE_READ_YOUR_WRITES;
		*wait = causal_bound(&set) > 0 && want_replica_checks(db, &set, now, min_lsn);
		return NULL;
	}
	*reason = ROUTE_NO_REPLICA;
	return NULL;
}

/*
 * A batch that only prepares (Parse, Describe, Close, Sync) reads and writes nothing, and
 * prepared.c prepares the statement again on whichever server later runs it. So when no
 * primary server is idle it takes an idle replica server (one the read-your-writes floor
 * allows), never waiting behind a busy primary: pgbench -M prepared prepares with a
 * blocking call while the same thread's other clients hold the primary's servers.
 */
static Replica *prepare_only_target(Client *c)
{
	RouteReason reason;
	bool wait;
	if (!prepared_enabled(c) || c->pool->n_idle > 0)
		return NULL;
	Replica *r = pick_for_read(c, NULL, &reason, &wait);
	return r && replica_pool_for(c, r)->n_idle > 0 ? r : NULL;
}

/* The parked read's bound passed: it tries once more (and goes to the primary). */
static void causal_deadline_passed(evutil_socket_t fd, short what, void *arg)
{
	Client *c = arg;
	(void)fd;
	(void)what;
	if (!c->route.causal_waiting)
		return;
	c->route.causal_deadline = time_now_mono(); /* passed, whatever clock the timer used */
	list_del(&c->park_node);
	c->route.causal_waiting = false;
	sbuf_resume(&c->conn);
}

/*
 * Park the client until a replica catches up or its bound passes: the monitor wakes it
 * at each check answer, its own timer at the bound (maint's sweep if no timer).
 */
static bool causal_wait_begin(Client *c)
{
	Database *db = c->pool->db;
	RywSettings set;
	usec_t now = time_now_mono();
	if (c->route.causal_deadline && now >= c->route.causal_deadline) {
		c->route.causal_deadline = 0; /* waited long enough for this read */
		return false;
	}
	if (!c->route.causal_deadline) {
		ryw_settings(db, &set);
		usec_t bound = causal_bound(&set);
		struct timeval tv = { (time_t)(bound / USEC_PER_SEC), (suseconds_t)(bound % USEC_PER_SEC) };
		c->route.causal_deadline = now + bound;
		db->ryw_waited++;
		if (!c->route.causal_timer)
			c->route.causal_timer = evtimer_new(rt.base, causal_deadline_passed, c);
		if (c->route.causal_timer)
			evtimer_add(c->route.causal_timer, &tv);
	}
	c->route.causal_waiting = true;
	list_append(&db->causal_waiters, &c->park_node);
	return true;
}

ClientRouteStatus client_route(Client *c, const SbufMsg *msg, Pool **target)
{
	Database *db = c->pool->db;
	*target = c->pool;
	c->route.xact_is_write = false;
	if (c->route.rerun_on_primary) {
		c->route.rerun_on_primary = false; /* counted when the replica refused it */
		c->route.xact_is_write = true;     /* refused for writing: a write for read-your-writes */
		return CLIENT_ROUTE_READY;
	}
	if (db->routing == ROUTING_PRIMARY) {
		rerun_disarm(c); /* a re-run pending from before a reload: routing is off */
		return CLIENT_ROUTE_READY;
	}
	RouteRequest req;
	size_t rerun_len;
	if (route_request(c, msg, &req, &rerun_len) == CLIENT_ROUTE_WAIT_MORE)
		return CLIENT_ROUTE_WAIT_MORE;
	RouteDecision d = router_decide(&req);
	Replica *r = NULL;
	if (d.reason == ROUTE_PREPARE_ONLY) {
		r = prepare_only_target(c);
	} else if (d.to_replica && (d.reason == ROUTE_HINT || d.reason == ROUTE_ROUTING_REPLICA)) {
		r = router_pick_replica(db, (LoadBalance)rt.cfg->replica_lb_mode, time_now_mono(), 0);
		if (!r)
			d.reason = ROUTE_NO_REPLICA;
	} else if (d.to_replica) {
		bool wait;
		r = pick_for_read(c, rerun_lost_replica(c), &d.reason, &wait);
		if (!r && wait && causal_wait_begin(c))
			return CLIENT_ROUTE_CAUSAL_WAIT;
	}
	c->route.causal_deadline = 0;
	bool lost_rerun = rerun_lost_replica(c) != NULL;
	if (!r && d.reason == ROUTE_NO_REPLICA && db->fallback_error) {
		rerun_disarm(c);
		count_route(db, d.reason, NULL);
		return CLIENT_ROUTE_REFUSE;
	}
	if (r && d.reason == ROUTE_CLASSIFIED_READ)
		rerun_arm(c, rerun_len, req.classified && req.cls.calls_functions);
	else
		rerun_disarm(c);
	if (!r && d.reason == ROUTE_READ_YOUR_WRITES)
		db->ryw_kept_on_primary++;
	/* session statements (SET, RESET, DISCARD, DEALLOCATE) change no data: no floor */
	c->route.xact_is_write = !r && primary_batch_writes(&req, d.reason);
	count_route(db, lost_rerun ? ROUTE_RETRY_SERVER_LOST : d.reason, r);
	if (r)
		*target = replica_pool_for(c, r);
	return CLIENT_ROUTE_READY;
}

/*
 * A batch that joins the client's primary server unrouted (pipelined behind one that is,
 * or sent inside the transaction it opened) may write where the routed one did not: a
 * read kept on the primary by a floor, a SET. Then the transaction is a write for
 * read-your-writes, or the client's next read could go to a replica without its INSERT.
 * A batch not yet buffered whole is not waited for: it counts as a write.
 */
static void note_joining_write(Client *c, const SbufMsg *msg)
{
	RouteRequest req;
	if (!route_request_session(c, &req))
		return; /* routed without looking at content: no floors are kept for it */
	classify_buffered(c, msg, &req);
	RouteDecision d = router_decide(&req);
	if (!d.to_replica && primary_batch_writes(&req, d.reason))
		c->route.xact_is_write = true;
}

/*
 * Pipelining: a client still linked to a replica sends its next batch before the earlier
 * ones were answered. A read that calls no function joins them on that server; anything
 * else waits for their ReadyForQuery (the link then ends, or the transaction they opened
 * goes on there) and is routed on its own, with its own 25006 re-run chance: a batch
 * that needs the primary never runs on a replica because it came early.
 */
ClientRouteStatus client_route_pipelined(Client *c, const SbufMsg *msg)
{
	const Server *s = (const Server *)c->conn.link;
	bool next_batch = !s->unsynced && (s->pending_rfq > 0 || s->tx_status != 'I');
	if (!s->pool->replica) {
		if (next_batch && !c->route.xact_is_write)
			note_joining_write(c, msg);
		return CLIENT_ROUTE_READY;
	}
	if (s->pending_rfq == 0 || s->unsynced)
		return CLIENT_ROUTE_READY; /* a batch going on, or a transaction the client opened */
	if (rerun_calls_functions(c))
		return CLIENT_ROUTE_AWAIT_LINKED; /* joining would end the re-run chance of the one in flight */
	RouteRequest req;
	size_t rerun_len;
	if (route_request(c, msg, &req, &rerun_len) == CLIENT_ROUTE_WAIT_MORE)
		return CLIENT_ROUTE_WAIT_MORE;
	RouteDecision d = router_decide(&req);
	if (d.to_replica && !(req.classified && req.cls.calls_functions))
		return CLIENT_ROUTE_READY;
	return CLIENT_ROUTE_AWAIT_LINKED;
}

/* Monitor saw new positions, or time passed: let parked reads try again. */
void client_route_wake_causal(Database *db, bool deadline_only)
{
	usec_t now = time_now_mono();
	List woken, *it, *tmp;
	list_init(&woken);
	/*
	 * Taken off first: a woken read that must wait again parks anew on db's list, and
	 * is not seen again by this wake-up (each parked read is tried once per event).
	 */
	list_for_each_safe(it, tmp, &db->causal_waiters)
	{
		Client *c = container_of(it, Client, park_node);
		if (deadline_only && now < c->route.causal_deadline)
			continue;
		list_del(it);
		list_append(&woken, it);
	}
	while ((it = list_pop(&woken)) != NULL) {
		Client *c = container_of(it, Client, park_node);
		c->route.causal_waiting = false;
		sbuf_resume(&c->conn);
	}
}

void client_route_evacuate(Pool *p)
{
	List *it, *tmp;
	list_for_each_safe(it, tmp, &p->waiting_clients)
	{
		Client *c = container_of(it, Client, pool_node);
		if (c->state != CL_WAITING)
			continue;
		RouteReason reason = ROUTE_CLASSIFIED_READ;
		bool wait;
		/* the same choice as a new read: read-your-writes floors still apply */
		Replica *r = pick_for_read(c, NULL, &reason, &wait);
		if (r == p->replica)
			r = NULL;
		if (!r && reason == ROUTE_NO_REPLICA && c->pool->db->fallback_error) {
			client_set_state(c, CL_ACTIVE);
			c->route.refuse_pending = true;
			sbuf_resume(&c->conn);
			continue;
		}
		Pool *dest = r ? replica_pool_for(c, r) : c->pool;
		log_client(LOG_LVL_INFO, c, "re-routing waiting client from replica %s:%d to %s",
			 p->replica->host, p->replica->port, dest->replica ? "another replica" : "the primary");
		client_set_state(c, CL_ACTIVE);
		if (pool_acquire(dest, c))
			client_on_server_linked(c);
	}
}

/* Every client pool of db that targets this replica (the monitor found it unusable). */
void client_route_evacuate_replica(Database *db, Replica *r)
{
	List *it, *tmp;
	list_for_each_safe(it, tmp, &rt.pools)
	{
		Pool *p = container_of(it, Pool, node);
		if (p->db == db && p->replica == r && !p->is_monitor)
			client_route_evacuate(p);
	}
}
