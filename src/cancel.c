/*
 * CancelRequest handling (see cancel.h). The requesting connection never gets an answer,
 * as with PostgreSQL: it is closed once the request was forwarded or found useless. A key
 * of another peer goes to that peer (peer.c).
 */
#include "cancel.h"
#include "admin.h"
#include "client.h"
#include "log.h"
#include "peer.h"
#include "server.h"

void cancel_handle_request(Client *requester, PktReader *r)
{
	uint32_t pid, key;
	if (!proto_get_u32(r, &pid) || !proto_get_u32(r, &key)) {
		client_close(requester, "bad cancel request");
		return;
	}
	Client *target = client_find_by_cancel_key(pid, key);
	if (target && target->is_admin) {
		admin_cancel(target);
	} else if (target && target->conn.link) {
		Server *s = (Server *)target->conn.link;
		log_client(LOG_LVL_DEBUG, target, "forwarding cancel request to S-%llu",
			  (unsigned long long)s->conn.id);
		server_send_cancel(s);
	} else if (target && (target->state == CL_WAITING || target->route.causal_waiting)) {
		/* A direct connection would be running this batch: cancel it once it is sent. */
		log_debug("C-%llu: cancel request held until its batch reaches a server",
			  (unsigned long long)target->conn.id);
		target->cancel_on_send = true;
	} else if (!target) {
		(void)peer_forward_cancel(pid, key); /* another peer's key, or nobody's */
	}
	client_close(requester, "cancel request handled");
}
