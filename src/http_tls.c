/*
 * The endpoint's TLS. The context comes from the client-facing TLS settings, so the
 * pooler shows one certificate on both doors; only ALPN differs: the PostgreSQL side
 * insists on "postgresql", HTTP clients offer "http/1.1" (and "h2", which evhttp does not
 * speak).
 */
#include "http_tls.h"

#include "tls.h"

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <stdio.h>

static SSL_CTX *http_ctx; /* NULL: plain HTTP */

bool http_tls_settings_check(const Config *cfg, char *err, size_t errlen)
{
	if (cfg->http_tls && (!*cfg->client_tls_key_file || !*cfg->client_tls_cert_file)) {
		snprintf(err, errlen, "http_tls needs client_tls_key_file and client_tls_cert_file to be set");
		return false;
	}
	return true;
}

static int alpn_http(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
		     unsigned int inlen, void *arg)
{
	static const unsigned char http11[] = "\x08http/1.1";
	unsigned char *sel;
	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto(&sel, outlen, http11, sizeof(http11) - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK; /* no ALPN answer: the client decides whether that will do */
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

bool http_tls_context(const Config *cfg, SSL_CTX **out, char *err, size_t errlen)
{
	*out = NULL;
	if (!cfg->http_tls || cfg->http_listen_port == 0)
		return true;
	char why[512];
	SSL_CTX *ctx = tls_client_side_ctx(cfg, why, sizeof(why));
	if (!ctx) {
		snprintf(err, errlen, "http_tls: %s", why);
		return false;
	}
	SSL_CTX_set_alpn_select_cb(ctx, alpn_http, NULL);
	*out = ctx;
	return true;
}

void http_tls_use(SSL_CTX *ctx)
{
	if (http_ctx)
		SSL_CTX_free(http_ctx);
	http_ctx = ctx;
}

/* evhttp's factory for an accepted connection's bufferevent; NULL makes it a plain one. */
static struct bufferevent *accepted_bufferevent(struct event_base *base, void *arg)
{
	(void)arg;
	SSL *ssl = http_ctx ? SSL_new(http_ctx) : NULL;
	if (!ssl)
		return NULL;
	struct bufferevent *bev =
		bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		SSL_free(ssl);
		return NULL;
	}
	/* a scraper that drops the connection without close_notify is no error worth a log line */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

void http_tls_attach(struct evhttp *h)
{
	evhttp_set_bevcb(h, accepted_bufferevent, NULL);
}
