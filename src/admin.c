/*
 * Admin console (see admin.h): login check against admin_users / stats_users, command
 * parsing and dispatch, and the SHOW views. Each view is one small function building
 * rows with pktbuf's typed writers.
 */
#include "admin.h"
#include "auth.h"
#include "client.h"
#include "log.h"
#include "maint.h"
#include "pg_wire.h"
#include "pktbuf.h"
#include "registry.h"
#include "reload.h"
#include "runtime.h"
#include "server.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void client_send_pkt(Client *client, PktBuf *pb);

typedef struct AdminReply {
	PktBuf pb;
	int rows;
} AdminReply;

bool admin_client_login(Client *c)
{
	bool admin = config_list_contains(rt.cfg->admin_users, c->user_name);
	bool stats = config_list_contains(rt.cfg->stats_users, c->user_name);
	if (!admin && !stats) {
		client_close_error(c, SQLSTATE_INSUFFICIENT_PRIVILEGE, "not allowed");
		return false;
	}
	c->is_admin = true;
	c->admin_may_change = admin;
	c->user = registry_get_user(c->user_name);
	return true;
}

void admin_welcome(Client *c)
{
	PktBuf pb;
	pktbuf_init(&pb, 256, 0);
	pktbuf_put_parameter_status(&pb, "server_version", "15.0 (pgsplit " PGSPLIT_VERSION ")");
	pktbuf_put_parameter_status(&pb, "client_encoding", "UTF8");
	pktbuf_put_parameter_status(&pb, "server_encoding", "UTF8");
	pktbuf_put_parameter_status(&pb, "DateStyle", "ISO");
	pktbuf_put_parameter_status(&pb, "standard_conforming_strings", "on");
	pktbuf_put_parameter_status(&pb, "integer_datetimes", "on");
	pktbuf_put_backend_key_data(&pb, c->cancel_pid, c->cancel_key);
	pktbuf_put_ready_for_query(&pb, 'I');
	client_set_state(c, CL_ACTIVE);
	client_send_pkt(c, &pb);
	pktbuf_free(&pb);
	sbuf_flush(&c->conn);
}

/* ---- reply building ---- */

static void reply_columns(AdminReply *r, int n, const char *const *names, const uint32_t *types)
{
	pktbuf_put_row_description(&r->pb, n, names, types);
}

static void reply_row(AdminReply *r, int n, const char *const *values)
{
	pktbuf_put_data_row(&r->pb, n, values);
	r->rows++;
}

static void reply_done(AdminReply *r, const char *tag)
{
	pktbuf_put_command_complete(&r->pb, tag);
}

#define I8 PG_OID_INT8
#define TX PG_OID_TEXT

static void show_version(AdminReply *r)
{
	static const char *const cols[] = { "version" };
	static const uint32_t types[] = { TX };
	const char *v[] = { "PgBouncer 1.25.0 compatible (pgsplit " PGSPLIT_VERSION ")" };
	reply_columns(r, 1, cols, types);
	reply_row(r, 1, v);
	reply_done(r, "SHOW");
}

static const char *fmt_u64(char *buf, uint64_t v)
{
	snprintf(buf, 24, "%" PRIu64, v);
	return buf;
}

static void show_pools(AdminReply *r)
{
	static const char *const cols[] = { "database", "user", "cl_active", "cl_waiting", "cl_active_cancel_req",
					    "cl_waiting_cancel_req", "sv_active", "sv_active_cancel",
					    "sv_being_canceled", "sv_idle", "sv_used", "sv_tested", "sv_login",
					    "maxwait", "maxwait_us", "pool_mode", "load_balance_hosts" };
	static const uint32_t types[] = { TX, TX, I8, I8, I8, I8, I8, I8, I8, I8, I8, I8, I8, I8, I8, TX, TX };
	reply_columns(r, 17, cols, types);
	List *it;
	list_for_each(it, &rt.pools)
	{
		Pool *p = container_of(it, Pool, node);
		char b[17][24];
		usec_t wait = 0;
		List *first = list_first(&p->waiting_clients);
		if (first)
			wait = time_now_mono() - container_of(first, Client, pool_node)->wait_start;
		const char *v[17] = { p->db->name,
				      p->user->name,
				      fmt_u64(b[2], (uint64_t)p->n_active_clients),
				      fmt_u64(b[3], (uint64_t)p->n_waiting),
				      "0",
				      "0",
				      fmt_u64(b[6], (uint64_t)p->n_active),
				      "0",
				      "0",
				      fmt_u64(b[9], (uint64_t)p->n_idle),
				      fmt_u64(b[10], (uint64_t)p->n_used),
				      "0",
				      fmt_u64(b[12], (uint64_t)p->n_login),
				      fmt_u64(b[13], (uint64_t)(wait / USEC_PER_SEC)),
				      fmt_u64(b[14], (uint64_t)(wait % USEC_PER_SEC)),
				      config_pool_mode_name(pool_mode_of(p)),
				      NULL };
		reply_row(r, 17, v);
	}
	reply_done(r, "SHOW");
}

static void show_stats(AdminReply *r, bool totals_only)
{
	static const char *const cols[] = { "database", "total_server_assignment_count", "total_xact_count",
					    "total_query_count", "total_received", "total_sent", "total_xact_time",
					    "total_query_time", "total_wait_time", "total_client_parse_count",
					    "total_server_parse_count", "total_bind_count" };
	static const uint32_t types[] = { TX, I8, I8, I8, I8, I8, I8, I8, I8, I8, I8, I8 };
	(void)totals_only;
	reply_columns(r, 12, cols, types);
	List *it;
	list_for_each(it, &rt.pools)
	{
		Pool *p = container_of(it, Pool, node);
		const StatCounters *t = &p->stats.total;
		char b[12][24];
		const char *v[12] = { p->db->name,
				      fmt_u64(b[1], t->server_assignments),
				      fmt_u64(b[2], t->xact_count),
				      fmt_u64(b[3], t->query_count),
				      fmt_u64(b[4], t->bytes_received),
				      fmt_u64(b[5], t->bytes_sent),
				      fmt_u64(b[6], t->xact_time),
				      fmt_u64(b[7], t->query_time),
				      fmt_u64(b[8], t->wait_time),
				      fmt_u64(b[9], t->client_parse_count),
				      fmt_u64(b[10], t->server_parse_count),
				      fmt_u64(b[11], t->bind_count) };
		reply_row(r, 12, v);
	}
	reply_done(r, "SHOW");
}

static void show_config(AdminReply *r)
{
	static const char *const cols[] = { "key", "value", "default", "changeable" };
	static const uint32_t types[] = { TX, TX, TX, TX };
	reply_columns(r, 4, cols, types);
	for (int i = 0; i < config_setting_count(); i++) {
		const ConfigSetting *s = config_setting_at(i);
		char value[512];
		config_setting_format(rt.cfg, s, value, sizeof(value));
		const char *v[4] = { config_setting_name(s), value, config_setting_default(s),
				     config_setting_reloadable(s) ? "yes" : "no" };
		reply_row(r, 4, v);
	}
	reply_done(r, "SHOW");
}

static void admin_error(AdminReply *r, const char *sqlstate, const char *msg)
{
	pktbuf_put_error_response(&r->pb, "ERROR", sqlstate, msg);
}

static Database *find_db_arg(const char *name)
{
	List *it;
	list_for_each(it, &rt.databases)
	{
		Database *db = container_of(it, Database, node);
		if (strcmp(db->name, name) == 0)
			return db;
	}
	return NULL;
}

static void resume_all(void)
{
	List *it;
	list_for_each(it, &rt.pools) pool_maintain(container_of(it, Pool, node));
	List *tmp;
	list_for_each_safe(it, tmp, &rt.pools)
	{
		Pool *p = container_of(it, Pool, node);
		while (!list_empty(&p->idle_servers) && !list_empty(&p->waiting_clients)) {
			Server *s = container_of(list_first(&p->idle_servers), Server, pool_node);
			pool_on_server_idle(p, s);
		}
	}
}

static void cmd_pause_resume(Client *c, AdminReply *r, bool pause, const char *arg)
{
	if (!c->admin_may_change) {
		admin_error(r, SQLSTATE_INSUFFICIENT_PRIVILEGE, "admin access needed");
		return;
	}
	if (arg && *arg) {
		Database *db = find_db_arg(arg);
		if (!db) {
			admin_error(r, SQLSTATE_INVALID_DATABASE, "no such database");
			return;
		}
		db->paused = pause;
	} else {
		rt.paused = pause;
	}
	if (!pause)
		resume_all();
	reply_done(r, pause ? "PAUSE" : "RESUME");
}

/* Split "WORD rest" into upper-cased word and the trimmed rest. */
static void split_command(char *sql, char **word, char **rest)
{
	while (isspace((unsigned char)*sql))
		sql++;
	*word = sql;
	while (*sql && !isspace((unsigned char)*sql))
		sql++;
	if (*sql)
		*sql++ = 0;
	while (isspace((unsigned char)*sql))
		sql++;
	char *end = sql + strlen(sql);
	while (end > sql && (isspace((unsigned char)end[-1]) || end[-1] == ';'))
		*--end = 0;
	*rest = sql;
}

static void run_show(Client *c, AdminReply *r, const char *what)
{
	(void)c;
	if (strcasecmp(what, "version") == 0)
		show_version(r);
	else if (strcasecmp(what, "pools") == 0)
		show_pools(r);
	else if (strcasecmp(what, "stats") == 0)
		show_stats(r, false);
	else if (strcasecmp(what, "config") == 0)
		show_config(r);
	else
		admin_error(r, SQLSTATE_SYNTAX_ERROR, "unsupported SHOW command");
}

static void run_command(Client *c, AdminReply *r, char *sql)
{
	char *word, *rest;
	char errbuf[512];
	split_command(sql, &word, &rest);
	if (!*word) {
		pktbuf_put_empty_query_response(&r->pb);
	} else if (strcasecmp(word, "SHOW") == 0) {
		run_show(c, r, rest);
	} else if (strcasecmp(word, "PAUSE") == 0 || strcasecmp(word, "RESUME") == 0) {
		cmd_pause_resume(c, r, strcasecmp(word, "PAUSE") == 0, rest);
	} else if (!c->admin_may_change) {
		admin_error(r, SQLSTATE_INSUFFICIENT_PRIVILEGE, "admin access needed");
	} else if (strcasecmp(word, "RELOAD") == 0) {
		if (reload_config(errbuf, sizeof(errbuf)))
			reply_done(r, "RELOAD");
		else
			admin_error(r, SQLSTATE_PROTOCOL_VIOLATION, errbuf);
	} else if (strcasecmp(word, "SHUTDOWN") == 0) {
		shutdown_begin(strcasecmp(rest, "WAIT_FOR_CLIENTS") == 0);
		reply_done(r, "SHUTDOWN");
	} else {
		admin_error(r, SQLSTATE_SYNTAX_ERROR, "unknown command");
	}
}

SbufVerdict admin_on_message(Client *c, const SbufMsg *msg)
{
	if (msg->type == PG_MSG_TERMINATE) {
		client_close(c, "client close request");
		return SB_STOP;
	}
	if (msg->type != PG_MSG_QUERY) {
		client_close_error(c, SQLSTATE_PROTOCOL_VIOLATION, "admin console supports only simple query protocol");
		return SB_STOP;
	}
	if (msg->len > 65536) {
		client_close_error(c, SQLSTATE_PROTOCOL_VIOLATION, "admin command too long");
		return SB_STOP;
	}
	if (msg->avail < msg->len)
		return SB_NEED_FULL;
	char *sql = xmalloc(msg->len);
	memcpy(sql, msg->data + 5, msg->len - 5);
	sql[msg->len - 5] = 0;
	AdminReply r;
	pktbuf_init(&r.pb, 1024, 0);
	r.rows = 0;
	char *save = NULL;
	bool any = false;
	for (char *cmd = strtok_r(sql, ";", &save); cmd; cmd = strtok_r(NULL, ";", &save)) {
		char *p = cmd;
		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			continue;
		any = true;
		run_command(c, &r, p);
	}
	if (!any)
		pktbuf_put_empty_query_response(&r.pb);
	pktbuf_put_ready_for_query(&r.pb, 'I');
	free(sql);
	client_send_pkt(c, &r.pb);
	pktbuf_free(&r.pb);
	sbuf_flush(&c->conn);
	return c->conn.closing ? SB_STOP : SB_CONSUMED;
}

void admin_tick(void)
{
}
