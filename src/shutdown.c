/*
 * Shutdown (see shutdown.h). The waiting modes only set flags the listener, the client
 * login and the maintenance timer honour; shutdown_tick() decides when the process exits.
 */
#include "shutdown.h"
#include "client.h"
#include "listener.h"
#include "log.h"
#include "pg_wire.h"
#include "runtime.h"
#include "sdnotify.h"

#include <event2/event.h>
#include <string.h>

static void shutdown_begin(bool wait_for_clients)
{
	if (!rt.shutting_down)
		sdnotify_stopping(); /* systemd: the service is on its way down */
	rt.shutting_down = true;
	rt.shutdown_wait_clients = wait_for_clients;
	listener_close_tcp();
}

/* A client that asks for a server while the pooler waits for its servers to go. */
static Client *first_queued_client(void)
{
	List *it;
	list_for_each(it, &rt.clients)
	{
		Client *c = container_of(it, Client, all_node);
		if (!c->is_admin && !c->conn.closing && (c->state == CL_WAITING || c->state == CL_WELCOME))
			return c;
	}
	return NULL;
}

/* Closing one client may close others (freed slots), so look again from the start each time. */
static void drop_queued_clients(void)
{
	Client *c;
	while ((c = first_queued_client()) != NULL)
		client_close_error(c, SQLSTATE_ADMIN_SHUTDOWN, "server shutting down");
}

void shutdown_wait_for_servers(void)
{
	log_info("shutting down: new connections are refused, exiting once every server is released");
	shutdown_begin(false);
	rt.paused = true; /* a released server is closed, not handed to the next client */
	drop_queued_clients();
}

void shutdown_wait_for_clients(void)
{
	log_info("shutting down: new connections are refused, exiting once every client has disconnected");
	shutdown_begin(true);
}

void shutdown_now(void)
{
	if (event_base_got_break(rt.base))
		return;
	if (!rt.shutting_down)
		sdnotify_stopping();
	log_info("shutting down");
	event_base_loopbreak(rt.base);
}

void shutdown_on_signal(const char *signame, bool wait_for_clients)
{
	if (rt.shutting_down) {
		log_info("got %s while shutting down, immediate shutdown", signame);
		shutdown_now();
		return;
	}
	log_info("got %s, %s", signame, wait_for_clients ? "waiting for clients to disconnect"
							  : "waiting for servers to be released");
	if (wait_for_clients)
		shutdown_wait_for_clients();
	else
		shutdown_wait_for_servers();
}

bool shutdown_admits_login(const char *db_name, bool unix_socket)
{
	return unix_socket && (strcmp(db_name, "pgbouncer") == 0 || strcmp(db_name, "pgsplit") == 0);
}

static bool nothing_left_to_wait_for(void)
{
	if (rt.shutdown_wait_clients)
		return rt.client_count == 0;
	List *it;
	list_for_each(it, &rt.pools)
	{
		if (container_of(it, Pool, node)->n_active > 0)
			return false;
	}
	return true;
}

void shutdown_tick(void)
{
	if (!rt.shutting_down)
		return;
	if (!rt.shutdown_wait_clients)
		drop_queued_clients();
	if (nothing_left_to_wait_for())
		shutdown_now();
}
