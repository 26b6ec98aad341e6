/*
 * The admin console's statement syntax: cutting a query string into statements at the
 * ';' outside quotes, and reading one statement as VERB [arg], SET key = value (or TO
 * value), DISABLE/ENABLE REPLICA host[:port] or CHOOSE PRIMARY db host:port, with the verb looked up in the table of
 * console commands. Pure text: no clients, replies, permissions or configuration;
 * admin.c runs what this recognises and answers "invalid command" for what it does not.
 */
#ifndef PGSPLIT_ADMIN_PARSE_H
#define PGSPLIT_ADMIN_PARSE_H

#include "common.h"

#define ADMIN_STMT_MAX 1024 /* one statement, trimmed, with its terminator */
#define ADMIN_TOKEN_MAX 512 /* one argument or value, with its terminator */
#define ADMIN_VERB_MAX 64

/* X(id, verb as typed, whether it takes an argument): the console's commands. */
#define ADMIN_COMMAND_LIST(X)                       \
	X(SHOW, "SHOW", true)                       \
	X(SELECT, "SELECT", true) /* PgBouncer's alias of SHOW */ \
	X(SET, "SET", true)                         \
	X(PAUSE, "PAUSE", true)                     \
	X(RESUME, "RESUME", true)                   \
	X(RECONNECT, "RECONNECT", true)             \
	X(DISABLE, "DISABLE", true)                 \
	X(ENABLE, "ENABLE", true)                   \
	X(KILL, "KILL", true)                       \
	X(KILL_CLIENT, "KILL_CLIENT", true)         \
	X(SUSPEND, "SUSPEND", false)                \
	X(SHUTDOWN, "SHUTDOWN", true)               \
	X(WAIT_CLOSE, "WAIT_CLOSE", true)           \
	X(RELOAD, "RELOAD", false)                  \
	X(CHOOSE, "CHOOSE", true)

#define ADMIN_CMD_ENUM_ITEM(id, verb, arg) ADMIN_CMD_##id,
typedef enum { ADMIN_COMMAND_LIST(ADMIN_CMD_ENUM_ITEM) ADMIN_CMD_COUNT } AdminCommandId;
#undef ADMIN_CMD_ENUM_ITEM

/*
 * One parsed statement. Invariant after a successful parse: cmd < ADMIN_CMD_COUNT and
 * verb is that command's name in any letter case; has_arg is false for commands that
 * take none; SET has arg (the setting) and value; DISABLE/ENABLE REPLICA has arg
 * "REPLICA" (any case) and the address in value; CHOOSE PRIMARY has the database in
 * arg and the address in value. Every string is NUL-terminated.
 */
typedef struct AdminStmt {
	const char *text; /* the statement as typed (not owned), for error messages */
	AdminCommandId cmd;
	char verb[ADMIN_VERB_MAX];
	char arg[ADMIN_TOKEN_MAX];
	char value[ADMIN_TOKEN_MAX];
	bool has_arg;
} AdminStmt;

/*
 * Copy the statement starting at p (up to a ';' outside quotes or the end of the
 * string) into out, without leading and trailing white space. Returns where the next
 * statement starts (after the ';', or the terminating NUL), or NULL when the statement
 * does not fit in outlen bytes.
 */
const char *admin_parse_next_statement(const char *p, char *out, size_t outlen);

/*
 * Parse one statement (as cut by admin_parse_next_statement). False when it is not a
 * well-formed console command; st->text is set to text either way.
 */
bool admin_parse_statement(const char *text, AdminStmt *st) MUST_CHECK;

/* The command's verb in upper case ("SHOW"), or NULL for an id out of range. */
const char *admin_parse_command_verb(AdminCommandId cmd);
/* Whether the command accepts an argument (SUSPEND and RELOAD do not). */
bool admin_parse_command_takes_arg(AdminCommandId cmd);

#endif
