/*
 * Reload (see reload.h). A reload parses the file into a new snapshot; only
 * a valid one replaces the old, and the registry then reconciles databases and users.
 */
#include "reload.h"
#include "authfile.h"
#include "classify.h"
#include "client.h"
#include "dns.h"
#include "http.h"
#include "listener.h"
#include "log.h"
#include "monitor.h"
#include "registry.h"
#include "runtime.h"
#include "sbuf.h"
#include "sdnotify.h"
#include "server.h"
#include "tls.h"
#include "hba.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static AuthFile *load_authfile(const Config *cfg, char *err, size_t errlen)
{
	if (!*cfg->auth_file)
		return NULL;
	AuthFile *af = authfile_load(cfg->auth_file, err, errlen);
	if (!af)
		log_warning("could not load auth_file: %s", err);
	return af;
}

/*
 * auth_hba_file and auth_ident_file, read at start and on every reload; a broken file
 * keeps the rules in force (and at start, stops the pooler).
 */
bool reload_hba(const Config *cfg, char *err, size_t errlen)
{
	HbaRules *hba = NULL;
	IdentMap *ident = NULL;
	if (cfg->auth_type == AUTH_TYPE_HBA) {
		if (!*cfg->auth_hba_file) {
			snprintf(err, errlen, "auth_type = hba needs auth_hba_file");
			return false;
		}
		if (!(hba = hba_load(cfg->auth_hba_file, err, errlen)))
			return false;
		if (*cfg->auth_ident_file && !(ident = ident_load(cfg->auth_ident_file, err, errlen))) {
			hba_free(hba);
			return false;
		}
	}
	if (rt.hba)
		hba_free(rt.hba);
	if (rt.ident)
		ident_free(rt.ident);
	rt.hba = hba;
	rt.ident = ident;
	return true;
}

/* New certificates or TLS settings: new handshakes use them, running sessions keep theirs. */
static bool reload_client_tls(const Config *cfg, char *err, size_t errlen)
{
	SSL_CTX *ctx = NULL;
	if (cfg->client_tls_sslmode != TLS_MODE_DISABLE) {
		char why[512];
		ctx = tls_client_side_ctx(cfg, why, sizeof(why));
		if (!ctx) {
			snprintf(err, errlen, "client TLS: %s", why);
			return false;
		}
	}
	SSL_CTX *sctx = NULL;
	if (cfg->server_tls_sslmode != TLS_MODE_DISABLE) {
		char why[512];
		sctx = tls_server_side_ctx(cfg, why, sizeof(why));
		if (!sctx) {
			snprintf(err, errlen, "server TLS: %s", why);
			if (ctx)
				SSL_CTX_free(ctx);
			return false;
		}
	}
	if (rt.client_tls_ctx)
		SSL_CTX_free(rt.client_tls_ctx);
	rt.client_tls_ctx = ctx;
	if (rt.server_tls_ctx)
		SSL_CTX_free(rt.server_tls_ctx);
	rt.server_tls_ctx = sctx;
	return true;
}

/* Protocol words are checked even for a side whose TLS is off, so they fail now, not later. */
static bool check_tls_protocols(const Config *cfg, char *err, size_t errlen)
{
	return tls_check_protocols("client", cfg->client_tls_protocols, err, errlen) &&
	       tls_check_protocols("server", cfg->server_tls_protocols, err, errlen);
}

/* Server connections made under other TLS settings are closed when released. */
static void retire_servers(void)
{
	List *it;
	list_for_each(it, &rt.servers) container_of(it, Server, all_node)->dirty = true;
	log_info("TLS settings changed: server connections are replaced as they are released");
}

static void retire_servers_for_tls(const Config *old, const Config *cfg)
{
	const char *const a[] = { old->server_tls_ca_file, old->server_tls_key_file, old->server_tls_cert_file,
				  old->server_tls_protocols, old->server_tls_ciphers, old->server_tls13_ciphers };
	const char *const b[] = { cfg->server_tls_ca_file, cfg->server_tls_key_file, cfg->server_tls_cert_file,
				  cfg->server_tls_protocols, cfg->server_tls_ciphers, cfg->server_tls13_ciphers };
	bool changed = old->server_tls_sslmode != cfg->server_tls_sslmode;
	for (size_t i = 0; i < sizeof(a) / sizeof(a[0]) && !changed; i++)
		changed = strcmp(a[i], b[i]) != 0;
	if (changed)
		retire_servers();
}

/* The resolver's TTLs and zone check period take effect at once; resolv_conf only at start. */
void reload_dns(const Config *cfg)
{
	DnsOptions opts = { .max_ttl = cfg->dns_max_ttl,
			    .nxdomain_ttl = cfg->dns_nxdomain_ttl,
			    .zone_check_period = cfg->dns_zone_check_period };
	if (rt.dns)
		dns_configure(rt.dns, &opts);
}

void reload_logging(const Config *cfg)
{
	SyslogSettings sl = { cfg->syslog != 0, cfg->syslog_ident, cfg->syslog_facility };
	log_reconfigure(cfg->logfile, &sl, cfg->verbose);
}

bool reload_config(char *err, size_t errlen)
{
	Config *cfg = config_load(rt.cfg->config_file, err, errlen);
	if (!cfg) {
		log_error("reload failed, keeping the old configuration: %s", err);
		return false;
	}
	if (!config_check_reload(cfg, err, errlen) || !check_tls_protocols(cfg, err, errlen)) {
		log_error("reload failed, keeping the old configuration: %s", err);
		config_free(cfg);
		return false;
	}
	ClassifyConfig *ccfg = classify_config_new(cfg->write_functions);
	if (!ccfg) {
		snprintf(err, errlen, "%s: key 'write_functions': expected a list of function names", cfg->config_file);
		log_error("reload failed, keeping the old configuration: %s", err);
		config_free(cfg);
		return false;
	}
	if (!reload_hba(cfg, err, errlen) || !http_apply(cfg, err, errlen)) {
		log_error("reload failed, keeping the old configuration: %s", err);
		classify_config_free(ccfg);
		config_free(cfg);
		return false;
	}
	bool tls_changed = tls_config_changed(rt.cfg, cfg);
	if (tls_changed && !reload_client_tls(cfg, err, errlen)) {
		log_error("reload failed, keeping the old configuration: %s", err);
		classify_config_free(ccfg);
		config_free(cfg);
		return false;
	}
	classify_config_free(rt.classify_cfg);
	rt.classify_cfg = ccfg;
	char aferr[512] = "";
	AuthFile *af = load_authfile(cfg, aferr, sizeof(aferr));
	Config *old = rt.cfg;
	config_keep_fixed(cfg, old);
	if (tls_changed)
		retire_servers_for_tls(old, cfg);
	rt.cfg = cfg;
	if (af || !*cfg->auth_file) {
		if (rt.authfile)
			authfile_free(rt.authfile);
		rt.authfile = af;
	}
	config_free(old);
	reload_logging(cfg);
	sbuf_set_limits((size_t)cfg->pkt_buf * 4, 1 << 20);
	sbuf_set_loop_limit(cfg->sbuf_loopcnt);
	registry_apply_config();
	monitor_reconfigure();
	reload_dns(cfg);
	log_info("configuration reloaded");
	return true;
}

static bool name_starts(const ConfigSetting *s, const char *prefix)
{
	return strncmp(config_setting_name(s), prefix, strlen(prefix)) == 0;
}

static bool set_write_functions(char *err, size_t errlen)
{
	ClassifyConfig *ccfg = classify_config_new(rt.cfg->write_functions);
	if (!ccfg) {
		snprintf(err, errlen, "write_functions: expected a list of function names");
		return false;
	}
	classify_config_free(rt.classify_cfg);
	rt.classify_cfg = ccfg;
	return true;
}

static bool set_auth_file(char *err, size_t errlen)
{
	AuthFile *af = NULL;
	if (*rt.cfg->auth_file) {
		char why[512];
		if (!(af = authfile_load(rt.cfg->auth_file, why, sizeof(why)))) {
			snprintf(err, errlen, "auth_file: %s", why);
			return false;
		}
	}
	if (rt.authfile)
		authfile_free(rt.authfile);
	rt.authfile = af;
	return true;
}

/*
 * Build what the new value of s feeds (TLS contexts, HBA rules, the write-function
 * list, the auth_file), as a reload would; false leaves the old ones in force.
 */
static bool set_apply_derived(const ConfigSetting *s, char *err, size_t errlen)
{
	if (!check_tls_protocols(rt.cfg, err, errlen))
		return false;
	if (name_starts(s, "client_tls") || name_starts(s, "server_tls")) {
		if (!reload_client_tls(rt.cfg, err, errlen))
			return false;
		if (name_starts(s, "server_tls"))
			retire_servers();
		/* the HTTP endpoint serves the client-facing certificate too */
		return http_apply(rt.cfg, err, errlen);
	}
	if (name_starts(s, "auth_type") || name_starts(s, "auth_hba_file") ||
	    name_starts(s, "auth_ident_file"))
		return reload_hba(rt.cfg, err, errlen);
	if (name_starts(s, "auth_file"))
		return set_auth_file(err, errlen) && http_apply(rt.cfg, err, errlen);
	if (name_starts(s, "write_functions"))
		return set_write_functions(err, errlen);
	if (name_starts(s, "http_"))
		return http_apply(rt.cfg, err, errlen);
	return true;
}

bool reload_set(const char *key, const char *value, char *err, size_t errlen)
{
	const ConfigSetting *s = config_setting_find(key);
	if (!s || !config_setting_reloadable(s))
		return config_set(rt.cfg, key, value, err, errlen); /* for its message */
	char *old = config_setting_dup_value(rt.cfg, s);
	if (!config_set(rt.cfg, key, value, err, errlen)) {
		free(old);
		return false;
	}
	if (!set_apply_derived(s, err, errlen)) {
		char ignored[256];
		/* the old value was accepted before, so putting it back cannot fail */
		if (!config_set(rt.cfg, key, old, ignored, sizeof(ignored)))
			abort();
		free(old);
		return false;
	}
	free(old);
	if (name_starts(s, "logfile") || name_starts(s, "syslog"))
		reload_logging(rt.cfg);
	sbuf_set_loop_limit(rt.cfg->sbuf_loopcnt);
	/* databases and users hold resolved copies of the defaults (pool sizes, limits) */
	registry_apply_config();
	monitor_reconfigure();
	reload_dns(rt.cfg);
	return true;
}
