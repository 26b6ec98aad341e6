/*
 * The SQL read-only classifier: answers "may this query string run on a hot standby?"
 * for the router. It lexes PostgreSQL SQL (comments, quoted identifiers, every string
 * literal form, dollar quotes) and classifies each statement; it knows nothing of
 * sessions, pools or replicas. Pure and re-entrant: no I/O, no mutable globals, never
 * reads past the given length, linear in the input. The rules are in doc/routing.md.
 */
#ifndef PGSPLIT_CLASSIFY_H
#define PGSPLIT_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>

#define CLASSIFY_VERDICTS(X) \
	X(CLASSIFY_READ, "read")     \
	X(CLASSIFY_WRITE, "write")   \
	X(CLASSIFY_UNSURE, "unsure")

/* CLASSIFY_UNSURE means "could not prove read-only": the router sends it to the primary. */
typedef enum ClassifyVerdict {
#define CLASSIFY_ENUM_(name, str) name,
	CLASSIFY_VERDICTS(CLASSIFY_ENUM_)
#undef CLASSIFY_ENUM_
} ClassifyVerdict;

/* A routing hint given by a comment before the first token (see doc/routing.md). */
typedef enum ClassifyHint {
	CLASSIFY_HINT_NONE,
	CLASSIFY_HINT_PRIMARY,
	CLASSIFY_HINT_REPLICA,
} ClassifyHint;

typedef struct ClassifyResult {
	/* The whole string: READ only if every statement is READ (or replica-safe transaction
	 * control) and the string does not leave open a transaction that is not READ ONLY. */
	ClassifyVerdict verdict;
	/* Static text (or owned by the ClassifyConfig for configured write functions, so valid
	 * while that config lives) naming the first cause of the verdict; "read-only" for READ. */
	const char *reason;
	ClassifyHint hint;
	int n_statements;	     /* non-empty statements */
	bool is_transaction_control; /* every statement is BEGIN/START/COMMIT/END/ROLLBACK/ABORT/
				      * SAVEPOINT/RELEASE/SET TRANSACTION/PREPARE TRANSACTION... */
	bool begins_transaction;     /* the first statement is BEGIN or START TRANSACTION */
	bool begin_read_only;	     /* ... whose last access mode is READ ONLY (its own, or a SET
				      * TRANSACTION right after it), and not SERIALIZABLE */
	bool begin_read_write;	     /* ... whose last access mode is READ WRITE */
	/* The last statement touching the session default: SET [SESSION]
	 * default_transaction_read_only = on (or SET SESSION CHARACTERISTICS AS TRANSACTION
	 * READ ONLY) sets the first; = off/DEFAULT, READ WRITE, RESET of it, RESET ALL and
	 * DISCARD ALL set the second. At most one is true. Hints only: the value the server
	 * reports in ParameterStatus is authoritative. */
	bool sets_default_read_only;
	bool sets_default_read_write;
	/* A statement calls a function not on the write-function list: a READ verdict may
	 * still be refused by a replica (25006) if the function writes. */
	bool calls_functions;
	/* Every statement is SET, RESET, DISCARD or DEALLOCATE: it changes session state, never
	 * data, so it is no write for read-your-writes. */
	bool session_only;
} ClassifyResult;

/* The write-function list: the built-in defaults plus configured names. */
typedef struct ClassifyConfig ClassifyConfig;

/*
 * Builds a config from a comma- and/or space-separated list of extra write functions
 * (NULL or "" for none). An entry is a function name, optionally schema-qualified (the
 * schema is ignored: any schema matches) and optionally double-quoted; a trailing '*'
 * makes it a prefix. Matching is case-insensitive. Returns NULL if an entry is malformed.
 */
ClassifyConfig *classify_config_new(const char *extra_write_functions);
void classify_config_free(ClassifyConfig *cfg);

/*
 * Classifies the query string sql[0..len) (not NUL-terminated; a NUL byte inside makes
 * it UNSURE). cfg may be NULL for the defaults alone. Fills every field of *out.
 */
void classify_sql(const ClassifyConfig *cfg, const char *sql, size_t len, ClassifyResult *out);

/* "read", "write" or "unsure". */
const char *classify_verdict_name(ClassifyVerdict verdict);

#endif
