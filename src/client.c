/*
 * The running client (see client.h): accept, its state changes, sending and closing, and
 * the work phase where each message is streamed to a server acquired from the pool.
 * The login (startup packet, password messages, welcome) is in client_login.c;
 * admin-console clients hand their queries to admin.c.
 */
#include "client.h"
#include "client_login.h"
#include "intern.h"
#include "causal.h"
#include "client_route.h"
#include "rerun.h"
#include "admin.h"
#include "authquery.h"
#include "cancel.h"
#include "log.h"
#include "pg_wire.h"
#include "pktbuf.h"
#include "prepared.h"
#include "replication_conn.h"
#include "proto.h"
#include "runtime.h"
#include "server.h"
#include "tls.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

static SbufVerdict client_on_message(Conn *conn, const SbufMsg *msg);
static void client_on_eof(Conn *conn, const char *reason);
static void client_on_drained(Conn *conn);
static void client_on_tls_hello(Conn *conn);
static void client_on_tls_ready(Conn *conn);

static const SbufOps client_ops = {
	.on_message = client_on_message,
	.on_eof = client_on_eof,
	.on_drained = client_on_drained,
	.on_tls_ready = client_on_tls_ready,
	.on_tls_hello = client_on_tls_hello,
};

/* Direct TLS: the handshake starts without an SSLRequest (PostgreSQL 17 clients). */
static void client_on_tls_hello(Conn *conn)
{
	Client *c = (Client *)conn;
	if (!rt.client_tls_ctx) {
		log_conn(LOG_LVL_INFO, 'C', conn->id, "%s: direct TLS attempted but client TLS is not configured", conn->addr_text);
		client_close(c, "direct TLS without client_tls_sslmode");
		return;
	}
	c->direct_tls = true;
	sbuf_start_tls(conn, rt.client_tls_ctx);
}

/* Direct TLS must have negotiated ALPN "postgresql", as PostgreSQL requires. */
static void client_on_tls_ready(Conn *conn)
{
	Client *c = (Client *)conn;
	if (c->direct_tls && !tls_conn_alpn_postgresql(conn->tls))
		client_close(c, "direct TLS without ALPN \"postgresql\"");
}


static const char *const client_state_names[] = { "login", "welcome", "active", "waiting", "closed" };

const char *client_state_name(ClientState state)
{
	return client_state_names[state];
}

/* ---- state changes: a state is a list ---- */

static void client_leave_state(Client *c)
{
	Pool *p = c->pool;
	if (!p)
		return;
	switch (c->state) {
	case CL_WELCOME:
	case CL_WAITING:
		list_del(&c->pool_node);
		c->wait_pool->n_waiting--;
		break;
	case CL_ACTIVE:
		list_del(&c->pool_node);
		p->n_active_clients--;
		break;
	default:
		break;
	}
}

/*
 * The moves client_set_state() makes: nothing leaves CL_CLOSED (client_close sets it) or
 * comes back to CL_LOGIN, and only a client still logging in gets its welcome.
 */
static bool client_transition_legal(ClientState from, ClientState to)
{
	if (from == CL_CLOSED || to == CL_CLOSED || to == CL_LOGIN)
		return false;
	if (to == CL_WELCOME)
		return from == CL_LOGIN || from == CL_WELCOME;
	return true;
}

/* A client of a pool in a listed state sits on a list, and the counts stay >= 0. */
static bool client_lists_consistent(const Client *c)
{
	const Pool *p = c->pool;
	if (!p)
		return true;
	if (p->n_active_clients < 0 || (c->wait_pool && c->wait_pool->n_waiting < 0))
		return false;
	if (c->state == CL_LOGIN || c->state == CL_CLOSED)
		return true;
	return !list_empty(&c->pool_node);
}

/* Leave the current state's list and join the new one's. */
static void client_set_list(Client *c, ClientState state)
{
	client_leave_state(c);
	c->state = state;
	Pool *p = c->pool;
	if (!p)
		return;
	switch (state) {
	case CL_WELCOME:
	case CL_WAITING:
		if (state == CL_WELCOME || !c->wait_pool)
			c->wait_pool = p;
		p = c->wait_pool;
		list_append(&p->waiting_clients, &c->pool_node);
		p->n_waiting++;
		if (p->n_waiting > p->max_wait_clients)
			p->max_wait_clients = p->n_waiting;
		break;
	case CL_ACTIVE:
		list_append(&p->active_clients, &c->pool_node);
		p->n_active_clients++;
		break;
	default:
		break;
	}
}

void client_set_state(Client *c, ClientState state)
{
	PGSPLIT_ASSERT(client_transition_legal(c->state, state));
	client_set_list(c, state);
	PGSPLIT_ASSERT(client_lists_consistent(c));
}

/* ---- sending and closing ---- */

void client_send_pkt(Client *c, PktBuf *pb)
{
	if (pb->failed) {
		client_close(c, "out of memory building a message");
		return;
	}
	sbuf_queue(&c->conn, pb->data, pb->len);
}

static void client_free(Conn *conn)
{
	Client *c = (Client *)conn;
	varcache_clear(&c->vars);
	if (c->scram) {
		scram_server_free(c->scram);
		free(c->scram);
	}
	rerun_disarm(c);
	if (c->route.partial_timer)
		event_free(c->route.partial_timer);
	if (c->route.causal_timer)
		event_free(c->route.causal_timer);
	prepared_client_free(c);
	intern_put(c->user_name);
	intern_put(c->db_name);
	free(c);
}

/*
 * How log lines name a client, as PgBouncer 1.25 does ("db/user@addr:port"), with the
 * numeric id in place of its object address.
 */
const char *client_log_name(const Client *c, char *buf, size_t len)
{
	snprintf(buf, len, "C-%llu: %s/%s@%s:%d", (unsigned long long)c->conn.id, c->db_name ? c->db_name : "(nodb)",
		 c->user_name ? c->user_name : "(nouser)", c->conn.addr_text, c->conn.port);
	return buf;
}

void client_close(Client *c, const char *reason)
{
	char who[256];
	if (c->state == CL_CLOSED)
		return;
	bool counted = c->pool != NULL;
	bool logged_in = counted || (c->is_admin && c->state != CL_LOGIN); /* as its login was logged */
	if (c->conn.link) {
		Server *s = (Server *)c->conn.link;
		server_unlink(s, true);
	}
	if (c->pool) {
		client_leave_state(c);
		c->pool->n_clients--;
		c->pool->db->client_count--;
		c->pool->db->last_used = time_now_loop();
		c->user->client_count--;
	}
	c->state = CL_CLOSED;
	authquery_forget_client(c);
	if (c->route.causal_waiting) {
		list_del(&c->park_node);
		c->route.causal_waiting = false;
	}
	cancel_key_forget(c);
	list_del(&c->all_node);
	rt.client_count--;
	if (rt.cfg->log_disconnections && logged_in)
		log_info("%s closing because: %s (age=%llds)", client_log_name(c, who, sizeof(who)), reason,
			 conn_age_seconds(&c->conn));
	else if (!logged_in)
		log_client(LOG_LVL_DEBUG, c, "%s closing during login: %s", c->conn.addr_text,
			  reason);
	sbuf_close(&c->conn);
}

void client_close_error(Client *c, const char *sqlstate, const char *message)
{
	if (message && c->state != CL_CLOSED) {
		PktBuf pb;
		pktbuf_init(&pb, 128, 0);
		pktbuf_put_error_response(&pb, "FATAL", sqlstate, message);
		sbuf_queue(&c->conn, pb.data, pb.len);
		pktbuf_free(&pb);
		sbuf_flush(&c->conn);
		char who[256];
		if (rt.cfg->log_pooler_errors)
			log_warning("%s pooler error: %s", client_log_name(c, who, sizeof(who)), message);
	}
	client_close(c, message ? message : "closed");
}

void client_fail_wait(Client *c, const char *message)
{
	client_close_error(c, SQLSTATE_CANNOT_CONNECT, message);
}

static void client_on_eof(Conn *conn, const char *reason)
{
	Client *c = (Client *)conn;
	/*
	 * Framing errors get a FATAL the client can show; a vanished client just goes. Before
	 * its startup packet a connection that sends nothing valid (garbage, a Terminate) is
	 * closed without an answer, as PostgreSQL closes it.
	 */
	if (conn->startup && strncmp(reason, "bad ", 4) == 0) {
		log_conn(LOG_LVL_INFO, 'C', conn->id, "%s: %s, closing", conn->addr_text, reason);
		client_close(c, reason);
		return;
	}
	if (strncmp(reason, "bad ", 4) == 0 || strcmp(reason, "message too large") == 0) {
		log_conn(LOG_LVL_WARNING, 'C', conn->id, "%s: %s", conn->addr_text, reason);
		client_close_error(c, SQLSTATE_PROTOCOL_VIOLATION, reason);
		return;
	}
	client_close(c, reason);
}

/* Our output drained: the linked server may read again. */
static void client_on_drained(Conn *conn)
{
	if (conn->link && conn->link->blocked)
		sbuf_resume(conn->link);
}

/* ---- accept ---- */

void client_accept(int fd, const struct sockaddr *addr, socklen_t addr_len, bool unix_socket)
{
	Client *c = xcalloc(1, sizeof(*c));
	c->conn.id = ++rt.next_conn_id;
	c->conn.free_fn = client_free;
	c->conn.startup = true;
	sbuf_set_addr(&c->conn, addr, addr_len);
	if (unix_socket) {
		snprintf(c->conn.addr_text, sizeof(c->conn.addr_text), "unix");
	} else {
		/* addr_text fits any numeric IPv6 address; a longer scope id makes it "?" */
		char host[sizeof(c->conn.addr_text)];
		if (getnameinfo(addr, addr_len, host, sizeof(host), NULL, 0, NI_NUMERICHOST) != 0)
			snprintf(host, sizeof(host), "?");
		snprintf(c->conn.addr_text, sizeof(c->conn.addr_text), "%s", host);
		c->conn.port = addr->sa_family == AF_INET6 ? ntohs(((const struct sockaddr_in6 *)addr)->sin6_port)
							   : ntohs(((const struct sockaddr_in *)addr)->sin_port);
	}
	c->conn.connect_time = time_now_wall();
	c->login_start = time_now_mono();
	c->state = CL_LOGIN;
	list_init(&c->pool_node);
	list_append(&rt.clients, &c->all_node);
	rt.client_count++;
	cancel_key_issue(c);
	sbuf_attach(&c->conn, fd, CONN_CLIENT, &client_ops);
	sbuf_start_reading(&c->conn);
}

/* ---- work phase ---- */

void client_on_server_linked(Client *c)
{
	sbuf_resume(&c->conn);
}

static bool valid_frontend_type(uint8_t type)
{
	switch (type) {
	case PG_MSG_QUERY:
	case PG_MSG_PARSE:
	case PG_MSG_BIND:
	case PG_MSG_DESCRIBE:
	case PG_MSG_EXECUTE:
	case PG_MSG_CLOSE:
	case PG_MSG_SYNC:
	case PG_MSG_FLUSH:
	case PG_MSG_FUNCTION_CALL:
	case PG_MSG_COPY_DATA:
	case PG_MSG_COPY_DONE:
	case PG_MSG_COPY_FAIL:
	case PG_MSG_TERMINATE:
		return true;
	}
	return false;
}

/* Count what the message means for the server's ReadyForQuery bookkeeping and stats. */
static void note_outgoing(Client *c, Server *s, uint8_t type, bool tracked)
{
	PoolStats *st = &c->pool->stats;
	switch (type) {
	case PG_MSG_QUERY:
	case PG_MSG_SYNC:
	case PG_MSG_FUNCTION_CALL:
		s->pending_rfq++;
		s->unsynced = false;
		if (!c->query_start)
			c->query_start = time_now_loop();
		break;
	case PG_MSG_PARSE:
	case PG_MSG_BIND:
	case PG_MSG_DESCRIBE:
	case PG_MSG_EXECUTE:
	case PG_MSG_CLOSE:
	case PG_MSG_FLUSH:
		/* replies may come without a ReadyForQuery: the transaction is not over */
		s->unsynced = true;
		if (tracked)
			break; /* prepared.c counts parses and binds */
		if (type == PG_MSG_PARSE) {
			st->total.client_parse_count++;
			st->total.server_parse_count++;
		} else if (type == PG_MSG_BIND) {
			st->total.bind_count++;
		}
		break;
	default:
		break;
	}
	if (!c->xact_start)
		c->xact_start = time_now_loop();
}

/* An ERROR and ReadyForQuery in place of the server's answer to the current batch. */
static void client_answer_no_replica(Client *c)
{
	PktBuf pb;
	TargetSessionAttrs tsa = c->pool ? c->pool->db->session_attrs : TSA_ANY;
	pktbuf_init(&pb, 128, 0);
	pktbuf_put_error_response(&pb, "ERROR", SQLSTATE_CANNOT_CONNECT_NOW,
				  tsa == TSA_STANDBY || tsa == TSA_READ_ONLY
					  ? "no standby available (target_session_attrs requires one)"
					  : "no replica available for a read-only transaction (replica_fallback = error)");
	pktbuf_put_ready_for_query(&pb, 'I');
	client_send_pkt(c, &pb);
	pktbuf_free(&pb);
}

/* replica_fallback = error: drop the Query, or the extended batch up to its Sync. */
static SbufVerdict client_refuse_batch(Client *c, const SbufMsg *msg)
{
	c->cancel_on_send = false; /* the batch it was for is answered here */
	if (msg->type == PG_MSG_QUERY) {
		client_answer_no_replica(c);
		return SB_SKIP;
	}
	c->skip_to_sync = true;
	return SB_SKIP;
}

static SbufVerdict client_work_message(Client *c, const SbufMsg *msg)
{
	if (!valid_frontend_type(msg->type)) {
		char m[96];
		snprintf(m, sizeof(m), "invalid frontend message type %d", msg->type);
		client_close_error(c, SQLSTATE_PROTOCOL_VIOLATION, m);
		return SB_STOP;
	}
	if (msg->type == PG_MSG_TERMINATE) {
		client_close(c, "client close request");
		return SB_STOP;
	}
	if (msg->len > (uint32_t)rt.cfg->max_packet_size) {
		client_close_error(c, SQLSTATE_PROTOCOL_VIOLATION, "max_packet_size exceeded");
		return SB_STOP;
	}
	if (msg->type == PG_MSG_QUERY && rt.cfg->disable_pqexec) {
		/* the simple protocol takes several statements in one message, which SQL
		 * injection can exploit; disable_pqexec leaves only the extended protocol */
		client_close_error(c, SQLSTATE_PROTOCOL_VIOLATION, "PQexec disallowed");
		return SB_STOP;
	}
	if (c->drop_to_sync && msg->type != PG_MSG_SYNC)
		return SB_SKIP; /* the server never saw the failed Parse: keep it out of the batch */
	c->drop_to_sync = false;
	if (c->skip_to_sync) {
		if (msg->type == PG_MSG_SYNC) {
			c->skip_to_sync = false;
			client_answer_no_replica(c);
		}
		return SB_SKIP;
	}
	if (c->conn.link) {
		ClientRouteStatus rs = client_route_pipelined(c, msg);
		if (rs == CLIENT_ROUTE_WAIT_MORE)
			return SB_WAIT_MORE;
		if (rs == CLIENT_ROUTE_AWAIT_LINKED) {
			c->route.await_linked_rfq = true; /* server_ready_for_query resumes it */
			return SB_PAUSE;
		}
	}
	if (!c->conn.link && c->route.refuse_pending) {
		c->route.refuse_pending = false;
		return client_refuse_batch(c, msg);
	}
	if (!c->conn.link) {
		Pool *target;
		if (msg->type == PG_MSG_QUERY && msg->avail < msg->len && msg->len <= PROTO_SHORT_QUERY_MAX)
			return SB_NEED_FULL;
		if (causal_intercept_set(c, msg))
			return SB_CONSUMED;
		ClientRouteStatus rs = client_route(c, msg, &target);
		if (rs == CLIENT_ROUTE_WAIT_MORE)
			return SB_WAIT_MORE;
		if (rs == CLIENT_ROUTE_CAUSAL_WAIT)
			return SB_PAUSE;
		if (rs == CLIENT_ROUTE_REFUSE)
			return client_refuse_batch(c, msg);
		if (!pool_acquire(target, c))
			return SB_PAUSE;
		if (c->conn.closing)
			return SB_STOP;
	}
	bool tracked = c->tracking;
	if (tracked && msg->avail < msg->len && sbuf_can_hold(&c->conn, msg->len) &&
	    (msg->type == PG_MSG_PARSE || msg->type == PG_MSG_BIND || msg->type == PG_MSG_DESCRIBE ||
	     msg->type == PG_MSG_CLOSE || (msg->type == PG_MSG_QUERY && msg->len <= PROTO_SHORT_QUERY_MAX)))
		return SB_NEED_FULL; /* larger ones are handled from their head (prepared.c); a short
				      * Query is read whole to see a DEALLOCATE */
	c->conn.request_time = time_now_loop();
	SbufVerdict v = tracked ? prepared_client_message(c, (Server *)c->conn.link, msg) : SB_FORWARD;
	if (v == SB_PAUSE || v == SB_STOP)
		return v; /* paused: prepared.c waits for the server first; counted when it goes */
	rerun_note_sent(c, msg->len);
	note_outgoing(c, (Server *)c->conn.link, msg->type, tracked);
	if (c->cancel_on_send) {
		/*
		 * The cancel connection sends on a later loop turn, after this batch was written
		 * to the server, as a direct client's cancel follows its query.
		 */
		c->cancel_on_send = false;
		server_send_cancel((Server *)c->conn.link);
	}
	c->pool->stats.total.bytes_received += msg->len;
	return v;
}

static SbufVerdict client_on_message(Conn *conn, const SbufMsg *msg)
{
	Client *c = (Client *)conn;
	if (conn->startup)
		return client_startup_packet(c, msg);
	switch (c->state) {
	case CL_LOGIN:
		return client_password_message(c, msg);
	case CL_ACTIVE:
		if (c->is_admin)
			return admin_on_message(c, msg);
		if (c->replication != REPLICATION_NONE)
			return replication_client_message(c, msg);
		return client_work_message(c, msg);
	default:
		return SB_PAUSE;
	}
}
