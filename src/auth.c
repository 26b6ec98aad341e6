/*
 * Client authentication (see auth.h). On success calls client_auth_ok(); on failure
 * closes the client with PostgreSQL's message and SQLSTATE 28P01, the same for a wrong
 * password and an unknown user.
 */
#include "auth.h"
#include "authfile.h"
#include "authquery.h"
#include "client.h"
#include "hba.h"
#include "tls.h"
#include "log.h"
#include "md5.h"
#include "pg_wire.h"
#include "pktbuf.h"
#include "proto.h"
#include "runtime.h"
#include "secret_verify.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pwd.h>
#include <stdio.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>

static void auth_fail(Client *c, const char *why)
{
	char msg[256];
	if (why)
		log_client(LOG_LVL_INFO, c, "%s@%s login failed: %s", c->user_name,
			 c->conn.addr_text, why);
	snprintf(msg, sizeof(msg), "password authentication failed for user \"%s\"", c->user_name);
	client_close_error(c, SQLSTATE_INVALID_PASSWORD, msg);
}

static void send_auth_request(Client *c, uint32_t code, const void *data, size_t len)
{
	PktBuf pb;
	pktbuf_init(&pb, 64, 0);
	pktbuf_put_auth_request(&pb, code, data, len);
	client_send_pkt(c, &pb);
	pktbuf_free(&pb);
}

/*
 * This login's secret: what auth_query just returned, else auth_file's, read from the
 * file itself since the client has no PoolUser before it authenticates.
 */
static const char *stored_secret(const Client *c)
{
	if (c->lookup_secret)
		return c->lookup_secret;
	return authfile_lookup(rt.authfile, c->user_name);
}

/* Success: a looked-up secret now serves this (database, user) pool's server logins. */
static void auth_ok(Client *c)
{
	if (!client_login_bind(c))
		return;
	authquery_adopt_secret(c);
	client_auth_ok(c);
}

static void begin_scram(Client *c)
{
	static const char mechs[] = "SCRAM-SHA-256\0";
	c->auth_phase = AUTH_PHASE_SCRAM_FIRST;
	send_auth_request(c, PG_AUTH_SASL, mechs, sizeof(mechs));
}

static void begin_md5(Client *c)
{
	if (RAND_bytes(c->md5_salt, sizeof(c->md5_salt)) != 1) {
		client_close_error(c, SQLSTATE_PROTOCOL_VIOLATION, "could not generate random salt");
		return;
	}
	c->auth_phase = AUTH_PHASE_MD5;
	send_auth_request(c, PG_AUTH_MD5, c->md5_salt, 4);
}

static void auth_fail_hba(Client *c)
{
	char msg[300];
	if (c->replication == REPLICATION_PHYSICAL)
		snprintf(msg, sizeof(msg), "no pg_hba.conf entry for replication connection from host \"%s\", user \"%s\"",
			 c->conn.addr_text, c->user_name);
	else
		snprintf(msg, sizeof(msg), "no pg_hba.conf entry for host \"%s\", user \"%s\", database \"%s\"",
			 c->conn.addr_text, c->user_name, c->db_name ? c->db_name : "");
	client_close_error(c, SQLSTATE_INVALID_AUTH, msg);
}

/*
 * As PostgreSQL matches: a physical replication connection against the "replication"
 * keyword of the database column, a logical one against its database name.
 */
static const HbaRule *hba_rule_for(const Client *c, HbaConnType type)
{
	const struct sockaddr *addr = (const struct sockaddr *)&c->conn.addr;
	if (c->replication == REPLICATION_PHYSICAL)
		return hba_match_replication(rt.hba, type, addr, c->user_name);
	return hba_match(rt.hba, type, addr, c->is_admin ? "pgbouncer" : c->db_name, c->user_name);
}

/* The OS user of a Unix-socket peer, for peer rules. */
static bool peer_os_user(const Client *c, char *buf, size_t len)
{
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	struct passwd pw, *res = NULL;
	char pwbuf[1024];
	if (getsockopt(c->conn.fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0)
		return false;
	if (getpwuid_r(cred.uid, &pw, pwbuf, sizeof(pwbuf), &res) != 0 || !res)
		return false;
	snprintf(buf, len, "%s", res->pw_name);
	return true;
}

/* A system identity (certificate CN or OS user) allowed as the database user? */
static bool identity_allowed(const HbaRule *rule, const char *system_user, const char *db_user)
{
	return system_user && ident_user_allowed(rt.ident, hba_rule_map(rule), system_user, db_user);
}

/* PostgreSQL's refusal for a method: named for cert and peer, a password failure else. */
static void auth_fail_method(Client *c, HbaMethod method)
{
	char msg[300];
	const char *what = method == HBA_METHOD_CERT ? "certificate" : method == HBA_METHOD_PEER ? "peer" : NULL;
	if (!what) {
		auth_fail(c, "client certificate is not for this user (clientcert=verify-full)");
		return;
	}
	snprintf(msg, sizeof(msg), "%s authentication failed for user \"%s\"", what, c->user_name);
	client_close_error(c, SQLSTATE_INVALID_AUTH, msg);
}

/*
 * cert authentication and clientcert=: a certificate verified against client_tls_ca_file
 * is required (an unverified one is never trusted), and with check_name its CN must be
 * the user (through the rule's map=, if any; rule NULL is auth_type = cert). Closes the
 * client with PostgreSQL's message when not.
 */
static bool client_cert_ok(Client *c, const HbaRule *rule, bool check_name)
{
	if (!c->conn.tls || !tls_peer_cert_verified(c->conn.tls)) {
		client_close_error(c, SQLSTATE_INVALID_AUTH, "connection requires a valid client certificate");
		return false;
	}
	const char *cn = tls_peer_cn(c->conn.tls);
	if (!check_name || (rule ? identity_allowed(rule, cn, c->user_name) : cn && strcmp(cn, c->user_name) == 0))
		return true;
	auth_fail_method(c, rule ? hba_rule_method(rule) : HBA_METHOD_CERT);
	return false;
}

/*
 * trust skips the password, not the user: the name must be in auth_file or found by
 * auth_query, as in PgBouncer (whose words the error keeps).
 */
static void auth_trust(Client *c)
{
	if (stored_secret(c) || c->lookup_found) {
		auth_ok(c);
		return;
	}
	log_client(LOG_LVL_INFO, c, "%s@%s login failed: user not in auth_file nor found by auth_query", c->user_name, c->conn.addr_text);
	client_close_error(c, SQLSTATE_INVALID_PASSWORD, "\"trust\" authentication failed");
}

/*
 * auth_type = hba: the first rule matching (connection type, address, database, user)
 * decides the method; no rule means rejection, as in PostgreSQL.
 */
static void auth_begin_hba(Client *c)
{
	bool is_unix = strcmp(c->conn.addr_text, "unix") == 0;
	HbaConnType type = is_unix ? HBA_CONN_LOCAL : c->conn.tls ? HBA_CONN_HOST_SSL : HBA_CONN_HOST_NOSSL;
	const HbaRule *rule = rt.hba ? hba_rule_for(c, type) : NULL;
	char who[256];
	if (!rule) {
		auth_fail_hba(c);
		return;
	}
	/* clientcert= is checked before the method runs (cert rules imply verify-full) */
	HbaClientCert cc = hba_rule_clientcert(rule);
	if (cc != HBA_CLIENTCERT_NONE && hba_rule_method(rule) != HBA_METHOD_REJECT &&
	    !client_cert_ok(c, rule, cc == HBA_CLIENTCERT_VERIFY_FULL))
		return;
	switch (hba_rule_method(rule)) {
	case HBA_METHOD_TRUST:
		auth_trust(c);
		return;
	case HBA_METHOD_REJECT:
		auth_fail_hba(c);
		return;
	case HBA_METHOD_PASSWORD:
		c->auth_phase = AUTH_PHASE_CLEARTEXT;
		send_auth_request(c, PG_AUTH_CLEARTEXT, NULL, 0);
		return;
	case HBA_METHOD_MD5: {
		const char *secret = stored_secret(c);
		if (secret && auth_secret_kind(secret) == SECRET_SCRAM)
			begin_scram(c);
		else
			begin_md5(c);
		return;
	}
	case HBA_METHOD_SCRAM:
		begin_scram(c);
		return;
	case HBA_METHOD_CERT:
		if (client_cert_ok(c, rule, true))
			auth_ok(c);
		return;
	case HBA_METHOD_PEER:
		if (is_unix && peer_os_user(c, who, sizeof(who)) && identity_allowed(rule, who, c->user_name))
			auth_ok(c);
		else
			auth_fail_method(c, HBA_METHOD_PEER);
		return;
	}
}

void auth_begin(Client *c)
{
	const char *secret = stored_secret(c);
	bool needs_lookup = rt.cfg->auth_type != AUTH_TYPE_ANY;
	if (!secret && needs_lookup && !c->is_admin && !c->auth_looked_up) {
		c->auth_looked_up = true;
		if (authquery_start(c))
			return;
	}
	switch (rt.cfg->auth_type) {
	case AUTH_TYPE_HBA:
		auth_begin_hba(c);
		return;
	case AUTH_TYPE_TRUST:
		auth_trust(c);
		return;
	case AUTH_TYPE_ANY:
		auth_ok(c);
		return;
	case AUTH_TYPE_PLAIN:
		c->auth_phase = AUTH_PHASE_CLEARTEXT;
		send_auth_request(c, PG_AUTH_CLEARTEXT, NULL, 0);
		return;
	case AUTH_TYPE_MD5:
		if (secret && auth_secret_kind(secret) == SECRET_SCRAM)
			begin_scram(c);
		else
			begin_md5(c);
		return;
	case AUTH_TYPE_SCRAM:
		begin_scram(c);
		return;
	case AUTH_TYPE_CERT:
		if (client_cert_ok(c, NULL, true))
			auth_ok(c);
		return;
	case AUTH_TYPE_PEER: {
		char who[256];
		if (strcmp(c->conn.addr_text, "unix") == 0 && peer_os_user(c, who, sizeof(who)) &&
		    strcmp(who, c->user_name) == 0)
			auth_ok(c);
		else
			client_close_error(c, SQLSTATE_INVALID_AUTH, "peer authentication failed");
		return;
	}
	default:
		client_close_error(c, SQLSTATE_INVALID_AUTH, "authentication method not supported by pgsplit yet");
		return;
	}
}

/* Does the cleartext password match the stored secret of any kind? */
static bool password_matches(const Client *c, const char *password)
{
	const char *secret = stored_secret(c);
	return secret && secret_matches_password(secret, c->user_name, password);
}

static void check_cleartext(Client *c, const uint8_t *body, size_t len)
{
	const char *pw = (const char *)body;
	if (len == 0 || memchr(body, 0, len) != body + len - 1) {
		client_close_error(c, SQLSTATE_PROTOCOL_VIOLATION, "invalid password packet");
		return;
	}
	if (!password_matches(c, pw)) {
		auth_fail(c, "wrong password");
		return;
	}
	auth_ok(c);
}

static void check_md5(Client *c, const uint8_t *body, size_t len)
{
	const char *secret = stored_secret(c);
	char md5_secret[MD5_SECRET_BUFSIZE], expected[MD5_SECRET_BUFSIZE];
	if (len == 0 || memchr(body, 0, len) != body + len - 1) {
		client_close_error(c, SQLSTATE_PROTOCOL_VIOLATION, "invalid password packet");
		return;
	}
	if (!secret) {
		auth_fail(c, "no password known for the user");
		return;
	}
	SecretKind kind = auth_secret_kind(secret);
	if (kind == SECRET_PLAIN)
		md5_password_secret(c->user_name, secret, md5_secret);
	else if (kind == SECRET_MD5)
		snprintf(md5_secret, sizeof(md5_secret), "%s", secret);
	else {
		auth_fail(c, "md5 answer for a SCRAM secret");
		return;
	}
	md5_salted_response(md5_secret, c->md5_salt, expected);
	if (strlen((const char *)body) != strlen(expected) ||
	    CRYPTO_memcmp(expected, body, strlen(expected)) != 0) {
		auth_fail(c, "wrong password");
		return;
	}
	auth_ok(c);
}

/* SASLInitialResponse: mechanism name, then int32 length and the client-first message. */
static void scram_first(Client *c, const uint8_t *body, size_t len)
{
	const char *mech = (const char *)body;
	const uint8_t *nul = memchr(body, 0, len);
	char err[256] = "";
	char *reply = NULL;
	if (!nul || (size_t)(len - (size_t)(nul - body) - 1) < 4) {
		client_close_error(c, SQLSTATE_PROTOCOL_VIOLATION, "malformed SASL message");
		return;
	}
	if (strcmp(mech, "SCRAM-SHA-256") != 0) {
		client_close_error(c, SQLSTATE_PROTOCOL_VIOLATION,
				   "client selected an invalid SASL authentication mechanism");
		return;
	}
	const uint8_t *p = nul + 1;
	uint32_t mlen = proto_read_be32(p);
	size_t rest = len - (size_t)(p + 4 - body);
	if (mlen > rest) {
		client_close_error(c, SQLSTATE_PROTOCOL_VIOLATION, "malformed SASL message");
		return;
	}
	const char *secret = stored_secret(c);
	ScramSecret stored;
	bool ok;
	if (!c->scram)
		c->scram = xcalloc(1, sizeof(ScramServer));
	if (secret && auth_secret_kind(secret) == SECRET_SCRAM && scram_parse_secret(secret, &stored))
		ok = scram_server_start(c->scram, &stored);
	else if (secret && auth_secret_kind(secret) == SECRET_PLAIN &&
		 scram_secret_from_password(secret, rt.cfg->scram_iterations, &stored))
		ok = scram_server_start(c->scram, &stored);
	else
		ok = scram_server_start_mock(c->scram, c->user_name);
	if (!ok || !scram_server_client_first(c->scram, (const char *)p + 4, mlen, &reply, err, sizeof(err))) {
		auth_fail(c, err[0] ? err : "SCRAM start failed");
		return;
	}
	c->auth_phase = AUTH_PHASE_SCRAM_FINAL;
	send_auth_request(c, PG_AUTH_SASL_CONTINUE, reply, strlen(reply));
	free(reply);
}

/*
 * The keys for logging in to servers with the user's stored secret: auth_file's go on the
 * user, a looked-up one's on the (database, user) pool only. Also adopts a looked-up secret.
 */
static void scram_keep_keys(Client *c)
{
	bool looked_up = c->lookup_secret != NULL;
	ScramSecret stored;
	const char *secret = stored_secret(c);
	bool have = c->scram->have_client_key && secret && auth_secret_kind(secret) == SECRET_SCRAM &&
		    scram_parse_secret(secret, &stored);
	LookupCreds *lc = authquery_adopt_secret(c);
	if (!have || (looked_up && !lc) || !c->user)
		return; /* the console has no PoolUser to keep them on */
	uint8_t *client_key = lc ? lc->scram_client_key : c->user->scram_client_key;
	uint8_t *server_key = lc ? lc->scram_server_key : c->user->scram_server_key;
	memcpy(client_key, c->scram->client_key, SCRAM_KEY_LEN);
	memcpy(server_key, stored.server_key, SCRAM_KEY_LEN);
	if (lc)
		lc->have_scram_keys = true;
	else
		c->user->have_scram_keys = true;
	OPENSSL_cleanse(&stored, sizeof(stored));
}

static void scram_final(Client *c, const uint8_t *body, size_t len)
{
	char err[256] = "";
	char *reply = NULL;
	if (!c->scram || !scram_server_client_final(c->scram, (const char *)body, len, &reply, err, sizeof(err))) {
		auth_fail(c, err[0] ? err : "wrong password");
		return;
	}
	send_auth_request(c, PG_AUTH_SASL_FINAL, reply, strlen(reply));
	free(reply);
	if (!client_login_bind(c))
		return;
	scram_keep_keys(c);
	scram_server_free(c->scram);
	free(c->scram);
	c->scram = NULL;
	client_auth_ok(c);
}

void auth_on_password_message(Client *c, const uint8_t *body, size_t len)
{
	switch (c->auth_phase) {
	case AUTH_PHASE_CLEARTEXT:
		check_cleartext(c, body, len);
		break;
	case AUTH_PHASE_MD5:
		check_md5(c, body, len);
		break;
	case AUTH_PHASE_SCRAM_FIRST:
		scram_first(c, body, len);
		break;
	case AUTH_PHASE_SCRAM_FINAL:
		scram_final(c, body, len);
		break;
	default:
		client_close_error(c, SQLSTATE_PROTOCOL_VIOLATION, "unexpected password message");
		break;
	}
}
