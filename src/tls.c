/*
 * TLS contexts and connections (see tls.h). Turns the client_tls_* and server_tls_*
 * options into OpenSSL 3 SSL_CTX objects with messages that name the offending option,
 * and wraps SSL_do_handshake / SSL_read / SSL_write into the TlsIo convention for a
 * non-blocking fd. Owns no sockets and no buffers: the fd belongs to the caller, so the
 * integrator can put this behind the sbuf I/O vtable. Defaults are chosen to be hard to
 * get wrong: no renegotiation, no compression, no passphrase prompts, no anonymous
 * ciphers, and a verified certificate before a CommonName is ever reported.
 */
#include "tls.h"

#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509v3.h>

/* ALPN protocol list in wire format: length-prefixed "postgresql". */
static const unsigned char alpn_postgresql[] = "\x0apostgresql";
#define ALPN_POSTGRESQL_LEN 11

/* Protocol version bits for *_tls_protocols. */
enum { PROTO_TLS10 = 1, PROTO_TLS11 = 2, PROTO_TLS12 = 4, PROTO_TLS13 = 8 };

struct TlsConn {
	SSL *ssl;
	bool server_role;
	char *cn; /* cached tls_peer_cn() answer; owned */
	char err[256];
};

/* The option names of one leg, so one code path serves both with precise messages. */
typedef struct TlsLeg {
	const char *prefix; /* "client" or "server" */
	TlsMode mode;
	const char *key_file, *cert_file, *ca_file;
	const char *protocols, *ciphers, *tls13_ciphers;
} TlsLeg;

static void set_err(char *err, size_t errlen, const char *fmt, ...) PRINTF(3, 4);

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (!errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* The first queued OpenSSL error (usually the root cause) as text; clears the queue. */
static const char *openssl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();
	const char *reason = e ? ERR_reason_error_string(e) : NULL;
	if (e && ERR_SYSTEM_ERROR(e))
		snprintf(buf, len, "%s", strerror(ERR_GET_REASON(e)));
	else if (e && ERR_GET_LIB(e) == ERR_LIB_OSSL_DECODER)
		snprintf(buf, len, "unsupported or malformed contents");
	else if (reason)
		snprintf(buf, len, "%s", reason);
	else if (e)
		ERR_error_string_n(e, buf, len);
	else
		snprintf(buf, len, "unknown error");
	ERR_clear_error();
	return buf;
}

/* ---- ex_data: the sslmode a context was made for ---- */

static int mode_index(void)
{
	static int index = -1;
	if (index < 0)
		index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	return index;
}

static void ctx_set_mode(SSL_CTX *ctx, TlsMode mode)
{
	SSL_CTX_set_ex_data(ctx, mode_index(), (void *)(intptr_t)(mode + 1));
}

static TlsMode ctx_get_mode(const SSL_CTX *ctx)
{
	intptr_t v = (intptr_t)SSL_CTX_get_ex_data(ctx, mode_index());
	return v > 0 ? (TlsMode)(v - 1) : TLS_MODE_DISABLE;
}

/* ---- option parsing ---- */

static bool protocol_word(const char *w, size_t n, unsigned *bits)
{
	static const struct {
		const char *name;
		unsigned bits;
	} words[] = {
		{ "tlsv1", PROTO_TLS10 },
		{ "tlsv1.0", PROTO_TLS10 },
		{ "tlsv1.1", PROTO_TLS11 },
		{ "tlsv1.2", PROTO_TLS12 },
		{ "tlsv1.3", PROTO_TLS13 },
		{ "secure", PROTO_TLS12 | PROTO_TLS13 },
		{ "default", PROTO_TLS12 | PROTO_TLS13 },
		{ "all", PROTO_TLS10 | PROTO_TLS11 | PROTO_TLS12 | PROTO_TLS13 },
		{ "legacy", PROTO_TLS10 | PROTO_TLS11 | PROTO_TLS12 | PROTO_TLS13 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(words); i++) {
		if (strlen(words[i].name) == n && strncasecmp(w, words[i].name, n) == 0) {
			*bits |= words[i].bits;
			return true;
		}
	}
	return false;
}

/* "tlsv1.2,tlsv1.3", "secure", "all", "legacy" (commas and/or blanks) into bits. */
static bool protocols_parse(const TlsLeg *leg, unsigned *bits, char *err, size_t errlen)
{
	const char *p = leg->protocols;
	*bits = 0;
	while (*p) {
		size_t n = strcspn(p, ", \t");
		if (n > 0 && !protocol_word(p, n, bits)) {
			set_err(err, errlen,
				"%s_tls_protocols: unknown protocol '%.*s' (expected tlsv1.0, "
				"tlsv1.1, "
				"tlsv1.2, tlsv1.3, secure, all or legacy)",
				leg->prefix, (int)n, p);
			return false;
		}
		p += n;
		p += strspn(p, ", \t");
	}
	if (*bits == 0)
		*bits = PROTO_TLS12 | PROTO_TLS13;
	return true;
}

bool tls_check_protocols(const char *prefix, const char *protocols, char *err, size_t errlen)
{
	TlsLeg leg = { .prefix = prefix, .protocols = protocols };
	unsigned bits;
	return protocols_parse(&leg, &bits, err, errlen);
}

static int proto_version(unsigned bit)
{
	switch (bit) {
	case PROTO_TLS10:
		return TLS1_VERSION;
	case PROTO_TLS11:
		return TLS1_1_VERSION;
	case PROTO_TLS12:
		return TLS1_2_VERSION;
	default:
		return TLS1_3_VERSION;
	}
}

/* Lowest and highest enabled version as the range; a gap inside it is switched off. */
static bool protocols_apply(SSL_CTX *ctx, const TlsLeg *leg, char *err, size_t errlen)
{
	static const uint64_t no_opt[] = { SSL_OP_NO_TLSv1, SSL_OP_NO_TLSv1_1, SSL_OP_NO_TLSv1_2,
					   SSL_OP_NO_TLSv1_3 };
	unsigned bits, lo = 0, hi = 0;
	if (!protocols_parse(leg, &bits, err, errlen))
		return false;
	for (unsigned b = 1; b <= PROTO_TLS13; b <<= 1) {
		if (bits & b) {
			lo = lo ? lo : b;
			hi = b;
		}
	}
	if (!SSL_CTX_set_min_proto_version(ctx, proto_version(lo)) ||
	    !SSL_CTX_set_max_proto_version(ctx, proto_version(hi))) {
		set_err(err, errlen, "%s_tls_protocols: not supported by this OpenSSL",
			leg->prefix);
		return false;
	}
	for (unsigned i = 0, b = 1; b <= PROTO_TLS13; b <<= 1, i++)
		if (b > lo && b < hi && !(bits & b))
			SSL_CTX_set_options(ctx, no_opt[i]);
	return true;
}

static bool is_default_word(const char *v)
{
	return v[0] == '\0' || strcasecmp(v, "default") == 0 || strcasecmp(v, "secure") == 0 ||
	       strcasecmp(v, "fast") == 0 || strcasecmp(v, "normal") == 0;
}

/*
 * *_tls_ciphers (TLS <= 1.2) and *_tls13_ciphers. "all" still excludes anonymous and
 * null ciphers: an anonymous suite would let a server skip certificate verification.
 */
static bool ciphers_apply(SSL_CTX *ctx, const TlsLeg *leg, char *err, size_t errlen)
{
	char why[160];
	const char *list = leg->ciphers;
	if (strcasecmp(list, "all") == 0)
		list = "ALL:!aNULL:!eNULL";
	if (!is_default_word(list) && !SSL_CTX_set_cipher_list(ctx, list)) {
		set_err(err, errlen, "%s_tls_ciphers '%s': %s", leg->prefix, leg->ciphers,
			openssl_reason(why, sizeof(why)));
		return false;
	}
	if (leg->tls13_ciphers[0] && !SSL_CTX_set_ciphersuites(ctx, leg->tls13_ciphers)) {
		set_err(err, errlen, "%s_tls13_ciphers '%s': %s", leg->prefix, leg->tls13_ciphers,
			openssl_reason(why, sizeof(why)));
		return false;
	}
	return true;
}

/* client_tls_ecdhcurve: auto (OpenSSL's groups), none (finite-field groups only), names. */
static bool ecdh_apply(SSL_CTX *ctx, const char *value, char *err, size_t errlen)
{
	const char *groups = value;
	if (value[0] == '\0' || strcasecmp(value, "auto") == 0)
		return true;
	if (strcasecmp(value, "none") == 0)
		groups = "ffdhe2048:ffdhe3072:ffdhe4096:ffdhe6144:ffdhe8192";
	if (!SSL_CTX_set1_groups_list(ctx, groups)) {
		ERR_clear_error();
		set_err(err, errlen,
			"client_tls_ecdhcurve '%s': unknown curve (expected auto, none "
			"or curve names such as prime256v1 or X25519)",
			value);
		return false;
	}
	return true;
}

/* The 1024-bit MODP group of RFC 2409 (generator 2), for dheparams=legacy. */
static EVP_PKEY *dh_legacy_1024(void)
{
	BIGNUM *p = BN_get_rfc2409_prime_1024(NULL), *g = BN_new();
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	EVP_PKEY *pkey = NULL;
	if (!p || !g || !bld || !BN_set_word(g, 2) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_FFC_P, p) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_FFC_G, g))
		goto done;
	params = OSSL_PARAM_BLD_to_param(bld);
	pctx = EVP_PKEY_CTX_new_from_name(NULL, "DH", NULL);
	if (params && pctx && EVP_PKEY_fromdata_init(pctx) == 1 &&
	    EVP_PKEY_fromdata(pctx, &pkey, EVP_PKEY_KEY_PARAMETERS, params) != 1)
		pkey = NULL;
done:
	EVP_PKEY_CTX_free(pctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(p);
	BN_free(g);
	return pkey;
}

/* client_tls_dheparams: none, auto (sized to the certificate, >= 2048 bits), legacy. */
static bool dhe_apply(SSL_CTX *ctx, const char *value, char *err, size_t errlen)
{
	char why[160];
	bool none = strcasecmp(value, "none") == 0;
	if (none || value[0] == '\0' || strcasecmp(value, "auto") == 0) {
		SSL_CTX_set_dh_auto(ctx, none ? 0 : 1);
		return true;
	}
	if (strcasecmp(value, "legacy") != 0) {
		set_err(err, errlen, "client_tls_dheparams '%s': expected none, auto or legacy",
			value);
		return false;
	}
	EVP_PKEY *dh = dh_legacy_1024();
	if (!dh || !SSL_CTX_set0_tmp_dh_pkey(ctx, dh)) {
		EVP_PKEY_free(dh);
		set_err(err, errlen, "client_tls_dheparams legacy (1024-bit DH): %s",
			openssl_reason(why, sizeof(why)));
		return false;
	}
	return true;
}

/* ---- certificates and keys ---- */

/*
 * Never prompt on the terminal for a passphrase: an encrypted key is an error. The
 * userdata flag records that a passphrase was wanted, for the message.
 */
static int no_passphrase(char *buf, int size, int rwflag, void *userdata)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	if (userdata)
		*(bool *)userdata = true;
	return -1;
}

static bool key_mismatch_queued(void)
{
	unsigned long e = ERR_peek_error();
	return ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH;
}

static bool key_load(SSL_CTX *ctx, const TlsLeg *leg, char *err, size_t errlen)
{
	char why[160];
	bool wanted_passphrase = false;
	SSL_CTX_set_default_passwd_cb_userdata(ctx, &wanted_passphrase);
	int ok = SSL_CTX_use_PrivateKey_file(ctx, leg->key_file, SSL_FILETYPE_PEM);
	SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL);
	if (ok == 1 && SSL_CTX_check_private_key(ctx) == 1)
		return true;
	if (ok == 1 || key_mismatch_queued())
		set_err(err, errlen, "%s_tls_key_file '%s' does not match %s_tls_cert_file '%s'",
			leg->prefix, leg->key_file, leg->prefix, leg->cert_file);
	else if (wanted_passphrase)
		set_err(err, errlen,
			"%s_tls_key_file '%s' is encrypted with a passphrase, which is not "
			"supported",
			leg->prefix, leg->key_file);
	else
		set_err(err, errlen, "%s_tls_key_file '%s': cannot load private key: %s",
			leg->prefix, leg->key_file, openssl_reason(why, sizeof(why)));
	ERR_clear_error();
	return false;
}

/* PostgreSQL refuses group/world-readable keys; the pooler only warns (PgBouncer doesn't). */
static void key_permissions_check(const TlsLeg *leg)
{
	struct stat st;
	if (stat(leg->key_file, &st) != 0)
		return;
	bool loose = (st.st_mode & S_IRWXO) || (st.st_uid != 0 && (st.st_mode & S_IRWXG));
	if (loose)
		log_warning("%s_tls_key_file '%s' is readable by other users (mode %04o)",
			    leg->prefix, leg->key_file, (unsigned)(st.st_mode & 07777));
}

static bool identity_load(SSL_CTX *ctx, const TlsLeg *leg, bool required, char *err, size_t errlen)
{
	char why[160];
	bool has_key = leg->key_file[0], has_cert = leg->cert_file[0];
	if (!has_key && !has_cert) {
		if (required)
			set_err(err, errlen,
				"%s_tls_key_file and %s_tls_cert_file must be set to accept TLS "
				"connections",
				leg->prefix, leg->prefix);
		return !required;
	}
	if (!has_key || !has_cert) {
		set_err(err, errlen, "%s_tls_%s_file is set but %s_tls_%s_file is not", leg->prefix,
			has_key ? "key" : "cert", leg->prefix, has_key ? "cert" : "key");
		return false;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, leg->cert_file) != 1) {
		set_err(err, errlen, "%s_tls_cert_file '%s': cannot load certificate: %s",
			leg->prefix, leg->cert_file, openssl_reason(why, sizeof(why)));
		return false;
	}
	if (!key_load(ctx, leg, err, errlen))
		return false;
	key_permissions_check(leg);
	return true;
}

static bool ca_load(SSL_CTX *ctx, const TlsLeg *leg, char *err, size_t errlen)
{
	char why[160];
	if (SSL_CTX_load_verify_locations(ctx, leg->ca_file, NULL) != 1) {
		set_err(err, errlen, "%s_tls_ca_file '%s': cannot load CA certificates: %s",
			leg->prefix, leg->ca_file, openssl_reason(why, sizeof(why)));
		return false;
	}
	return true;
}

/* ---- contexts ---- */

static SSL_CTX *ctx_new(const TlsLeg *leg, bool server_role, char *err, size_t errlen)
{
	char why[160];
	SSL_CTX *ctx = SSL_CTX_new(server_role ? TLS_server_method() : TLS_client_method());
	if (!ctx) {
		set_err(err, errlen, "%s TLS: cannot create context: %s", leg->prefix,
			openssl_reason(why, sizeof(why)));
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
					 SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				      SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
	ctx_set_mode(ctx, leg->mode);
	if (!protocols_apply(ctx, leg, err, errlen) || !ciphers_apply(ctx, leg, err, errlen)) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* A client that offers ALPN must offer "postgresql", as PostgreSQL 17 requires. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	unsigned char *sel;
	if (SSL_select_next_proto(&sel, outlen, alpn_postgresql, ALPN_POSTGRESQL_LEN, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

/* In the optional modes a bad client certificate must not end the handshake. */
static int verify_optional(int preverify_ok, X509_STORE_CTX *store)
{
	(void)preverify_ok;
	(void)store;
	return 1;
}

static bool client_side_verify(SSL_CTX *ctx, const TlsLeg *leg, char *err, size_t errlen)
{
	bool required = leg->mode >= TLS_MODE_VERIFY_CA;
	if (!leg->ca_file[0]) {
		if (required) {
			set_err(err, errlen, "client_tls_sslmode=%s requires client_tls_ca_file",
				leg->mode == TLS_MODE_VERIFY_CA ? "verify-ca" : "verify-full");
			return false;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		return true;
	}
	if (!ca_load(ctx, leg, err, errlen))
		return false;
	STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(leg->ca_file);
	if (names)
		SSL_CTX_set_client_CA_list(ctx, names);
	ERR_clear_error();
	if (required)
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	else
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_optional);
	return true;
}

static bool client_side_setup(SSL_CTX *ctx, const Config *cfg, const TlsLeg *leg, char *err,
			      size_t errlen)
{
	static const unsigned char session_ctx[] = "pgsplit";
	/* no session resumption: every client proves itself with a full handshake */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_id_context(ctx, session_ctx, sizeof(session_ctx) - 1);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	return identity_load(ctx, leg, true, err, errlen) &&
	       client_side_verify(ctx, leg, err, errlen) &&
	       ecdh_apply(ctx, cfg->client_tls_ecdhcurve, err, errlen) &&
	       dhe_apply(ctx, cfg->client_tls_dheparams, err, errlen);
}

SSL_CTX *tls_client_side_ctx(const Config *cfg, char *err, size_t errlen)
{
	TlsLeg leg = { "client",
		       cfg->client_tls_sslmode,
		       cfg->client_tls_key_file,
		       cfg->client_tls_cert_file,
		       cfg->client_tls_ca_file,
		       cfg->client_tls_protocols,
		       cfg->client_tls_ciphers,
		       cfg->client_tls13_ciphers };
	SSL_CTX *ctx = ctx_new(&leg, true, err, errlen);
	if (ctx && !client_side_setup(ctx, cfg, &leg, err, errlen)) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/*
 * verify-ca with the system trust store would accept any publicly signed certificate
 * for any host, so it needs an explicit CA file; verify-full may use the system store
 * (libpq's sslrootcert=system makes the same distinction).
 */
static bool server_side_verify(SSL_CTX *ctx, const TlsLeg *leg, char *err, size_t errlen)
{
	char why[160];
	if (leg->mode < TLS_MODE_VERIFY_CA) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		return true;
	}
	if (leg->ca_file[0]) {
		if (!ca_load(ctx, leg, err, errlen))
			return false;
	} else if (leg->mode == TLS_MODE_VERIFY_CA) {
		set_err(err, errlen, "server_tls_sslmode=verify-ca requires server_tls_ca_file");
		return false;
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		set_err(err, errlen,
			"server_tls_sslmode=verify-full: no server_tls_ca_file and the "
			"system trust store cannot be loaded: %s",
			openssl_reason(why, sizeof(why)));
		return false;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return true;
}

SSL_CTX *tls_server_side_ctx(const Config *cfg, char *err, size_t errlen)
{
	TlsLeg leg = { "server",
		       cfg->server_tls_sslmode,
		       cfg->server_tls_key_file,
		       cfg->server_tls_cert_file,
		       cfg->server_tls_ca_file,
		       cfg->server_tls_protocols,
		       cfg->server_tls_ciphers,
		       cfg->server_tls13_ciphers };
	SSL_CTX *ctx = ctx_new(&leg, false, err, errlen);
	if (!ctx)
		return NULL;
	if (!identity_load(ctx, &leg, false, err, errlen) ||
	    !server_side_verify(ctx, &leg, err, errlen))
		goto fail;
	/* SSL_CTX_set_alpn_protos returns 0 on success */
	if (SSL_CTX_set_alpn_protos(ctx, alpn_postgresql, ALPN_POSTGRESQL_LEN) != 0) {
		ERR_clear_error();
		set_err(err, errlen, "server TLS: cannot set ALPN");
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* ---- host name checks ---- */

static bool is_ip_literal(const char *host)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

bool tls_set_server_hostname(SSL *ssl, const char *host)
{
	bool full = ctx_get_mode(SSL_get_SSL_CTX(ssl)) == TLS_MODE_VERIFY_FULL;
	bool usable = host && host[0] && host[0] != '/' && host[0] != '@';
	if (!usable)
		return !full;
	bool ip = is_ip_literal(host);
	/* RFC 6066: SNI carries host names only, never address literals */
	if (!ip && SSL_set_tlsext_host_name(ssl, host) != 1) {
		ERR_clear_error();
		return false;
	}
	if (!full)
		return true;
	X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
	X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host)
		    : X509_VERIFY_PARAM_set1_host(param, host, 0);
	ERR_clear_error();
	return ok == 1;
}

/* ---- connections ---- */

TlsConn *tls_conn_new(SSL_CTX *ctx, int fd, bool server_role)
{
	SSL *ssl = SSL_new(ctx);
	if (!ssl || SSL_set_fd(ssl, fd) != 1) {
		SSL_free(ssl);
		ERR_clear_error();
		return NULL;
	}
	if (server_role)
		SSL_set_accept_state(ssl);
	else
		SSL_set_connect_state(ssl);
	TlsConn *c = xcalloc(1, sizeof(*c));
	c->ssl = ssl;
	c->server_role = server_role;
	return c;
}

void tls_conn_free(TlsConn *c)
{
	if (!c)
		return;
	SSL_free(c->ssl);
	free(c->cn);
	free(c);
}

bool tls_conn_set_server_hostname(TlsConn *c, const char *host)
{
	return tls_set_server_hostname(c->ssl, host);
}

SSL *tls_conn_ssl(TlsConn *c)
{
	return c->ssl;
}

const char *tls_conn_error(const TlsConn *c)
{
	return c->err;
}

/* Fill conn->err for a failed call; names a failed certificate check precisely. */
static void conn_error(TlsConn *c, int code, const char *what)
{
	char why[160];
	long vr = SSL_get_verify_result(c->ssl);
	if (code == SSL_ERROR_SYSCALL) {
		ERR_clear_error();
		snprintf(c->err, sizeof(c->err), "%s: %s", what,
			 errno ? strerror(errno) : "connection closed by peer");
	} else if (vr != X509_V_OK &&
		   ERR_GET_REASON(ERR_peek_error()) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
		ERR_clear_error();
		snprintf(c->err, sizeof(c->err), "%s: certificate verify failed: %s", what,
			 X509_verify_cert_error_string(vr));
	} else {
		snprintf(c->err, sizeof(c->err), "%s: %s", what, openssl_reason(why, sizeof(why)));
	}
}

static TlsIo conn_status(TlsConn *c, int ret, const char *what)
{
	int code = SSL_get_error(c->ssl, ret);
	switch (code) {
	case SSL_ERROR_WANT_READ:
		return TLS_IO_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return TLS_IO_WANT_WRITE;
	default:
		conn_error(c, code, what);
		return TLS_IO_ERROR;
	}
}

/* A verifying client must have seen a certificate (no anonymous suite slipped through). */
static bool handshake_peer_ok(TlsConn *c)
{
	if (c->server_role || !(SSL_get_verify_mode(c->ssl) & SSL_VERIFY_PEER))
		return true;
	if (SSL_get0_peer_certificate(c->ssl) && SSL_get_verify_result(c->ssl) == X509_V_OK)
		return true;
	snprintf(c->err, sizeof(c->err),
		 "TLS handshake: the server presented no verified certificate");
	return false;
}

TlsIo tls_handshake(TlsConn *c)
{
	c->err[0] = '\0';
	ERR_clear_error();
	int ret = SSL_do_handshake(c->ssl);
	if (ret == 1)
		return handshake_peer_ok(c) ? TLS_IO_OK : TLS_IO_ERROR;
	return conn_status(c, ret, "TLS handshake failed");
}

ssize_t tls_read(TlsConn *c, void *buf, size_t len, TlsIo *status)
{
	c->err[0] = '\0';
	ERR_clear_error();
	int n = SSL_read(c->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
	if (n > 0) {
		*status = TLS_IO_OK;
		return n;
	}
	if (SSL_get_error(c->ssl, n) == SSL_ERROR_ZERO_RETURN) {
		*status = TLS_IO_OK;
		return 0;
	}
	*status = conn_status(c, n, "TLS read failed");
	return -1;
}

ssize_t tls_write(TlsConn *c, const void *buf, size_t len, TlsIo *status)
{
	c->err[0] = '\0';
	*status = TLS_IO_OK;
	if (len == 0)
		return 0;
	ERR_clear_error();
	int n = SSL_write(c->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
	if (n > 0)
		return n;
	*status = conn_status(c, n, "TLS write failed");
	return -1;
}

size_t tls_pending(const TlsConn *c)
{
	int n = SSL_pending(c->ssl);
	return n > 0 ? (size_t)n : 0;
}

TlsIo tls_shutdown(TlsConn *c)
{
	c->err[0] = '\0';
	if (!SSL_is_init_finished(c->ssl))
		return TLS_IO_OK;
	ERR_clear_error();
	int ret = SSL_shutdown(c->ssl);
	if (ret >= 0)
		return TLS_IO_OK;
	return conn_status(c, ret, "TLS shutdown failed");
}

/*
 * With SSL_VERIFY_NONE OpenSSL reports X509_V_OK for anything, so a certificate counts
 * as verified only if verification was switched on for this connection.
 */
static bool peer_verified(SSL *ssl)
{
	return SSL_is_init_finished(ssl) && SSL_get0_peer_certificate(ssl) &&
	       (SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) &&
	       SSL_get_verify_result(ssl) == X509_V_OK;
}

bool tls_peer_cert_verified(TlsConn *c)
{
	return peer_verified(c->ssl);
}

/* The single CommonName of a verified peer certificate, as UTF-8 without NULs. */
static char *verified_cn(SSL *ssl)
{
	X509 *cert = SSL_get0_peer_certificate(ssl);
	if (!peer_verified(ssl))
		return NULL;
	X509_NAME *name = X509_get_subject_name(cert);
	int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	if (idx < 0 || X509_NAME_get_index_by_NID(name, NID_commonName, idx) >= 0)
		return NULL;
	unsigned char *utf8 = NULL;
	int len = ASN1_STRING_to_UTF8(&utf8,
				      X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx)));
	char *cn = NULL;
	if (len > 0 && !memchr(utf8, '\0', (size_t)len)) {
		cn = xmalloc((size_t)len + 1);
		memcpy(cn, utf8, (size_t)len);
		cn[len] = '\0';
	}
	OPENSSL_free(utf8);
	ERR_clear_error();
	return cn;
}

const char *tls_peer_cn(TlsConn *c)
{
	if (!c->cn)
		c->cn = verified_cn(c->ssl);
	return c->cn;
}

bool tls_conn_alpn_postgresql(const TlsConn *c)
{
	const unsigned char *proto = NULL;
	unsigned int len = 0;
	SSL_get0_alpn_selected(c->ssl, &proto, &len);
	return proto && len == ALPN_POSTGRESQL_LEN - 1 &&
	       memcmp(proto, alpn_postgresql + 1, len) == 0;
}

void tls_conn_describe(const TlsConn *c, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl));
}

/* ---- reload ---- */

static bool str_differs(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") != 0;
}

bool tls_config_changed(const Config *a, const Config *b)
{
	const char *const sa[] = { a->client_tls_key_file,  a->client_tls_cert_file,
				   a->client_tls_ca_file,   a->client_tls_protocols,
				   a->client_tls_ciphers,   a->client_tls13_ciphers,
				   a->client_tls_ecdhcurve, a->client_tls_dheparams,
				   a->server_tls_ca_file,   a->server_tls_key_file,
				   a->server_tls_cert_file, a->server_tls_protocols,
				   a->server_tls_ciphers,   a->server_tls13_ciphers };
	const char *const sb[] = { b->client_tls_key_file,  b->client_tls_cert_file,
				   b->client_tls_ca_file,   b->client_tls_protocols,
				   b->client_tls_ciphers,   b->client_tls13_ciphers,
				   b->client_tls_ecdhcurve, b->client_tls_dheparams,
				   b->server_tls_ca_file,   b->server_tls_key_file,
				   b->server_tls_cert_file, b->server_tls_protocols,
				   b->server_tls_ciphers,   b->server_tls13_ciphers };
	if (a->client_tls_sslmode != b->client_tls_sslmode ||
	    a->server_tls_sslmode != b->server_tls_sslmode)
		return true;
	for (size_t i = 0; i < ARRAY_SIZE(sa); i++)
		if (str_differs(sa[i], sb[i]))
			return true;
	return false;
}
