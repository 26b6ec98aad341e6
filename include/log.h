/*
 * Logging: level-gated macros whose arguments are not evaluated when the level is off,
 * sinks stderr / logfile / syslog. Messages are lower-case without a trailing period.
 */
#ifndef PGSPLIT_LOG_H
#define PGSPLIT_LOG_H

#include "common.h"

typedef enum { LOG_LVL_FATAL, LOG_LVL_ERROR, LOG_LVL_WARNING, LOG_LVL_INFO, LOG_LVL_DEBUG, LOG_LVL_NOISE } LogLevel;

extern int log_level_current; /* messages above this level are skipped */

/* The syslog settings: on or off, ident, and facility by name (auth, daemon, local0, ...). */
typedef struct {
	bool enabled;
	const char *ident;
	const char *facility;
} SyslogSettings;

void log_configure(const char *logfile, const SyslogSettings *syslog_settings, bool quiet, int verbose);
/* The LOG_* facility of a syslog_facility name; LOG_DAEMON for a name it does not know. */
int log_syslog_facility(const char *name);
/* The -q and -v of the command line, which log_reconfigure keeps. */
void log_set_command_line(bool quiet, int verbose);
/* A reload's logfile, syslog and verbose settings, on top of the command line's. */
void log_reconfigure(const char *logfile, const SyslogSettings *syslog_settings, int cfg_verbose);
void log_reopen(void);
void log_write(LogLevel level, const char *fmt, ...) PRINTF(2, 3);
/* The same, prefixed with a connection's id as "C-<id>: " (kind 'C') or "S-<id>: " ('S'). */
void log_conn_write(LogLevel level, char kind, unsigned long long id, const char *fmt, ...) PRINTF(4, 5);

#define log_at(lvl, ...)                              \
	do {                                          \
		if ((int)(lvl) <= log_level_current) \
			log_write((lvl), __VA_ARGS__); \
	} while (0)
#define log_fatal(...) log_at(LOG_LVL_FATAL, __VA_ARGS__)
#define log_error(...) log_at(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warning(...) log_at(LOG_LVL_WARNING, __VA_ARGS__)
#define log_info(...) log_at(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_noise(...) log_at(LOG_LVL_NOISE, __VA_ARGS__)

/* A line about one client or server: log_client(LOG_LVL_INFO, c, "fmt", ...). */
#define log_conn(lvl, kind, id, ...)                                                    \
	do {                                                                            \
		if ((int)(lvl) <= log_level_current)                                    \
			log_conn_write((lvl), (kind), (unsigned long long)(id), __VA_ARGS__); \
	} while (0)
#define log_client(lvl, client, ...) log_conn(lvl, 'C', (client)->conn.id, __VA_ARGS__)
#define log_server(lvl, server, ...) log_conn(lvl, 'S', (server)->conn.id, __VA_ARGS__)

#endif
