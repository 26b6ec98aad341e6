/*
 * Reload: read the config file again, and swap it in only when it is valid.
 */
#ifndef PGSPLIT_RELOAD_H
#define PGSPLIT_RELOAD_H

#include "common.h"
#include "config.h"

/* Returns false with the reason in err when the old config stays in force. */
bool reload_config(char *err, size_t errlen);
/*
 * Admin SET: change one reloadable setting in the running config and rebuild what
 * depends on it as RELOAD would (TLS contexts, HBA rules, write_functions, auth_file).
 * False with the reason in err, the old value kept, when the value is invalid or
 * cannot take effect.
 */
bool reload_set(const char *key, const char *value, char *err, size_t errlen);
/* Load auth_hba_file / auth_ident_file into rt (auth_type = hba). */
bool reload_hba(const Config *cfg, char *err, size_t errlen);
/* Apply the logfile, syslog and verbose settings of cfg (start, reload and SET). */
void reload_logging(const Config *cfg);
/* Apply the DNS settings of cfg to the running resolver (reload and SET). */
void reload_dns(const Config *cfg);

#endif
