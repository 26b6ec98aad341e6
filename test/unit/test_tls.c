/*
 * Unit tests for tls.c with real handshakes: certificates are made at start with the
 * openssl command in a temporary directory (a CA, a second untrusted CA, server
 * certificates for localhost and for a wrong name, client certificates), then a
 * tls_client_side_ctx (accepting, TLS server) and a tls_server_side_ctx (connecting, TLS
 * client) talk over a non-blocking socketpair. Configs come from config_new_default()
 * and config_set(), as the pooler builds them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"
#include "config.h"
#include "log.h"
#include "tap.h"
#include "tls.h"

static char certdir[64];
static bool certs_ready;

/* The path of a file in the certificate directory (a few rotating buffers). */
static const char *cpath(const char *name)
{
	static char bufs[8][128];
	static int next;
	char *b = bufs[next++ % 8];
	snprintf(b, sizeof(bufs[0]), "%s/%s", certdir, name);
	return b;
}

static void certs_remove(void)
{
	char cmd[128];
	if (certdir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", certdir);
		if (system(cmd) != 0)
			fprintf(stderr, "# could not remove %s\n", certdir);
	}
}

/* One shell script, run once: EC P-256 keys keep it fast. */
static const char cert_script[] =
	"set -e; cd '%s'\n"
	"K='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'\n"
	"ca() { openssl req -x509 $K -keyout $1.key -out $1.crt -days 2 -subj \"/CN=$2\" "
	"-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign; "
	"}\n"
	"leaf() { openssl req -new $K -keyout $1.key -out $1.csr -subj \"$2\"; "
	"printf 'basicConstraints=CA:FALSE\\n%%s\\n' \"$4\" > $1.ext; "
	"openssl x509 -req -in $1.csr -CA $3.crt -CAkey $3.key -CAcreateserial -out $1.crt "
	"-days 2 -extfile $1.ext; }\n"
	"ca ca 'pgsplit test CA'\n"
	"ca ca2 'pgsplit untrusted CA'\n"
	"leaf server /CN=localhost ca subjectAltName=DNS:localhost,IP:127.0.0.1\n"
	"leaf wrong /CN=wrong.example.com ca subjectAltName=DNS:wrong.example.com\n"
	"leaf client /CN=alice ca extendedKeyUsage=clientAuth\n"
	"leaf rogue /CN=alice ca2 extendedKeyUsage=clientAuth\n"
	"leaf twocn /CN=alice/CN=bob ca extendedKeyUsage=clientAuth\n"
	"openssl pkey -in server.key -aes256 -passout pass:secret -out encrypted.key\n"
	"echo 'not a key' > bad.key\n";

static bool certs_make(void)
{
	char script[2048], cmd[2200];
	if (certs_ready)
		return true;
	snprintf(certdir, sizeof(certdir), "/tmp/test_tls_XXXXXX");
	if (!mkdtemp(certdir)) {
		certdir[0] = '\0';
		return false;
	}
	atexit(certs_remove);
	snprintf(script, sizeof(script), cert_script, certdir);
	FILE *f = fopen(cpath("make.sh"), "w");
	if (!f)
		return false;
	fputs(script, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "sh '%s' >'%s' 2>&1", cpath("make.sh"), cpath("make.log"));
	certs_ready = system(cmd) == 0;
	return certs_ready;
}

static Config *cfg_new(void)
{
	log_level_current = LOG_LVL_ERROR; /* config_set warns that TLS is not wired yet */
	return config_new_default();
}

static void set(Config *cfg, const char *key, const char *value)
{
	char err[256] = "";
	bool ok = config_set(cfg, key, value, err, sizeof(err));
	CHECK_MSG(ok, err[0] ? err : key);
}

/* Accepting side with the given certificate; connecting side in the given mode. */
static Config *cfg_pair(const char *server_cert, const char *server_mode, const char *server_ca)
{
	Config *cfg = cfg_new();
	char name[64];
	set(cfg, "client_tls_sslmode", "require");
	snprintf(name, sizeof(name), "%s.crt", server_cert);
	set(cfg, "client_tls_cert_file", cpath(name));
	snprintf(name, sizeof(name), "%s.key", server_cert);
	set(cfg, "client_tls_key_file", cpath(name));
	set(cfg, "server_tls_sslmode", server_mode);
	if (server_ca)
		set(cfg, "server_tls_ca_file", cpath(server_ca));
	return cfg;
}

/* ---- a connection pair over a socketpair ---- */

typedef struct Pair {
	int fd[2];
	TlsConn *acc; /* accepting side: TLS server */
	TlsConn *con; /* connecting side: TLS client */
	char why[300];
	int wants; /* WANT_* answers seen during the handshake */
} Pair;

static bool pair_open(Pair *p, SSL_CTX *acc_ctx, SSL_CTX *con_ctx)
{
	memset(p, 0, sizeof(*p));
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, p->fd) != 0)
		return false;
	for (int i = 0; i < 2; i++)
		fcntl(p->fd[i], F_SETFL, fcntl(p->fd[i], F_GETFL) | O_NONBLOCK);
	p->acc = tls_conn_new(acc_ctx, p->fd[0], true);
	p->con = tls_conn_new(con_ctx, p->fd[1], false);
	return p->acc && p->con;
}

static void pair_close(Pair *p)
{
	tls_conn_free(p->acc);
	tls_conn_free(p->con);
	for (int i = 0; i < 2; i++)
		if (p->fd[i] >= 0)
			close(p->fd[i]);
}

/* Step both sides until both finish or one fails (its error goes into p->why). */
static bool pair_handshake(Pair *p)
{
	bool con_done = false, acc_done = false;
	for (int i = 0; i < 200 && !(con_done && acc_done); i++) {
		TlsIo r = con_done ? TLS_IO_OK : tls_handshake(p->con);
		if (r == TLS_IO_ERROR) {
			snprintf(p->why, sizeof(p->why), "connecting side: %s",
				 tls_conn_error(p->con));
			return false;
		}
		p->wants += r != TLS_IO_OK;
		con_done = r == TLS_IO_OK;
		r = acc_done ? TLS_IO_OK : tls_handshake(p->acc);
		if (r == TLS_IO_ERROR) {
			snprintf(p->why, sizeof(p->why), "accepting side: %s",
				 tls_conn_error(p->acc));
			return false;
		}
		p->wants += r != TLS_IO_OK;
		acc_done = r == TLS_IO_OK;
	}
	/* TLS 1.3: the client finishes first; a rejected client certificate shows on read */
	char c;
	TlsIo st;
	if (tls_read(p->con, &c, 1, &st) < 0 && st == TLS_IO_ERROR) {
		snprintf(p->why, sizeof(p->why), "connecting side after handshake: %s",
			 tls_conn_error(p->con));
		return false;
	}
	snprintf(p->why, sizeof(p->why), con_done && acc_done ? "ok" : "no progress");
	return con_done && acc_done;
}

/* Build both contexts from cfg, connect with host, and run the handshake. */
static bool try_handshake(const Config *cfg, const char *host, char *why, size_t whylen)
{
	char err[300] = "";
	SSL_CTX *acc_ctx = tls_client_side_ctx(cfg, err, sizeof(err));
	SSL_CTX *con_ctx = acc_ctx ? tls_server_side_ctx(cfg, err, sizeof(err)) : NULL;
	bool ok = false;
	Pair p;
	if (acc_ctx && con_ctx && pair_open(&p, acc_ctx, con_ctx)) {
		ok = (!host || tls_conn_set_server_hostname(p.con, host)) && pair_handshake(&p);
		snprintf(why, whylen, "%s", p.why);
		pair_close(&p);
	} else {
		snprintf(why, whylen, "setup: %s", err);
	}
	SSL_CTX_free(acc_ctx);
	SSL_CTX_free(con_ctx);
	return ok;
}

static void expect_handshake(const Config *cfg, const char *host, bool want, const char *reason,
			     const char *label)
{
	char why[300], msg[700];
	bool ok = try_handshake(cfg, host, why, sizeof(why));
	bool reason_ok = !reason || strstr(why, reason);
	snprintf(msg, sizeof(msg), "%s: %s%s%s (got: %s)", label, want ? "succeeds" : "fails",
		 reason ? " with " : "", reason ? reason : "", why);
	CHECK_MSG(ok == want && reason_ok, msg);
}

/* ---- tests ---- */

static void test_certs(void)
{
	CHECK_MSG(certs_make(), "certificates generated with the openssl command");
}

static bool exchange(TlsConn *from, TlsConn *to, const char *text)
{
	char buf[64];
	TlsIo st;
	ssize_t n = tls_write(from, text, strlen(text), &st);
	if (n != (ssize_t)strlen(text) || st != TLS_IO_OK)
		return false;
	n = tls_read(to, buf, sizeof(buf), &st);
	return n == (ssize_t)strlen(text) && memcmp(buf, text, (size_t)n) == 0;
}

static void test_handshake_ok(void)
{
	char err[300] = "", desc[128];
	if (!certs_make())
		return;
	Config *cfg = cfg_pair("server", "verify-full", "ca.crt");
	SSL_CTX *acc_ctx = tls_client_side_ctx(cfg, err, sizeof(err));
	CHECK_MSG(acc_ctx != NULL, err);
	SSL_CTX *con_ctx = tls_server_side_ctx(cfg, err, sizeof(err));
	CHECK_MSG(con_ctx != NULL, err);
	Pair p;
	CHECK(acc_ctx && con_ctx && pair_open(&p, acc_ctx, con_ctx));
	/* connections keep their context alive (reload frees the old one) */
	SSL_CTX_free(acc_ctx);
	SSL_CTX_free(con_ctx);
	CHECK(tls_conn_set_server_hostname(p.con, "localhost"));
	CHECK(tls_handshake(p.con) == TLS_IO_WANT_READ);
	CHECK_MSG(pair_handshake(&p), p.why);
	CHECK(p.wants > 0);
	CHECK(tls_conn_alpn_postgresql(p.acc) && tls_conn_alpn_postgresql(p.con));
	tls_conn_describe(p.con, desc, sizeof(desc));
	CHECK_MSG(strncmp(desc, "TLSv1.3/TLS_", 12) == 0, desc);
	CHECK(tls_peer_cn(p.acc) == NULL); /* no client certificate was asked for */
	CHECK(tls_peer_cn(p.con) && strcmp(tls_peer_cn(p.con), "localhost") == 0);
	CHECK(exchange(p.con, p.acc, "ping"));
	CHECK(exchange(p.acc, p.con, "pong"));
	char c;
	TlsIo st;
	CHECK(tls_read(p.acc, &c, 1, &st) == -1 && st == TLS_IO_WANT_READ);
	CHECK(tls_pending(p.acc) == 0);
	/* close_notify then close: a clean end of stream */
	CHECK(tls_shutdown(p.con) == TLS_IO_OK);
	close(p.fd[1]);
	p.fd[1] = -1;
	CHECK(tls_read(p.acc, &c, 1, &st) == 0 && st == TLS_IO_OK);
	pair_close(&p);
	config_free(cfg);
}

static void test_eof_without_close_notify(void)
{
	char err[300] = "";
	if (!certs_make())
		return;
	Config *cfg = cfg_pair("server", "require", NULL);
	SSL_CTX *acc_ctx = tls_client_side_ctx(cfg, err, sizeof(err));
	SSL_CTX *con_ctx = tls_server_side_ctx(cfg, err, sizeof(err));
	Pair p;
	CHECK(acc_ctx && con_ctx && pair_open(&p, acc_ctx, con_ctx) && pair_handshake(&p));
	close(p.fd[1]);
	p.fd[1] = -1;
	char c;
	TlsIo st;
	CHECK(tls_read(p.acc, &c, 1, &st) == 0 && st == TLS_IO_OK);
	pair_close(&p);
	SSL_CTX_free(acc_ctx);
	SSL_CTX_free(con_ctx);
	config_free(cfg);
}

static void test_server_verification(void)
{
	if (!certs_make())
		return;
	Config *cfg = cfg_pair("wrong", "verify-full", "ca.crt");
	expect_handshake(cfg, "localhost", false, "hostname mismatch", "verify-full, wrong name");
	expect_handshake(cfg, "127.0.0.1", false, "IP address mismatch", "verify-full, wrong IP");
	expect_handshake(cfg, "wrong.example.com", true, NULL, "verify-full, the cert's own name");
	expect_handshake(cfg, "WRONG.example.com", true, NULL, "verify-full, name case");
	config_free(cfg);
	cfg = cfg_pair("server", "verify-full", "ca.crt");
	expect_handshake(cfg, "127.0.0.1", true, NULL, "verify-full, IP SAN");
	expect_handshake(cfg, "other.localhost", false, "hostname mismatch", "verify-full, other");
	config_free(cfg);
	cfg = cfg_pair("wrong", "verify-ca", "ca.crt");
	expect_handshake(cfg, "localhost", true, NULL, "verify-ca ignores the name");
	config_free(cfg);
	cfg = cfg_pair("server", "verify-ca", "ca2.crt");
	expect_handshake(cfg, "localhost", false, "unable to get local issuer certificate",
			 "verify-ca, untrusted CA");
	config_free(cfg);
	cfg = cfg_pair("wrong", "require", "ca2.crt");
	expect_handshake(cfg, "localhost", true, NULL, "require does not verify");
	config_free(cfg);
}

static void test_server_hostname_rules(void)
{
	char err[300] = "";
	if (!certs_make())
		return;
	Config *cfg = cfg_pair("server", "verify-full", "ca.crt");
	SSL_CTX *ctx = tls_server_side_ctx(cfg, err, sizeof(err));
	CHECK_MSG(ctx != NULL, err);
	SSL *ssl = SSL_new(ctx);
	CHECK(!tls_set_server_hostname(ssl, "/var/run/postgresql"));
	CHECK(!tls_set_server_hostname(ssl, ""));
	CHECK(!tls_set_server_hostname(ssl, NULL));
	CHECK(tls_set_server_hostname(ssl, "db.example.com"));
	CHECK(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) &&
	      strcmp(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name), "db.example.com") == 0);
	SSL_free(ssl);
	ssl = SSL_new(ctx);
	CHECK(tls_set_server_hostname(ssl, "::1"));
	CHECK(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) == NULL); /* no SNI for IPs */
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	set(cfg, "server_tls_sslmode", "require");
	ctx = tls_server_side_ctx(cfg, err, sizeof(err));
	ssl = SSL_new(ctx);
	CHECK(tls_set_server_hostname(ssl, "/var/run/postgresql")); /* nothing to check */
	CHECK(tls_set_server_hostname(ssl, "db.example.com"));
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	config_free(cfg);
}

static void test_protocols(void)
{
	if (!certs_make())
		return;
	Config *cfg = cfg_pair("server", "require", NULL);
	set(cfg, "client_tls_protocols", "tlsv1.3");
	set(cfg, "server_tls_protocols", "tlsv1.2");
	expect_handshake(cfg, NULL, false, NULL, "tlsv1.3 only against tlsv1.2 only");
	set(cfg, "client_tls_protocols", "tlsv1.2");
	set(cfg, "server_tls_protocols", "tlsv1.3");
	expect_handshake(cfg, NULL, false, NULL, "tlsv1.2 only against tlsv1.3 only");
	set(cfg, "client_tls_protocols", "TLSv1.2, tlsv1.3");
	expect_handshake(cfg, NULL, true, NULL, "a list with blanks, any case");
	set(cfg, "client_tls_protocols", "all");
	set(cfg, "server_tls_protocols", "legacy");
	expect_handshake(cfg, NULL, true, NULL, "all against legacy");
	/* a gap in the range is switched off */
	set(cfg, "client_tls_protocols", "tlsv1.1,tlsv1.3");
	set(cfg, "server_tls_protocols", "tlsv1.2");
	expect_handshake(cfg, NULL, false, NULL, "tlsv1.1,tlsv1.3 refuses tlsv1.2");
	set(cfg, "server_tls_protocols", "");
	expect_handshake(cfg, NULL, true, NULL, "tlsv1.1,tlsv1.3 against empty (secure)");
	set(cfg, "client_tls_protocols", "tlsv1.4");
	char err[300] = "";
	SSL_CTX *ctx = tls_client_side_ctx(cfg, err, sizeof(err));
	CHECK(ctx == NULL);
	CHECK_MSG(strstr(err, "client_tls_protocols: unknown protocol 'tlsv1.4'"), err);
	set(cfg, "client_tls_protocols", "secure");
	set(cfg, "server_tls_protocols", "tlsv1.2");
	SSL_CTX *acc = tls_client_side_ctx(cfg, err, sizeof(err));
	SSL_CTX *con = tls_server_side_ctx(cfg, err, sizeof(err));
	Pair p;
	char desc[128] = "";
	CHECK(acc && con && pair_open(&p, acc, con) && pair_handshake(&p));
	tls_conn_describe(p.acc, desc, sizeof(desc));
	CHECK_MSG(strncmp(desc, "TLSv1.2/", 8) == 0, desc);
	pair_close(&p);
	SSL_CTX_free(acc);
	SSL_CTX_free(con);
	config_free(cfg);
}

/* Connect with the given client certificate (NULL: none); return the accepted CN. */
static bool client_cert_case(Config *cfg, const char *cert, char *cn, size_t cnlen, char *why,
			     size_t whylen)
{
	char name[64], err[300] = "";
	if (cert) {
		snprintf(name, sizeof(name), "%s.crt", cert);
		set(cfg, "server_tls_cert_file", cpath(name));
		snprintf(name, sizeof(name), "%s.key", cert);
		set(cfg, "server_tls_key_file", cpath(name));
	} else {
		set(cfg, "server_tls_cert_file", "");
		set(cfg, "server_tls_key_file", "");
	}
	SSL_CTX *acc = tls_client_side_ctx(cfg, err, sizeof(err));
	SSL_CTX *con = tls_server_side_ctx(cfg, err, sizeof(err));
	Pair p;
	bool ok = false;
	snprintf(why, whylen, "setup: %s", err);
	if (acc && con && pair_open(&p, acc, con)) {
		ok = pair_handshake(&p);
		snprintf(why, whylen, "%s", p.why);
		const char *got = ok ? tls_peer_cn(p.acc) : NULL;
		snprintf(cn, cnlen, "%s%s", got ? got : "(none)",
			 ok && tls_peer_cert_verified(p.acc) ? "" : " unverified");
		pair_close(&p);
	}
	SSL_CTX_free(acc);
	SSL_CTX_free(con);
	return ok;
}

static void expect_client_cert(Config *cfg, const char *cert, bool want_ok, const char *want_cn)
{
	char cn[128] = "", why[300], msg[600];
	bool ok = client_cert_case(cfg, cert, cn, sizeof(cn), why, sizeof(why));
	snprintf(msg, sizeof(msg), "client_tls_sslmode=%s, client cert %s: %s, CN %s (got %s, %s)",
		 cfg->client_tls_sslmode == TLS_MODE_VERIFY_FULL ? "verify-full" : "require",
		 cert ? cert : "none", want_ok ? "accepted" : "refused", want_cn ? want_cn : "-",
		 cn, why);
	CHECK_MSG(ok == want_ok && (!want_ok || strcmp(cn, want_cn) == 0), msg);
}

static void test_client_certificates(void)
{
	if (!certs_make())
		return;
	Config *cfg = cfg_pair("server", "require", NULL);
	set(cfg, "client_tls_sslmode", "verify-full");
	set(cfg, "client_tls_ca_file", cpath("ca.crt"));
	expect_client_cert(cfg, "client", true, "alice");
	expect_client_cert(cfg, "rogue", false, NULL);
	expect_client_cert(cfg, NULL, false, NULL);
	expect_client_cert(cfg, "twocn", true, "(none)"); /* verified, but two CNs: no user */
	/* lower modes with a CA: the certificate is optional and only a verified one counts */
	set(cfg, "client_tls_sslmode", "require");
	expect_client_cert(cfg, "client", true, "alice");
	expect_client_cert(cfg, "rogue", true, "(none) unverified");
	expect_client_cert(cfg, NULL, true, "(none) unverified");
	/* no CA: no certificate is even requested */
	set(cfg, "client_tls_ca_file", "");
	expect_client_cert(cfg, "client", true, "(none) unverified");
	config_free(cfg);
}

static void expect_ctx_error(Config *cfg, bool client_side, const char *want)
{
	char err[400] = "", msg[700];
	SSL_CTX *ctx = client_side ? tls_client_side_ctx(cfg, err, sizeof(err))
				   : tls_server_side_ctx(cfg, err, sizeof(err));
	snprintf(msg, sizeof(msg), "%s context fails with \"%s\" (got \"%s\")",
		 client_side ? "client-side" : "server-side", want, err);
	CHECK_MSG(ctx == NULL && strstr(err, want), msg);
	SSL_CTX_free(ctx);
}

static void expect_ctx_ok(Config *cfg, bool client_side, const char *label)
{
	char err[400] = "", msg[700];
	SSL_CTX *ctx = client_side ? tls_client_side_ctx(cfg, err, sizeof(err))
				   : tls_server_side_ctx(cfg, err, sizeof(err));
	snprintf(msg, sizeof(msg), "%s (got \"%s\")", label, err);
	CHECK_MSG(ctx != NULL, msg);
	SSL_CTX_free(ctx);
}

static void test_key_and_cert_errors(void)
{
	char want[300];
	if (!certs_make())
		return;
	Config *cfg = cfg_pair("server", "require", NULL);
	set(cfg, "client_tls_key_file", cpath("bad.key"));
	snprintf(want, sizeof(want),
		 "client_tls_key_file '%s': cannot load private key: unsupported or malformed",
		 cpath("bad.key"));
	expect_ctx_error(cfg, true, want);
	set(cfg, "client_tls_key_file", cpath("encrypted.key"));
	snprintf(want, sizeof(want),
		 "client_tls_key_file '%s' is encrypted with a passphrase, which is not supported",
		 cpath("encrypted.key"));
	expect_ctx_error(cfg, true, want);
	set(cfg, "client_tls_key_file", cpath("client.key"));
	snprintf(want, sizeof(want), "client_tls_key_file '%s' does not match client_tls_cert_file",
		 cpath("client.key"));
	expect_ctx_error(cfg, true, want);
	set(cfg, "client_tls_key_file", cpath("server.key"));
	set(cfg, "client_tls_cert_file", cpath("nosuch.crt"));
	snprintf(want, sizeof(want),
		 "client_tls_cert_file '%s': cannot load certificate: No such file or directory",
		 cpath("nosuch.crt"));
	expect_ctx_error(cfg, true, want);
	set(cfg, "client_tls_cert_file", "");
	set(cfg, "client_tls_key_file", "");
	expect_ctx_error(cfg, true,
			 "client_tls_key_file and client_tls_cert_file must be set to accept TLS");
	set(cfg, "server_tls_cert_file", cpath("client.crt"));
	expect_ctx_error(cfg, false, "server_tls_cert_file is set but server_tls_key_file is not");
	set(cfg, "server_tls_key_file", cpath("bad.key"));
	expect_ctx_error(cfg, false, "server_tls_key_file");
	config_free(cfg);
}

static void test_ca_errors(void)
{
	if (!certs_make())
		return;
	Config *cfg = cfg_pair("server", "verify-ca", NULL);
	expect_ctx_error(cfg, false, "server_tls_sslmode=verify-ca requires server_tls_ca_file");
	set(cfg, "server_tls_sslmode", "verify-full");
	expect_ctx_ok(cfg, false, "verify-full without a CA file uses the system store");
	set(cfg, "server_tls_ca_file", cpath("bad.key"));
	expect_ctx_error(cfg, false, "server_tls_ca_file");
	set(cfg, "client_tls_sslmode", "verify-ca");
	expect_ctx_error(cfg, true, "client_tls_sslmode=verify-ca requires client_tls_ca_file");
	set(cfg, "client_tls_sslmode", "verify-full");
	expect_ctx_error(cfg, true, "client_tls_sslmode=verify-full requires client_tls_ca_file");
	set(cfg, "client_tls_ca_file", cpath("nosuch.crt"));
	expect_ctx_error(cfg, true, "client_tls_ca_file");
	config_free(cfg);
}

static void test_cipher_and_group_options(void)
{
	if (!certs_make())
		return;
	Config *cfg = cfg_pair("server", "require", NULL);
	set(cfg, "client_tls_ciphers", "NOSUCHCIPHER");
	expect_ctx_error(cfg, true, "client_tls_ciphers 'NOSUCHCIPHER'");
	set(cfg, "client_tls_ciphers", "all");
	expect_ctx_ok(cfg, true, "client_tls_ciphers=all");
	set(cfg, "client_tls_ciphers", "fast");
	expect_ctx_ok(cfg, true, "client_tls_ciphers=fast");
	set(cfg, "client_tls13_ciphers", "TLS_NOPE");
	expect_ctx_error(cfg, true, "client_tls13_ciphers 'TLS_NOPE'");
	set(cfg, "server_tls_ciphers", "NOSUCHCIPHER");
	expect_ctx_error(cfg, false, "server_tls_ciphers 'NOSUCHCIPHER'");
	set(cfg, "server_tls_ciphers", "default");
	set(cfg, "client_tls13_ciphers", "TLS_CHACHA20_POLY1305_SHA256");
	expect_handshake(cfg, NULL, true, NULL, "client_tls13_ciphers chosen");
	set(cfg, "client_tls13_ciphers", "TLS_AES_128_GCM_SHA256");
	set(cfg, "server_tls13_ciphers", "TLS_AES_256_GCM_SHA384");
	expect_handshake(cfg, NULL, false, NULL, "no common TLS 1.3 cipher");
	set(cfg, "server_tls13_ciphers", "");
	set(cfg, "client_tls_ecdhcurve", "nosuchcurve");
	expect_ctx_error(cfg, true, "client_tls_ecdhcurve 'nosuchcurve': unknown curve");
	set(cfg, "client_tls_ecdhcurve", "prime256v1");
	expect_handshake(cfg, NULL, true, NULL, "client_tls_ecdhcurve=prime256v1");
	set(cfg, "client_tls_ecdhcurve", "none");
	expect_handshake(cfg, NULL, true, NULL, "client_tls_ecdhcurve=none (finite-field groups)");
	set(cfg, "client_tls_ecdhcurve", "auto");
	set(cfg, "client_tls_dheparams", "bogus");
	expect_ctx_error(cfg, true, "client_tls_dheparams 'bogus': expected none, auto or legacy");
	set(cfg, "client_tls_dheparams", "none");
	expect_ctx_ok(cfg, true, "client_tls_dheparams=none");
	set(cfg, "client_tls_dheparams", "legacy");
	char err[300] = "";
	SSL_CTX *ctx = tls_client_side_ctx(cfg, err, sizeof(err));
	/* OpenSSL's security level may refuse 1024-bit DH; then the message must say so */
	CHECK_MSG(ctx != NULL || strstr(err, "client_tls_dheparams legacy"), err);
	SSL_CTX_free(ctx);
	config_free(cfg);
}

static void test_tls12_cipher_choice(void)
{
	char err[300] = "", desc[128] = "";
	if (!certs_make())
		return;
	Config *cfg = cfg_pair("server", "require", NULL);
	set(cfg, "client_tls_protocols", "tlsv1.2");
	set(cfg, "client_tls_ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256");
	SSL_CTX *acc = tls_client_side_ctx(cfg, err, sizeof(err));
	SSL_CTX *con = tls_server_side_ctx(cfg, err, sizeof(err));
	Pair p;
	CHECK(acc && con && pair_open(&p, acc, con) && pair_handshake(&p));
	tls_conn_describe(p.con, desc, sizeof(desc));
	CHECK_STR(desc, "TLSv1.2/ECDHE-ECDSA-AES128-GCM-SHA256");
	pair_close(&p);
	SSL_CTX_free(acc);
	SSL_CTX_free(con);
	config_free(cfg);
}

/* 1 MiB through a socketpair: partial writes and WANT_WRITE, data intact. */
static void test_bulk_transfer(void)
{
	enum { TOTAL = 1 << 20 };
	char err[300] = "";
	if (!certs_make())
		return;
	Config *cfg = cfg_pair("server", "require", NULL);
	SSL_CTX *acc = tls_client_side_ctx(cfg, err, sizeof(err));
	SSL_CTX *con = tls_server_side_ctx(cfg, err, sizeof(err));
	unsigned char *out = xmalloc(TOTAL), *in = xmalloc(TOTAL);
	for (size_t i = 0; i < TOTAL; i++)
		out[i] = (unsigned char)(i * 7 + (i >> 9));
	Pair p;
	size_t sent = 0, got = 0;
	int want_write = 0, rounds = 0;
	CHECK(acc && con && pair_open(&p, acc, con) && pair_handshake(&p));
	while (got < TOTAL && rounds++ < 100000) {
		TlsIo st = TLS_IO_OK;
		ssize_t n;
		/* write until the socket is full, then drain the other end */
		while (sent < TOTAL && (n = tls_write(p.con, out + sent, TOTAL - sent, &st)) > 0)
			sent += (size_t)n;
		want_write += st == TLS_IO_WANT_WRITE;
		if (st == TLS_IO_ERROR)
			break;
		while ((n = tls_read(p.acc, in + got, TOTAL - got, &st)) > 0)
			got += (size_t)n;
		if (st == TLS_IO_ERROR)
			break;
	}
	CHECK(sent == TOTAL && got == TOTAL);
	CHECK(want_write > 0);
	CHECK(memcmp(in, out, TOTAL) == 0);
	pair_close(&p);
	free(in);
	free(out);
	SSL_CTX_free(acc);
	SSL_CTX_free(con);
	config_free(cfg);
}

/* A client offering ALPN without "postgresql" is refused, as PostgreSQL 17 does. */
static void test_alpn_required(void)
{
	char err[300] = "";
	if (!certs_make())
		return;
	Config *cfg = cfg_pair("server", "require", NULL);
	SSL_CTX *acc = tls_client_side_ctx(cfg, err, sizeof(err));
	SSL_CTX *con = tls_server_side_ctx(cfg, err, sizeof(err));
	Pair p;
	CHECK(acc && con && pair_open(&p, acc, con));
	static const unsigned char h2[] = "\x02h2";
	CHECK(SSL_set_alpn_protos(tls_conn_ssl(p.con), h2, 3) == 0);
	CHECK(!pair_handshake(&p));
	CHECK_MSG(strstr(p.why, "no application protocol") != NULL, p.why);
	pair_close(&p);
	SSL_CTX_free(acc);
	SSL_CTX_free(con);
	config_free(cfg);
}

/* The bytes of a non-TLS peer must fail the handshake with a message, not hang. */
static void test_garbage_peer(void)
{
	char err[300] = "";
	if (!certs_make())
		return;
	Config *cfg = cfg_pair("server", "require", NULL);
	SSL_CTX *acc = tls_client_side_ctx(cfg, err, sizeof(err));
	int fd[2];
	CHECK(acc && socketpair(AF_UNIX, SOCK_STREAM, 0, fd) == 0);
	fcntl(fd[0], F_SETFL, O_NONBLOCK);
	static const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	CHECK(write(fd[1], junk, sizeof(junk) - 1) == (ssize_t)(sizeof(junk) - 1));
	TlsConn *c = tls_conn_new(acc, fd[0], true);
	CHECK(c && tls_handshake(c) == TLS_IO_ERROR);
	CHECK_MSG(c && strstr(tls_conn_error(c), "TLS handshake failed: "),
		  c ? tls_conn_error(c) : "");
	tls_conn_free(c);
	close(fd[0]);
	close(fd[1]);
	SSL_CTX_free(acc);
	config_free(cfg);
}

static void test_config_changed(void)
{
	static const char *const changes[][2] = {
		{ "client_tls_sslmode", "require" },
		{ "client_tls_key_file", "/k" },
		{ "client_tls_cert_file", "/c" },
		{ "client_tls_ca_file", "/ca" },
		{ "client_tls_protocols", "tlsv1.3" },
		{ "client_tls_ciphers", "HIGH" },
		{ "client_tls13_ciphers", "TLS_AES_128_GCM_SHA256" },
		{ "client_tls_ecdhcurve", "prime256v1" },
		{ "client_tls_dheparams", "none" },
		{ "server_tls_sslmode", "verify-full" },
		{ "server_tls_ca_file", "/ca" },
		{ "server_tls_key_file", "/k" },
		{ "server_tls_cert_file", "/c" },
		{ "server_tls_protocols", "all" },
		{ "server_tls_ciphers", "HIGH" },
		{ "server_tls13_ciphers", "TLS_AES_128_GCM_SHA256" },
	};
	Config *a = cfg_new();
	Config *b = cfg_new();
	CHECK(!tls_config_changed(a, b));
	set(b, "pool_mode", "transaction");
	CHECK(!tls_config_changed(a, b)); /* non-TLS settings do not count */
	for (size_t i = 0; i < ARRAY_SIZE(changes); i++) {
		Config *c = cfg_new();
		set(c, changes[i][0], changes[i][1]);
		CHECK_MSG(tls_config_changed(a, c) && tls_config_changed(c, a), changes[i][0]);
		config_free(c);
	}
	config_free(a);
	config_free(b);
}

TAP_MAIN({ "certs", test_certs }, { "handshake_ok", test_handshake_ok },
	 { "eof_without_close_notify", test_eof_without_close_notify },
	 { "server_verification", test_server_verification },
	 { "server_hostname_rules", test_server_hostname_rules }, { "protocols", test_protocols },
	 { "client_certificates", test_client_certificates },
	 { "key_and_cert_errors", test_key_and_cert_errors }, { "ca_errors", test_ca_errors },
	 { "cipher_and_group_options", test_cipher_and_group_options },
	 { "tls12_cipher_choice", test_tls12_cipher_choice },
	 { "bulk_transfer", test_bulk_transfer }, { "alpn_required", test_alpn_required },
	 { "garbage_peer", test_garbage_peer }, { "config_changed", test_config_changed })
