/*
 * Routing glue (see client_route.h). Only what is buffered is examined and nothing past
 * a message's own length is read; a batch larger than ROUTE_SCAN_LIMIT is not examined
 * and goes to the primary.
 */
#include "client_route.h"
#include "classify.h"
#include "log.h"
#include "pg_wire.h"
#include "proto.h"
#include "registry.h"
#include "router.h"
#include "runtime.h"

#include <string.h>

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

static ScanStatus scan_parse(const uint8_t *body, size_t len, ClassifyResult *acc, bool *first)
{
	PktReader r;
	const char *name, *query;
	proto_reader_init(&r, body, len);
	if (!proto_get_cstring(&r, &name) || !proto_get_cstring(&r, &query))
		return SCAN_UNSURE;
	ClassifyResult one;
	classify_text((const uint8_t *)query, strlen(query) + 1, &one);
	merge_result(acc, &one, first);
	return SCAN_DONE;
}

/* A Bind of a named statement parsed in an earlier batch lives on the server that parsed it. */
static bool bind_is_unnamed(const uint8_t *body, size_t len)
{
	PktReader r;
	const char *portal, *stmt;
	proto_reader_init(&r, body, len);
	return proto_get_cstring(&r, &portal) && proto_get_cstring(&r, &stmt) && stmt[0] == 0;
}

/* Walk the buffered extended-protocol messages up to Sync. */
static ScanStatus scan_extended_batch(const Conn *conn, ClassifyResult *acc)
{
	const uint8_t *data;
	size_t len, pos = 0;
	bool first = true, saw_parse = false;
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
			if (scan_parse(body, blen, acc, &first) != SCAN_DONE)
				return SCAN_UNSURE;
			break;
		case PG_MSG_BIND:
			if (!bind_is_unnamed(body, blen))
				return SCAN_UNSURE;
			break;
		case PG_MSG_DESCRIBE:
		case PG_MSG_EXECUTE:
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
	int idx = varcache_lookup("default_transaction_read_only");
	const char *v = idx >= 0 ? varcache_get(&c->vars, idx) : NULL;
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
	ScanStatus st = scan_extended_batch(&c->conn, &req->cls);
	if (st == SCAN_MORE)
		return CLIENT_ROUTE_WAIT_MORE;
	req->classified = st == SCAN_DONE;
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

ClientRouteStatus client_route(Client *c, const SbufMsg *msg, Pool **target)
{
	Database *db = c->pool->db;
	*target = c->pool;
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
	if (d.to_replica) {
		r = router_pick_replica(db, router_lb_from_name(rt.cfg->replica_lb), time_now_mono());
		if (!r)
			d.reason = ROUTE_NO_REPLICA;
	}
	count_route(db, d.reason, r);
	if (r)
		*target = replica_pool_for(c, r);
	return CLIENT_ROUTE_READY;
}

void client_route_evacuate(Pool *p)
{
	List *it, *tmp;
	list_for_each_safe(it, tmp, &p->waiting_clients)
	{
		Client *c = container_of(it, Client, pool_node);
		if (c->state != CL_WAITING)
			continue;
		Database *db = c->pool->db;
		Replica *r = router_pick_replica(db, router_lb_from_name(rt.cfg->replica_lb), time_now_mono());
		Pool *dest = r && r != p->replica ? replica_pool_for(c, r) : c->pool;
		log_info("C-%llu: re-routing waiting client from replica %s:%d to %s", (unsigned long long)c->conn.id,
			 p->replica->host, p->replica->port, dest->replica ? "another replica" : "the primary");
		client_set_state(c, CL_ACTIVE);
		if (pool_acquire(dest, c))
			client_on_server_linked(c);
	}
}
