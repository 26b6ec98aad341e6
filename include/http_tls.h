/*
 * HTTPS for the HTTP endpoint (http_tls): the client-facing certificate and key
 * (client_tls_key_file, client_tls_cert_file) and the rest of the client_tls_* settings,
 * over libevent's OpenSSL bufferevents.
 */
#ifndef PGSPLIT_HTTP_TLS_H
#define PGSPLIT_HTTP_TLS_H

#include "config.h"

#include <event2/http.h>
#include <openssl/ssl.h>

/* False with err when http_tls is on without a certificate and key to serve. */
bool http_tls_settings_check(const Config *cfg, char *err, size_t errlen) MUST_CHECK;

/*
 * The context cfg asks for in *out: NULL when http_tls is off. False with err when the
 * certificate files cannot be used.
 */
bool http_tls_context(const Config *cfg, SSL_CTX **out, char *err, size_t errlen) MUST_CHECK;

/* Serve connections accepted from now on with ctx (taken over; NULL: plain HTTP). */
void http_tls_use(SSL_CTX *ctx);

/* Make h wrap each accepted connection in TLS while a context is in use. */
void http_tls_attach(struct evhttp *h);

#endif
