/*
 * Read-your-writes at the edges of a transaction (see causal.h): the floor a write
 * leaves, and the causal token in both directions (pgsplit.last_write_lsn to the
 * client, SET pgsplit.min_lsn from it).
 */
#include "causal.h"
#include "lsn.h"
#include "monitor.h"
#include "pg_wire.h"
#include "pktbuf.h"
#include "proto.h"
#include "registry.h"
#include "ryw.h"
#include "server.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* ---- a write ended: its floor, and the token that names it ---- */

static RywState *ryw_scope(Client *c, const RywSettings *set)
{
	return set->scope == RYW_SCOPE_USER ? &c->pool->ryw : &c->route.ryw;
}

/*
 * The token the client holds no longer covers its writes: it is emptied right after the
 * write's ReadyForQuery, so a client never hands on a token older than its last write
 * while the new one (sent once the write's floor is known) is still coming.
 */
static void clear_token(Client *c)
{
	PktBuf pb;
	pktbuf_init(&pb, 40, 0);
	pktbuf_put_parameter_status(&pb, "pgsplit.last_write_lsn", "");
	sbuf_queue(&c->conn, pb.data, pb.len);
	pktbuf_free(&pb);
}

/*
 * A write transaction ended on the primary: open the window, and in lsn mode ask for an
 * early primary check, whose position becomes the scope's floor (no query on this
 * connection, no round trip for the client; writes close together share one check).
 */
void causal_note_write_end(Server *s, Client *c, usec_t now)
{
	RywSettings set;
	Database *db = c->pool->db;
	c->route.xact_is_write = false;
	if (s->pool->replica || db->n_replicas == 0)
		return;
	ryw_settings(db, &set);
	if (set.mode == RYW_OFF)
		return;
	ryw_note_write(ryw_scope(c, &set), &set, now);
	if (set.mode != RYW_LSN)
		return;
	c->route.token_write_at = now;
	clear_token(c);
	monitor_want_primary_check(db);
}

/* The causal token: once the floor of the client's last write is known, tell the client. */
void causal_send_token_if_known(Client *c)
{
	uint64_t lsn;
	if (!monitor_floor_after(c->pool->db, c->route.token_write_at, &lsn))
		return;
	c->route.token_write_at = 0;
	char text[32];
	PktBuf pb;
	lsn_format(lsn, text, sizeof(text));
	pktbuf_init(&pb, 64, 0);
	pktbuf_put_parameter_status(&pb, "pgsplit.last_write_lsn", text);
	sbuf_queue(&c->conn, pb.data, pb.len);
	pktbuf_free(&pb);
}

/* ---- the token coming back: SET pgsplit.min_lsn = 'X/Y' ---- */

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

void causal_set_token(Client *c, uint64_t lsn)
{
	c->route.token_floor = lsn;
	c->route.token_epoch = c->pool ? c->pool->db->primary_epoch : 0;
}

bool causal_intercept_set(Client *c, const SbufMsg *msg)
{
	uint64_t lsn;
	if (msg->type != PG_MSG_QUERY || msg->avail < msg->len || msg->len > PROTO_SHORT_QUERY_MAX)
		return false;
	const char *sql = (const char *)msg->data + 5;
	const char *end = memchr(sql, 0, msg->len - 5);
	/* every Query passes here: reject anything not starting with SET before searching it */
	if (!end || !match_word(skip_space(sql, end), end, "SET") ||
	    !memmem(sql, (size_t)(end - sql), "min_lsn", 7))
		return false;
	if (!parse_min_lsn_set(sql, end, &lsn))
		return false;
	causal_set_token(c, lsn);
	PktBuf pb;
	pktbuf_init(&pb, 32, 0);
	pktbuf_put_command_complete(&pb, "SET");
	pktbuf_put_ready_for_query(&pb, 'I');
	sbuf_queue(&c->conn, pb.data, pb.len);
	pktbuf_free(&pb);
	return true;
}
