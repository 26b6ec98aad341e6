/*
 * Query cancellation (see cancel.h). The requesting connection never gets an answer, as
 * with PostgreSQL: it is closed once the request was forwarded or found useless.
 */
#include "cancel.h"
#include "admin.h"
#include "client.h"
#include "log.h"
#include "peer.h"
#include "pktbuf.h"
#include "runtime.h"
#include "server.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the keys the pooler issues ---- */

#define CANCEL_HASH_SIZE 4096
static Client *cancel_hash[CANCEL_HASH_SIZE];

static unsigned cancel_slot(uint32_t pid, uint32_t key)
{
	return (pid * 2654435761u ^ key) % CANCEL_HASH_SIZE;
}

void cancel_key_issue(Client *c)
{
	do {
		if (RAND_bytes((unsigned char *)&c->cancel_pid, 4) != 1 ||
		    RAND_bytes((unsigned char *)&c->cancel_key, 4) != 1) {
			c->cancel_pid = (uint32_t)random();
			c->cancel_key = (uint32_t)random();
		}
		c->cancel_pid = peer_tag_cancel_pid(c->cancel_pid);
	} while (cancel_find_client(c->cancel_pid, c->cancel_key));
	unsigned slot = cancel_slot(c->cancel_pid, c->cancel_key);
	c->cancel_next = cancel_hash[slot];
	cancel_hash[slot] = c;
}

void cancel_key_forget(Client *c)
{
	Client **pp = &cancel_hash[cancel_slot(c->cancel_pid, c->cancel_key)];
	for (; *pp; pp = &(*pp)->cancel_next) {
		if (*pp == c) {
			*pp = c->cancel_next;
			return;
		}
	}
}

Client *cancel_find_client(uint32_t pid, uint32_t key)
{
	for (Client *c = cancel_hash[cancel_slot(pid, key)]; c; c = c->cancel_next)
		if (c->cancel_pid == pid && c->cancel_key == key && c->state != CL_CLOSED)
			return c;
	return NULL;
}

/* ---- a CancelRequest from a client ---- */

void cancel_handle_request(Client *requester, PktReader *r)
{
	uint32_t pid, key;
	if (!proto_get_u32(r, &pid) || !proto_get_u32(r, &key)) {
		client_close(requester, "bad cancel request");
		return;
	}
	Client *target = cancel_find_client(pid, key);
	if (target && target->is_admin) {
		admin_cancel(target);
	} else if (target && target->conn.link) {
		Server *s = (Server *)target->conn.link;
		log_client(LOG_LVL_DEBUG, target, "forwarding cancel request to S-%llu", (unsigned long long)s->conn.id);
		server_send_cancel(s);
	} else if (target && (target->state == CL_WAITING || target->route.causal_waiting)) {
		/* A direct connection would be running this batch: cancel it once it is sent. */
		log_client(LOG_LVL_DEBUG, target, "cancel request held until its batch reaches a server");
		target->cancel_on_send = true;
	} else if (!target) {
		(void)peer_forward_cancel(pid, key); /* another peer's key, or nobody's */
	}
	client_close(requester, "cancel request handled");
}

/* ---- the side connection ---- */

typedef struct SideConn {
	struct event ev;
	int fd;
	bool sent;
	CancelSendHooks hooks;
	uint8_t packet[16];
} SideConn;

static void side_done(SideConn *sc)
{
	if (sc->hooks.on_done)
		sc->hooks.on_done(sc->hooks.arg, sc->sent);
	event_del(&sc->ev);
	close(sc->fd);
	free(sc);
}

/* Writable: send the request; then readable (the other end closed) or timed out: done. */
static void side_event(evutil_socket_t fd, short what, void *arg)
{
	SideConn *sc = arg;
	if (sc->sent || !(what & EV_WRITE)) {
		side_done(sc);
		return;
	}
	if (send(fd, sc->packet, sizeof(sc->packet), MSG_NOSIGNAL) != (ssize_t)sizeof(sc->packet)) {
		log_debug("cancel request not sent: %s", strerror(errno));
		side_done(sc);
		return;
	}
	sc->sent = true;
	if (sc->hooks.on_sent)
		sc->hooks.on_sent(sc->hooks.arg);
	if (!sc->hooks.wait_for_close) {
		side_done(sc);
		return;
	}
	event_del(&sc->ev);
	usec_t wait = rt.cfg->cancel_wait_timeout > 0 ? rt.cfg->cancel_wait_timeout : 10 * USEC_PER_SEC;
	struct timeval tv = { (time_t)(wait / USEC_PER_SEC), (suseconds_t)(wait % USEC_PER_SEC) };
	event_assign(&sc->ev, rt.base, sc->fd, EV_READ, side_event, sc);
	event_add(&sc->ev, &tv);
}

bool cancel_send(const struct sockaddr_storage *addr, socklen_t len, uint32_t pid, uint32_t key,
		 const CancelSendHooks *hooks)
{
	int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || (connect(fd, (const struct sockaddr *)addr, len) < 0 && errno != EINPROGRESS)) {
		log_debug("cancel request not sent: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return false;
	}
	SideConn *sc = xcalloc(1, sizeof(*sc));
	sc->fd = fd;
	if (hooks)
		sc->hooks = *hooks;
	PktBuf pb;
	pktbuf_init(&pb, 16, 0);
	pktbuf_put_cancel_request(&pb, pid, key);
	memcpy(sc->packet, pb.data, sizeof(sc->packet));
	pktbuf_free(&pb);
	struct timeval tv = { 10, 0 };
	event_assign(&sc->ev, rt.base, fd, EV_WRITE, side_event, sc);
	event_add(&sc->ev, &tv);
	return true;
}
