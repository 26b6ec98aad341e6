/*
 * The startup-family packets a client sends before its first typed message: which one
 * it is (StartupMessage, SSLRequest, GSSENCRequest, CancelRequest), the name/value
 * parameters of a StartupMessage, and the "-c name=value" / "--name=value" settings of
 * its options parameter. Pure: reads a bounded PktReader or a string and decides nothing
 * about users, databases or limits; client.c acts on what this finds.
 */
#ifndef PGSPLIT_STARTUP_H
#define PGSPLIT_STARTUP_H

#include "common.h"
#include "proto.h"

typedef enum {
	STARTUP_KIND_MESSAGE,	    /* StartupMessage of protocol 3.x: parameters follow */
	STARTUP_KIND_SSL,	    /* SSLRequest */
	STARTUP_KIND_GSSENC,	    /* GSSENCRequest */
	STARTUP_KIND_CANCEL,	    /* CancelRequest: backend pid and key follow */
	STARTUP_KIND_BAD_PROTOCOL,  /* a version whose major is not 3 */
	STARTUP_KIND_TRUNCATED,	    /* shorter than the length and code words */
} StartupKind;

/*
 * Read the length word and the code of a whole startup-family packet at r's start and
 * classify it. *code gets the code (the protocol version of a StartupMessage); r is left
 * after the code, where the parameters or the cancel key begin.
 */
StartupKind startup_classify(PktReader *r, uint32_t *code);

typedef enum {
	STARTUP_PARAM_OK,  /* *name and *value point into the packet */
	STARTUP_PARAM_END, /* the empty name that ends the list */
	STARTUP_PARAM_BAD, /* a string runs past the packet, or a name has no value */
} StartupParamResult;

/* The next name/value pair of a StartupMessage's parameter list. */
StartupParamResult startup_next_param(PktReader *r, const char **name, const char **value);

/* What a client's replication startup parameter asks for. */
typedef enum {
	REPLICATION_NONE,     /* an ordinary connection */
	REPLICATION_PHYSICAL, /* replication=true: a walsender for the whole cluster */
	REPLICATION_LOGICAL,  /* replication=database: a walsender bound to one database */
} ReplicationKind;

/*
 * Read a replication startup parameter as PostgreSQL does: "database" (exactly) is
 * logical, a boolean (true/false, yes/no, on/off, 1/0, any case, and the prefixes
 * PostgreSQL accepts: t, tr, y, n, of...) is physical or none. False for any other value.
 */
bool startup_replication_parse(const char *value, ReplicationKind *kind);

#define STARTUP_OPTIONS_MAX 1024 /* the options parameter is read up to this many bytes - 1 */

/*
 * Walks the options parameter as PostgreSQL splits it: words separated by blanks, a
 * backslash taking the next character literally (an escaped blank stays in the word).
 * Each setting is "-c name=value", "-cname=value" or "--name=value"; anything else, or a
 * setting without '=', is STARTUP_OPT_BAD. '-' in a name becomes '_' (as PostgreSQL
 * does). Only the first STARTUP_OPTIONS_MAX - 1 bytes are read.
 */
typedef struct StartupOptions {
	char buf[STARTUP_OPTIONS_MAX]; /* a copy unescaped in place into names and values */
	size_t pos;		       /* where the next word starts in buf */
} StartupOptions;

typedef enum {
	STARTUP_OPT_SETTING, /* *name and *value point into it->buf */
	STARTUP_OPT_END,
	STARTUP_OPT_BAD, /* a word that is not a setting as above */
} StartupOptResult;

void startup_options_init(StartupOptions *it, const char *options);
StartupOptResult startup_options_next(StartupOptions *it, const char **name, const char **value);

#endif
