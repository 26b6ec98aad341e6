/*
 * The re-run of a read (see rerun.h): a classified autocommit read sent to a replica keeps
 * a copy of the client's Query or extended batch, and the replica's replies are held back
 * until the first row or the end of the statement. Should the replica refuse with 25006
 * (a function that writes), the copy is put back in front of the client's input and runs
 * again on the primary; should the replica's connection be lost meanwhile (closed, broken,
 * a FATAL), the copy is routed again, away from that replica. The client sees only the
 * answer of the server that ran it last.
 */
#include "rerun.h"
#include "log.h"
#include "pg_wire.h"
#include "pktbuf.h"
#include "prepared.h"
#include "proto.h"
#include "registry.h"
#include "router.h"
#include "runtime.h"
#include "server.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

typedef struct RetryState {
	uint32_t len;   /* bytes of the client's messages kept in batch[] */
	uint32_t sent;  /* bytes the client sent to the replica since: more than len ends it */
	bool refused;   /* the replica answered 25006 (held last): waiting for its ReadyForQuery */
	bool calls_functions; /* the batch calls functions: the likely cause of a 25006 */
	bool redefines_name;  /* a Parse of the batch names a statement the client has: no replay */
	uint64_t start; /* the client's input position (sbuf_input_position) at the batch */
	Replica *lost_on; /* the replica whose connection was lost: routing leaves it out */
	uint8_t lost_count; /* servers this batch lost before any row, re-arms included */
	struct event *timer; /* runs the re-run after a loss; made on first use */
	PktBuf held;    /* replies held back (data NULL until the first one) */
	uint8_t batch[];
} RetryState;

bool rerun_calls_functions(const Client *c)
{
	return c->route.retry && c->route.retry->calls_functions;
}

/* Call fn with the name of each named Parse among the batch's first len bytes. */
static void for_each_parsed_name(Client *c, const uint8_t *batch, size_t len,
				 void (*fn)(Client *, const char *, void *), void *arg)
{
	size_t pos = 0;
	while (pos + 5 <= len) {
		uint32_t mlen = proto_read_be32(batch + pos + 1) + 1;
		if (mlen < 5 || pos + mlen > len)
			return;
		PktReader r;
		const char *name;
		proto_reader_init(&r, batch + pos + 5, mlen - 5);
		if (batch[pos] == PG_MSG_PARSE && proto_get_cstring(&r, &name) && *name)
			fn(c, name, arg);
		pos += mlen;
	}
}

static void forget_name(Client *c, const char *name, void *arg)
{
	(void)arg;
	prepared_forget_client_name(c, name);
}

/* Names the batch's Parses gave the client on the replica: the re-run's Parses define them again. */
static void forget_parsed_names(Client *c, const uint8_t *batch, size_t len)
{
	if (prepared_enabled(c))
		for_each_parsed_name(c, batch, len, forget_name, NULL);
}

static void note_known_name(Client *c, const char *name, void *arg)
{
	if (prepared_statement_class(c, name))
		*(bool *)arg = true;
}

/*
 * A Parse of a name the client already has fails with 42P05; forgetting the name for a
 * replay would make it succeed instead, so such a batch is never replayed.
 */
static bool batch_redefines_name(Client *c, const uint8_t *batch, size_t len)
{
	bool known = false;
	if (prepared_enabled(c))
		for_each_parsed_name(c, batch, len, note_known_name, &known);
	return known;
}

#define RETRY_MAX_BATCH (64 * 1024)
#define RETRY_MAX_HELD (256 * 1024)

void rerun_disarm(Client *c)
{
	RetryState *rs = c->route.retry;
	if (!rs)
		return;
	pktbuf_free(&rs->held);
	if (rs->timer)
		event_free(rs->timer); /* also from its own callback: libevent allows that */
	free(rs);
	c->route.retry = NULL;
}

void rerun_arm(Client *c, size_t len, bool calls_functions)
{
	const uint8_t *data;
	size_t avail;
	uint8_t lost_count = rerun_lost_replica(c) ? c->route.retry->lost_count : 0;
	rerun_disarm(c);
	sbuf_peek(&c->conn, &data, &avail);
	if (len == 0 || len > RETRY_MAX_BATCH || len > avail)
		return;
	RetryState *rs = xmalloc(sizeof(*rs) + len);
	rs->len = (uint32_t)len;
	rs->sent = 0;
	rs->refused = false;
	rs->calls_functions = calls_functions;
	rs->start = sbuf_input_position(&c->conn);
	rs->lost_on = NULL;
	rs->lost_count = lost_count;
	rs->timer = NULL;
	rs->held = (PktBuf){ 0 };
	memcpy(rs->batch, data, len);
	rs->redefines_name = batch_redefines_name(c, rs->batch, len);
	c->route.retry = rs;
}

void rerun_note_sent(Client *c, uint32_t len)
{
	RetryState *rs = c->route.retry;
	if (!rs)
		return;
	rs->sent += len;
	if (rs->sent > rs->len)
		rerun_release_held(c); /* the client went on past the batch: no re-run */
}

bool rerun_hold(Client *c, const uint8_t *data, size_t len)
{
	RetryState *rs = c->route.retry;
	if (!rs)
		return false;
	if (!rs->held.data)
		pktbuf_init(&rs->held, 256, RETRY_MAX_HELD);
	if (rs->held.len + len > RETRY_MAX_HELD) {
		rerun_release_held(c); /* too much to hold: the re-run chance is given up */
		return false;
	}
	pktbuf_put_bytes(&rs->held, data, len);
	return true;
}

bool rerun_hold_refusal(Client *c, const uint8_t *data, size_t len)
{
	if (c->conn.processing)
		return false; /* its input is being read now: the batch cannot be put back safely */
	if (!rerun_hold(c, data, len))
		return false;
	c->route.retry->refused = true;
	return true;
}

bool rerun_refused(const Client *c)
{
	return c->route.retry && c->route.retry->refused;
}

/* Hand the held-back replies to the client: from now on a re-run is impossible. */
void rerun_release_held(Client *c)
{
	RetryState *rs = c->route.retry;
	if (rs && rs->held.len > 0)
		sbuf_queue(&c->conn, rs->held.data, rs->held.len);
	rerun_disarm(c);
}

/* The replica refused with 25006 before any row: run the same messages on the primary. */
void rerun_on_primary(Client *c)
{
	Database *db = c->pool->db;
	RetryState *rs = c->route.retry;
	if (!rs)
		return;
	db->route_reasons[ROUTE_RETRY_25006]++;
	db->routed_primary++;
	forget_parsed_names(c, rs->batch, rs->len);
	sbuf_unread(&c->conn, rs->batch, rs->len);
	rerun_disarm(c); /* the held replies, 25006 included, are dropped */
	c->route.rerun_on_primary = true;
	c->route.xact_is_write = false;
	if (c->route.await_linked_rfq) {
		c->route.await_linked_rfq = false; /* its next batch was waiting for this answer */
		sbuf_resume(&c->conn);
	} else {
		sbuf_kick(&c->conn);
	}
}

/* ---- the replica's replies while a re-run is possible ---- */

static bool error_ends_session(const SbufMsg *msg)
{
	/* 'V' is never localized; servers before 9.6 send only 'S' */
	const char *sev = proto_error_field(msg->data + 5, msg->len - 5, 'V');
	if (!sev)
		sev = proto_error_field(msg->data + 5, msg->len - 5, 'S');
	return sev && (strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0);
}

/* Replies that may come before the first row: held back while a 25006 re-run is possible. */
static bool retry_holdable(uint8_t type)
{
	switch (type) {
	case PG_MSG_PARSE_COMPLETE:
	case PG_MSG_BIND_COMPLETE:
	case PG_MSG_PARAMETER_DESCRIPTION:
	case PG_MSG_ROW_DESCRIPTION:
	case PG_MSG_NO_DATA:
	case PG_MSG_NOTICE_RESPONSE:
	case PG_MSG_PARAMETER_STATUS:
		return true;
	default:
		return false;
	}
}

/* The replica refused with 25006 and skipped to Sync: its ReadyForQuery ends the attempt. */
static SbufVerdict rerun_finish(Server *s, Client *c, const SbufMsg *msg)
{
	SbufVerdict ignored;
	if (s->replies)
		(void)prepared_server_message(s, c, msg, &ignored); /* retires the Sync's slot */
	s->tx_status = (char)msg->data[5];
	if (s->pending_rfq > 0)
		s->pending_rfq--;
	c->query_start = 0;
	server_unlink(s, false);
	rerun_on_primary(c);
	return s->conn.closing ? SB_STOP : SB_CONSUMED;
}

/*
 * A replica's replies while a 25006 re-run is still possible. Returns true with *v when
 * the message was dealt with here: waiting for all of it, the 25006 error (held, in
 * case the re-run chance ends before its ReadyForQuery) and what follows it up to
 * ReadyForQuery, which starts the re-run. Returns false for the normal path, which
 * holds back what retry_holdable() names; anything else first releases what was held,
 * as the client is now seeing the replica's answer.
 */
bool rerun_filter_reply(Server *s, Client *c, const SbufMsg *msg, SbufVerdict *v)
{
	bool small = msg->len <= PROTO_INSPECT_MAX;
	bool refused = rerun_refused(c);
	*v = SB_CONSUMED;
	if (small && msg->avail < msg->len &&
	    (refused || retry_holdable(msg->type) || msg->type == PG_MSG_ERROR_RESPONSE)) {
		*v = SB_NEED_FULL;
		return true;
	}
	if (refused) {
		if (msg->type == PG_MSG_READY_FOR_QUERY && c->conn.processing) {
			/* reached from inside the client's own processing: no safe re-run, the error goes out */
			rerun_release_held(c);
			return false;
		}
		if (msg->type == PG_MSG_READY_FOR_QUERY && msg->avail == msg->len) {
			*v = rerun_finish(s, c, msg);
			return true;
		}
		if (msg->type == PG_MSG_PARAMETER_STATUS && msg->avail == msg->len)
			server_parameter_status(s, msg);
		*v = SB_SKIP; /* only notices come between the error and ReadyForQuery */
		return true;
	}
	if (small && msg->type == PG_MSG_ERROR_RESPONSE) {
		const char *code = proto_error_field(msg->data + 5, msg->len - 5, 'C');
		if (code && strcmp(code, SQLSTATE_READ_ONLY_TRANSACTION) == 0 &&
		    rerun_hold_refusal(c, msg->data, msg->len)) {
			log_client(LOG_LVL_DEBUG, c, "replica refused with 25006, re-running on the primary");
			SbufVerdict ignored;
			if (s->replies)
				(void)prepared_server_message(s, c, msg, &ignored); /* undo to Sync */
			return true;
		}
	}
	if (small && msg->type == PG_MSG_ERROR_RESPONSE && error_ends_session(msg) && rerun_lost_possible(c)) {
		/* the server closes after a FATAL: the read goes elsewhere instead of the error */
		const char *text = proto_error_field(msg->data + 5, msg->len - 5, 'M');
		server_lost(s, text ? text : "server sent a FATAL error");
		*v = SB_STOP;
		return true;
	}
	if (!small || !retry_holdable(msg->type))
		rerun_release_held(c);
	return false;
}

/* ---- a replica connection lost before any row: the read is routed again ---- */

/* Servers a batch may lose before the client gets the error: a read that kills them stops. */
#define RERUN_MAX_LOST 3

/* Only replies the client need not see were held (no pooler-made error, say). */
static bool held_only_holdable(const RetryState *rs)
{
	size_t pos = 0;
	while (pos + 5 <= rs->held.len) {
		if (!retry_holdable(rs->held.data[pos]))
			return false;
		pos += proto_read_be32(rs->held.data + pos + 1) + 1;
	}
	return true;
}

bool rerun_lost_possible(const Client *c)
{
	const RetryState *rs = c->route.retry;
	return rs && !rs->refused && !rs->redefines_name && !rs->lost_on && c->state == CL_ACTIVE &&
	       !c->conn.closing && !c->drop_to_sync && rs->lost_count < RERUN_MAX_LOST &&
	       held_only_holdable(rs);
}

Replica *rerun_lost_replica(const Client *c)
{
	return c->route.retry ? c->route.retry->lost_on : NULL;
}

/*
 * The re-run itself, on the loop turn after the loss: the batch's bytes consumed so far
 * go back in front of the client's input (the rest is still there), and the client is
 * routed again with the lost replica left out (the state stays until then, without the
 * held replies).
 */
static void rerun_after_loss(evutil_socket_t fd, short what, void *arg)
{
	Client *c = arg;
	RetryState *rs = c->route.retry;
	(void)fd;
	(void)what;
	if (c->conn.closing)
		return;
	uint64_t consumed = rs && rs->lost_on ? sbuf_input_position(&c->conn) - rs->start : UINT64_MAX;
	if (consumed > (rs ? rs->len : 0)) {
		/* not the batch kept (cannot happen while the client is paused): the old error */
		client_close_error(c, SQLSTATE_CANNOT_CONNECT, "server conn crashed?");
		return;
	}
	forget_parsed_names(c, rs->batch, consumed);
	sbuf_rewind(&c->conn, rs->batch, consumed);
	rs->lost_count++;
	pktbuf_free(&rs->held); /* the lost server's replies are dropped */
	rs->held = (PktBuf){ 0 };
	c->shape_wait = false;              /* it waited for the lost server */
	c->queue_wait = false;
	c->route.await_linked_rfq = false;
	sbuf_resume(&c->conn);
}

/*
 * Deferred to the next loop turn: a loss may be noticed inside the client's own
 * processing (a write to the server failed), where its input cannot be rewound, and the
 * lost replica's other connections close in the same turn, before the re-run takes one.
 */
bool rerun_after_server_lost(Client *c, Replica *lost_on)
{
	struct timeval now = { 0, 0 };
	RetryState *rs = c->route.retry;
	if (!rerun_lost_possible(c))
		return false;
	if (!rs->timer)
		rs->timer = evtimer_new(rt.base, rerun_after_loss, c);
	if (!rs->timer || evtimer_add(rs->timer, &now) != 0)
		return false;
	rs->lost_on = lost_on;
	sbuf_pause(&c->conn); /* nothing more of its input is looked at before the re-run */
	log_client(LOG_LVL_INFO, c, "connection to replica %s:%d lost before any row: routing the read again",
		   lost_on->host, lost_on->port);
	return true;
}
