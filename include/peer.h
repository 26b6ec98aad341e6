/*
 * Peering ([peers] and peer_id, as PgBouncer 1.19+): processes behind one address (a TCP
 * balancer, so_reuseport) share cancel requests. With peer_id set, the cancel keys this
 * process issues carry its id, and a CancelRequest for a key of another peer is sent on
 * to that peer. SHOW PEER_POOLS shows the forwards of each peer used so far.
 */
#ifndef PGSPLIT_PEER_H
#define PGSPLIT_PEER_H

#include "common.h"

typedef struct PeerPoolStats {
	int peer_id;
	int cl_active;  /* requests being forwarded */
	int sv_login;   /* forward connections still connecting */
	int sv_active;  /* forwards sent, waiting for the peer to close */
} PeerPoolStats;

/* A fresh cancel pid for a client: carries peer_id in bits 16-29 when peering is on. */
uint32_t peer_tag_cancel_pid(uint32_t random_pid);
/*
 * A key no local client has: forward it when it names another configured peer.
 * Returns true when it was taken (forwarded or being forwarded).
 */
bool peer_forward_cancel(uint32_t pid, uint32_t key);
/* The pools created so far (one per peer that received a forward), for SHOW PEER_POOLS. */
int peer_pool_count(void);
const PeerPoolStats *peer_pool_at(int i);

#endif
