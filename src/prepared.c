/*
 * Prepared statements in transaction pooling (see prepared.h).
 */
#include "prepared.h"
#include "client_route.h"
#include "rerun.h"
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
#include <stdlib.h>
#include <string.h>

#define SQLSTATE_DUPLICATE_PSTATEMENT "42P05"
/* DEALLOCATE of a client's statement runs on this throwaway server statement */
#define DEALLOC_TARGET "pgsplit_dealloc"
#define DEALLOC_SQL_MAX PROTO_SHORT_QUERY_MAX /* a longer Query or Parse is not looked at for DEALLOCATE */
#define DEALLOC_NAME_MAX 128

/* ---- shared statements, deduplicated by the text of their Parse ---- */

struct PreparedStmt {
	uint64_t id;           /* server-side name pgsplit_<id> */
	uint64_t hash;
	uint8_t *body;         /* Parse body after the name: query, parameter types */
	uint32_t body_len;
	int refs;              /* client names and server caches pointing here */
	ClassifyResult cls;    /* the classifier's verdict on the query, for the router */
	PreparedStmt *next;    /* hash chain */
};

#define STMT_BUCKETS 4096
static PreparedStmt *stmt_table[STMT_BUCKETS];
static uint64_t next_stmt_id;
/* Counts client Parses: orders names against server copies (MapEntry.seq) */
static uint64_t parse_seq;

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
	classify_sql(rt.classify_cfg, (const char *)body, nul ? (size_t)(nul - body) : len, &s->cls);
	/* a configured write function's reason text lives only as long as that config */
	s->cls.reason = classify_verdict_name(s->cls.verdict);
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
	/*
	 * Ordering against DDL the pooler cannot see. A client name: parse_seq when the
	 * client's Parse (or a restore) defined it. A server copy: parse_seq when its Parse
	 * was sent, 0 when it may predate any name (restored after a skipped Close). A copy is used for a name only when copy seq >= name seq: it was
	 * analysed after the client's Parse, so after any DDL the client had seen by then.
	 */
	uint64_t seq;
	/*
	 * The result columns (names, types, typmods) as the server described them: for a
	 * client name, those of the copy its Parse made, which the client may have cached;
	 * for a server copy, its own. 0 until known. A name whose copy has other columns was
	 * prepared before DDL changed them: PostgreSQL refuses such a statement with 0A000
	 * on a direct connection, and so does the pooler (stale).
	 */
	uint64_t shape;
	bool stale;
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

static MapEntry *map_put(StmtMap *m, const char *name, PreparedStmt *stmt)
{
	if (m->count >= m->n_buckets * 2)
		map_grow(m);
	MapEntry **slot = map_slot(m, name, stmt);
	MapEntry *e = *slot;
	if (e) {
		stmt->refs++;
		stmt_unref(e->stmt);
		e->stmt = stmt;
		return e;
	}
	e = xcalloc(1, sizeof(*e));
	e->name = name ? xstrdup(name) : NULL;
	e->stmt = stmt;
	stmt->refs++;
	list_prepend(&m->lru, &e->lru);
	*slot = e;
	m->count++;
	return e;
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
	SLOT_CLOSE_HIDDEN,  /* injected Close (cache eviction, DEALLOCATE's target) */
	SLOT_BIND,
	SLOT_DESCRIBE_STMT, /* ParameterDescription, then RowDescription or NoData */
	SLOT_DESCRIBE_HIDDEN, /* injected Describe of a copy: its columns are the shape */
	SLOT_DESCRIBE_PORTAL,
	SLOT_EXECUTE,
	SLOT_CLOSE,
	SLOT_SYNC,
	SLOT_QUERY,         /* simple Query or FunctionCall: everything up to ReadyForQuery */
	SLOT_FAKE_CLOSE,    /* answer CloseComplete ourselves */
	SLOT_FAKE_DUPLICATE, /* answer "prepared statement already exists" ourselves */
	SLOT_BIND_STALE,    /* a stale name's Bind, sent to fail: its error becomes 0A000 */
} SlotKind;

/*
 * What sending a message changed in the pooler's view. The view is what the server and
 * the client's names will be once every message sent so far has run. A server that
 * refuses a message skips the rest of the batch up to Sync, so the effects of the
 * refused and skipped messages are taken back, newest first.
 */
enum {
	EFFECT_SERVER_ADD = 1,  /* stmt entered the server's cache (a Parse) */
	EFFECT_SERVER_DROP = 2, /* stmt left the server's cache (an eviction Close) */
	EFFECT_NAME_ADD = 4,    /* the client's name now means stmt */
	EFFECT_NAME_DROP = 8,   /* the client's name, meaning stmt, is gone (Close, DEALLOCATE) */
};

typedef struct Slot {
	SlotKind kind;
	uint8_t effects;
	bool resumes_client; /* SLOT_DESCRIBE_HIDDEN: the client waits for it (shape_wait) */
	PreparedStmt *stmt; /* the statement the effects are about (a reference) */
	char *name;         /* the client's name the effects are about (owned) */
	uint64_t name_seq;  /* SLOT_DESCRIBE_HIDDEN: that name's seq, if it gets the shape */
} Slot;

struct ReplyQueue {
	Slot *slots;
	int head;
	int count;
	int cap;    /* a power of two */
	int n_fake; /* SLOT_FAKE_* slots queued: replies the pooler still owes itself */
	/*
	 * The server refused an extended-protocol message before the client's Sync was sent:
	 * it discards every message up to that Sync, so nothing sent meanwhile is tracked.
	 */
	bool skipping_to_sync;
};

/*
 * Replies a server may owe one client before the client is read again: a client that
 * sends without reading (a flood of Parse + Close) would otherwise grow the queue, and
 * the replies behind it, by what the server has not yet answered. The client waits
 * until the server has answered down to QUEUE_RESUME, as a server that stops reading
 * would make it wait.
 */
#define QUEUE_PAUSE 4096
#define QUEUE_RESUME 2048

static bool slot_is_fake(SlotKind kind)
{
	return kind == SLOT_FAKE_CLOSE || kind == SLOT_FAKE_DUPLICATE;
}

static Slot *queue_at(ReplyQueue *q, int i)
{
	return &q->slots[(q->head + i) & (q->cap - 1)];
}

/* Room for one more slot: the ring doubles (rarely; servers keep their queue). */
static ReplyQueue *queue_make_room(Server *s)
{
	ReplyQueue *q = s->replies;
	if (!q)
		q = s->replies = xcalloc(1, sizeof(*q));
	if (q->count < q->cap)
		return q;
	int cap = q->cap ? q->cap * 2 : 16;
	Slot *n = xmalloc(sizeof(Slot) * (size_t)cap);
	for (int i = 0; i < q->count; i++)
		n[i] = *queue_at(q, i);
	free(q->slots);
	q->slots = n;
	q->head = 0;
	q->cap = cap;
	return q;
}

/* Queue a reply owed for a message; the slot stays valid until the next push. */
static inline Slot *queue_push(Server *s, SlotKind kind, PreparedStmt *stmt)
{
	ReplyQueue *q = s->replies;
	if (!q || q->count == q->cap)
		q = queue_make_room(s);
	Slot *sl = queue_at(q, q->count);
	*sl = (Slot){ kind, 0, false, stmt, NULL, 0 };
	q->count++;
	if (slot_is_fake(kind))
		q->n_fake++;
	if (stmt)
		stmt->refs++;
	return sl;
}

static void slot_note(Slot *sl, uint8_t effects, const char *name)
{
	sl->effects = effects;
	if (name)
		sl->name = xstrdup(name);
}

static Slot *queue_head(Server *s)
{
	ReplyQueue *q = s->replies;
	return q && q->count ? &q->slots[q->head] : NULL;
}

static inline void queue_pop(Server *s)
{
	ReplyQueue *q = s->replies;
	Slot *h = &q->slots[q->head];
	if (slot_is_fake(h->kind))
		q->n_fake--;
	if (h->resumes_client && s->conn.link) {
		Client *c = (Client *)s->conn.link;
		c->shape_wait = false;
		sbuf_resume(&c->conn); /* its Bind is looked at again */
	}
	if (h->stmt)
		stmt_unref(h->stmt);
	if (h->name) {
		free(h->name);
		h->name = NULL;
	}
	q->head = (q->head + 1) & (q->cap - 1);
	q->count--;
	if (q->count <= QUEUE_RESUME && s->conn.link && ((Client *)s->conn.link)->queue_wait) {
		Client *c = (Client *)s->conn.link;
		c->queue_wait = false;
		sbuf_resume(&c->conn); /* last: its messages may push onto this queue */
	}
}

/* ---- effects on the view ---- */

/*
 * Into the server's cache, as most recently used or (put back) least recently used;
 * seq as MapEntry says: 0 when the pooler cannot tell when the server analysed it.
 */
static void cache_put(Server *s, PreparedStmt *stmt, bool least_recent, uint64_t seq)
{
	if (!s->stmts)
		s->stmts = map_new();
	MapEntry *e = map_put(s->stmts, NULL, stmt);
	e->seq = seq;
	if (least_recent) {
		list_del(&e->lru);
		list_append(&s->stmts->lru, &e->lru);
	}
}

/* A name defined now: only server copies analysed from now on may serve it. */
static MapEntry *names_put(Client *c, const char *name, PreparedStmt *stmt)
{
	if (!c->stmts)
		c->stmts = map_new();
	MapEntry *e = map_put(c->stmts, name, stmt);
	e->seq = ++parse_seq;
	return e;
}

/* Apply a slot's effects (again) or take them back. */
static void slot_effects(Server *s, Client *c, const Slot *sl, bool undo)
{
	if (sl->effects & (EFFECT_SERVER_ADD | EFFECT_SERVER_DROP)) {
		if (((sl->effects & EFFECT_SERVER_ADD) != 0) != undo)
			cache_put(s, sl->stmt, undo, 0);
		else if (s->stmts)
			map_remove(s->stmts, NULL, sl->stmt);
	}
	if (c && sl->name && (sl->effects & (EFFECT_NAME_ADD | EFFECT_NAME_DROP))) {
		if (((sl->effects & EFFECT_NAME_ADD) != 0) != undo)
			names_put(c, sl->name, sl->stmt);
		else if (c->stmts)
			map_remove(c->stmts, sl->name, NULL);
	}
}

/*
 * The server skipped the head and everything after it up to Sync. With no Sync sent
 * yet, it goes on skipping whatever the client sends until its Sync arrives.
 */
static void undo_to_sync(Server *s, Client *c)
{
	ReplyQueue *q = s->replies;
	int n = 0;
	while (n < q->count && queue_at(q, n)->kind != SLOT_SYNC)
		n++;
	for (int i = n - 1; i >= 0; i--)
		slot_effects(s, c, queue_at(q, i), true);
	q->skipping_to_sync = n == q->count;
	while (n-- > 0)
		queue_pop(s);
}

/* ---- sending ---- */

static void server_cache_add(Server *s, PreparedStmt *stmt);
static void close_on_server(Server *s, PreparedStmt *stmt);

/* The name the servers know stmt by. */
static void server_stmt_name(const PreparedStmt *stmt, char *buf, size_t len)
{
	snprintf(buf, len, "pgsplit_%llu", (unsigned long long)stmt->id);
}

static void put_server_name(PktBuf *pb, const PreparedStmt *stmt)
{
	char name[32];
	server_stmt_name(stmt, name, sizeof(name));
	pktbuf_put_cstring(pb, name);
}

/* Send a Parse of stmt under its server name: the client's Parse of `name`, or hidden. */
static void send_parse(Server *s, PreparedStmt *stmt, const char *name)
{
	PktBuf pb;
	pktbuf_init(&pb, stmt->body_len + 32, 0);
	pktbuf_begin(&pb, PG_MSG_PARSE);
	put_server_name(&pb, stmt);
	pktbuf_put_bytes(&pb, stmt->body, stmt->body_len);
	pktbuf_end(&pb);
	sbuf_queue(&s->conn, pb.data, pb.len);
	pktbuf_free(&pb);
	Slot *sl = queue_push(s, name ? SLOT_PARSE : SLOT_PARSE_HIDDEN, stmt);
	slot_note(sl, name ? EFFECT_SERVER_ADD | EFFECT_NAME_ADD : EFFECT_SERVER_ADD, name);
	server_cache_add(s, stmt);
	s->pool->stats.total.server_parse_count++;
}

/* A Describe or Close of the server statement `server_name`. */
static void put_stmt_message(PktBuf *pb, uint8_t type, const char *server_name)
{
	pktbuf_begin(pb, type);
	pktbuf_put_u8(pb, 'S');
	pktbuf_put_cstring(pb, server_name);
	pktbuf_end(pb);
}

/*
 * A hidden Describe of stmt's copy: its columns become the copy's shape, and the shape
 * of the client name defined at name_seq if given. With `wait`, a Flush makes the
 * server answer now, and the client (paused) is looked at again once it has.
 */
static void send_describe_hidden(Server *s, PreparedStmt *stmt, const char *name, uint64_t name_seq, bool wait)
{
	char server_name[32];
	PktBuf pb;
	server_stmt_name(stmt, server_name, sizeof(server_name));
	pktbuf_init(&pb, 64, 0);
	put_stmt_message(&pb, PG_MSG_DESCRIBE, server_name);
	if (wait) {
		pktbuf_begin(&pb, PG_MSG_FLUSH);
		pktbuf_end(&pb);
	}
	sbuf_queue(&s->conn, pb.data, pb.len);
	pktbuf_free(&pb);
	Slot *sl = queue_push(s, SLOT_DESCRIBE_HIDDEN, stmt);
	slot_note(sl, 0, name);
	sl->name_seq = name_seq;
	sl->resumes_client = wait;
}

static void send_close(Server *s, const char *server_name)
{
	PktBuf pb;
	pktbuf_init(&pb, 64, 0);
	put_stmt_message(&pb, PG_MSG_CLOSE, server_name);
	sbuf_queue(&s->conn, pb.data, pb.len);
	pktbuf_free(&pb);
}

/*
 * The server's cache: most recently used first; the oldest is closed past the limit.
 * It leaves the view at once (a Bind later in the batch must prepare it again) and
 * comes back if the server skips the Close.
 */
static void server_cache_add(Server *s, PreparedStmt *stmt)
{
	cache_put(s, stmt, false, parse_seq);
	int limit = rt.cfg->max_prepared_statements;
	while (limit > 0 && s->stmts->count > limit) {
		close_on_server(s, container_of(s->stmts->lru.prev, MapEntry, lru)->stmt);
		s->pool->db->ps_cache_evictions++;
	}
}

/* A hidden Close of stmt; it leaves the view now and comes back if the server skips it. */
static void close_on_server(Server *s, PreparedStmt *stmt)
{
	char name[32];
	server_stmt_name(stmt, name, sizeof(name));
	send_close(s, name);
	slot_note(queue_push(s, SLOT_CLOSE_HIDDEN, stmt), EFFECT_SERVER_DROP, NULL);
	map_remove(s->stmts, NULL, stmt);
}

/*
 * Make sure the server has stmt as analysed no earlier than the name defined at
 * name_seq, marking it most recently used. An older copy may predate DDL the client
 * saw (a column's new type, a table made again): it is closed and prepared again,
 * which the name's first use on each server costs at most once.
 */
static MapEntry *ensure_on_server(Server *s, PreparedStmt *stmt, uint64_t name_seq)
{
	MapEntry *e = map_find(s->stmts, NULL, stmt);
	if (e && e->seq >= name_seq) {
		list_del(&e->lru);
		list_prepend(&s->stmts->lru, &e->lru);
		s->pool->db->ps_cache_hits++;
		return e;
	}
	if (e)
		close_on_server(s, stmt);
	send_parse(s, stmt, NULL);
	return map_find(s->stmts, NULL, stmt);
}

/* Re-send a client message with the statement name at `name_at` replaced by `server_name`. */
static void send_renamed(Server *s, const SbufMsg *msg, size_t name_at, const char *old_name, const char *server_name)
{
	size_t after = name_at + strlen(old_name) + 1;
	PktBuf pb;
	pktbuf_init(&pb, msg->len + 32, 0);
	pktbuf_begin(&pb, msg->type);
	pktbuf_put_bytes(&pb, msg->data + 5, name_at - 5);
	pktbuf_put_cstring(&pb, server_name);
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
	server_stmt_name(stmt, server_name, sizeof(server_name));
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
	if (!s->replies || !s->replies->n_fake)
		return; /* the common case: nothing of the pooler's own is owed */
	while ((h = queue_head(s)) && slot_is_fake(h->kind)) {
		if (h->kind == SLOT_FAKE_DUPLICATE) {
			PktBuf pb;
			pktbuf_init(&pb, 128, 0);
			pktbuf_put_error_response(&pb, "ERROR", SQLSTATE_DUPLICATE_PSTATEMENT,
						  "prepared statement already exists");
			server_deliver(s, c, pb.data, pb.len);
			pktbuf_free(&pb);
		} else {
			uint8_t msg[5] = { '3', 0, 0, 0, 4 }; /* CloseComplete */
			server_deliver(s, c, msg, sizeof(msg));
		}
		queue_pop(s);
	}
}

/* ---- DEALLOCATE name ---- */

static const char *skip_space(const char *p, const char *end)
{
	while (p < end && isspace((unsigned char)*p))
		p++;
	return p;
}

static bool ident_char(char ch, bool first)
{
	unsigned char u = (unsigned char)ch;
	return isalpha(u) || u == '_' || u >= 0x80 || (!first && (isdigit(u) || u == '$'));
}

/* One SQL identifier as PostgreSQL reads it: unquoted folds to lower case, "" is ". */
static bool read_ident(const char **pp, const char *end, char *out, size_t cap, bool *quoted)
{
	const char *p = *pp;
	size_t n = 0;
	*quoted = p < end && *p == '"';
	if (*quoted) {
		for (p++;; p++) {
			if (p >= end)
				return false;
			if (*p == '"' && !(p + 1 < end && p[1] == '"'))
				break;
			if (*p == '"')
				p++;
			if (n + 1 >= cap)
				return false;
			out[n++] = *p;
		}
		p++;
	} else {
		for (; p < end && ident_char(*p, n == 0); p++) {
			if (n + 1 >= cap)
				return false;
			out[n++] = (char)tolower((unsigned char)*p);
		}
	}
	out[n] = 0;
	*pp = p;
	return n > 0;
}

/*
 * "DEALLOCATE [PREPARE] name" alone (trailing ';' allowed): the name, or false.
 * DEALLOCATE ALL is left to the server: its command tag clears everything.
 */
static bool parse_deallocate(const char *sql, size_t len, char *name, size_t cap)
{
	const char *p = skip_space(sql, sql + len), *end = sql + len;
	bool quoted;
	if (!read_ident(&p, end, name, cap, &quoted) || quoted || strcmp(name, "deallocate") != 0)
		return false;
	p = skip_space(p, end);
	if (!read_ident(&p, end, name, cap, &quoted))
		return false;
	p = skip_space(p, end);
	/* "DEALLOCATE prepare" names a statement called prepare */
	if (!quoted && strcmp(name, "prepare") == 0 && p < end && *p != ';') {
		if (!read_ident(&p, end, name, cap, &quoted))
			return false;
	}
	while (p < end && (isspace((unsigned char)*p) || *p == ';'))
		p++;
	return p == end && (quoted || strcmp(name, "all") != 0);
}

/* The client's tracked statement a DEALLOCATE text (not NUL-terminated) names, or NULL. */
static MapEntry *dealloc_entry(Client *c, const char *sql, size_t len, char *name, size_t cap)
{
	if (!c->stmts || !parse_deallocate(sql, len, name, cap))
		return NULL;
	return map_find(c->stmts, name, NULL);
}

/*
 * The server knows the client's statement by a shared name other clients may still
 * use, and may not have it at all: DEALLOCATE runs on a throwaway statement instead,
 * closed and prepared (empty, so it cannot fail, even in an aborted transaction) just
 * before. The server's answer is then a direct connection's, 25P02 included.
 */
static void send_dealloc_target(Server *s)
{
	send_close(s, DEALLOC_TARGET);
	queue_push(s, SLOT_CLOSE_HIDDEN, NULL);
	PktBuf pb;
	pktbuf_init(&pb, 64, 0);
	pktbuf_begin(&pb, PG_MSG_PARSE);
	pktbuf_put_cstring(&pb, DEALLOC_TARGET);
	pktbuf_put_cstring(&pb, "");
	pktbuf_put_u16(&pb, 0);
	pktbuf_end(&pb);
	sbuf_queue(&s->conn, pb.data, pb.len);
	pktbuf_free(&pb);
	queue_push(s, SLOT_PARSE_HIDDEN, NULL);
}

/* The client's name goes with the message in `kind`'s slot, and comes back if it fails. */
static void drop_name(Client *c, Server *s, SlotKind kind, MapEntry *e, const char *name)
{
	slot_note(queue_push(s, kind, e->stmt), EFFECT_NAME_DROP, name);
	map_remove(c->stmts, name, NULL);
}

/* ---- client side ---- */

bool prepared_enabled(const Client *c)
{
	return rt.cfg->max_prepared_statements > 0 && c->pool && pool_mode_of(c->pool) != POOL_MODE_SESSION;
}

/* An unnamed Parse of "DEALLOCATE name" (what psycopg sends): the throwaway's name instead. */
static SbufVerdict client_parse_unnamed(Client *c, Server *s, const SbufMsg *msg, PktReader *r)
{
	const char *query;
	char name[DEALLOC_NAME_MAX];
	MapEntry *e = NULL;
	s->pool->stats.total.server_parse_count++;
	if (c->stmts && c->stmts->count && msg->avail == msg->len && msg->len <= DEALLOC_SQL_MAX &&
	    proto_get_cstring(r, &query))
		e = dealloc_entry(c, query, strlen(query), name, sizeof(name));
	if (!e) {
		queue_push(s, SLOT_PARSE, NULL);
		return SB_FORWARD;
	}
	send_dealloc_target(s);
	PktBuf pb;
	pktbuf_init(&pb, 64 + proto_remaining(r), 0);
	pktbuf_begin(&pb, PG_MSG_PARSE);
	pktbuf_put_cstring(&pb, "");
	pktbuf_put_cstring(&pb, "DEALLOCATE " DEALLOC_TARGET);
	pktbuf_put_bytes(&pb, r->data + r->pos, proto_remaining(r));
	pktbuf_end(&pb);
	sbuf_queue(&s->conn, pb.data, pb.len);
	pktbuf_free(&pb);
	drop_name(c, s, SLOT_PARSE, e, name);
	return SB_CONSUMED;
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
	if (!*name)
		return client_parse_unnamed(c, s, msg, &r);
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
	uint64_t name_seq = names_put(c, name, stmt)->seq;
	/*
	 * The server's copy, if any, was analysed before this Parse, perhaps before DDL
	 * that changed its result type: prepared again, as a direct connection would.
	 */
	if (map_find(s->stmts, NULL, stmt))
		close_on_server(s, stmt);
	send_parse(s, stmt, name);
	send_describe_hidden(s, stmt, name, name_seq, false);
	return SB_CONSUMED;
}

/*
 * The Bind of a stale name goes to the server under a name it does not have, so that it
 * fails there and the server skips the rest of the batch and aborts the transaction, as
 * for a direct connection; its error reaches the client as PostgreSQL's 0A000.
 */
#define STALE_TARGET "pgsplit_stale"

static SbufVerdict send_stale_bind(Server *s, const SbufMsg *msg, size_t name_at, const char *name)
{
	send_renamed(s, msg, name_at, name, STALE_TARGET);
	queue_push(s, SLOT_BIND_STALE, NULL);
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
	MapEntry *copy = e ? ensure_on_server(s, e->stmt, e->seq) : NULL; /* its Parse goes first */
	if (kind == SLOT_BIND && e && copy && e->shape && msg->avail == msg->len) {
		if (!copy->shape) {
			/* a copy the client never saw described: learn its columns before the Bind */
			send_describe_hidden(s, e->stmt, NULL, 0, true);
			sbuf_flush(&s->conn);
			c->shape_wait = true;
			return SB_PAUSE;
		}
		if (copy->shape != e->shape)
			e->stale = true;
		if (e->stale)
			return send_stale_bind(s, msg, name_at, name);
	}
	queue_push(s, kind, NULL);
	if (!e)
		return SB_FORWARD; /* unnamed, or unknown: the server answers "does not exist" */
	if (msg->avail < msg->len)
		return send_renamed_head(c, s, msg, name_at, name, e->stmt);
	char server_name[32];
	server_stmt_name(e->stmt, server_name, sizeof(server_name));
	send_renamed(s, msg, name_at, name, server_name);
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
	MapEntry *e = map_find(c->stmts, name, NULL);
	if (e)
		drop_name(c, s, SLOT_FAKE_CLOSE, e, name);
	else
		queue_push(s, SLOT_FAKE_CLOSE, NULL); /* an unknown name: no error, as PostgreSQL */
	return SB_CONSUMED;
}

/* DEALLOCATE of a tracked statement: on a direct connection it drops that statement. */
static SbufVerdict client_query(Client *c, Server *s, const SbufMsg *msg)
{
	char name[DEALLOC_NAME_MAX];
	const char *text = (const char *)msg->data + 5;
	const char *nul = msg->avail == msg->len && msg->len <= DEALLOC_SQL_MAX ? memchr(text, 0, msg->len - 5) : NULL;
	MapEntry *e = nul ? dealloc_entry(c, text, (size_t)(nul - text), name, sizeof(name)) : NULL;
	if (!e) {
		queue_push(s, SLOT_QUERY, NULL);
		return SB_FORWARD;
	}
	send_dealloc_target(s);
	PktBuf pb;
	pktbuf_init(&pb, 64, 0);
	pktbuf_put_query(&pb, "DEALLOCATE " DEALLOC_TARGET);
	sbuf_queue(&s->conn, pb.data, pb.len);
	pktbuf_free(&pb);
	drop_name(c, s, SLOT_QUERY, e, name);
	return SB_CONSUMED;
}

/*
 * Too many replies owed: the client waits. A Flush makes the server send what it holds
 * back until the client's own Flush or Sync, which the client cannot send meanwhile.
 */
static bool queue_throttle(Client *c, Server *s)
{
	static const uint8_t flush_msg[5] = { PG_MSG_FLUSH, 0, 0, 0, 4 };
	if (!s->replies || s->replies->count < QUEUE_PAUSE)
		return false;
	if (!s->in_copy) {
		sbuf_queue(&s->conn, flush_msg, sizeof(flush_msg));
		sbuf_flush(&s->conn);
	}
	c->queue_wait = true;
	return true;
}

SbufVerdict prepared_client_message(Client *c, Server *s, const SbufMsg *msg)
{
	if (queue_throttle(c, s))
		return SB_PAUSE; /* queue_pop resumes it */
	if (s->replies && s->replies->skipping_to_sync) {
		if (msg->type != PG_MSG_SYNC)
			return SB_FORWARD; /* the server discards it unseen: it changes nothing, owes nothing */
		s->replies->skipping_to_sync = false;
	}
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

/*
 * The server refused the head's message. In a simple Query only that message fails;
 * in the extended protocol the server skips everything up to Sync, and so do the
 * replies. A Parse refused with 42P05 found the statement there already: it stays.
 */
static void server_refused(Server *s, Client *c, const SbufMsg *msg)
{
	Slot *h = queue_head(s);
	const char *code = msg->avail == msg->len ? proto_error_field(msg->data + 5, msg->len - 5, 'C') : NULL;
	if (code && strcmp(code, SQLSTATE_DUPLICATE_PSTATEMENT) == 0)
		h->effects &= (uint8_t)~EFFECT_SERVER_ADD;
	if (h->kind == SLOT_QUERY) {
		slot_effects(s, c, h, true);
		h->effects = 0;
		return;
	}
	undo_to_sync(s, c);
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
	case SLOT_DESCRIBE_HIDDEN:
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

/*
 * DISCARD ALL / DEALLOCATE ALL ran on the server: its statements and the client's names
 * are gone. Messages queued behind it run afterwards, so their effects stand.
 */
static void note_command_complete(Server *s, Client *c, const SbufMsg *msg)
{
	const char *tag = (const char *)msg->data + 5;
	if (msg->len < 5 + sizeof("DISCARD ALL") || tag[0] != 'D' || !memchr(tag, 0, msg->len - 5))
		return;
	if (strcmp(tag, "DISCARD ALL") != 0 && strcmp(tag, "DEALLOCATE ALL") != 0)
		return;
	map_clear(s->stmts);
	if (c)
		map_clear(c->stmts);
	for (int i = 1; i < s->replies->count; i++)
		slot_effects(s, c, queue_at(s->replies, i), false);
}

/* Would one of the pooler's own replies be due once the head's reply is out? */
static bool fake_due_after_head(Server *s)
{
	ReplyQueue *q = s->replies;
	return q->n_fake > 0 && q->count > 1 && slot_is_fake(queue_at(q, 1)->kind);
}

#define SHAPE_NO_DATA 1 /* a statement that returns no rows */

/*
 * The result columns of a RowDescription as one number: names, types, typmods (what
 * PostgreSQL compares before it refuses a plan whose result changed); 0 if malformed.
 */
static uint64_t row_shape(const uint8_t *body, size_t len)
{
	PktReader r;
	uint16_t n;
	uint64_t h = 1469598103934665603ULL;
	proto_reader_init(&r, body, len);
	if (!proto_get_u16(&r, &n))
		return 0;
	for (uint16_t i = 0; i < n; i++) {
		const char *name;
		const uint8_t *fields;
		if (!proto_get_cstring(&r, &name) || !proto_get_bytes(&r, 18, &fields))
			return 0;
		h = (h ^ hash_bytes(name, strlen(name))) * 1099511628211ULL;
		h = (h ^ hash_bytes(fields + 6, 10)) * 1099511628211ULL; /* type, length, typmod */
	}
	return h > SHAPE_NO_DATA ? h : h + 2;
}

/* The hidden Describe answered: record the copy's shape (and its name's, after a Parse). */
static void note_shape(Server *s, Client *c, const Slot *h, const SbufMsg *msg)
{
	uint64_t shape = msg->type == PG_MSG_NO_DATA ? SHAPE_NO_DATA : row_shape(msg->data + 5, msg->len - 5);
	MapEntry *copy = map_find(s->stmts, NULL, h->stmt);
	if (copy)
		copy->shape = shape;
	MapEntry *name = c && h->name ? map_find(c->stmts, h->name, NULL) : NULL;
	if (name && name->stmt == h->stmt && name->seq == h->name_seq && !name->shape)
		name->shape = shape;
}

/* A hidden Describe's replies: its ParameterDescription, then its columns. */
static bool hidden_describe_reply(Server *s, Client *c, const SbufMsg *msg, SbufVerdict *v)
{
	if (msg->type == PG_MSG_PARAMETER_DESCRIPTION) {
		*v = SB_SKIP;
		return true;
	}
	if (msg->type != PG_MSG_ROW_DESCRIPTION && msg->type != PG_MSG_NO_DATA)
		return false;
	if (msg->avail < msg->len) {
		if (sbuf_can_hold(&s->conn, msg->len)) {
			*v = SB_NEED_FULL;
			return true;
		}
	} else {
		note_shape(s, c, queue_head(s), msg);
	}
	queue_pop(s);
	*v = SB_SKIP;
	if (c)
		flush_fake_replies(s, c);
	return true;
}

/*
 * PostgreSQL's error for a statement whose result type changed, field for field as far
 * as drivers look: pgjdbc prepares the statement again and retries only when the
 * routine field says RevalidateCachedQuery (with the code and text alone it gave the
 * error to the application where a direct connection healed).
 */
static void put_cached_plan_error(PktBuf *pb)
{
	static const char *const fields[][2] = {
		{ "S", "ERROR" },
		{ "V", "ERROR" },
		{ "C", SQLSTATE_FEATURE_NOT_SUPPORTED },
		{ "M", "cached plan must not change result type" },
		{ "F", "plancache.c" },
		{ "R", "RevalidateCachedQuery" },
	};
	pktbuf_begin(pb, PG_MSG_ERROR_RESPONSE);
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		pktbuf_put_u8(pb, (uint8_t)fields[i][0][0]);
		pktbuf_put_cstring(pb, fields[i][1]);
	}
	pktbuf_put_u8(pb, 0);
	pktbuf_end(pb);
}

/* The stale name's Bind failed as meant: the client gets what PostgreSQL says then. */
static void stale_bind_refused(Server *s, Client *c, const SbufMsg *msg)
{
	PktBuf pb;
	pktbuf_init(&pb, 128, 0);
	put_cached_plan_error(&pb);
	server_deliver(s, c, pb.data, pb.len);
	pktbuf_free(&pb);
	server_refused(s, c, msg);
}

bool prepared_server_message(Server *s, Client *c, const SbufMsg *msg, SbufVerdict *v)
{
	Slot *h = queue_head(s);
	/* DataRow, the bulk of most replies, neither finishes a slot nor fails */
	if (!h || msg->type == PG_MSG_DATA_ROW || is_async(msg->type))
		return false;
	if (h->kind == SLOT_DESCRIBE_HIDDEN && hidden_describe_reply(s, c, msg, v))
		return true;
	if (msg->type == PG_MSG_ERROR_RESPONSE || msg->type == PG_MSG_COMMAND_COMPLETE) {
		if (msg->avail < msg->len && sbuf_can_hold(&s->conn, msg->len)) {
			*v = SB_NEED_FULL;
			return true;
		}
		if (msg->type == PG_MSG_ERROR_RESPONSE && h->kind == SLOT_BIND_STALE && c) {
			stale_bind_refused(s, c, msg);
			*v = SB_CONSUMED;
			return true;
		}
		if (msg->type == PG_MSG_ERROR_RESPONSE) {
			server_refused(s, c, msg);
			return false; /* the client sees the error */
		}
		if (msg->avail == msg->len)
			note_command_complete(s, c, msg);
	}
	if (!finishes(h->kind, msg->type))
		return false;
	bool hidden = h->kind == SLOT_PARSE_HIDDEN || h->kind == SLOT_CLOSE_HIDDEN;
	if (msg->type == PG_MSG_READY_FOR_QUERY) {
		queue_pop(s);
		return false; /* the normal path forwards it and ends the transaction */
	}
	if (!hidden && !fake_due_after_head(s)) {
		queue_pop(s);
		return false; /* nothing of ours follows it: the normal path forwards it */
	}
	if (!hidden && msg->avail < msg->len) {
		*v = SB_NEED_FULL;
		return true;
	}
	queue_pop(s);
	if (hidden) {
		*v = SB_SKIP;
	} else {
		server_deliver(s, c, msg->data, msg->len);
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

void prepared_forget_client_name(Client *c, const char *name)
{
	if (c->stmts)
		map_remove(c->stmts, name, NULL);
}

const ClassifyResult *prepared_statement_class(const Client *c, const char *name)
{
	MapEntry *e = map_find(c->stmts, name, NULL);
	return e ? &e->stmt->cls : NULL;
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
