/*
 * auth_hba_file and auth_ident_file: parse PgBouncer's subset of PostgreSQL's pg_hba.conf
 * and pg_ident.conf into immutable rule sets, and answer "which rule applies to this
 * connection?" and "may this system user log in as that database user?". Pure: no
 * sockets, no pools, no configuration globals; the caller owns the loaded objects and
 * swaps them on reload. See doc/security.md for the exact syntax accepted.
 */
#ifndef PGSPLIT_HBA_H
#define PGSPLIT_HBA_H

#include "common.h"

#include <sys/socket.h>

/* How the client reached the pooler. A `host` rule matches both TCP kinds. */
typedef enum {
	HBA_CONN_LOCAL,	     /* Unix-domain socket */
	HBA_CONN_HOST_SSL,   /* TCP, TLS negotiated */
	HBA_CONN_HOST_NOSSL, /* TCP, plain */
} HbaConnType;

/* The auth-method column of a rule. */
typedef enum {
	HBA_METHOD_TRUST,
	HBA_METHOD_REJECT,
	HBA_METHOD_MD5,	     /* SCRAM is used instead when the stored secret is SCRAM */
	HBA_METHOD_SCRAM,    /* scram-sha-256 */
	HBA_METHOD_PASSWORD, /* cleartext */
	HBA_METHOD_CERT,     /* TLS client certificate, CN = user (or via map=) */
	HBA_METHOD_PEER,     /* SO_PEERCRED on a Unix socket (or via map=) */
} HbaMethod;

/* The clientcert= option of a hostssl rule. */
typedef enum {
	HBA_CLIENTCERT_NONE,
	HBA_CLIENTCERT_VERIFY_CA,   /* a certificate signed by client_tls_ca_file is required */
	HBA_CLIENTCERT_VERIFY_FULL, /* ... and its CN must match the user (or the map) */
} HbaClientCert;

typedef struct HbaRules HbaRules;
typedef struct HbaRule HbaRule;
typedef struct IdentMap IdentMap;

/*
 * Read an HBA file (and the files its @file references, relative to its directory). On
 * failure returns NULL and writes "FILE:LINE: what is wrong" into err.
 */
HbaRules *hba_load(const char *path, char *err, size_t errlen) MUST_CHECK;
void hba_free(HbaRules *rules);
int hba_rule_count(const HbaRules *rules);

/*
 * The first rule matching an ordinary (non-replication) connection, or NULL: no rule
 * applies and the connection must be rejected. addr is the client's address for the
 * host types (AF_INET or AF_INET6; an IPv4-mapped IPv6 address also matches IPv4 rules)
 * and is ignored for HBA_CONN_LOCAL.
 */
const HbaRule *hba_match(const HbaRules *rules, HbaConnType type, const struct sockaddr *addr,
			 const char *database, const char *user);
/* The same for a physical replication connection (startup parameter replication=true). */
const HbaRule *hba_match_replication(const HbaRules *rules, HbaConnType type,
				     const struct sockaddr *addr, const char *user);

HbaMethod hba_rule_method(const HbaRule *rule);
/* The map= option (a map name of auth_ident_file), or NULL. */
const char *hba_rule_map(const HbaRule *rule);
HbaClientCert hba_rule_clientcert(const HbaRule *rule);
/* The line the rule starts on in its file, for "matched line N" log messages. */
int hba_rule_line(const HbaRule *rule);
const char *hba_method_name(HbaMethod method);

/*
 * Read an ident map file (pg_ident.conf syntax: MAPNAME SYSTEM-USER DATABASE-USER, a
 * system user starting with '/' is a regular expression whose first group may be used
 * as \1 in DATABASE-USER). NULL with "FILE:LINE: ..." in err on failure.
 */
IdentMap *ident_load(const char *path, char *err, size_t errlen) MUST_CHECK;
void ident_free(IdentMap *map);

/* Does map `map` let system_user (a cert CN or peer user) log in as db_user? */
bool ident_check(const IdentMap *idents, const char *map, const char *system_user,
		 const char *db_user);
/*
 * The check cert and peer need: without a map the names must be equal, with one the map
 * decides. idents may be NULL (no auth_ident_file), in which case a map never allows.
 */
bool ident_user_allowed(const IdentMap *idents, const char *map, const char *system_user,
			const char *db_user);

#endif
