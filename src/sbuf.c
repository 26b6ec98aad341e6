/*
 * Stream buffer (see sbuf.h). The input queue holds at most buf_size bytes, except while
 * a handler waits for a whole message (SB_NEED_FULL), when it may grow to max_full_msg.
 * Forwarded bytes are appended to the linked connection's output queue and written at
 * once; a linked connection whose queue passes the high-water mark blocks its source
 * until it drains.
 * Buffers that idle connections give back are kept on a short spare list, so a busy
 * pool does not pay malloc and free for every transaction of every client.
 */
#include "sbuf.h"
#include "log.h"
#include "proto.h"
#include "tls.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct event_base *sbuf_base;
static size_t sbuf_buf_size = 16384;
static size_t sbuf_max_full = 1 << 20;
static int sbuf_loop_limit = 5; /* reads per wakeup of one connection; 0: no limit */
static List sweep_list = LIST_INIT(sweep_list);
static struct event *sweep_event;

#define SBUF_HIGH_WATER(c) (sbuf_buf_size * 4)

/* The first size of an output queue; input queues start at sbuf_buf_size. */
#define IOQ_FIRST_CAP 4096
/* Spares kept per size: enough for the connections that turn over between two trims. */
#define SPARE_MAX 64
#define SPARE_TRIM_USEC (USEC_PER_SEC)

/*
 * A stack of released buffers of one size. `low` is the fewest it held since the last
 * trim: that many were never needed in the interval, and the trim frees them, so an
 * idle pooler holds no spares while a busy one keeps what it turns over.
 */
typedef struct SpareStack {
	uint8_t *buf[SPARE_MAX];
	int count;
	int low;
	size_t cap;
} SpareStack;

static SpareStack spare_small = { .cap = IOQ_FIRST_CAP };
static SpareStack spare_input;
static struct event *spare_trim_event;

static void sbuf_on_read(evutil_socket_t fd, short what, void *arg);
static void sbuf_on_write(evutil_socket_t fd, short what, void *arg);
static void sbuf_process(Conn *c);
static bool must_block(Conn *c);
static void sbuf_unblock(Conn *c);

static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	sbuf_sweep();
}

static SpareStack *spare_stack_for(size_t cap)
{
	if (cap == spare_input.cap)
		return &spare_input;
	if (cap == spare_small.cap)
		return &spare_small;
	return NULL;
}

static uint8_t *spare_take(size_t cap)
{
	SpareStack *st = spare_stack_for(cap);
	if (!st || st->count == 0)
		return NULL;
	uint8_t *buf = st->buf[--st->count];
	if (st->count < st->low)
		st->low = st->count;
	return buf;
}

/* Keeps the buffer as a spare, or frees it when its size is not kept or the stack is full. */
static void spare_give(uint8_t *buf, size_t cap)
{
	SpareStack *st = spare_stack_for(cap);
	if (st && st->count < SPARE_MAX)
		st->buf[st->count++] = buf;
	else
		free(buf);
}

/* Free the spares not taken since the last trim. */
static void spare_trim(SpareStack *st)
{
	for (int i = 0; i < st->low; i++)
		free(st->buf[--st->count]);
	st->low = st->count;
}

static void spare_trim_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	spare_trim(&spare_small);
	spare_trim(&spare_input);
}

void sbuf_global_init(struct event_base *base, size_t buf_size, size_t max_full_msg)
{
	sbuf_base = base;
	sweep_event = evtimer_new(base, sweep_cb, NULL);
	spare_trim_event = event_new(base, -1, EV_PERSIST, spare_trim_cb, NULL);
	struct timeval tv = { SPARE_TRIM_USEC / USEC_PER_SEC, 0 };
	if (!sweep_event || !spare_trim_event || event_add(spare_trim_event, &tv) != 0) {
		log_fatal("cannot set up the buffer timers");
		abort();
	}
	sbuf_set_limits(buf_size, max_full_msg);
}

void sbuf_set_loop_limit(int reads_per_wakeup)
{
	sbuf_loop_limit = reads_per_wakeup < 0 ? 0 : reads_per_wakeup;
}

void sbuf_set_limits(size_t buf_size, size_t max_full_msg)
{
	sbuf_buf_size = buf_size < 4096 ? 4096 : buf_size;
	sbuf_max_full = max_full_msg < sbuf_buf_size ? sbuf_buf_size : max_full_msg;
	size_t input_cap = IOQ_FIRST_CAP;
	while (input_cap < sbuf_buf_size)
		input_cap *= 2; /* what ioq_reserve allocates for a fresh input queue */
	if (spare_input.cap != input_cap) {
		/* spares of the old input size would never be taken again */
		spare_input.low = spare_input.count;
		spare_trim(&spare_input);
		spare_input.cap = input_cap;
	}
}

static void ioq_reserve(IoQueue *q, size_t more)
{
	if (q->end + more <= q->cap)
		return;
	if (q->start > 0) {
		memmove(q->data, q->data + q->start, q->end - q->start);
		q->end -= q->start;
		q->start = 0;
		if (q->end + more <= q->cap)
			return;
	}
	size_t cap = q->cap ? q->cap : IOQ_FIRST_CAP;
	while (cap < q->end + more)
		cap *= 2;
	if (cap > IOQ_MAX) {
		/* the limits keep queues far below this; reaching it is a bug, not load */
		log_fatal("I/O queue would grow to %zu bytes", cap);
		abort();
	}
	uint8_t *spare = q->cap == 0 ? spare_take(cap) : NULL;
	q->data = spare ? spare : xrealloc(q->data, cap);
	q->cap = (uint32_t)cap;
}

static inline size_t ioq_len(const IoQueue *q)
{
	return q->end - q->start;
}

static void ioq_release(IoQueue *q)
{
	spare_give(q->data, q->cap);
	q->data = NULL;
	q->start = q->end = q->cap = 0;
}

/*
 * An idle client (no server linked, nothing buffered) gives its buffers back: thousands
 * of idle clients then cost little more than their structs. They come back on the
 * next read or send.
 */
static void sbuf_release_idle(Conn *c)
{
	if (c->kind != CONN_CLIENT || c->link || c->fwd_left || c->tls_handshaking)
		return;
	if (c->in.cap && ioq_len(&c->in) == 0)
		ioq_release(&c->in);
	if (c->out.cap && ioq_len(&c->out) == 0)
		ioq_release(&c->out);
}

static void ioq_consume(IoQueue *q, size_t n)
{
	q->start += (uint32_t)n;
	if (q->start == q->end)
		q->start = q->end = 0;
}

void sbuf_attach(Conn *c, int fd, ConnKind kind, const SbufOps *ops)
{
	c->fd = fd;
	c->kind = kind;
	c->ops = ops;
	list_init(&c->sweep_node);
	event_assign(&c->ev_read, sbuf_base, fd, EV_READ | EV_PERSIST, sbuf_on_read, c);
	if (c->ev_write)
		event_free(c->ev_write);
	c->ev_write = NULL;
	c->write_armed = false;
}

void sbuf_set_addr(Conn *c, const struct sockaddr *sa, socklen_t len)
{
	memset(&c->addr, 0, sizeof(c->addr));
	if (len > 0 && (size_t)len <= sizeof(c->addr) && sa->sa_family != AF_UNIX) {
		memcpy(&c->addr, sa, len);
		c->addr_len = len;
		return;
	}
	c->addr.sa.sa_family = len > 0 ? sa->sa_family : AF_UNSPEC;
	c->addr_len = len > 0 ? (socklen_t)sizeof(sa_family_t) : 0;
}

/*
 * A paused plain-TCP connection stays watched until input actually arrives: a client
 * queued for a server almost never sends anything meanwhile, so this saves two
 * epoll_ctl calls per wait. TLS connections stop at once (their reads are not
 * repeatable the way a socket's EOF is).
 */
static bool paused_stops_reading(const Conn *c)
{
	return c->paused && (c->tls || c->paused_full);
}

static void update_read_event(Conn *c)
{
	bool want = !c->closing && !paused_stops_reading(c) && !c->blocked && !c->suspended;
	if (want == c->read_armed)
		return;
	if (want)
		event_add(&c->ev_read, NULL);
	else
		event_del(&c->ev_read);
	c->read_armed = want;
}

void sbuf_start_reading(Conn *c)
{
	c->paused = false;
	c->paused_full = false;
	update_read_event(c);
}

void sbuf_queue(Conn *c, const void *data, size_t len)
{
	if (c->closing || len == 0)
		return;
	ioq_reserve(&c->out, len);
	memcpy(c->out.data + c->out.end, data, len);
	c->out.end += (uint32_t)len;
}

static void set_write_armed(Conn *c, bool want)
{
	if (want == c->write_armed)
		return;
	if (want && !c->ev_write) {
		c->ev_write = event_new(sbuf_base, c->fd, EV_WRITE | EV_PERSIST, sbuf_on_write, c);
		if (!c->ev_write) {
			log_fatal("out of memory for a write event");
			abort();
		}
	}
	if (want)
		event_add(c->ev_write, NULL);
	else
		event_del(c->ev_write);
	c->write_armed = want;
}

/* Write what the socket takes. Returns false when the connection failed (handled). */
static bool sbuf_try_write(Conn *c)
{
	while (ioq_len(&c->out) > 0) {
		ssize_t n;
		if (c->tls) {
			TlsIo st;
			n = tls_write(c->tls, c->out.data + c->out.start, ioq_len(&c->out), &st);
			if (n <= 0 && (st == TLS_IO_WANT_WRITE || st == TLS_IO_WANT_READ))
				break;
			if (n <= 0) {
				c->out.start = c->out.end = 0;
				c->ops->on_eof(c, tls_conn_error(c->tls));
				return false;
			}
		} else {
			n = send(c->fd, c->out.data + c->out.start, ioq_len(&c->out), MSG_NOSIGNAL);
		}
		if (n > 0) {
			c->bytes_sent += (uint64_t)n;
			ioq_consume(&c->out, (size_t)n);
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0 && errno == EINTR)
			continue;
		c->out.start = c->out.end = 0;
		c->ops->on_eof(c, n < 0 ? strerror(errno) : "send returned 0");
		return false;
	}
	set_write_armed(c, ioq_len(&c->out) > 0);
	return true;
}

void sbuf_flush(Conn *c)
{
	if (c->closing)
		return;
	bool was_full = ioq_len(&c->out) >= SBUF_HIGH_WATER(c);
	if (!sbuf_try_write(c) || c->closing)
		return;
	if (ioq_len(&c->out) == 0 || (was_full && ioq_len(&c->out) < SBUF_HIGH_WATER(c))) {
		if (c->ops->on_drained)
			c->ops->on_drained(c);
		if (!c->closing && c->blocked)
			sbuf_unblock(c);
	}
	if (!c->closing && !c->processing)
		sbuf_release_idle(c);
}

static void sbuf_tls_step(Conn *c);

static void sbuf_on_write(evutil_socket_t fd, short what, void *arg)
{
	Conn *c = arg;
	(void)fd;
	(void)what;
	if (c->tls_handshaking) {
		sbuf_tls_step(c);
		return;
	}
	sbuf_flush(c);
}

/* Its own output drained: read the connection again unless something else still stops it. */
static void sbuf_unblock(Conn *c)
{
	if (c->processing || must_block(c))
		return; /* a running loop re-checks by itself */
	c->blocked = false;
	if (!c->paused && !c->suspended)
		sbuf_process(c);
	if (!c->closing)
		update_read_event(c);
}

void sbuf_pause(Conn *c)
{
	c->paused = true;
	update_read_event(c);
}

void sbuf_resume(Conn *c)
{
	if (c->closing)
		return;
	c->paused = false;
	c->paused_full = false;
	c->blocked = false;
	sbuf_process(c);
	if (!c->closing)
		update_read_event(c);
}

void sbuf_suspend(Conn *c, bool on)
{
	if (c->closing || c->suspended == on)
		return;
	c->suspended = on;
	update_read_event(c);
	if (!on && !c->paused)
		sbuf_process(c);
}

void sbuf_kick(Conn *c)
{
	if (!c->closing && !c->paused)
		sbuf_resume(c);
}

void sbuf_unread(Conn *c, const void *data, size_t len)
{
	size_t have = ioq_len(&c->in);
	if (c->in.start >= len) {
		c->in.start -= (uint32_t)len;
	} else {
		ioq_reserve(&c->in, len); /* leaves room for len more bytes after end */
		memmove(c->in.data + c->in.start + len, c->in.data + c->in.start, have);
		c->in.end += (uint32_t)len;
	}
	memcpy(c->in.data + c->in.start, data, len);
}

uint64_t sbuf_input_position(const Conn *c)
{
	return c->bytes_recv - ioq_len(&c->in);
}

void sbuf_rewind(Conn *c, const void *data, size_t len)
{
	c->fwd_left = 0; /* its rest is still buffered, behind the bytes put back */
	c->fwd_drop = false;
	c->drop_prefix = 0;
	sbuf_unread(c, data, len);
}

void sbuf_consume_current(Conn *c, size_t n)
{
	ioq_consume(&c->in, n <= ioq_len(&c->in) ? n : ioq_len(&c->in));
}

void sbuf_peek(const Conn *c, const uint8_t **data, size_t *len)
{
	*data = c->in.data + c->in.start;
	*len = ioq_len(&c->in);
}

size_t sbuf_pending_input(const Conn *c)
{
	return ioq_len(&c->in);
}

bool sbuf_can_hold(const Conn *c, uint32_t len)
{
	(void)c;
	return len <= sbuf_max_full;
}

/* Parse the header at the front of the input. False when more bytes are needed. */
static bool read_header(Conn *c, SbufMsg *m, const char **bad)
{
	size_t avail = ioq_len(&c->in);
	if (avail < (c->startup ? 4u : 5u))
		return false; /* also: an idle client's released buffer is NULL */
	const uint8_t *p = c->in.data + c->in.start;
	if (c->startup) {
		m->type = 0;
		m->len = proto_read_be32(p);
		if (m->len < 8 || m->len > 10000)
			*bad = "bad startup packet length";
	} else {
		m->type = p[0];
		uint32_t body = proto_read_be32(p + 1);
		if (body < 4 || body > 0x7ffffff0u)
			*bad = "bad packet length";
		m->len = body + 1;
	}
	m->data = p;
	m->avail = avail < m->len ? avail : m->len;
	return true;
}

/* Stream or drop the rest of the current message. */
static void sbuf_move_body(Conn *c)
{
	size_t n = ioq_len(&c->in);
	if (n > c->fwd_left)
		n = c->fwd_left;
	if (!c->fwd_drop && c->link)
		sbuf_queue(c->link, c->in.data + c->in.start, n);
	ioq_consume(&c->in, n);
	c->fwd_left -= (uint32_t)n;
}

/* Make room for a whole message of len bytes; false if it can never fit. */
static bool sbuf_make_room(Conn *c, uint32_t len)
{
	if (len > sbuf_max_full && len > sbuf_buf_size)
		return false;
	if (c->in.cap - c->in.start < len)
		ioq_reserve(&c->in, len - ioq_len(&c->in));
	return true;
}

/* The linked connection's output queue is past its high-water mark. */
static bool link_full(Conn *c)
{
	return c->link && ioq_len(&c->link->out) >= SBUF_HIGH_WATER(c);
}

/*
 * A client that does not read what it is sent (replies relayed from a server, or the
 * pooler's own: console views, errors, SET answers) is not read either until its
 * output drains, so that no client can make the pooler queue without limit. A server
 * is always read: PostgreSQL stops reading while its own output is blocked, so not
 * reading it in turn would deadlock.
 */
static bool self_full(const Conn *c)
{
	return c->kind == CONN_CLIENT && ioq_len(&c->out) >= SBUF_HIGH_WATER(c);
}

static bool must_block(Conn *c)
{
	return link_full(c) || self_full(c);
}

static void sbuf_process_loop(Conn *c);

/* Handlers may resume their own connection; the running loop then simply continues. */
static void sbuf_process(Conn *c)
{
	if (c->processing)
		return;
	c->processing = true;
	sbuf_process_loop(c);
	c->processing = false;
}

/* Why the message loop stopped: only a stop that was lifted meanwhile warrants another turn. */
typedef enum { STOP_NO_INPUT, STOP_BLOCKED, STOP_PAUSED, STOP_WAITING } LoopStop;

/* Run the handler over buffered messages until input runs out or something stops it. */
static LoopStop sbuf_run_messages(Conn *c, bool *gone)
{
	*gone = false;
	while (!c->closing && !c->paused && !c->suspended) {
		if (c->fwd_left) {
			if (ioq_len(&c->in) == 0)
				return STOP_NO_INPUT;
			if (!c->fwd_drop && link_full(c)) {
				c->blocked = true; /* a large message goes on in pieces as the linked connection drains */
				return STOP_BLOCKED;
			}
			sbuf_move_body(c);
			continue;
		}
		if (must_block(c)) {
			c->blocked = true;
			return STOP_BLOCKED;
		}
		SbufMsg m;
		const char *bad = NULL;
		if (!read_header(c, &m, &bad))
			return STOP_NO_INPUT;
		if (bad) {
			c->ops->on_eof(c, bad);
			*gone = true;
			return STOP_NO_INPUT;
		}
		SbufVerdict v = c->ops->on_message(c, &m);
		switch (v) {
		case SB_FORWARD:
		case SB_SKIP:
			c->fwd_left = m.len;
			c->fwd_drop = (v == SB_SKIP);
			if (v == SB_FORWARD && c->drop_prefix && c->drop_prefix <= ioq_len(&c->in)) {
				ioq_consume(&c->in, c->drop_prefix);
				c->fwd_left -= c->drop_prefix;
			}
			c->drop_prefix = 0;
			break;
		case SB_CONSUMED:
			ioq_consume(&c->in, m.len);
			break;
		case SB_NEED_FULL:
			if (!sbuf_make_room(c, m.len)) {
				c->ops->on_eof(c, "message too large");
				*gone = true;
			}
			return STOP_WAITING;
		case SB_PAUSE:
			c->paused = true;
			return STOP_PAUSED;
		case SB_WAIT_MORE:
			if (c->in.cap - c->in.end < 4096)
				ioq_reserve(&c->in, 4096);
			return STOP_WAITING;
		case SB_STOP:
			*gone = true;
			return STOP_NO_INPUT;
		}
	}
	return c->paused ? STOP_PAUSED : STOP_NO_INPUT;
}

static void sbuf_process_loop(Conn *c)
{
	for (;;) {
		bool gone;
		LoopStop why = sbuf_run_messages(c, &gone);
		if (gone || c->closing)
			return;
		if (c->link && !c->link->closing && ioq_len(&c->link->out) > 0)
			sbuf_flush(c->link);
		if (!c->closing && ioq_len(&c->out) > 0)
			sbuf_flush(c);
		if (c->closing)
			return;
		if (c->blocked && !must_block(c))
			c->blocked = false;
		/* flushing may have drained the linked connection or resumed us: then go on with
		 * what is buffered */
		bool lifted = (why == STOP_BLOCKED && !c->blocked) || (why == STOP_PAUSED && !c->paused);
		if (lifted && !c->suspended && ioq_len(&c->in) > 0)
			continue;
		update_read_event(c);
		sbuf_release_idle(c);
		return;
	}
}

/* One read from the socket or the TLS layer: > 0 bytes, 0 = try later, -1 = gone. */
static ssize_t sbuf_read_some(Conn *c, const char **eof_reason)
{
	ssize_t n;
	if (c->tls) {
		TlsIo st;
		n = tls_read(c->tls, c->in.data + c->in.end, c->in.cap - c->in.end, &st);
		if (n > 0)
			return n;
		if (st == TLS_IO_WANT_READ || st == TLS_IO_WANT_WRITE)
			return 0;
		*eof_reason = st == TLS_IO_OK ? "client closed connection" : tls_conn_error(c->tls);
		return -1;
	}
	n = recv(c->fd, c->in.data + c->in.end, c->in.cap - c->in.end, 0);
	if (n > 0)
		return n;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	*eof_reason = n == 0 ? "client closed connection" : strerror(errno);
	return -1;
}

/*
 * One read appended to the input buffer: > 0 bytes, 0 = try later, -1 = gone. *filled
 * says whether it took all the room there was, so the socket may hold more.
 */
static ssize_t sbuf_fill_input(Conn *c, const char **eof_reason, bool *filled)
{
	if (c->in.cap - c->in.end < 1024)
		ioq_reserve(&c->in, c->in.cap ? 1024 : sbuf_buf_size);
	size_t room = c->in.cap - c->in.end;
	ssize_t n = sbuf_read_some(c, eof_reason);
	if (n > 0) {
		c->in.end += (uint32_t)n;
		c->bytes_recv += (uint64_t)n;
	}
	*filled = n > 0 && (size_t)n >= room;
	return n;
}

/*
 * Input while paused: buffer one read, unprocessed, and stop watching until resumed.
 * EOF and errors stay in the socket and are seen again once reading resumes.
 */
static void sbuf_read_while_paused(Conn *c)
{
	const char *why = NULL;
	bool filled;
	if (sbuf_fill_input(c, &why, &filled) == 0)
		return;
	c->paused_full = true;
	update_read_event(c);
}

/* Whether reading on within one wakeup is allowed: nothing stopped the connection. */
static bool may_read_again(const Conn *c)
{
	return !c->closing && c->read_armed && !c->paused && !c->blocked && !c->suspended &&
	       !c->tls_handshaking;
}

static void sbuf_on_read(evutil_socket_t fd, short what, void *arg)
{
	Conn *c = arg;
	(void)fd;
	(void)what;
	if (c->closing)
		return;
	if (c->tls_handshaking) {
		sbuf_tls_step(c);
		return;
	}
	/* direct TLS (PostgreSQL 17 sslnegotiation=direct): look at the first byte only */
	if (c->startup && c->bytes_recv == 0 && !c->tls && c->ops->on_tls_hello) {
		uint8_t first;
		if (recv(c->fd, &first, 1, MSG_PEEK) == 1 && first == 0x16) {
			c->ops->on_tls_hello(c);
			return;
		}
	}
	if (c->paused) {
		sbuf_read_while_paused(c);
		return;
	}
	for (int round = 1;; round++) {
		const char *why = NULL;
		bool filled;
		ssize_t n = sbuf_fill_input(c, &why, &filled);
		if (n < 0) {
			c->ops->on_eof(c, why);
			return;
		}
		if (n == 0)
			return;
		/* TLS may hold decrypted bytes the socket no longer signals; a plain read that
		 * did not fill the room emptied the socket */
		bool more = c->tls ? tls_pending(c->tls) > 0 : filled;
		sbuf_process(c);
		if (!more || !may_read_again(c))
			return;
		if (sbuf_loop_limit > 0 && round >= sbuf_loop_limit) {
			/* the socket signals its bytes again; TLS's decrypted ones need a nudge */
			if (c->tls)
				event_active(&c->ev_read, EV_READ, 0);
			return;
		}
	}
}

static void sbuf_tls_step(Conn *c)
{
	TlsIo st = tls_handshake(c->tls);
	switch (st) {
	case TLS_IO_OK:
		c->tls_handshaking = false;
		set_write_armed(c, ioq_len(&c->out) > 0);
		update_read_event(c);
		if (c->ops->on_tls_ready)
			c->ops->on_tls_ready(c);
		if (!c->closing && tls_pending(c->tls) > 0)
			sbuf_on_read(c->fd, EV_READ, c);
		return;
	case TLS_IO_WANT_WRITE:
		set_write_armed(c, true);
		return;
	case TLS_IO_WANT_READ:
		set_write_armed(c, false);
		return;
	default: {
		char why[256];
		/* tls_conn_error() already says it was the handshake */
		snprintf(why, sizeof(why), "%s", tls_conn_error(c->tls));
		c->ops->on_eof(c, why);
		return;
	}
	}
}

bool sbuf_start_tls_client(Conn *c, SSL_CTX *ctx, const char *host)
{
	c->tls = tls_conn_new(ctx, c->fd, false);
	if (!c->tls || !tls_conn_set_server_hostname(c->tls, host ? host : ""))
		return false;
	c->tls_handshaking = true;
	sbuf_tls_step(c);
	return true;
}

void sbuf_start_tls(Conn *c, SSL_CTX *ctx)
{
	c->tls = tls_conn_new(ctx, c->fd, true);
	if (!c->tls) {
		c->ops->on_eof(c, "could not start TLS");
		return;
	}
	c->tls_handshaking = true;
	sbuf_tls_step(c);
}

void sbuf_close(Conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	/* also one-shot events used before sbuf took over the fd (connect, SSL answer) */
	if (event_initialized(&c->ev_read))
		event_del(&c->ev_read);
	if (c->ev_write) {
		event_free(c->ev_write);
		c->ev_write = NULL;
	}
	c->read_armed = c->write_armed = false;
	if (c->tls) {
		tls_conn_free(c->tls);
		c->tls = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	list_append(&sweep_list, &c->sweep_node);
	if (sweep_event)
		event_active(sweep_event, EV_TIMEOUT, 0);
}

void sbuf_sweep(void)
{
	List *item;
	while ((item = list_pop(&sweep_list)) != NULL) {
		Conn *c = container_of(item, Conn, sweep_node);
		ioq_release(&c->in);
		ioq_release(&c->out);
		if (c->free_fn)
			c->free_fn(c);
	}
}

long long conn_age_seconds(const Conn *conn)
{
	if (!conn->connect_time)
		return 0;
	return (long long)((time_now_wall() - conn->connect_time) / USEC_PER_SEC);
}

void conn_local_addr(const Conn *conn, char *buf, size_t len, int *port)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char serv[16];
	*port = 0;
	snprintf(buf, len, "%s", "");
	if (conn->fd < 0 || getsockname(conn->fd, (struct sockaddr *)&ss, &sl) < 0)
		return;
	if (ss.ss_family == AF_UNIX)
		snprintf(buf, len, "unix");
	else if (getnameinfo((struct sockaddr *)&ss, sl, buf, (socklen_t)len, serv, sizeof(serv),
			     NI_NUMERICHOST | NI_NUMERICSERV) == 0)
		*port = atoi(serv);
}
