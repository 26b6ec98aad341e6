/*
 * Routing glue (see client_route.h). Only what is buffered is examined and nothing past
 * a message's own length is read; a batch larger than ROUTE_SCAN_LIMIT is not examined
 * and goes to the primary.
 */
#include "client_route.h"
#include "classify.h"
#include "log.h"
#include "monitor.h"
#include "pktbuf.h"
#include "prepared.h"
#include "pg_wire.h"
#include "proto.h"
#include "registry.h"
#include "router.h"
#include "ryw.h"
#include "runtime.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ROUTE_SCAN_LIMIT (256 * 1024)

typedef enum { SCAN_DONE, SCAN_MORE, SCAN_UNSURE } ScanStatus;

/* Fold one statement's result into the batch's: the first non-READ result wins. */
static void merge_result(ClassifyResult *acc, const ClassifyResult *one, bool *first)
{
	if (*first || (acc->verdict == CLASSIFY_READ && one->verdict != CLASSIFY_READ)) {
		ClassifyHint hint = *first ? one->hint : acc->hint;
		*acc = *one;
		acc->hint = hint;
	}
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
	if (*name && *n_parsed < 16)
		parsed[(*n_parsed)++] = name;
	ClassifyResult one;
	classify_text((const uint8_t *)query, strlen(query) + 1, &one);
	merge_result(acc, &one, first);
	return SCAN_DONE;
}

/*
 * A Bind may go to a replica when its statement is unnamed (parsed in this batch), was
 * parsed earlier in this batch, or is a tracked prepared statement classified read-only
 * when it was parsed (design.md §3: named statements are classified by their Parse).
 */
static bool bind_is_read(const Client *c, const uint8_t *body, size_t len, const char **parsed, int n_parsed)
{
	PktReader r;
	const char *portal, *stmt;
	proto_reader_init(&r, body, len);
	if (!proto_get_cstring(&r, &portal) || !proto_get_cstring(&r, &stmt))
		return false;
	if (stmt[0] == 0)
		return true;
	for (int i = 0; i < n_parsed; i++)
		if (strcmp(parsed[i], stmt) == 0)
			return true;
	return prepared_enabled(c) && prepared_statement_is_read(c, stmt) == 1;
}

/* Walk the buffered extended-protocol messages up to Sync. */
static ScanStatus scan_extended_batch(const Client *c, ClassifyResult *acc, bool *executes)
{
	const Conn *conn = &c->conn;
	const uint8_t *data;
	size_t len, pos = 0;
	bool first = true, saw_parse = false;
	const char *parsed[16];
	int n_parsed = 0;
	sbuf_peek(conn, &data, &len);
	for (;;) {
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
			if (!bind_is_read(c, body, blen, parsed, n_parsed))
				return SCAN_UNSURE;
			if (!saw_parse) {
				/* a batch of named statements only: each was classified at its Parse */
				ClassifyResult one = { .verdict = CLASSIFY_READ, .reason = "read-only" };
				merge_result(acc, &one, &first);
				saw_parse = true;
			}
			break;
		case PG_MSG_EXECUTE:
			*executes = true;
			break;
		case PG_MSG_DESCRIBE:
		case PG_MSG_CLOSE:
			break;
		case PG_MSG_SYNC:
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

/* Fill req.cls from the pending message(s). */
static ClientRouteStatus classify_pending(Client *c, const SbufMsg *msg, RouteRequest *req)
{
	req->classified = false;
	if (msg->type == PG_MSG_QUERY) {
		if (msg->avail < msg->len)
			return msg->len <= ROUTE_SCAN_LIMIT ? CLIENT_ROUTE_WAIT_MORE : CLIENT_ROUTE_READY;
		classify_text(msg->data + 5, msg->len - 5, &req->cls);
		req->classified = true;
		return CLIENT_ROUTE_READY;
	}
	bool executes = false;
	ScanStatus st = scan_extended_batch(c, &req->cls, &executes);
	if (st == SCAN_MORE)
		return CLIENT_ROUTE_WAIT_MORE;
	req->classified = st == SCAN_DONE;
	req->prepare_only = req->classified && !executes;
	return CLIENT_ROUTE_READY;
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

static void arm_retry(Client *c, const SbufMsg *msg);

/* Reasons that make a primary transaction a write for read-your-writes. */
static bool reason_is_write(RouteReason reason)
{
	return reason == ROUTE_WRITE || reason == ROUTE_UNSURE || reason == ROUTE_EXPLICIT_TRANSACTION ||
	       reason == ROUTE_HINT;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/*
 * A read bound for a replica: the scope's read-your-writes state decides whether any
 * replica may take it now, and how far it must have replayed. Returns the replica, or
 * NULL with *reason set (and *wait when causal_wait allows waiting for one).
 */
static Replica *pick_for_read(Client *c, RouteReason *reason, bool *wait)
{
	Database *db = c->pool->db;
	usec_t now = time_now_mono();
	LoadBalance lb = router_lb_from_name(rt.cfg->replica_lb);
	RywSettings set;
	uint64_t min_lsn = 0;
	*wait = false;
	if (!router_any_usable(db, now)) {
		*reason = ROUTE_NO_REPLICA; /* replica_fallback decides, whatever the floor */
		return NULL;
	}
	ryw_settings(db, &set);
	RywState *st = set.scope == RYW_SCOPE_USER ? &c->pool->ryw : &c->ryw;
	if (!ryw_replica_allowed(st, &set, db->primary_epoch, now, &min_lsn)) {
		*reason = ROUTE_READ_YOUR_WRITES;
		return NULL;
	}
	if (c->token_floor && c->token_epoch == db->primary_epoch && set.mode != RYW_OFF)
		min_lsn = max_u64(min_lsn, c->token_floor);
	Replica *r;
	if (router_pick_reader(db, lb, now, min_lsn, rt.cfg->primary_read_weight, &r)) {
		if (!r)
			*reason = ROUTE_CLASSIFIED_READ; /* the primary drew this read by weight */
		return r;
	}
	if (min_lsn && router_pick_replica(db, lb, now, 0)) {
		*reason = ROUTE_READ_YOUR_WRITES;
		*wait = set.causal_wait > 0;
		return NULL;
	}
	*reason = ROUTE_NO_REPLICA;
	return NULL;
}

/* Park the client until a replica catches up or causal_wait passes (maint and monitor wake it). */
static bool causal_wait_begin(Client *c)
{
	Database *db = c->pool->db;
	RywSettings set;
	usec_t now = time_now_mono();
	if (c->causal_deadline && now >= c->causal_deadline) {
		c->causal_deadline = 0; /* waited long enough for this read */
		return false;
	}
	if (!c->causal_deadline) {
		ryw_settings(db, &set);
		c->causal_deadline = now + set.causal_wait;
		db->ryw_waited++;
	}
	c->causal_waiting = true;
	list_append(&db->causal_waiters, &c->park_node);
	return true;
}

ClientRouteStatus client_route(Client *c, const SbufMsg *msg, Pool **target)
{
	Database *db = c->pool->db;
	*target = c->pool;
	c->xact_is_write = false;
	if (db->routing == ROUTING_PRIMARY)
		return CLIENT_ROUTE_READY;
	RouteRequest req;
	memset(&req, 0, sizeof(req));
	req.routing = db->routing;
	req.session_mode = pool_mode_of(c->pool) == POOL_MODE_SESSION;
	req.default_read_only = client_default_read_only(c);
	if (!req.session_mode && req.routing == ROUTING_AUTO &&
	    classify_pending(c, msg, &req) == CLIENT_ROUTE_WAIT_MORE)
		return CLIENT_ROUTE_WAIT_MORE;
	RouteDecision d = router_decide(&req);
	Replica *r = NULL;
	if (d.to_replica && (d.reason == ROUTE_HINT || d.reason == ROUTE_ROUTING_REPLICA)) {
		r = router_pick_replica(db, router_lb_from_name(rt.cfg->replica_lb), time_now_mono(), 0);
		if (!r)
			d.reason = ROUTE_NO_REPLICA;
	} else if (d.to_replica) {
		bool wait;
		r = pick_for_read(c, &d.reason, &wait);
		if (!r && wait && causal_wait_begin(c))
			return CLIENT_ROUTE_CAUSAL_WAIT;
	}
	c->causal_deadline = 0;
	if (!r && d.reason == ROUTE_NO_REPLICA && strcmp(rt.cfg->replica_fallback, "error") == 0) {
		count_route(db, d.reason, NULL);
		return CLIENT_ROUTE_REFUSE;
	}
	if (r && d.reason == ROUTE_CLASSIFIED_READ)
		arm_retry(c, msg);
	else
		client_route_disarm_retry(c);
	if (!r && d.reason == ROUTE_READ_YOUR_WRITES)
		db->ryw_kept_on_primary++;
	c->xact_is_write = !r && reason_is_write(d.reason);
	count_route(db, d.reason, r);
	if (r)
		*target = replica_pool_for(c, r);
	return CLIENT_ROUTE_READY;
}

/* Monitor saw new positions, or time passed: let parked reads try again. */
void client_route_wake_causal(Database *db, bool deadline_only)
{
	usec_t now = time_now_mono();
	List *it, *tmp;
	list_for_each_safe(it, tmp, &db->causal_waiters)
	{
		Client *c = container_of(it, Client, park_node);
		if (deadline_only && now < c->causal_deadline)
			continue;
		list_del(&c->park_node);
		c->causal_waiting = false;
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
		Replica *r = pick_for_read(c, &reason, &wait);
		if (r == p->replica)
			r = NULL;
		if (!r && reason == ROUTE_NO_REPLICA && strcmp(rt.cfg->replica_fallback, "error") == 0) {
			client_set_state(c, CL_ACTIVE);
			c->refuse_pending = true;
			sbuf_resume(&c->conn);
			continue;
		}
		Pool *dest = r ? replica_pool_for(c, r) : c->pool;
		log_info("C-%llu: re-routing waiting client from replica %s:%d to %s", (unsigned long long)c->conn.id,
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

/* ---- the causal token: SET pgsplit.min_lsn = 'X/Y' ---- */

static const char *skip_space(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

static const char *match_word(const char *p, const char *end, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(end - p) < n || strncasecmp(p, word, n) != 0)
		return NULL;
	return p + n;
}

/* Parse "SET [SESSION] pgsplit.min_lsn {=|TO} ['X/Y']" with nothing else after it. */
static bool parse_min_lsn_set(const char *p, const char *end, uint64_t *lsn)
{
	char text[32];
	size_t n = 0;
	p = skip_space(p, end);
	if (!(p = match_word(p, end, "SET")))
		return false;
	p = skip_space(p, end);
	const char *after = match_word(p, end, "SESSION");
	if (after && after < end && (*after == ' ' || *after == '\t'))
		p = skip_space(after, end);
	if (!(p = match_word(p, end, "pgsplit.min_lsn")))
		return false;
	p = skip_space(p, end);
	if (p < end && *p == '=')
		p++;
	else if (!(p = match_word(p, end, "TO")))
		return false;
	p = skip_space(p, end);
	bool quoted = p < end && *p == '\'';
	if (quoted)
		p++;
	while (p < end && n + 1 < sizeof(text) && (isxdigit((unsigned char)*p) || *p == '/'))
		text[n++] = *p++;
	text[n] = 0;
	if (quoted && (p >= end || *p++ != '\''))
		return false;
	p = skip_space(p, end);
	if (p < end && *p == ';')
		p = skip_space(p + 1, end);
	return p == end && lsn_parse(text, lsn);
}

void client_route_set_token(Client *c, uint64_t lsn)
{
	c->token_floor = lsn;
	c->token_epoch = c->pool ? c->pool->db->primary_epoch : 0;
}

bool client_route_intercept(Client *c, const SbufMsg *msg)
{
	uint64_t lsn;
	if (msg->type != PG_MSG_QUERY || msg->avail < msg->len || msg->len > 512)
		return false;
	const char *sql = (const char *)msg->data + 5;
	const char *end = memchr(sql, 0, msg->len - 5);
	/* every Query passes here: reject anything not starting with SET before searching it */
	if (!end || !match_word(skip_space(sql, end), end, "SET") ||
	    !memmem(sql, (size_t)(end - sql), "min_lsn", 7))
		return false;
	if (!parse_min_lsn_set(sql, end, &lsn))
		return false;
	client_route_set_token(c, lsn);
	PktBuf pb;
	pktbuf_init(&pb, 32, 0);
	pktbuf_put_command_complete(&pb, "SET");
	pktbuf_put_ready_for_query(&pb, 'I');
	sbuf_queue(&c->conn, pb.data, pb.len);
	pktbuf_free(&pb);
	return true;
}

/* ---- 25006 re-run ---- */

#define RETRY_MAX_QUERY (64 * 1024)

void client_route_disarm_retry(Client *c)
{
	free(c->retry_msg);
	c->retry_msg = NULL;
	c->retry_len = 0;
	if (c->held) {
		pktbuf_free(c->held);
		free(c->held);
		c->held = NULL;
	}
}

static void arm_retry(Client *c, const SbufMsg *msg)
{
	client_route_disarm_retry(c);
	if (msg->type != PG_MSG_QUERY || msg->avail < msg->len || msg->len > RETRY_MAX_QUERY)
		return;
	c->retry_msg = xmalloc(msg->len);
	memcpy(c->retry_msg, msg->data, msg->len);
	c->retry_len = msg->len;
}

/* Hand the held-back replies to the client: from now on a re-run is impossible. */
void client_route_release_held(Client *c)
{
	if (c->held && c->held->len > 0)
		sbuf_queue(&c->conn, c->held->data, c->held->len);
	client_route_disarm_retry(c);
}

/* The replica refused with 25006 before any row: run the same Query on the primary. */
void client_route_rerun_on_primary(Client *c)
{
	Database *db = c->pool->db;
	db->route_reasons[ROUTE_RETRY_25006]++;
	db->routed_primary++;
	if (c->held) {
		pktbuf_free(c->held);
		free(c->held);
		c->held = NULL;
	}
	c->replay_on_link = true;
	c->xact_is_write = false;
	if (pool_acquire(c->pool, c))
		return;
	sbuf_pause(&c->conn);
}

/* Called from server_link: the re-run goes out right after the parameter sync. */
void client_route_replay(Client *c, Conn *server_conn, int *pending_rfq)
{
	if (!c->replay_on_link || !c->retry_msg)
		return;
	c->replay_on_link = false;
	if (prepared_enabled(c))
		prepared_note_query((Server *)server_conn);
	sbuf_queue(server_conn, c->retry_msg, c->retry_len);
	(*pending_rfq)++;
	client_route_disarm_retry(c);
	sbuf_flush(server_conn);
}
