/*
 * The 25006 re-run (see rerun.h): a classified autocommit read sent to a replica keeps a
 * copy of the client's Query or extended batch, and the replica's replies are held back
 * until the first row or the end of the statement. Should the replica refuse with 25006
 * (a function that writes), the copy is put back in front of the client's input and runs
 * again on the primary; the client sees only the primary's answer.
 */
#include "rerun.h"
#include "log.h"
#include "pg_wire.h"
#include "pktbuf.h"
#include "prepared.h"
#include "proto.h"
#include "registry.h"
#include "router.h"
#include "server.h"

#include <stdlib.h>
#include <string.h>

typedef struct RetryState {
	uint32_t len;   /* bytes of the client's messages kept in batch[] */
	uint32_t sent;  /* bytes the client sent to the replica since: more than len ends it */
	bool refused;   /* the replica answered 25006 (held last): waiting for its ReadyForQuery */
	bool calls_functions; /* the batch calls functions: the likely cause of a 25006 */
	PktBuf held;    /* replies held back (data NULL until the first one) */
	uint8_t batch[];
} RetryState;

bool rerun_calls_functions(const Client *c)
{
	return c->route.retry && c->route.retry->calls_functions;
}

#define RETRY_MAX_BATCH (64 * 1024)
#define RETRY_MAX_HELD (256 * 1024)

void rerun_disarm(Client *c)
{
	RetryState *rs = c->route.retry;
	if (!rs)
		return;
	pktbuf_free(&rs->held);
	free(rs);
	c->route.retry = NULL;
}

void rerun_arm(Client *c, size_t len, bool calls_functions)
{
	const uint8_t *data;
	size_t avail;
	rerun_disarm(c);
	sbuf_peek(&c->conn, &data, &avail);
	if (len == 0 || len > RETRY_MAX_BATCH || len > avail)
		return;
	RetryState *rs = xmalloc(sizeof(*rs) + len);
	rs->len = (uint32_t)len;
	rs->sent = 0;
	rs->refused = false;
	rs->calls_functions = calls_functions;
	rs->held = (PktBuf){ 0 };
	memcpy(rs->batch, data, len);
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

/* Names the batch's Parses gave the client on the replica: the re-run's Parses define them again. */
static void forget_parsed_names(Client *c, const uint8_t *batch, size_t len)
{
	size_t pos = 0;
	if (!prepared_enabled(c))
		return;
	while (pos + 5 <= len) {
		uint32_t mlen = proto_read_be32(batch + pos + 1) + 1;
		if (mlen < 5 || pos + mlen > len)
			return;
		PktReader r;
		const char *name;
		proto_reader_init(&r, batch + pos + 5, mlen - 5);
		if (batch[pos] == PG_MSG_PARSE && proto_get_cstring(&r, &name) && *name)
			prepared_forget_client_name(c, name);
		pos += mlen;
	}
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
	if (!small || !retry_holdable(msg->type))
		rerun_release_held(c);
	return false;
}
