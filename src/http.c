/*
 * HTTP listener and request dispatch. Only GET and HEAD on five paths; anything else is
 * answered 404 or 405. evhttp closes connections idle past the
 * timeout and refuses oversized headers and bodies, so a slow or hostile HTTP client
 * costs a socket, never the loop's time.
 */
#include "http.h"

#include "health.h"
#include "http_auth.h"
#include "http_metrics.h"
#include "http_tls.h"
#include "log.h"
#include "runtime.h"
#include "status_page.h"
#include "textbuf.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_TIMEOUT_SECS 10
#define HTTP_MAX_HEADERS 8192
#define HTTP_MAX_BODY 1024

static struct evhttp *http;
static char *bound_addr; /* what http listens on; NULL when off */
static int bound_port;

static void free_text(const void *data, size_t len, void *arg)
{
	(void)len;
	(void)arg;
	free((void *)data);
}

/* Send text (malloc'd, taken over) with the given status and content type. */
static void reply(struct evhttp_request *req, int code, const char *reason, const char *type, char *text,
		  size_t len)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Cache-Control", "no-store");
	struct evbuffer *body = evbuffer_new();
	if (body && text && evbuffer_add_reference(body, text, len, free_text, NULL) == 0)
		text = NULL;
	free(text);
	evhttp_send_reply(req, code, reason, body);
	if (body)
		evbuffer_free(body);
}

static void reply_plain(struct evhttp_request *req, int code, const char *reason, const char *msg)
{
	char *text = xstrdup(msg);
	reply(req, code, reason, "text/plain; charset=utf-8", text, strlen(text));
}

static void send_metrics(struct evhttp_request *req, char *text, size_t len)
{
	reply(req, HTTP_OK, "OK", "text/plain; version=0.0.4; charset=utf-8", text, len);
}

static void serve_metrics(struct evhttp_request *req)
{
	http_metrics_serve(req, rt.base, send_metrics);
}

static void serve_health(struct evhttp_request *req)
{
	TextBuf b = { 0 };
	bool ok = health_report(&b);
	reply(req, ok ? HTTP_OK : 503, ok ? "OK" : "Service Unavailable", "application/json", b.data, b.len);
}

static void serve_live(struct evhttp_request *req)
{
	reply_plain(req, HTTP_OK, "OK", "ok\n");
}

static void serve_status(struct evhttp_request *req)
{
	size_t len;
	char *page = status_page_render(&len);
	reply(req, HTTP_OK, "OK", "text/html; charset=utf-8", page, len);
}

static const struct {
	const char *path;
	void (*serve)(struct evhttp_request *req);
} routes[] = {
	{ "/metrics", serve_metrics },
	{ "/health", serve_health },
	{ "/ready", serve_health },
	{ "/live", serve_live },
	{ "/", serve_status },
};

static void refuse_unauthorized(struct evhttp_request *req)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate", http_auth_challenge(rt.cfg));
	reply_plain(req, 401, "Unauthorized", "unauthorized\n");
}

static void dispatch(struct evhttp_request *req, void *arg)
{
	(void)arg;
	const char *authorization = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	if (!http_auth_allows(authorization, rt.cfg, rt.authfile)) {
		refuse_unauthorized(req);
		return;
	}
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	for (size_t i = 0; path && i < ARRAY_SIZE(routes); i++) {
		if (strcmp(path, routes[i].path) != 0)
			continue;
		enum evhttp_cmd_type m = evhttp_request_get_command(req);
		if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD) {
			evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
			reply_plain(req, 405, "Method Not Allowed", "method not allowed\n");
			return;
		}
		routes[i].serve(req);
		return;
	}
	reply_plain(req, HTTP_NOTFOUND, "Not Found", "not found\n");
}

/* "*" is every address: IPv6's any (which takes IPv4 too), else IPv4's. */
static bool bind_addr(struct evhttp *h, const char *addr, int port)
{
	if (strcmp(addr, "*") != 0)
		return evhttp_bind_socket_with_handle(h, addr, (ev_uint16_t)port) != NULL;
	return evhttp_bind_socket_with_handle(h, "::", (ev_uint16_t)port) != NULL ||
	       evhttp_bind_socket_with_handle(h, "0.0.0.0", (ev_uint16_t)port) != NULL;
}

static struct evhttp *http_open(const char *addr, int port)
{
	struct evhttp *h = evhttp_new(rt.base);
	if (!h)
		return NULL;
	/* every method reaches dispatch, which answers 405; evhttp would say 501 */
	evhttp_set_allowed_methods(h, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
					      EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
					      EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_timeout(h, HTTP_TIMEOUT_SECS);
	evhttp_set_max_headers_size(h, HTTP_MAX_HEADERS);
	evhttp_set_max_body_size(h, HTTP_MAX_BODY);
	evhttp_set_gencb(h, dispatch, NULL);
	http_tls_attach(h);
	if (!bind_addr(h, addr, port)) {
		evhttp_free(h);
		return NULL;
	}
	return h;
}

static bool unchanged(const Config *cfg)
{
	if (cfg->http_listen_port == 0)
		return !http;
	return http && bound_port == cfg->http_listen_port && strcmp(bound_addr, cfg->http_listen_addr) == 0;
}

static void http_close(void)
{
	/* evhttp_free frees the requests still waiting for their exposition */
	http_metrics_cancel_all();
	if (http)
		evhttp_free(http);
	http = NULL;
	free(bound_addr);
	bound_addr = NULL;
	bound_port = 0;
}

void http_stop(void)
{
	http_close();
	http_tls_use(NULL);
}

/*
 * The old listener closes first, so a new address on the same port does not collide
 * with it; if the new one cannot be bound, the old one is opened again.
 */
static bool listen_apply(const Config *cfg, char *err, size_t errlen)
{
	if (unchanged(cfg))
		return true;
	char *old_addr = bound_addr ? xstrdup(bound_addr) : NULL;
	int old_port = bound_port;
	http_close();
	if (cfg->http_listen_port == 0) {
		log_info("HTTP endpoint closed");
		free(old_addr);
		return true;
	}
	http = http_open(cfg->http_listen_addr, cfg->http_listen_port);
	if (!http) {
		snprintf(err, errlen, "could not listen for HTTP on %s:%d", cfg->http_listen_addr,
			 cfg->http_listen_port);
		if (old_addr && (http = http_open(old_addr, old_port))) {
			bound_addr = old_addr;
			bound_port = old_port;
		} else
			free(old_addr);
		return false;
	}
	free(old_addr);
	bound_addr = xstrdup(cfg->http_listen_addr);
	bound_port = cfg->http_listen_port;
	log_info("HTTP endpoint (metrics, health) listening on %s:%d", bound_addr, bound_port);
	return true;
}

/* Settings first, then the TLS context, then the socket: a failure at any step changes nothing. */
bool http_apply(const Config *cfg, char *err, size_t errlen)
{
	SSL_CTX *ctx;
	if (!http_auth_settings_check(cfg, err, errlen) || !http_tls_settings_check(cfg, err, errlen) ||
	    !http_tls_context(cfg, &ctx, err, errlen))
		return false;
	if (!listen_apply(cfg, err, errlen)) {
		if (ctx)
			SSL_CTX_free(ctx);
		return false;
	}
	http_tls_use(ctx);
	return true;
}
