/*
 * Cancel forwarding between peers (see peer.h). A forward is one side connection
 * (cancel_send): send the 16-byte CancelRequest, then wait (up to cancel_wait_timeout)
 * for the peer to close it, as a client's own cancel does. Peers are reached by address or Unix socket
 * directory; a host name is looked up with getaddrinfo only when its address is numeric,
 * since a blocking lookup would hold up every client.
 */
#include "peer.h"
#include "cancel.h"
#include "config.h"
#include "log.h"
#include "pktbuf.h"
#include "runtime.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define PEER_ID_SHIFT 16
#define PEER_ID_MASK 0x3fffu
#define MAX_PEER_POOLS 64

static PeerPoolStats pools[MAX_PEER_POOLS];
static int n_pools;


uint32_t peer_tag_cancel_pid(uint32_t random_pid)
{
	if (rt.cfg->peer_id <= 0)
		return random_pid & 0x7fffffffu;
	return ((uint32_t)rt.cfg->peer_id & PEER_ID_MASK) << PEER_ID_SHIFT | (random_pid & 0xffffu);
}

static PeerPoolStats *pool_for(int peer_id)
{
	for (int i = 0; i < n_pools; i++)
		if (pools[i].peer_id == peer_id)
			return &pools[i];
	if (n_pools == MAX_PEER_POOLS)
		return NULL;
	pools[n_pools] = (PeerPoolStats){ .peer_id = peer_id };
	return &pools[n_pools++];
}

int peer_pool_count(void)
{
	return n_pools;
}

const PeerPoolStats *peer_pool_at(int i)
{
	return i >= 0 && i < n_pools ? &pools[i] : NULL;
}

static const PeerDef *peer_find(int peer_id)
{
	for (const PeerDef *p = rt.cfg->peers; p; p = p->next)
		if (p->peer_id == peer_id)
			return p;
	return NULL;
}

/* The peer's address: a Unix socket (no host, or a directory) or a numeric address. */
static bool peer_address(const PeerDef *peer, struct sockaddr_storage *ss, socklen_t *len)
{
	int port = peer->port > 0 ? peer->port : 6432;
	memset(ss, 0, sizeof(*ss));
	if (!peer->host || peer->host[0] == '/') {
		struct sockaddr_un *un = (struct sockaddr_un *)ss;
		const char *dir = peer->host ? peer->host : rt.cfg->unix_socket_dir;
		un->sun_family = AF_UNIX;
		if (snprintf(un->sun_path, sizeof(un->sun_path), "%s/.s.PGSQL.%d", dir, port) >=
		    (int)sizeof(un->sun_path))
			return false;
		*len = sizeof(*un);
		return true;
	}
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	char port_text[16];
	const char *host = strcmp(peer->host, "localhost") == 0 ? "127.0.0.1" : peer->host;
	snprintf(port_text, sizeof(port_text), "%d", port);
	if (getaddrinfo(host, port_text, &hints, &res) != 0 || !res)
		return false;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return true;
}

/* SHOW PEER_POOLS counts of a forward: logging in until sent, then active until closed. */
static void forward_sent(void *arg)
{
	PeerPoolStats *st = pool_for((int)(intptr_t)arg);
	if (st) {
		st->sv_login--;
		st->sv_active++;
	}
}

static void forward_done(void *arg, bool sent)
{
	PeerPoolStats *st = pool_for((int)(intptr_t)arg);
	if (!st)
		return;
	st->cl_active--;
	if (sent)
		st->sv_active--;
	else
		st->sv_login--;
}

bool peer_forward_cancel(uint32_t pid, uint32_t key)
{
	if (rt.cfg->peer_id <= 0)
		return false;
	int peer_id = (int)((pid >> PEER_ID_SHIFT) & PEER_ID_MASK);
	const PeerDef *peer = peer_id != rt.cfg->peer_id ? peer_find(peer_id) : NULL;
	PeerPoolStats *st = peer ? pool_for(peer_id) : NULL;
	struct sockaddr_storage ss;
	socklen_t len;
	if (!st)
		return false;
	if (!peer_address(peer, &ss, &len)) {
		log_warning("cancel request for peer %d not forwarded: host must be an address or a "
			    "socket directory", peer_id);
		return false;
	}
	CancelSendHooks hooks = { forward_sent, forward_done, (void *)(intptr_t)peer_id, true };
	if (!cancel_send(&ss, len, pid, key, &hooks)) {
		log_warning("cancel request for peer %d not forwarded: %s", peer_id, strerror(errno));
		return false;
	}
	st->cl_active++;
	st->sv_login++;
	log_debug("forwarding a cancel request to peer %d", peer_id);
	return true;
}
