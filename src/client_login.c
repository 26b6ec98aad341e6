/*
 * A client's login (see client_login.h): the startup packet (SSLRequest, GSSENCRequest,
 * CancelRequest, StartupMessage and its parameters), picking the database and user by
 * name without creating anything, the password messages handed to auth.c, the limits
 * checked once the client proved who it is, and the welcome (AuthenticationOk,
 * ParameterStatus, BackendKeyData, ReadyForQuery). client.c keeps the running client.
 */
#include "client_login.h"
#include "admin.h"
#include "auth.h"
#include "cancel.h"
#include "causal.h"
#include "lsn.h"
#include "intern.h"
#include "log.h"
#include "pg_wire.h"
#include "pktbuf.h"
#include "proto.h"
#include "registry.h"
#include "replication_conn.h"
#include "runtime.h"
#include "shutdown.h"
#include "startup.h"
#include "tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- startup ---- */

/*
 * ignore_startup_parameters, and extra_float_digits of 1 to 3 (pgjdbc sends 3 on every
 * connect): from PostgreSQL 12 on every value above 0 prints floats the same way,
 * shortest exact, so a server at its default of 1 already gives what the client asks.
 */
static bool startup_param_ignored(const char *name, const char *value)
{
	if (strcmp(name, "extra_float_digits") == 0 && value && value[0] >= '1' && value[0] <= '3' &&
	    value[1] == 0)
		return true;
	return config_list_contains(rt.cfg->ignore_startup_parameters, name);
}

static bool store_startup_param(Client *c, const char *name, const char *value);

/*
 * Apply "-c name=value" / "--name=value" settings from the options parameter. With
 * "options" in ignore_startup_parameters the settings pgsplit knows are still applied
 * and the rest (unknown names, words that are no setting) are dropped, as PgBouncer 1.25
 * does.
 */
static bool apply_options(Client *c, const char *options)
{
	StartupOptions it;
	const char *name, *value;
	StartupOptResult res;
	bool lenient = config_list_contains(rt.cfg->ignore_startup_parameters, "options");
	startup_options_init(&it, options);
	while ((res = startup_options_next(&it, &name, &value)) == STARTUP_OPT_SETTING) {
		int idx = varcache_lookup(name);
		if (idx >= 0) {
			varcache_set(&c->vars, idx, value);
		} else if (strcmp(name, "pgsplit.min_lsn") == 0) {
			if (!store_startup_param(c, name, value))
				return false;
		} else if (!lenient && !startup_param_ignored(name, value)) {
			char msg[256];
			snprintf(msg, sizeof(msg), "unsupported startup parameter in options: %s", name);
			client_close_error(c, SQLSTATE_PROTOCOL_VIOLATION, msg);
			return false;
		}
	}
	if (res == STARTUP_OPT_BAD && !lenient) {
		char msg[256];
		snprintf(msg, sizeof(msg), "unsupported options startup parameter: only '-c config=val' and '--config=val' are allowed");
		client_close_error(c, SQLSTATE_PROTOCOL_VIOLATION, msg);
		return false;
	}
	return true;
}

/* The replication parameter, read and refused as PostgreSQL does (its wording). */
static bool store_replication(Client *c, const char *value)
{
	if (startup_replication_parse(value, &c->replication))
		return true;
	char msg[300];
	snprintf(msg, sizeof(msg), "invalid value for parameter \"replication\": \"%.200s\"", value);
	client_close_error(c, SQLSTATE_INVALID_PARAMETER_VALUE, msg);
	return false;
}

static bool store_startup_param(Client *c, const char *name, const char *value)
{
	if (strcmp(name, "user") == 0) {
		intern_put(c->user_name);
		c->user_name = intern_get(value);
	} else if (strcmp(name, "database") == 0) {
		intern_put(c->db_name);
		c->db_name = intern_get(value);
	} else if (strcmp(name, "options") == 0) {
		return apply_options(c, value);
	} else if (strcmp(name, "pgsplit.min_lsn") == 0) {
		uint64_t lsn;
		if (!lsn_parse(value, &lsn)) {
			client_close_error(c, SQLSTATE_PROTOCOL_VIOLATION, "invalid pgsplit.min_lsn: expected an LSN like 0/16B3748");
			return false;
		}
		causal_set_token(c, lsn);
	} else if (varcache_lookup(name) >= 0) {
		varcache_set(&c->vars, varcache_lookup(name), value);
	} else if (strcmp(name, "replication") == 0) {
		return store_replication(c, value);
	} else if (strncmp(name, "_pq_.", 5) == 0 || startup_param_ignored(name, value)) {
		/* accepted and dropped */
	} else {
		char msg[256];
		snprintf(msg, sizeof(msg), "unsupported startup parameter: %s", name);
		client_close_error(c, SQLSTATE_PROTOCOL_VIOLATION, msg);
		return false;
	}
	return true;
}

/*
 * application_name_add_host: the client's own application_name gets " - host:port" of
 * its address (a Unix-socket client: "unix" and the listen port), once, at login, so
 * the server's pg_stat_activity tells where a query came from.
 */
static void tag_application_name(Client *c)
{
	int idx = varcache_lookup("application_name");
	const char *name = varcache_get(&c->vars, idx);
	if (!rt.cfg->application_name_add_host || !name)
		return;
	bool on_unix = strcmp(c->conn.addr_text, "unix") == 0;
	char tagged[256];
	snprintf(tagged, sizeof(tagged), "%s - %s:%d", name, c->conn.addr_text,
		 on_unix ? rt.cfg->listen_port : c->conn.port);
	varcache_set(&c->vars, idx, tagged);
}

/* Parse name/value pairs; collect _pq_. names for NegotiateProtocolVersion. */
static bool parse_startup_params(Client *c, PktReader *r, const char **pq_opts, int *n_pq)
{
	for (;;) {
		const char *name, *value;
		StartupParamResult res = startup_next_param(r, &name, &value);
		if (res == STARTUP_PARAM_BAD) {
			client_close_error(c, SQLSTATE_PROTOCOL_VIOLATION, "invalid startup packet");
			return false;
		}
		if (res == STARTUP_PARAM_END)
			return true;
		if (strncmp(name, "_pq_.", 5) == 0 && *n_pq < 16)
			pq_opts[(*n_pq)++] = name;
		if (!store_startup_param(c, name, value))
			return false;
	}
}

/* Per-database and per-user client limits, checked once the client is authenticated. */
static bool client_check_limits(Client *c, const Database *db, const PoolUser *user)
{
	if (db->max_db_client_connections > 0 && db->client_count >= db->max_db_client_connections) {
		client_close_error(c, SQLSTATE_TOO_MANY_CONNECTIONS,
				   "no more connections allowed (max_db_client_connections)");
		return false;
	}
	if (user->max_user_client_connections > 0 && user->client_count >= user->max_user_client_connections) {
		client_close_error(c, SQLSTATE_TOO_MANY_CONNECTIONS,
				   "no more connections allowed (max_user_client_connections)");
		return false;
	}
	return true;
}

static bool client_database_disabled(Client *c, const Database *db)
{
	char msg[300];
	if (!db || !db->disabled)
		return false;
	snprintf(msg, sizeof(msg), "database \"%s\" is disabled", c->db_name); /* PgBouncer's text */
	client_close_error(c, SQLSTATE_PROTOCOL_VIOLATION, msg);
	return true;
}

/*
 * Before authentication the client holds only its interned names and looks objects up:
 * the user, database (from "*") and pool of a name are made by client_login_bind once the
 * name has proved itself, so made-up names cost the connection and nothing more. The
 * admin console is "pgbouncer" / "pgsplit".
 */
static bool client_pick_database(Client *c)
{
	if (!c->db_name)
		c->db_name = intern_get(c->user_name);
	if (strcmp(c->db_name, "pgbouncer") == 0 || strcmp(c->db_name, "pgsplit") == 0) {
		if (c->replication != REPLICATION_NONE) {
			client_close_error(c, SQLSTATE_FEATURE_NOT_SUPPORTED,
					   "replication connections to the admin console are not supported");
			return false;
		}
		c->is_admin = true;
		return admin_client_login(c);
	}
	if (rt.client_count > rt.cfg->max_client_conn) {
		client_close_error(c, SQLSTATE_TOO_MANY_CONNECTIONS, "no more connections allowed (max_client_conn)");
		return false;
	}
	/*
	 * Authenticate first: the database's state (unknown, disabled, at its client limit)
	 * is said only to a verified user, by client_login_bind. max_client_conn above
	 * concerns the pooler as a whole and names nothing the client chose.
	 */
	if (!config_find_database(rt.cfg, c->db_name))
		c->refusal = LOGIN_REFUSE_NO_DATABASE;
	return true;
}

/* Refusals kept until the client proved who it is. True if the client was closed. */
static bool client_refuse_after_auth(Client *c)
{
	char msg[300];
	switch (c->refusal) {
	case LOGIN_REFUSE_NONE:
		return false;
	case LOGIN_REFUSE_NO_DATABASE:
		snprintf(msg, sizeof(msg), "no such database: %s", c->db_name);
		client_close_error(c, SQLSTATE_INVALID_DATABASE, msg);
		return true;
	case LOGIN_REFUSE_CONSOLE:
		client_close_error(c, SQLSTATE_PROTOCOL_VIOLATION, "not allowed");
		return true;
	}
	return false;
}

bool client_login_bind(Client *c)
{
	if (c->state == CL_CLOSED || client_refuse_after_auth(c))
		return false;
	if (c->is_admin || c->pool)
		return true;
	Database *db = registry_find_database(c->db_name);
	if (!db) {
		c->refusal = LOGIN_REFUSE_NO_DATABASE; /* dropped by a reload during the login */
		client_refuse_after_auth(c);
		return false;
	}
	if (client_database_disabled(c, db))
		return false;
	PoolUser *user = registry_get_user(c->user_name);
	if (!client_check_limits(c, db, user))
		return false;
	c->db = db;
	c->user = user;
	c->pool = registry_get_pool(db, db->forced_user ? registry_get_user(db->forced_user) : user);
	c->pool->n_clients++;
	db->client_count++;
	user->client_count++;
	db->last_used = time_now_loop();
	return true;
}

static void handle_startup_message(Client *c, PktReader *r, uint32_t version)
{
	const char *pq_opts[16];
	int n_pq = 0;
	if (rt.cfg->client_tls_sslmode >= TLS_MODE_REQUIRE && !c->conn.tls &&
	    strcmp(c->conn.addr_text, "unix") != 0) {
		client_close_error(c, SQLSTATE_INVALID_AUTH, "SSL required");
		return;
	}
	if (!parse_startup_params(c, r, pq_opts, &n_pq))
		return;
	tag_application_name(c);
	if (!c->user_name || !*c->user_name) {
		client_close_error(c, SQLSTATE_PROTOCOL_VIOLATION, "no username supplied");
		return;
	}
	if (PG_PROTO_MINOR(version) > 0 || n_pq > 0) {
		PktBuf pb;
		pktbuf_init(&pb, 128, 0);
		pktbuf_put_negotiate_protocol_version(&pb, 0, pq_opts, n_pq);
		client_send_pkt(c, &pb);
		pktbuf_free(&pb);
	}
	c->conn.startup = false;
	if (rt.shutting_down && !shutdown_admits_login(c->db_name ? c->db_name : c->user_name,
						       strcmp(c->conn.addr_text, "unix") == 0)) {
		client_close_error(c, SQLSTATE_ADMIN_SHUTDOWN, "pgbouncer is shutting down");
		return;
	}
	if (!client_pick_database(c))
		return;
	auth_begin(c);
}

static void answer_no(Client *c)
{
	sbuf_queue(&c->conn, "N", 1);
	sbuf_flush(&c->conn);
}

/*
 * SSLRequest: 'S' and a TLS handshake when client TLS is configured, else 'N'. Bytes
 * that arrived behind the request would have been sent before encryption started:
 * they are refused (a plaintext injection), as PostgreSQL does.
 */
static SbufVerdict client_ssl_request(Client *c, const SbufMsg *msg)
{
	if (msg->len != 8) {
		client_close(c, "bad SSLRequest length");
		return SB_STOP;
	}
	if (!rt.client_tls_ctx || c->conn.tls) {
		answer_no(c);
		return c->conn.closing ? SB_STOP : SB_CONSUMED;
	}
	if (sbuf_pending_input(&c->conn) > msg->len) {
		client_close_error(c, SQLSTATE_PROTOCOL_VIOLATION, "received unencrypted data after SSL request");
		return SB_STOP;
	}
	sbuf_queue(&c->conn, "S", 1);
	sbuf_flush(&c->conn);
	if (c->conn.closing)
		return SB_STOP;
	/* the request is consumed here: the handshake reads the socket itself */
	sbuf_consume_current(&c->conn, msg->len);
	sbuf_start_tls(&c->conn, rt.client_tls_ctx);
	return SB_STOP;
}

SbufVerdict client_startup_packet(Client *c, const SbufMsg *msg)
{
	if (msg->avail < msg->len)
		return SB_NEED_FULL;
	PktReader r;
	uint32_t code;
	proto_reader_init(&r, msg->data, msg->len);
	switch (startup_classify(&r, &code)) {
	case STARTUP_KIND_TRUNCATED:
		return SB_CONSUMED;
	case STARTUP_KIND_SSL:
		return client_ssl_request(c, msg);
	case STARTUP_KIND_GSSENC:
		if (msg->len != 8) {
			client_close(c, "bad SSLRequest length");
			return SB_STOP;
		}
		answer_no(c);
		return c->conn.closing ? SB_STOP : SB_CONSUMED;
	case STARTUP_KIND_CANCEL:
		cancel_handle_request(c, &r);
		return SB_STOP;
	case STARTUP_KIND_BAD_PROTOCOL: {
		char m[128];
		snprintf(m, sizeof(m), "unsupported frontend protocol %u.%u: server supports 3.0",
			 PG_PROTO_MAJOR(code), PG_PROTO_MINOR(code));
		client_close_error(c, SQLSTATE_FEATURE_NOT_SUPPORTED, m);
		return SB_STOP;
	}
	case STARTUP_KIND_MESSAGE:
		break;
	}
	handle_startup_message(c, &r, code);
	return c->conn.closing ? SB_STOP : SB_CONSUMED;
}

/* ---- authentication messages ---- */

SbufVerdict client_password_message(Client *c, const SbufMsg *msg)
{
	if (msg->type != PG_MSG_PASSWORD) {
		client_close_error(c, SQLSTATE_PROTOCOL_VIOLATION, "expected a password message");
		return SB_STOP;
	}
	if (msg->len > 8192) {
		client_close_error(c, SQLSTATE_PROTOCOL_VIOLATION, "password packet too long");
		return SB_STOP;
	}
	if (msg->avail < msg->len)
		return SB_NEED_FULL;
	auth_on_password_message(c, msg->data + 5, msg->len - 5);
	return c->conn.closing ? SB_STOP : SB_CONSUMED;
}

/* ---- welcome ---- */

void client_auth_ok(Client *c)
{
	if (!client_login_bind(c))
		return;
	c->auth_phase = AUTH_PHASE_DONE;
	PktBuf pb;
	pktbuf_init(&pb, 16, 0);
	pktbuf_put_auth_request(&pb, PG_AUTH_OK, NULL, 0);
	client_send_pkt(c, &pb);
	pktbuf_free(&pb);
	if (rt.cfg->log_connections) {
		char who[256], tls[128] = "no";
		if (c->conn.tls)
			tls_conn_describe(c->conn.tls, tls, sizeof(tls));
		log_info("%s login attempt: db=%s user=%s tls=%s replication=%s", client_log_name(c, who, sizeof(who)),
			 c->db_name, c->user_name, tls, replication_log_value(c->replication));
	}
	if (c->is_admin) {
		admin_welcome(c);
		return;
	}
	if (c->replication != REPLICATION_NONE) {
		replication_start(c);
		return;
	}
	if (c->pool->n_welcome > 0) {
		client_set_state(c, CL_WELCOME);
		client_finish_welcome(c);
		return;
	}
	if (pool_in_login_backoff(c->pool) && c->pool->last_connect_error) {
		client_fail_wait(c, c->pool->last_connect_error);
		return;
	}
	client_set_state(c, CL_WELCOME);
	sbuf_pause(&c->conn);
	pool_maintain(c->pool);
}

void client_put_login_notice(PktBuf *pb)
{
	const char *text = rt.cfg->login_notify_message;
	if (text && *text)
		pktbuf_put_notice_response(pb, "NOTICE", "00000", text);
}

void client_finish_welcome(Client *c)
{
	Pool *p = c->pool;
	PktBuf pb;
	pktbuf_init(&pb, 512, 0);
	varcache_fill_missing(&c->vars, &p->welcome_vars);
	for (int i = 0; i < p->n_welcome; i++) {
		int idx = varcache_lookup(p->welcome[i].name);
		const char *value = idx >= 0 && varcache_get(&c->vars, idx) ? varcache_get(&c->vars, idx)
									   : p->welcome[i].value;
		pktbuf_put_parameter_status(&pb, p->welcome[i].name, value);
	}
	pktbuf_put_backend_key_data(&pb, c->cancel_pid, c->cancel_key);
	client_put_login_notice(&pb);
	pktbuf_put_ready_for_query(&pb, 'I');
	client_set_state(c, CL_ACTIVE);
	c->idle_since = time_now_loop();
	client_send_pkt(c, &pb);
	pktbuf_free(&pb);
	sbuf_flush(&c->conn);
	if (!c->conn.closing)
		sbuf_resume(&c->conn);
}
