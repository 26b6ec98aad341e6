/*
 * Prepared statements in transaction pooling (see prepared.h).
 */
#include "prepared.h"
#include "classify.h"
#include "client.h"
#include "log.h"
#include "pg_wire.h"
#include "pktbuf.h"
#include "proto.h"
#include "runtime.h"
#include "server.h"

#include <ctype.h>
#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>

/* ---- shared statements, deduplicated by the text of their Parse ---- */

struct PreparedStmt {
	uint64_t id;           /* server-side name pgsplit_<id> */
	uint64_t hash;
	uint8_t *body;         /* Parse body after the name: query, parameter types */
	uint32_t body_len;
	int refs;              /* client names and server caches pointing here */
	bool read_only;        /* the classifier's verdict on the query */
	PreparedStmt *next;    /* hash chain */
};

#define STMT_BUCKETS 4096
static PreparedStmt *stmt_table[STMT_BUCKETS];
static uint64_t next_stmt_id;

static uint64_t hash_bytes(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

static PreparedStmt *stmt_get(const uint8_t *body, uint32_t len)
{
	uint64_t h = hash_bytes(body, len);
	PreparedStmt **slot = &stmt_table[h % STMT_BUCKETS];
	for (PreparedStmt *s = *slot; s; s = s->next)
		if (s->hash == h && s->body_len == len && memcmp(s->body, body, len) == 0)
			return s;
	PreparedStmt *s = xcalloc(1, sizeof(*s));
	s->id = ++next_stmt_id;
	s->hash = h;
	s->body = xmalloc(len);
	memcpy(s->body, body, len);
	s->body_len = len;
	const uint8_t *nul = memchr(body, 0, len);
	ClassifyResult cr;
	classify_sql(rt.classify_cfg, (const char *)body, nul ? (size_t)(nul - body) : len, &cr);
	s->read_only = cr.verdict == CLASSIFY_READ && !cr.begins_transaction;
	s->next = *slot;
	*slot = s;
	return s;
}

static void stmt_unref(PreparedStmt *s)
{
	if (--s->refs > 0)
		return;
	PreparedStmt **pp = &stmt_table[s->hash % STMT_BUCKETS];
	while (*pp != s)
		pp = &(*pp)->next;
	*pp = s->next;
	free(s->body);
	free(s);
}

/* ---- small maps: client name -> statement, server id -> cached statement ---- */

typedef struct MapEntry {
	char *name;          /* client map key; NULL in server caches */
	PreparedStmt *stmt;
	struct MapEntry *next; /* hash chain */
	List lru;            /* server caches: most recently used first */
} MapEntry;

struct StmtMap {
	MapEntry **buckets;
	int n_buckets;
	int count;
	List lru;
};

static StmtMap *map_new(void)
{
	StmtMap *m = xcalloc(1, sizeof(*m));
	m->n_buckets = 16;
	m->buckets = xcalloc((size_t)m->n_buckets, sizeof(MapEntry *));
	list_init(&m->lru);
	return m;
}

static uint64_t entry_key(const char *name, const PreparedStmt *stmt)
{
	return name ? hash_bytes(name, strlen(name)) : stmt->id * 11400714819323198485ULL;
}

static void map_grow(StmtMap *m)
{
	int n = m->n_buckets * 2;
	MapEntry **b = xcalloc((size_t)n, sizeof(MapEntry *));
	for (int i = 0; i < m->n_buckets; i++) {
		MapEntry *e = m->buckets[i], *next;
		for (; e; e = next) {
			next = e->next;
			MapEntry **slot = &b[entry_key(e->name, e->stmt) % (uint64_t)n];
			e->next = *slot;
			*slot = e;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->n_buckets = n;
}

/* Find by client name (name != NULL) or by statement (server caches). */
static MapEntry **map_slot(StmtMap *m, const char *name, const PreparedStmt *stmt)
{
	MapEntry **pp = &m->buckets[entry_key(name, stmt) % (uint64_t)m->n_buckets];
	for (; *pp; pp = &(*pp)->next)
		if (name ? strcmp((*pp)->name, name) == 0 : (*pp)->stmt == stmt)
			return pp;
	return pp;
}

static MapEntry *map_find(StmtMap *m, const char *name, const PreparedStmt *stmt)
{
	return m ? *map_slot(m, name, stmt) : NULL;
}

static void map_put(StmtMap *m, const char *name, PreparedStmt *stmt)
{
	if (m->count >= m->n_buckets * 2)
		map_grow(m);
	MapEntry **slot = map_slot(m, name, stmt);
	MapEntry *e = *slot;
	if (e) {
		stmt->refs++;
		stmt_unref(e->stmt);
		e->stmt = stmt;
		return;
	}
	e = xcalloc(1, sizeof(*e));
	e->name = name ? xstrdup(name) : NULL;
	e->stmt = stmt;
	stmt->refs++;
	list_prepend(&m->lru, &e->lru);
	*slot = e;
	m->count++;
}

static void map_remove(StmtMap *m, const char *name, const PreparedStmt *stmt)
{
	MapEntry **slot = map_slot(m, name, stmt);
	MapEntry *e = *slot;
	if (!e)
		return;
	*slot = e->next;
	list_del(&e->lru);
	stmt_unref(e->stmt);
	free(e->name);
	free(e);
	m->count--;
}

static void map_clear(StmtMap *m)
{
	if (!m)
		return;
	for (int i = 0; i < m->n_buckets; i++) {
		MapEntry *e = m->buckets[i], *next;
		for (; e; e = next) {
			next = e->next;
			stmt_unref(e->stmt);
			free(e->name);
			free(e);
		}
		m->buckets[i] = NULL;
	}
	list_init(&m->lru);
	m->count = 0;
}

static void map_free(StmtMap *m)
{
	if (!m)
		return;
	map_clear(m);
	free(m->buckets);
	free(m);
}

/* ---- the server's reply queue ---- */

typedef enum {
	SLOT_PARSE,         /* forwarded or injected Parse: ParseComplete confirms the cache */
	SLOT_PARSE_HIDDEN,  /* injected Parse: its ParseComplete is not the client's */
	SLOT_CLOSE_HIDDEN,  /* injected Close (cache eviction) */
	SLOT_BIND,
	SLOT_DESCRIBE_STMT, /* ParameterDescription, then RowDescription or NoData */
	SLOT_DESCRIBE_PORTAL,
	SLOT_EXECUTE,
	SLOT_CLOSE,
	SLOT_SYNC,
	SLOT_QUERY,         /* simple Query or FunctionCall: everything up to ReadyForQuery */
	SLOT_FAKE_PARSE,    /* answer ParseComplete ourselves */
	SLOT_FAKE_CLOSE,    /* answer CloseComplete ourselves */
	SLOT_FAKE_DUPLICATE, /* answer "prepared statement already exists" ourselves */
} SlotKind;

typedef struct Slot {
	SlotKind kind;
	PreparedStmt *stmt; /* SLOT_PARSE*: the statement being prepared */
	char *name;         /* a client's named Parse (owned): forgotten again if it fails */
} Slot;

struct ReplyQueue {
	Slot *slots;
	int head;
	int count;
	int cap;
};

static void queue_push(Server *s, SlotKind kind, PreparedStmt *stmt)
{
	ReplyQueue *q = s->replies;
	if (!q)
		q = s->replies = xcalloc(1, sizeof(*q));
	if (q->count == q->cap) {
		int cap = q->cap ? q->cap * 2 : 16;
		Slot *n = xmalloc(sizeof(Slot) * (size_t)cap);
		for (int i = 0; i < q->count; i++)
			n[i] = q->slots[(q->head + i) % q->cap];
		free(q->slots);
		q->slots = n;
		q->head = 0;
		q->cap = cap;
	}
	q->slots[(q->head + q->count) % q->cap] = (Slot){ kind, stmt, NULL };
	q->count++;
	if (stmt)
		stmt->refs++;
}

/* Remember the client name a queued Parse defines (the last slot pushed). */
static void queue_name_last(Server *s, const char *name)
{
	ReplyQueue *q = s->replies;
	q->slots[(q->head + q->count - 1) % q->cap].name = xstrdup(name);
}

static Slot *queue_head(Server *s)
{
	ReplyQueue *q = s->replies;
	return q && q->count ? &q->slots[q->head] : NULL;
}

static void queue_pop(Server *s)
{
	ReplyQueue *q = s->replies;
	Slot *h = &q->slots[q->head];
	if (h->stmt)
		stmt_unref(h->stmt);
	free(h->name);
	h->name = NULL;
	q->head = (q->head + 1) % q->cap;
	q->count--;
}

/* ---- sending ---- */

static void server_cache_add(Server *s, PreparedStmt *stmt);

static void put_server_name(PktBuf *pb, const PreparedStmt *stmt)
{
	char name[32];
	snprintf(name, sizeof(name), "pgsplit_%llu", (unsigned long long)stmt->id);
	pktbuf_put_cstring(pb, name);
}

/* Send a Parse of stmt under its server name; its reply is the client's or hidden. */
static void send_parse(Server *s, PreparedStmt *stmt, bool hidden)
{
	PktBuf pb;
	pktbuf_init(&pb, stmt->body_len + 32, 0);
	pktbuf_begin(&pb, PG_MSG_PARSE);
	put_server_name(&pb, stmt);
	pktbuf_put_bytes(&pb, stmt->body, stmt->body_len);
	pktbuf_end(&pb);
	sbuf_queue(&s->conn, pb.data, pb.len);
	pktbuf_free(&pb);
	queue_push(s, hidden ? SLOT_PARSE_HIDDEN : SLOT_PARSE, stmt);
	server_cache_add(s, stmt);
	s->pool->stats.total.server_parse_count++;
}

/* The server's cache: most recently used first; the oldest is closed past the limit. */
static void server_cache_add(Server *s, PreparedStmt *stmt)
{
	if (!s->stmts)
		s->stmts = map_new();
	map_put(s->stmts, NULL, stmt);
	int limit = rt.cfg->max_prepared_statements;
	while (limit > 0 && s->stmts->count > limit) {
		MapEntry *old = container_of(s->stmts->lru.prev, MapEntry, lru);
		PktBuf pb;
		pktbuf_init(&pb, 64, 0);
		pktbuf_begin(&pb, PG_MSG_CLOSE);
		pktbuf_put_u8(&pb, 'S');
		put_server_name(&pb, old->stmt);
		pktbuf_end(&pb);
		sbuf_queue(&s->conn, pb.data, pb.len);
		pktbuf_free(&pb);
		queue_push(s, SLOT_CLOSE_HIDDEN, NULL);
		map_remove(s->stmts, NULL, old->stmt);
	}
}

/* Make sure the server has stmt, marking it most recently used. */
static void ensure_on_server(Server *s, PreparedStmt *stmt)
{
	MapEntry *e = map_find(s->stmts, NULL, stmt);
	if (e) {
		list_del(&e->lru);
		list_prepend(&s->stmts->lru, &e->lru);
		return;
	}
	send_parse(s, stmt, true);
}

/* Re-send a client message with the statement name at `name_at` replaced. */
static void send_renamed(Server *s, const SbufMsg *msg, size_t name_at, const char *old_name, PreparedStmt *stmt)
{
	size_t after = name_at + strlen(old_name) + 1;
	PktBuf pb;
	pktbuf_init(&pb, msg->len + 32, 0);
	pktbuf_begin(&pb, msg->type);
	pktbuf_put_bytes(&pb, msg->data + 5, name_at - 5);
	put_server_name(&pb, stmt);
	pktbuf_put_bytes(&pb, msg->data + after, msg->len - after);
	pktbuf_end(&pb);
	sbuf_queue(&s->conn, pb.data, pb.len);
	pktbuf_free(&pb);
}

/*
 * A message too large to hold whole (e.g. a Bind with megabytes of parameters): send a
 * new head with the renamed statement and let sbuf stream the rest of the original.
 */
static SbufVerdict send_renamed_head(Client *c, Server *s, const SbufMsg *msg, size_t name_at, const char *old_name,
				     PreparedStmt *stmt)
{
	char server_name[32];
	size_t after = name_at + strlen(old_name) + 1;
	snprintf(server_name, sizeof(server_name), "pgsplit_%llu", (unsigned long long)stmt->id);
	uint32_t new_len = (uint32_t)(msg->len - 1 - strlen(old_name) + strlen(server_name));
	PktBuf pb;
	pktbuf_init(&pb, after + 32, 0);
	pktbuf_put_u8(&pb, msg->type);
	pktbuf_put_u32(&pb, new_len);
	pktbuf_put_bytes(&pb, msg->data + 5, name_at - 5);
	pktbuf_put_cstring(&pb, server_name);
	sbuf_queue(&s->conn, pb.data, pb.len);
	pktbuf_free(&pb);
	c->conn.drop_prefix = (uint32_t)after;
	return SB_FORWARD;
}

/* Emit the pooler's own replies that have reached the head of the queue. */
static void flush_fake_replies(Server *s, Client *c)
{
	Slot *h;
	while ((h = queue_head(s)) &&
	       (h->kind == SLOT_FAKE_PARSE || h->kind == SLOT_FAKE_CLOSE || h->kind == SLOT_FAKE_DUPLICATE)) {
		if (h->kind == SLOT_FAKE_DUPLICATE) {
			PktBuf pb;
			pktbuf_init(&pb, 128, 0);
			pktbuf_put_error_response(&pb, "ERROR", "42P05", "prepared statement already exists");
			sbuf_queue(&c->conn, pb.data, pb.len);
			pktbuf_free(&pb);
		} else {
			uint8_t msg[5] = { h->kind == SLOT_FAKE_PARSE ? '1' : '3', 0, 0, 0, 4 };
			sbuf_queue(&c->conn, msg, sizeof(msg));
		}
		queue_pop(s);
	}
}

/* ---- client side ---- */

bool prepared_enabled(const Client *c)
{
	return rt.cfg->max_prepared_statements > 0 && c->pool && pool_mode_of(c->pool) != POOL_MODE_SESSION;
}

static SbufVerdict client_parse(Client *c, Server *s, const SbufMsg *msg)
{
	PktReader r;
	const char *name;
	proto_reader_init(&r, msg->data + 5, msg->avail - 5);
	if (!proto_get_cstring(&r, &name)) {
		queue_push(s, SLOT_PARSE, NULL);
		return SB_FORWARD; /* malformed: let the server say so */
	}
	c->pool->stats.total.client_parse_count++;
	if (!*name) {
		queue_push(s, SLOT_PARSE, NULL);
		s->pool->stats.total.server_parse_count++;
		return SB_FORWARD;
	}
	if (msg->avail < msg->len) {
		client_close_error(c, SQLSTATE_PROGRAM_LIMIT_EXCEEDED,
				   "prepared statement text too large for the pooler to track");
		return SB_STOP;
	}
	if (map_find(c->stmts, name, NULL)) {
		/* as PostgreSQL: an error, and the rest of the batch is skipped up to Sync */
		queue_push(s, SLOT_FAKE_DUPLICATE, NULL);
		c->drop_to_sync = true;
		return SB_SKIP;
	}
	PreparedStmt *stmt = stmt_get(r.data + r.pos, (uint32_t)proto_remaining(&r));
	if (!c->stmts)
		c->stmts = map_new();
	map_put(c->stmts, name, stmt);
	if (map_find(s->stmts, NULL, stmt)) {
		ensure_on_server(s, stmt);
		queue_push(s, SLOT_FAKE_PARSE, NULL);
	} else {
		send_parse(s, stmt, false);
	}
	queue_name_last(s, name);
	return SB_CONSUMED;
}

/* Bind or Describe 'S': the statement name sits at `name_at`. */
static SbufVerdict client_uses_stmt(Client *c, Server *s, const SbufMsg *msg, size_t name_at, SlotKind kind)
{
	const char *name = (const char *)msg->data + name_at;
	if (name_at >= msg->avail || !memchr(name, 0, msg->avail - name_at)) {
		queue_push(s, kind, NULL);
		return SB_FORWARD;
	}
	MapEntry *e = *name ? map_find(c->stmts, name, NULL) : NULL;
	if (e)
		ensure_on_server(s, e->stmt); /* its Parse goes out (and is answered) first */
	queue_push(s, kind, NULL);
	if (!e)
		return SB_FORWARD; /* unnamed, or unknown: the server answers "does not exist" */
	if (msg->avail < msg->len)
		return send_renamed_head(c, s, msg, name_at, name, e->stmt);
	send_renamed(s, msg, name_at, name, e->stmt);
	return SB_CONSUMED;
}

static SbufVerdict client_bind(Client *c, Server *s, const SbufMsg *msg)
{
	/* a Bind too large to buffer arrives in parts: look only at what is here */
	const uint8_t *nul = msg->avail > 5 ? memchr(msg->data + 5, 0, msg->avail - 5) : NULL;
	if (!nul) {
		queue_push(s, SLOT_BIND, NULL);
		return SB_FORWARD;
	}
	c->pool->stats.total.bind_count++;
	return client_uses_stmt(c, s, msg, (size_t)(nul + 1 - msg->data), SLOT_BIND);
}

static SbufVerdict client_describe_or_close(Client *c, Server *s, const SbufMsg *msg)
{
	bool is_close = msg->type == PG_MSG_CLOSE;
	/*
	 * A real Describe or Close is a name; one too long to buffer is not, so it goes to
	 * the server as it is, which refuses it, rather than being read past its end here.
	 */
	if (msg->len < 7 || msg->avail < msg->len || msg->data[5] != 'S') {
		queue_push(s, is_close ? SLOT_CLOSE : SLOT_DESCRIBE_PORTAL, NULL);
		return SB_FORWARD;
	}
	if (!is_close)
		return client_uses_stmt(c, s, msg, 6, SLOT_DESCRIBE_STMT);
	const char *name = (const char *)msg->data + 6;
	if (!memchr(name, 0, msg->len - 6) || !*name) {
		queue_push(s, SLOT_CLOSE, NULL);
		return SB_FORWARD;
	}
	/* the shared statement stays in server caches; only the client's name goes */
	if (c->stmts)
		map_remove(c->stmts, name, NULL);
	queue_push(s, SLOT_FAKE_CLOSE, NULL);
	return SB_CONSUMED;
}

/* "DEALLOCATE [PREPARE] name": the name as the client knows it, or false. */
static bool parse_deallocate(const char *sql, size_t len, char *name, size_t name_len)
{
	const char *p = sql, *end = sql + len;
	while (p < end && isspace((unsigned char)*p))
		p++;
	if (end - p < 10 || strncasecmp(p, "DEALLOCATE", 10) != 0)
		return false;
	p += 10;
	while (p < end && isspace((unsigned char)*p))
		p++;
	if (end - p > 7 && strncasecmp(p, "PREPARE", 7) == 0 && isspace((unsigned char)p[7]))
		for (p += 7; p < end && isspace((unsigned char)*p);)
			p++;
	size_t n = 0;
	bool quoted = p < end && *p == '"';
	if (quoted)
		p++;
	while (p < end && n + 1 < name_len && (quoted ? *p != '"' : (isalnum((unsigned char)*p) || *p == '_')))
		name[n++] = *p++;
	name[n] = 0;
	if (quoted && p < end && *p == '"')
		p++;
	while (p < end && (isspace((unsigned char)*p) || *p == ';'))
		p++;
	return n > 0 && p == end && !(n == 3 && !quoted && strncasecmp(name, "ALL", 3) == 0);
}

/*
 * DEALLOCATE of a tracked statement: on a direct connection it drops the protocol-level
 * statement too. The server knows it by our name, so the query is rewritten to that.
 */
static SbufVerdict client_query(Client *c, Server *s, const SbufMsg *msg)
{
	char name[128], sql[192];
	const char *text = (const char *)msg->data + 5;
	const char *nul = msg->avail == msg->len && msg->len <= 512 ? memchr(text, 0, msg->len - 5) : NULL;
	MapEntry *e = NULL;
	if (nul && parse_deallocate(text, (size_t)(nul - text), name, sizeof(name)))
		e = map_find(c->stmts, name, NULL);
	if (!e) {
		queue_push(s, SLOT_QUERY, NULL);
		return SB_FORWARD;
	}
	PreparedStmt *stmt = e->stmt;
	stmt->refs++;
	map_remove(c->stmts, name, NULL);
	ensure_on_server(s, stmt); /* its Parse (if any) is answered before the Query */
	queue_push(s, SLOT_QUERY, NULL);
	snprintf(sql, sizeof(sql), "DEALLOCATE pgsplit_%llu", (unsigned long long)stmt->id);
	map_remove(s->stmts, NULL, stmt);
	stmt_unref(stmt);
	PktBuf pb;
	pktbuf_init(&pb, 64, 0);
	pktbuf_put_query(&pb, sql);
	sbuf_queue(&s->conn, pb.data, pb.len);
	pktbuf_free(&pb);
	return SB_CONSUMED;
}

SbufVerdict prepared_client_message(Client *c, Server *s, const SbufMsg *msg)
{
	switch (msg->type) {
	case PG_MSG_PARSE:
	case PG_MSG_BIND:
	case PG_MSG_DESCRIBE:
	case PG_MSG_CLOSE:
		if (msg->avail < msg->len && sbuf_can_hold(&c->conn, msg->len))
			return SB_NEED_FULL;
		break;
	default:
		break;
	}
	SbufVerdict v = SB_FORWARD;
	switch (msg->type) {
	case PG_MSG_PARSE:
		v = client_parse(c, s, msg);
		break;
	case PG_MSG_BIND:
		v = client_bind(c, s, msg);
		break;
	case PG_MSG_DESCRIBE:
	case PG_MSG_CLOSE:
		v = client_describe_or_close(c, s, msg);
		break;
	case PG_MSG_EXECUTE:
		queue_push(s, SLOT_EXECUTE, NULL);
		break;
	case PG_MSG_SYNC:
		queue_push(s, SLOT_SYNC, NULL);
		break;
	case PG_MSG_QUERY:
		v = client_query(c, s, msg);
		break;
	case PG_MSG_FUNCTION_CALL:
		queue_push(s, SLOT_QUERY, NULL);
		break;
	default:
		break; /* Flush, COPY data: no reply of their own */
	}
	flush_fake_replies(s, c);
	return v;
}

/* ---- server side ---- */

/* An error in the extended protocol: the server skips to Sync, and so do the replies. */
static void drop_until_sync(Server *s, Client *c)
{
	Slot *h;
	while ((h = queue_head(s)) && h->kind != SLOT_SYNC) {
		if ((h->kind == SLOT_PARSE || h->kind == SLOT_PARSE_HIDDEN) && h->stmt && s->stmts)
			map_remove(s->stmts, NULL, h->stmt);
		/* a failed or skipped Parse defines nothing on a direct connection either */
		if (h->name && c && c->stmts)
			map_remove(c->stmts, h->name, NULL);
		queue_pop(s);
	}
}

/* Does this reply finish the head slot? */
static bool finishes(SlotKind kind, uint8_t type)
{
	switch (kind) {
	case SLOT_PARSE:
	case SLOT_PARSE_HIDDEN:
		return type == '1';
	case SLOT_CLOSE_HIDDEN:
	case SLOT_CLOSE:
		return type == '3';
	case SLOT_BIND:
		return type == '2';
	case SLOT_DESCRIBE_STMT:
	case SLOT_DESCRIBE_PORTAL:
		return type == 'T' || type == 'n';
	case SLOT_EXECUTE:
		return type == 'C' || type == 'I' || type == 's';
	case SLOT_SYNC:
	case SLOT_QUERY:
		return type == 'Z';
	default:
		return false;
	}
}

static bool is_async(uint8_t type)
{
	return type == PG_MSG_NOTICE_RESPONSE || type == PG_MSG_NOTIFICATION || type == PG_MSG_PARAMETER_STATUS;
}

/* DISCARD ALL / DEALLOCATE ALL ran on the server: its statements are gone. */
static void note_command_complete(Server *s, Client *c, const SbufMsg *msg)
{
	const char *tag = (const char *)msg->data + 5;
	if (!memchr(tag, 0, msg->len - 5))
		return;
	if (strcmp(tag, "DISCARD ALL") == 0 || strcmp(tag, "DEALLOCATE ALL") == 0) {
		map_clear(s->stmts);
		if (c)
			map_clear(c->stmts);
	}
}

bool prepared_server_message(Server *s, Client *c, const SbufMsg *msg, SbufVerdict *v)
{
	Slot *h = queue_head(s);
	if (!h || is_async(msg->type))
		return false;
	if (msg->type == PG_MSG_ERROR_RESPONSE && h->kind != SLOT_QUERY) {
		drop_until_sync(s, c);
		return false;
	}
	if (msg->type == PG_MSG_COMMAND_COMPLETE) {
		if (msg->avail < msg->len) {
			*v = SB_NEED_FULL;
			return true;
		}
		note_command_complete(s, c, msg);
	}
	if (!finishes(h->kind, msg->type))
		return false;
	bool hidden = h->kind == SLOT_PARSE_HIDDEN || h->kind == SLOT_CLOSE_HIDDEN;
	if (msg->type == PG_MSG_READY_FOR_QUERY) {
		queue_pop(s);
		return false; /* the normal path forwards it and ends the transaction */
	}
	if (!hidden && msg->avail < msg->len) {
		*v = SB_NEED_FULL;
		return true;
	}
	queue_pop(s);
	if (hidden) {
		*v = SB_SKIP;
	} else {
		sbuf_queue(&c->conn, msg->data, msg->len);
		s->pool->stats.total.bytes_sent += msg->len;
		*v = SB_CONSUMED;
	}
	flush_fake_replies(s, c);
	return true;
}

void prepared_flush_due(Server *s, Client *c)
{
	if (s->replies && c)
		flush_fake_replies(s, c);
}

bool prepared_replies_pending(const Server *s)
{
	return s->replies && s->replies->count > 0;
}

void prepared_server_forget_all(Server *s)
{
	map_clear(s->stmts);
}

int prepared_statement_is_read(const Client *c, const char *name)
{
	MapEntry *e = map_find(c->stmts, name, NULL);
	return e ? e->stmt->read_only : -1;
}

int prepared_client_count(const Client *c)
{
	return c->stmts ? c->stmts->count : 0;
}

int prepared_server_count(const Server *s)
{
	return s->stmts ? s->stmts->count : 0;
}

void prepared_client_free(Client *c)
{
	map_free(c->stmts);
	c->stmts = NULL;
}

void prepared_server_free(Server *s)
{
	while (queue_head(s))
		queue_pop(s);
	if (s->replies) {
		free(s->replies->slots);
		free(s->replies);
		s->replies = NULL;
	}
	map_free(s->stmts);
	s->stmts = NULL;
}

void prepared_drop_query_slot(Server *s)
{
	Slot *h = queue_head(s);
	if (h && h->kind == SLOT_QUERY)
		queue_pop(s);
}

void prepared_note_query(Server *s)
{
	queue_push(s, SLOT_QUERY, NULL);
}
