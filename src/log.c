/*
 * Log sinks: stderr (unless -q), a log file (reopened on SIGHUP for rotation) and syslog.
 * Each line: timestamp, pid, level, message.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

int log_level_current = LOG_LVL_INFO;

static FILE *log_file;
static char *log_file_path;
static bool log_to_syslog;
static bool log_quiet;
static bool cli_quiet;
static int cli_verbose;

static const char *const level_names[] = { "FATAL", "ERROR", "WARNING", "LOG", "DEBUG", "NOISE" };
static const int syslog_levels[] = { LOG_CRIT, LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG, LOG_DEBUG };

static const struct {
	const char *name;
	int code;
} syslog_facilities[] = {
	{ "auth", LOG_AUTH },	  { "authpriv", LOG_AUTHPRIV }, { "daemon", LOG_DAEMON }, { "user", LOG_USER },
	{ "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 },	{ "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 },
	{ "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },	{ "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
};

int log_syslog_facility(const char *name)
{
	for (size_t i = 0; name && i < sizeof(syslog_facilities) / sizeof(syslog_facilities[0]); i++)
		if (strcmp(syslog_facilities[i].name, name) == 0)
			return syslog_facilities[i].code;
	return LOG_DAEMON;
}

/* openlog() keeps the ident pointer, so the ident lives here, not in a config a reload frees. */
static char *syslog_ident_kept;
static int syslog_facility_kept = -1;

/* (Re)open syslog when it is turned on or its ident or facility changed. */
static void syslog_configure(const SyslogSettings *sl)
{
	const char *ident = sl->ident ? sl->ident : "pgsplit";
	int facility = log_syslog_facility(sl->facility);
	bool same = log_to_syslog && syslog_ident_kept && strcmp(syslog_ident_kept, ident) == 0 &&
		    facility == syslog_facility_kept;
	if (sl->enabled && !same) {
		closelog();
		free(syslog_ident_kept);
		syslog_ident_kept = strdup(ident);
		syslog_facility_kept = facility;
		openlog(syslog_ident_kept ? syslog_ident_kept : "pgsplit", LOG_PID, facility);
	}
	log_to_syslog = sl->enabled;
}

void log_configure(const char *logfile, const SyslogSettings *sl, bool quiet, int verbose)
{
	log_quiet = quiet;
	log_level_current = LOG_LVL_INFO + verbose;
	if (log_level_current > LOG_LVL_NOISE)
		log_level_current = LOG_LVL_NOISE;
	free(log_file_path);
	log_file_path = (logfile && *logfile) ? strdup(logfile) : NULL;
	log_reopen();
	syslog_configure(sl);
}

void log_set_command_line(bool quiet, int verbose)
{
	cli_quiet = quiet;
	cli_verbose = verbose;
}

void log_reconfigure(const char *logfile, const SyslogSettings *sl, int cfg_verbose)
{
	log_configure(logfile, sl, cli_quiet, cli_verbose + cfg_verbose);
}

void log_reopen(void)
{
	if (log_file) {
		fclose(log_file);
		log_file = NULL;
	}
	if (!log_file_path)
		return;
	log_file = fopen(log_file_path, "a");
	if (log_file)
		setvbuf(log_file, NULL, _IOLBF, 0);
	else
		fprintf(stderr, "could not open log file \"%s\"\n", log_file_path);
}

/* One line, already formatted, to every sink. */
static void log_emit(LogLevel level, const char *msg)
{
	char stamp[64];
	struct timeval tv;
	struct tm tm;

	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	size_t n = strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(stamp + n, sizeof(stamp) - n, ".%03d", (int)(tv.tv_usec / 1000));

	if (!log_quiet)
		fprintf(stderr, "%s [%d] %s %s\n", stamp, (int)getpid(), level_names[level], msg);
	if (log_file)
		fprintf(log_file, "%s [%d] %s %s\n", stamp, (int)getpid(), level_names[level], msg);
	if (log_to_syslog)
		syslog(syslog_levels[level], "%s %s", level_names[level], msg);
}

void log_write(LogLevel level, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_emit(level, msg);
}

void log_conn_write(LogLevel level, char kind, unsigned long long id, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	int n = snprintf(msg, sizeof(msg), "%c-%llu: ", kind, id);
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	log_emit(level, msg);
}
