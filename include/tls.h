/*
 * TLS for both legs of the pooler: SSL_CTX construction from the client_tls_* options
 * (the pooler accepting clients) and the server_tls_* options (the pooler connecting to
 * PostgreSQL), and per-connection non-blocking TLS over an already connected fd.
 * Knows nothing about sbuf, pools or the PostgreSQL protocol (the SSLRequest exchange is
 * the caller's); the caller polls the fd for whatever TLS_IO_WANT_* says.
 *
 * Naming follows PgBouncer: "client side" is the leg facing clients, where the pooler
 * is the TLS server; "server side" is the leg facing PostgreSQL, where it is the client.
 */
#ifndef PGSPLIT_TLS_H
#define PGSPLIT_TLS_H

#include "common.h"
#include "config.h"

#include <openssl/ssl.h>
#include <sys/types.h>

typedef enum {
	TLS_IO_OK,
	TLS_IO_WANT_READ,  /* wait until the fd is readable, then call again */
	TLS_IO_WANT_WRITE, /* wait until the fd is writable, then call again */
	TLS_IO_ERROR,	   /* fatal: tls_conn_error() says why; close the connection */
} TlsIo;

typedef struct TlsConn TlsConn;

/*
 * Check a *_tls_protocols value (prefix "client" or "server") without building a context,
 * so a value is refused even while that side's TLS is off.
 */
bool tls_check_protocols(const char *prefix, const char *protocols, char *err, size_t errlen) MUST_CHECK;

/*
 * The context for accepting clients. Needs client_tls_key_file and client_tls_cert_file
 * whatever the mode (call it only when client_tls_sslmode is not disable).
 * verify-ca and verify-full demand a client certificate signed by client_tls_ca_file;
 * in the lower modes a configured CA file makes the certificate optional and unchecked
 * during the handshake, and tls_peer_cn() then reports only a verified one.
 * NULL with a message naming the option and file on failure.
 */
SSL_CTX *tls_client_side_ctx(const Config *cfg, char *err, size_t errlen) MUST_CHECK;

/*
 * The context for connecting to PostgreSQL. server_tls_cert_file/key_file are optional
 * (both or neither). verify-ca needs server_tls_ca_file; verify-full uses it, or the
 * system's trust store when it is empty. Offers ALPN "postgresql" (PostgreSQL 17 direct
 * TLS). Valid in every mode; the caller decides whether to ask for TLS at all.
 */
SSL_CTX *tls_server_side_ctx(const Config *cfg, char *err, size_t errlen) MUST_CHECK;

/*
 * Before the handshake on a connection to PostgreSQL: send SNI (for names, not IP
 * literals) and, when the context was made for verify-full, require the certificate to
 * match host (DNS name or IP address). False when verify-full has no usable host name
 * (empty, or a Unix socket directory) or OpenSSL refuses it.
 */
bool tls_set_server_hostname(SSL *ssl, const char *host) MUST_CHECK;

/*
 * Per-connection state over a connected non-blocking fd, which the caller still owns
 * (tls_conn_free does not close it). server_role: we are the TLS server (accepting a
 * client); otherwise the TLS client. The context is reference-counted by OpenSSL, so it
 * may be freed (e.g. replaced on reload) while connections made from it live on.
 */
TlsConn *tls_conn_new(SSL_CTX *ctx, int fd, bool server_role);
void tls_conn_free(TlsConn *conn);
bool tls_conn_set_server_hostname(TlsConn *conn, const char *host) MUST_CHECK;
SSL *tls_conn_ssl(TlsConn *conn);

/* Drive the handshake; call again on each WANT_* until OK or ERROR. */
TlsIo tls_handshake(TlsConn *conn);

/*
 * Read or write up to len bytes. Returns the byte count (> 0) with TLS_IO_OK; 0 with
 * TLS_IO_OK from tls_read is end of stream (a close_notify, or the peer just closing:
 * PostgreSQL's protocol frames its own messages, so truncation is caught there); -1
 * with WANT_READ, WANT_WRITE (either can come from either call) or ERROR. OpenSSL may
 * hold decrypted bytes the fd no longer signals: keep reading until WANT_READ, or check
 * tls_pending(). A write that got WANT_* must be retried with the same bytes (the
 * buffer may move).
 */
ssize_t tls_read(TlsConn *conn, void *buf, size_t len, TlsIo *status);
ssize_t tls_write(TlsConn *conn, const void *buf, size_t len, TlsIo *status);
size_t tls_pending(const TlsConn *conn);

/* Send close_notify, best effort (one attempt; the caller closes the fd anyway). */
TlsIo tls_shutdown(TlsConn *conn);

/* Why the last call returned TLS_IO_ERROR ("" if it did not). */
const char *tls_conn_error(const TlsConn *conn);

/*
 * The peer certificate's CommonName, only for a certificate that was requested and
 * verified against the CA, with exactly one CN containing no NUL; else NULL. Owned by
 * conn. This is the user name for auth_type cert (or the system user of a map=).
 */
const char *tls_peer_cn(TlsConn *conn);

/*
 * True when the peer sent a certificate that was requested and verified (an HBA rule's
 * clientcert=verify-ca), whatever its subject says.
 */
bool tls_peer_cert_verified(TlsConn *conn);

/* True when ALPN selected "postgresql" (required for PostgreSQL 17 direct TLS). */
bool tls_conn_alpn_postgresql(const TlsConn *conn);

/* "TLSv1.3/TLS_AES_256_GCM_SHA384" for logs and SHOW CLIENTS/SERVERS. */
void tls_conn_describe(const TlsConn *conn, char *buf, size_t len);

/*
 * True when any client_tls_* or server_tls_* setting differs between two snapshots:
 * only then must reload recycle existing connections. Contexts should still be rebuilt
 * on every reload so that replaced certificate files take effect for new connections.
 */
bool tls_config_changed(const Config *a, const Config *b);

#endif
