/*
 * Replication connections (see replication_conn.h): the client's own walsender on the
 * primary, welcomed with that server's parameters and relayed byte for byte.
 */
#include "replication_conn.h"
#include "log.h"
#include "pg_wire.h"
#include "runtime.h"
#include "varcache.h"

#include <stdio.h>

/* By ReplicationKind: SHOW's column, and the login line's canonical startup value. */
static const char *const kind_names[] = { "none", "physical", "logical" };
static const char *const log_values[] = { "no", "yes", "database" };

const char *replication_kind_name(ReplicationKind kind)
{
	return kind_names[kind];
}

const char *replication_log_value(ReplicationKind kind)
{
	return log_values[kind];
}

const char *replication_startup_value(ReplicationKind kind)
{
	return kind == REPLICATION_LOGICAL ? "database" : "true";
}

/*
 * The server caps of the identity the pool logs in as: a replication server counts
 * there like any other, only pool_size leaves it out. NULL when within both.
 */
static const char *server_cap_reached(const Pool *p)
{
	if (p->db->max_db_connections > 0 && p->db->server_count >= p->db->max_db_connections)
		return "no more connections allowed (max_db_connections)";
	if (p->user->max_user_connections > 0 && p->user->server_count >= p->user->max_user_connections)
		return "no more connections allowed (max_user_connections)";
	return NULL;
}

void replication_start(Client *c)
{
	const char *cap = server_cap_reached(c->pool);
	if (cap) {
		client_close_error(c, SQLSTATE_TOO_MANY_CONNECTIONS, cap);
		return;
	}
	/* nothing it sends means anything before its server answered the login */
	sbuf_pause(&c->conn);
	server_launch_paired(c->pool, c);
}

SbufVerdict replication_client_message(Client *c, const SbufMsg *msg)
{
	if (msg->type == PG_MSG_TERMINATE) {
		client_close(c, "client close request");
		return SB_STOP;
	}
	if (!c->conn.link)
		return SB_PAUSE;
	c->conn.request_time = time_now_loop();
	c->pool->stats.total.bytes_received += msg->len;
	return SB_FORWARD;
}

/*
 * A walsender cannot run the SET a pooled server gets at link time, so the client's
 * session parameters go into the startup packet, with the database's own defaults
 * (connect_query is not run either) for those it did not give.
 */
void replication_put_startup_params(const Server *s, PktBuf *pb)
{
	const Client *c = (const Client *)s->conn.link;
	pktbuf_put_cstring(pb, "replication");
	pktbuf_put_cstring(pb, replication_startup_value(s->replication));
	for (int i = 0; i < varcache_count(); i++) {
		const char *v = c ? varcache_get(&c->vars, i) : NULL;
		if (!v)
			v = varcache_get(&s->pool->db->startup_vars, i);
		if (v) {
			pktbuf_put_cstring(pb, varcache_name(i));
			pktbuf_put_cstring(pb, v);
		}
	}
}

void replication_server_ready(Server *s)
{
	Client *c = (Client *)s->conn.link;
	Pool *p = s->pool;
	if (rt.cfg->log_connections)
		log_server(LOG_LVL_INFO, s, "%s/%s@%s:%d new replication connection to server (%s)", p->db->name,
			   p->user->name, s->conn.addr_text, s->conn.port, replication_kind_name(s->replication));
	server_set_state(s, SV_ACTIVE);
	PktBuf pb;
	pktbuf_init(&pb, 512, 0);
	for (int i = 0; i < s->n_login_params; i++)
		pktbuf_put_parameter_status(&pb, s->login_params[i].name, s->login_params[i].value);
	/* the pooler's key: a CancelRequest with it reaches this server through cancel.c */
	pktbuf_put_backend_key_data(&pb, c->cancel_pid, c->cancel_key);
	pktbuf_put_ready_for_query(&pb, 'I');
	client_set_state(c, CL_ACTIVE);
	client_send_pkt(c, &pb);
	pktbuf_free(&pb);
	if (c->conn.closing)
		return;
	sbuf_flush(&c->conn);
	if (!c->conn.closing)
		sbuf_resume(&c->conn);
}

void replication_relay_login_error(Server *s, const SbufMsg *msg)
{
	Client *c = (Client *)s->conn.link;
	if (!c)
		return;
	sbuf_queue(&c->conn, msg->data, msg->len);
	s->error_relayed = true;
}

SbufVerdict replication_server_message(Server *s, const SbufMsg *msg)
{
	if (!s->conn.link)
		return SB_SKIP;
	if (msg->type == PG_MSG_ERROR_RESPONSE)
		s->error_relayed = true;
	s->pool->stats.total.bytes_sent += msg->len;
	return SB_FORWARD;
}

void replication_client_lost(Client *c, const Server *s, const char *reason)
{
	if (!s->error_relayed) {
		client_close_error(c, SQLSTATE_CANNOT_CONNECT, reason);
		return;
	}
	sbuf_flush(&c->conn);
	client_close(c, reason);
}
